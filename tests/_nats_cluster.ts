/**
 * Test helper: a real nats-server JetStream cluster of N nodes (3 by
 * default) on loopback ports, routes on loopback too, each node with its own
 * store directory and config file. Nodes can be SIGKILLed and restarted on
 * the same ports and data, to test what a lost node does to agent-ipc.
 *
 * @module
 */

import { join } from "node:path";
import { loadNats } from "../lib/deps.ts";
import { freePort, NATS_SKIP_REASON, waitServing } from "./_nats_server.ts";

export { NATS_SKIP_REASON };

/** One node of a {@linkcode NatsCluster}. */
export interface ClusterNode {
  /** `n1`, `n2`, ... (the server name streams report as leader). */
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  /** `nats://127.0.0.1:PORT`. */
  readonly url: string;
  readonly storeDir: string;
  /** The config file it runs with. */
  readonly configFile: string;
  /** True while its process runs. */
  readonly running: boolean;
  /** SIGKILL: no goodbye to its peers, nothing flushed. */
  kill(): Promise<void>;
  /** Starts it again on the same ports and store (waits until it serves clients). */
  start(): Promise<void>;
}

/** A running cluster. */
export interface NatsCluster extends AsyncDisposable {
  readonly nodes: ClusterNode[];
  /** Every node's URL, comma-joined as the store URL takes them: `nats://h:p1,h:p2,h:p3`. */
  readonly url: string;
  /** The node named `name`. */
  node(name: string): ClusterNode;
  /** Waits until JetStream answers (a meta leader is elected) through any running node. */
  waitJetStream(timeoutMs?: number): Promise<void>;
  /** The server leading `stream` now (asked through a running node), or undefined. */
  streamLeader(stream: string, auth?: { user: string; pass: string }): Promise<string | undefined>;
  /** Kills every node now and removes the directories (for `unload` handlers). */
  killSync(): void;
}

/** Options of {@linkcode startNatsCluster}. */
export interface NatsClusterOptions {
  /** Nodes (default 3). */
  size?: number;
  /** Config text added to every node's file (accounts, users, TLS): `NODE` is replaced by its name. */
  extraConfig?: string;
  /** Config text for the `cluster {}` block (route authorization, TLS). */
  clusterExtra?: string;
  /** Account info is asked with these (when `extraConfig` sets users). */
  auth?: { user: string; pass: string };
}

/**
 * Starts an N-node JetStream cluster on loopback and waits until JetStream
 * answers through it.
 *
 * @example
 * ```ts
 * await using cluster = await startNatsCluster();
 * const store = await openNatsStore(cluster.url, {});
 * await cluster.node("n1").kill();
 * ```
 */
export async function startNatsCluster(opts: NatsClusterOptions = {}): Promise<NatsCluster> {
  if (NATS_SKIP_REASON !== null) throw new Error(NATS_SKIP_REASON);
  const size = opts.size ?? 3;
  const root = await Deno.makeTempDir({ prefix: "agent-ipc-nats-cluster-" });
  const ports = Array.from({ length: size }, () => ({ port: freePort(), cluster: freePort() }));
  const routes = ports.map((p) => `nats://127.0.0.1:${p.cluster}`);
  const procs = new Map<string, Deno.ChildProcess>();
  let removed = false;

  const nodes: ClusterNode[] = ports.map((p, i) => {
    const name = `n${i + 1}`;
    const storeDir = join(root, name);
    const configFile = join(root, `${name}.conf`);
    const logFile = join(root, `${name}.log`);
    const conf = [
      `server_name: ${name}`,
      `listen: "127.0.0.1:${p.port}"`,
      `jetstream { store_dir: "${storeDir}" }`,
      `cluster {`,
      `  name: "agent-ipc-test"`,
      `  listen: "127.0.0.1:${p.cluster}"`,
      `  routes: [${routes.map((r) => `"${r}"`).join(", ")}]`,
      opts.clusterExtra ?? "",
      `}`,
      (opts.extraConfig ?? "").replaceAll("NODE", name),
      "",
    ].join("\n");
    Deno.writeTextFileSync(configFile, conf);
    const node: ClusterNode = {
      name,
      port: p.port,
      clusterPort: p.cluster,
      url: `nats://127.0.0.1:${p.port}`,
      storeDir,
      configFile,
      get running() {
        return procs.has(name);
      },
      async kill() {
        const proc = procs.get(name);
        if (!proc) return;
        procs.delete(name);
        try {
          proc.kill("SIGKILL");
        } catch {
          // already gone
        }
        await proc.status;
      },
      async start() {
        if (procs.has(name)) return;
        const log = await Deno.open(logFile, { append: true, create: true });
        const proc = new Deno.Command("nats-server", {
          args: ["-c", configFile],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        proc.stderr.pipeTo(log.writable).catch(() => {});
        procs.set(name, proc);
        try {
          await waitServing(p.port, proc, 15_000, logFile);
        } catch (e) {
          await node.kill();
          throw e;
        }
      },
    };
    return node;
  });

  const killSync = () => {
    for (const proc of procs.values()) {
      try {
        proc.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
    procs.clear();
    if (!removed) {
      removed = true;
      try {
        Deno.removeSync(root, { recursive: true });
      } catch {
        // already gone
      }
    }
  };

  /** A short-lived connection to the running nodes for an admin request. */
  const admin = async <T>(subject: string, body: unknown): Promise<T> => {
    const { natsConnect } = await loadNats();
    const nc = await natsConnect({
      servers: nodes.filter((n) => n.running).map((n) => n.url),
      timeout: 2_000,
      ...(opts.auth ?? {}),
    });
    try {
      const m = await nc.request(subject, JSON.stringify(body), { timeout: 2_000 });
      return m.json<T>();
    } finally {
      await nc.close();
    }
  };

  try {
    await Promise.all(nodes.map((n) => n.start()));
  } catch (e) {
    killSync();
    throw e;
  }

  const cluster: NatsCluster = {
    nodes,
    url: `nats://${nodes.map((n) => `127.0.0.1:${n.port}`).join(",")}`,
    node(name) {
      const n = nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no node ${name}`);
      return n;
    },
    async waitJetStream(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      let last = "";
      while (Date.now() < deadline) {
        try {
          const r = await admin<{ error?: { description: string } }>("$JS.API.INFO", {});
          if (!r.error) return;
          last = r.error.description;
        } catch (e) {
          last = (e as Error).message;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      throw new Error(
        `JetStream did not answer through the cluster within ${timeoutMs} ms: ${last}`,
      );
    },
    async streamLeader(stream, auth) {
      const { natsConnect } = await loadNats();
      const nc = await natsConnect({
        servers: nodes.filter((n) => n.running).map((n) => n.url),
        timeout: 2_000,
        ...(auth ?? opts.auth ?? {}),
      });
      try {
        const m = await nc.request(`$JS.API.STREAM.INFO.${stream}`, "{}", { timeout: 2_000 });
        return m.json<{ cluster?: { leader?: string } }>().cluster?.leader;
      } catch {
        return undefined;
      } finally {
        await nc.close();
      }
    },
    killSync,
    async [Symbol.asyncDispose]() {
      await Promise.all(nodes.map((n) => n.kill()));
      if (!removed) {
        removed = true;
        await Deno.remove(root, { recursive: true }).catch(() => {});
      }
    },
  };
  await cluster.waitJetStream();
  return cluster;
}
