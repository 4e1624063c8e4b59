/**
 * Beyond one machine: two brokers with their own ports and data dirs share
 * one real nats-server. Agents on each see one registry; messages, renames
 * with forwarding, broadcast, future delivery and large messages cross
 * brokers; a `wait` on one broker is woken by a send through the other. Then
 * one broker process is SIGKILLed and NATS restarted mid-run: nothing
 * acknowledged is lost.
 */
import assert from "node:assert/strict";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { hostBrokerWith } from "../../lib/app/host_broker.ts";
import { brokerProcess, freePort, testBroker } from "../_helpers.ts";
import { NATS_SKIP_REASON, startNatsServer } from "../_nats_server.ts";
import { waitFor } from "../_wait.ts";

const SECRET = "shared-by-every-machine";
const opts = { ignore: NATS_SKIP_REASON !== null, sanitizeOps: false, sanitizeResources: false };
// (The NATS client keeps timers and sockets alive until its close settles: checked by close(), not by the sanitizer.)

function client(port: number, dataDir: string, extra: Record<string, unknown> = {}) {
  return AgentClient.connect({
    host: "127.0.0.1",
    port,
    dataDir,
    role: "none",
    secret: SECRET,
    ...extra,
  });
}

Deno.test(
  "two brokers on one NATS: one registry, cross-broker messages, rename, broadcast, large",
  opts,
  async () => {
    await using nats = await startNatsServer();
    await using b1 = await testBroker({ store: nats.url, secret: SECRET, hostName: "machine-a" });
    await using b2 = await testBroker({ store: nats.url, secret: SECRET, hostName: "machine-b" });
    await using alice = await client(b1.port, b1.dataDir);
    await using bob = await client(b2.port, b2.dataDir);
    await alice.register("alice");
    await bob.register("bob");

    const list = await alice.list();
    assert.deepEqual(
      list.map((i) => [i.id, i.host]).sort(),
      [["alice", "machine-a"], ["bob", "machine-b"]],
    );

    // A wait on broker 2 is woken by a send through broker 1 (NATS subscription, no polling).
    const waiting = bob.wait({ timeoutMs: 5000, ack: true });
    await waitFor(() => b2.broker.service.waiters.size > 0, { what: "bob's wait to park" });
    const t0 = performance.now();
    await alice.send("bob", "across machines");
    const woke = await waiting;
    const wakeMs = performance.now() - t0;
    assert.equal(woke.messages[0].message.content, "across machines");
    assert.ok(wakeMs < 2000, `woken after ${wakeMs} ms`);

    // Future delivery across brokers.
    await alice.send("carol", "before you existed");
    await using carol = await client(b2.port, b2.dataDir);
    const reg = await carol.register("carol");
    assert.equal(reg.queued, 1);

    // Rename on broker 2, forward through broker 1, notice to everybody.
    await bob.rename("robert");
    const fwd = await alice.send("bob", "old name");
    assert.equal(fwd.message, "Message forwarded from bob to robert");
    const notices = (await alice.check({ ack: true })).messages;
    assert.ok(
      notices.some((m) => m.from === "system" && /bob renamed to robert/.test(m.message.content)),
    );

    // Broadcast across brokers.
    const bc = await carol.broadcast("hello all");
    assert.deepEqual(bc.delivered.sort(), ["alice", "robert"]);

    // A large message lives in the NATS object store, readable from the other machine.
    const big = "large ".repeat(3000);
    const sent = await alice.send("carol", big);
    assert.match(sent.large!.path, /^nats-obj:\/\//);
    const got = (await carol.check({ ack: true })).messages.find((m) => m.large);
    assert.ok(got);
    assert.deepEqual(await b2.broker.service.largeText(got), { text: big });
  },
);

Deno.test(
  "one broker SIGKILLed and NATS restarted mid-run: nothing acknowledged is lost",
  opts,
  async () => {
    await using nats = await startNatsServer();
    const port1 = freePort();
    const dir1 = await Deno.makeTempDir();
    const proc1 = await brokerProcess(port1, dir1, {
      args: ["--store", nats.url],
      env: { IPC_SHARED_SECRET: SECRET },
    });
    await using b2 = await testBroker({ store: nats.url, secret: SECRET, hostName: "machine-b" });
    // The sender on machine A re-elects a broker for its machine (on the same NATS) when its dies.
    const sender = await client(port1, dir1, {
      role: "host",
      autoReregister: true,
      hostBroker: hostBrokerWith({ store: nats.url, secret: SECRET }),
      retries: 40,
    });
    await using receiver = await client(b2.port, b2.dataDir);
    try {
      await sender.register("writer");
      await receiver.register("reader");
      const acked: string[] = [];
      const errors: string[] = [];
      for (let i = 0; i < 300; i++) {
        if (i === 100) proc1.kill("SIGKILL");
        if (i === 200) await nats.restart();
        try {
          await sender.send("reader", `m${i}`);
          acked.push(`m${i}`);
        } catch (e) {
          errors.push(`m${i}: ${(e as Error).message}`);
        }
      }
      assert.ok(sender.hostedBroker, "the sender's process hosts machine A's new broker");
      const got = new Set<string>();
      for (let round = 0; round < 50; round++) {
        const { messages } = await receiver.check({ limit: 1000 });
        if (messages.length === 0) break;
        for (const m of messages) got.add(m.message.content);
        await receiver.ack(messages.map((m) => m.id));
      }
      const lost = acked.filter((c) => !got.has(c));
      assert.deepEqual(lost, [], `lost ${lost.length} of ${acked.length}`);
      assert.ok(acked.length >= 290, `only ${acked.length} sends succeeded: ${errors.slice(0, 3)}`);
    } finally {
      await sender.close();
      try {
        proc1.kill("SIGKILL");
      } catch { /* dead */ }
      await proc1.status;
      await Deno.remove(dir1, { recursive: true });
    }
  },
);
