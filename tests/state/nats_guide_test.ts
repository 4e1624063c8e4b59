/**
 * docs/nats.md's three-host guide, run as written on loopback: its
 * permission block is what `natsPermissionsConfig()` writes; its node config
 * (hosts and ports mapped to 127.0.0.1, paths to a temp dir, certificates
 * made here by openssl) starts a 3-node TLS cluster with one user per host
 * in an account of its own; brokers for host A and host B start from its
 * `IPC_STORE` line and carry a message across at 3 replicas; a host's user
 * cannot read others' queues nor publish outside agent-ipc's subjects;
 * plain TCP is refused; host D is added by a config reload.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { loadNats } from "../../lib/deps.ts";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { natsPermissionsConfig } from "../../lib/state/nats_permissions.ts";
import { openNatsStore } from "../../lib/state/nats_store.ts";
import { IpcError } from "../../lib/protocol/errors.ts";
import { OPENSSL_SKIP_REASON, testCa, testCert } from "../_certs.ts";
import { brokerProcess, freePort } from "../_helpers.ts";
import { NATS_SKIP_REASON } from "../_nats_server.ts";
import { waitFor } from "../_wait.ts";

const DOC = new URL("../../docs/nats.md", import.meta.url);
const ignore = NATS_SKIP_REASON !== null || OPENSSL_SKIP_REASON !== null;

/** The guide's fenced blocks of one language, in order. */
function blocks(doc: string, lang: string): string[] {
  return [...doc.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]);
}

