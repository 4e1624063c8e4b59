/**
 * An agent worker for the crash and graceful-stop scenarios: one process
 * running several AgentClients (real election participants with the role it
 * is given), each sending numbered messages to random peers and receiving its
 * own. Everything that counts is appended to files as it happens, with one
 * write per line, so it survives a SIGKILL of this process:
 *
 * - `<name>.sent`: `{"to","inc","k","id"}` once a send got its ok reply (acknowledged),
 *   `{"failed": code}` when it failed;
 * - `<name>.recv`: `{"id","from","inc","k"}` for each delivery (before it is
 *   acknowledged), then `{"acked":[ids]}` once the ack got its ok reply.
 *
 * `inc` is the incarnation (how many times the harness restarted this
 * worker), `k` the sender's counter: (inc, k) orders one sender's messages.
 *
 * Usage: `_agent_worker.ts CONFIG_JSON`. Stdin: `stop` ends sending (a
 * summary line follows on stdout), `exit` exits.
 *
 * @module
 */

import { join } from "node:path";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { hostBrokerWith } from "../../lib/app/host_broker.ts";
import type { ElectionRole } from "../../lib/client/election.ts";
import { setLogLevel } from "../../lib/log.ts";
import { mulberry32 } from "./_fuzz.ts";

/** The worker's configuration. */
export interface WorkerConfig {
  port: number;
  dataDir: string;
  role: ElectionRole;
  names: string[];
  peers: string[];
  seed: number;
  inc: number;
  sendEveryMs: number;
  outDir: string;
}

const enc = new TextEncoder();

function append(path: string, line: unknown): void {
  Deno.writeFileSync(path, enc.encode(JSON.stringify(line) + "\n"), { append: true });
}

function out(o: unknown): void {
  console.log(JSON.stringify(o));
}

async function main(config: WorkerConfig): Promise<void> {
  setLogLevel("error");
  const rand = mulberry32(config.seed);
  let sending = true;
  let exiting = false;
  const errors: Record<string, number> = {};
  const count = (e: unknown) => {
    const code = (e as { code?: string }).code ?? (e as Error).name ?? "Error";
    errors[code] = (errors[code] ?? 0) + 1;
  };
  let sent = 0;
  let acked = 0;
  let received = 0;

  const agent = async (name: string) => {
    let client: AgentClient | undefined;
    for (let attempt = 0; !client && !exiting; attempt++) {
      try {
        client = await AgentClient.connect({
          host: "127.0.0.1",
          port: config.port,
          dataDir: config.dataDir,
          role: config.role,
          hostBroker: config.role === "host" ? hostBrokerWith() : undefined,
          autoReregister: true,
          spawnArgs: ["--no-http", "--log-level", "info"],
          timeoutMs: 30_000,
          retries: 20,
        });
        await client.register(name);
      } catch (e) {
        count(e);
        await client?.close().catch(() => {});
        client = undefined;
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    if (!client) return;
    out({ ready: name, hosting: client.hostedBroker !== undefined });
    const sentFile = join(config.outDir, `${name}.sent`);
    const recvFile = join(config.outDir, `${name}.recv`);
    const others = config.peers.filter((p) => p !== name);
    const sender = async () => {
      for (let k = 0; sending && !exiting; k++) {
        const to = others[Math.floor(rand() * others.length)];
        sent++;
        try {
          const r = await client.send(to, `${name} ${config.inc}:${k}`, { inc: config.inc, k });
          append(sentFile, { to, inc: config.inc, k, id: r.messageId });
          acked++;
        } catch (e) {
          count(e);
          append(sentFile, { failed: (e as { code?: string }).code ?? "Error" });
        }
        await new Promise((r) => setTimeout(r, config.sendEveryMs * (0.5 + rand())));
      }
    };
    const receiver = async () => {
      while (!exiting) {
        try {
          const { messages } = await client.wait({ timeoutMs: 1_000, limit: 200 });
          if (messages.length === 0) continue;
          const lines = messages.map((m) => {
            const d = m.message.data as { inc: number; k: number };
            return JSON.stringify({ id: m.id, from: m.from, inc: d?.inc, k: d?.k }) + "\n";
          }).join("");
          Deno.writeFileSync(recvFile, enc.encode(lines), { append: true });
          received += messages.length;
          const ids = messages.map((m) => m.id);
          await client.ack(ids);
          append(recvFile, { acked: ids });
        } catch (e) {
          count(e);
          await new Promise((r) => setTimeout(r, 100));
        }
      }
    };
    await Promise.all([sender(), receiver()]);
  };

  const agents = Promise.all(config.names.map(agent));
  const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
  let buf = "";
  for await (const chunk of lines) {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      const cmd = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (cmd === "stop") {
        sending = false;
        // Let in-flight sends finish before reporting.
        await new Promise((r) => setTimeout(r, config.sendEveryMs * 2 + 200));
        out({ stopped: true, sent, acked, received, errors });
      }
      if (cmd === "exit") {
        exiting = true;
        out({ exiting: true, sent, acked, received, errors });
        // No orderly close: a hosting worker's broker would hand over to a
        // survivor that is exiting too. The harness kills what is left.
        Deno.exit(0);
      }
    }
  }
  exiting = true;
  await agents;
}

if (import.meta.main) {
  await main(JSON.parse(Deno.args[0]) as WorkerConfig);
}
