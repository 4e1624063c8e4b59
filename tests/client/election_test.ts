/**
 * The election: racers for one port give exactly one broker; when the
 * hosting process is SIGKILLed the survivors re-elect exactly one new host,
 * resume their sessions, and nothing the dead broker acknowledged is lost.
 */
import assert from "node:assert/strict";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { hostBrokerWith } from "../../lib/app/host_broker.ts";
import { freePort } from "../_helpers.ts";

const fixture = new URL("./_elect_fixture.ts", import.meta.url).pathname;

class Participant {
  readonly child: Deno.ChildProcess;
  readonly events: Record<string, unknown>[] = [];
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #waiters: (() => void)[] = [];
  readonly done: Promise<void>;

  constructor(port: number, dataDir: string, name: string) {
    const child = this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSION_FLAGS, fixture, String(port), dataDir, name],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
    this.done = (async () => {
      let buf = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          this.events.push(JSON.parse(buf.slice(0, nl)));
          buf = buf.slice(nl + 1);
          for (const w of this.#waiters.splice(0)) w();
        }
      }
    })();
  }

  async waitFor(pred: (e: Record<string, unknown>) => boolean, ms = 10_000) {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit) return hit;
      if (Date.now() > deadline) throw new Error(`timeout; events: ${JSON.stringify(this.events)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async say(line: string) {
    await this.#writer.write(new TextEncoder().encode(line + "\n"));
  }

  async stop() {
    try {
      await this.#writer.close();
    } catch { /* killed */ }
    await this.child.status;
    await this.done;
  }

  kill() {
    try {
      this.child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}

Deno.test("racing clients in one process elect exactly one host", async () => {
  const port = freePort();
  const dataDir = await Deno.makeTempDir();
  const clients = await Promise.all(
    Array.from(
      { length: 6 },
      () =>
        AgentClient.connect({
          host: "127.0.0.1",
          port,
          dataDir,
          role: "host",
          hostBroker: hostBrokerWith(),
        }),
    ),
  );
  try {
    assert.equal(clients.filter((c) => c.hostedBroker !== undefined).length, 1);
    await clients[0].register("a");
    await clients[5].register("b");
    await clients[0].send("b", "x");
    assert.equal((await clients[5].check({ ack: true })).messages.length, 1);
  } finally {
    // Close the non-hosting clients first, then the host.
    const host = clients.find((c) => c.hostedBroker)!;
    for (const c of clients) if (c !== host) await c.close();
    await host.close();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("processes racing for one port: one host; after SIGKILL of the host, one new host and no loss", async () => {
  const port = freePort();
  const dataDir = await Deno.makeTempDir();
  const names = ["p0", "p1", "p2", "p3"];
  const ps = names.map((n) => new Participant(port, dataDir, n));
  try {
    for (const p of ps) await p.waitFor((e) => e.event === "registered");
    const ready = ps.map((p) => p.events.find((e) => e.event === "ready")!);
    assert.equal(ready.filter((e) => e.hosting).length, 1, JSON.stringify(ready));
    const host = ps[ready.findIndex((e) => e.hosting)];
    const survivors = ps.filter((p) => p !== host);
    const [sender, receiver] = survivors;
    const receiverName = names[ps.indexOf(receiver)];

    // Messages acknowledged by the first broker, then the host dies.
    for (let i = 0; i < 20; i++) await sender.say(`send ${receiverName} before-${i}`);
    await sender.waitFor((e) =>
      e.event === "sent" && e.message === "Message sent" &&
      sender.events.filter((x) => x.event === "sent").length >= 20
    );
    const t0 = Date.now();
    host.kill();
    await host.child.status;

    // Survivors re-elect: exactly one of them hosts now.
    const before = survivors.map((p) => p.events.length);
    for (const [i, p] of survivors.entries()) {
      await p.waitFor((e) => e.event === "connected" && p.events.indexOf(e) >= before[i], 10_000);
    }
    const failoverMs = Date.now() - t0;
    const hosts = survivors.filter((p, i) =>
      p.events.slice(before[i]).some((e) => e.event === "connected" && e.hosting === true)
    );
    assert.equal(hosts.length, 1, "exactly one survivor hosts the new broker");
    assert.ok(failoverMs < 5000, `failover took ${failoverMs} ms`);

    // Same sessions, more messages, and everything acknowledged before is there.
    for (let i = 0; i < 5; i++) await sender.say(`send ${receiverName} after-${i}`);
    await sender.waitFor(() => sender.events.filter((x) => x.event === "sent").length >= 25);
    await receiver.say("check");
    const got = await receiver.waitFor((e) => e.event === "checked");
    const contents = (got.messages as { from: string; message: { content: string } }[])
      .map((m) => m.message.content);
    const expected = [
      ...Array.from({ length: 20 }, (_, i) => `before-${i}`),
      ...Array.from({ length: 5 }, (_, i) => `after-${i}`),
    ];
    assert.deepEqual(contents, expected);
    assert.equal(sender.events.filter((e) => e.event === "error").length, 0);
  } finally {
    for (const p of ps) {
      p.kill();
      await p.stop();
    }
    await Deno.remove(dataDir, { recursive: true });
  }
});