Deno.test({ name: "docs/nats.md: the three-host guide works as written", ignore }, async () => {
  const doc = await Deno.readTextFile(DOC);
  const [permissions, node1] = blocks(doc, "conf");
  const [hostCommands] = blocks(doc, "sh");
  assert.equal(permissions, natsPermissionsConfig(), "the doc's permission block is the code's");
  assert.ok(node1 && hostCommands, "the guide has a node config and host commands");

  const dir = await Deno.makeTempDir({ prefix: "ipc-nats-guide-" });
  const procs: Deno.ChildProcess[] = [];
  const brokers: Deno.ChildProcess[] = [];
  const clients: AgentClient[] = [];
  try {
    // A CA and, per node, a certificate for 127.0.0.1 (where the guide's hosts are mapped).
    await testCa(dir);
    for (const i of [1, 2, 3]) await testCert(dir, `nats-${i}`, "IP:127.0.0.1,DNS:localhost");
    await Deno.writeTextFile(join(dir, "agent-ipc-permissions.conf"), permissions);
    const ports = [1, 2, 3].map(() => ({ client: freePort(), route: freePort() }));
    /** The guide's hosts and ports, mapped to loopback. */
    const mapHosts = (text: string) => {
      ports.forEach((p, k) => {
        text = text.replaceAll(`nats-${k + 1}.example.net:4222`, `127.0.0.1:${p.client}`)
          .replaceAll(`nats-${k + 1}.example.net:6222`, `127.0.0.1:${p.route}`);
      });
      return text.replaceAll("/etc/agent-ipc/", `${dir}/`).replaceAll("/etc/nats/", `${dir}/`);
    };
    // "For nats-2 and nats-3, change server_name and the certificate file names."
    const nodeConf = (i: number, extraUsers = "") =>
      mapHosts(node1)
        .replace("0.0.0.0:4222", `127.0.0.1:${ports[i - 1].client}`)
        .replace("0.0.0.0:6222", `127.0.0.1:${ports[i - 1].route}`)
        .replace("/var/lib/nats", join(dir, `js-${i}`))
        .replaceAll("nats-1", `nats-${i}`)
        .replace(/(\n\s*\]\n\s*\}\n\}\n?)$/, `\n${extraUsers}$1`);
    const logs: string[] = ["", "", ""];
    for (let i = 1; i <= 3; i++) {
      await Deno.writeTextFile(join(dir, `nats-${i}.conf`), nodeConf(i));
      procs.push(
        new Deno.Command("nats-server", {
          args: ["-c", join(dir, `nats-${i}.conf`)],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn(),
      );
      procs[i - 1].stderr.pipeThrough(new TextDecoderStream()).pipeTo(
        new WritableStream({ write: (t) => void (logs[i - 1] = (logs[i - 1] + t).slice(-4000)) }),
      ).catch(() => {});
    }

    const store = hostCommands.split("\n").find((l) => l.startsWith("export IPC_STORE="));
    assert.ok(store, "the guide sets IPC_STORE");
    const urlA = mapHosts(store.replace(/^export IPC_STORE='(.*)'$/, "$1"));
    const urlFor = (host: string) =>
      urlA.replace("host-a:PASSWORD-A", `host-${host}:PASSWORD-${host.toUpperCase()}`);
    assert.match(
      urlA,
      /^tls:\/\/host-a:PASSWORD-A@127\.0\.0\.1:\d+,127\.0\.0\.1:\d+,127\.0\.0\.1:\d+\?ca=/,
    );

    // The cluster answers JetStream through host A's user (a meta leader is elected).
    let why = "";
    await waitFor(async () => {
      try {
        await (await openNatsStore(urlA, { timeoutMs: 2_000 })).close();
        return true;
      } catch (e) {
        why = (e as Error).message;
        return false;
      }
    }, { timeout: 30_000, interval: 250, what: "the guide's cluster to serve host A" }).catch(
      (e) => {
        throw new Error(`${e.message}: ${why}\n${logs.join("\n---\n")}`);
      },
    );

    // Host A and host B: a broker each (own port and data dir) from the guide's IPC_STORE.
    const hosts = [] as { port: number; dataDir: string }[];
    for (const h of ["a", "b"]) {
      const port = freePort();
      const dataDir = join(dir, `host-${h}`);
      brokers.push(await brokerProcess(port, dataDir, { env: { IPC_STORE: urlFor(h) } }));
      hosts.push({ port, dataDir });
    }
    for (const h of hosts) {
      clients.push(
        await AgentClient.connect({ host: "127.0.0.1", ...h, role: "none", timeoutMs: 30_000 }),
      );
    }
    const [alice, bob] = clients;
    await alice.register("alice");
    await bob.register("bob");
    await alice.send("bob", "across the guide's cluster");
    const { messages } = await bob.wait({ timeoutMs: 10_000 });
    assert.deepEqual(messages.map((m) => [m.from, m.message.content]), [
      ["alice", "across the guide's cluster"],
    ]);
    const status = await bob.status();
    const health = (status.broker as { store_health: { replicas: number; servers: string[] } })
      .store_health;
    assert.equal(health.replicas, 3);
    assert.deepEqual(health.servers, ["nats-1", "nats-2", "nats-3"]);

    // Least privilege: host A's user cannot read queues directly, nor publish elsewhere.
    const { natsConnect } = await loadNats();
    const nc = await natsConnect({
      servers: `127.0.0.1:${ports[0].client}`,
      user: "host-a",
      pass: "PASSWORD-A",
      tls: { caFile: join(dir, "ca.pem") },
    });
    try {
      const sub = nc.subscribe("ipc.q.>");
      const closed = await sub.closed;
      assert.ok(closed instanceof Error && /permission/i.test(closed.message), String(closed));
      const denied = (async () => {
        for await (const s of nc.status()) {
          if (s.type === "error") return s.error;
        }
      })();
      nc.publish("payroll.salaries", "x");
      let timer: ReturnType<typeof setTimeout> | undefined;
      const e = await Promise.race([
        denied,
        new Promise((r) => timer = setTimeout(r, 5_000)),
      ]).finally(() => clearTimeout(timer));
      assert.ok(e instanceof Error && /permission/i.test(e.message), `publish refused: ${e}`);
    } finally {
      await nc.close();
    }

    // Plain TCP to a node is refused (the guide's nodes require TLS).
    const plain = await openNatsStore(`nats://host-a:PASSWORD-A@127.0.0.1:${ports[0].client}`, {
      timeoutMs: 2_000,
    }).then(() => null, (e) => e);
    assert.ok(plain instanceof IpcError && plain.code === "E_STORE", String(plain));

    // "Adding a host": its user in the three configs, a reload, IPC_STORE on the new host.
    const hostD = `      { user: "host-d", password: "PASSWORD-D", permissions: $IPC_PERMISSIONS }`;
    for (let i = 1; i <= 3; i++) {
      await Deno.writeTextFile(join(dir, `nats-${i}.conf`), nodeConf(i, hostD));
      procs[i - 1].kill("SIGHUP");
    }
    await waitFor(async () => {
      try {
        const s = await openNatsStore(urlFor("d"), { timeoutMs: 2_000 });
        const name = await s.sessionName("nobody");
        await s.close();
        return name === null;
      } catch {
        return false;
      }
    }, { timeout: 15_000, interval: 250, what: "host D to connect after the reload" });
  } finally {
    for (const c of clients) await c.close().catch(() => {});
    for (const b of brokers) {
      b.kill("SIGTERM");
      await b.status;
    }
    for (const p of procs) {
      try {
        p.kill("SIGKILL");
      } catch { /* exited */ }
      await p.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
