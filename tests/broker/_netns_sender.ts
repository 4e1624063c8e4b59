/**
 * A sender for tests/broker/netns_hosts_test.ts, run inside a host's network
 * namespace: registers NAME on the broker of that host (it never starts one)
 * and sends `NAME K` to TO, one send at a time, K = 1, 2, ... until a line
 * `stop` arrives on stdin. Prints one JSON line per send when its answer
 * comes: `{"k","at","ms"}` once the broker acknowledged it (`at`: the time
 * of the answer, ms since the epoch), `{"k","at","failed","message"}` when
 * it failed; then `{"done":true}`.
 *
 * Usage: `_netns_sender.ts PORT DATA_DIR NAME TO EVERY_MS`.
 *
 * @module
 */

import { AgentClient } from "../../lib/client/agent_client.ts";
import { setLogLevel } from "../../lib/log.ts";

async function main([port, dataDir, name, to, everyMs]: string[]): Promise<void> {
  setLogLevel("error");
  let stopping = false;
  (async () => {
    const lines = Deno.stdin.readable.pipeThrough(new TextDecoderStream());
    for await (const chunk of lines) if (chunk.includes("stop")) break;
    stopping = true;
  })();
  await using client = await AgentClient.connect({
    host: "127.0.0.1",
    port: Number(port),
    dataDir,
    role: "none",
    timeoutMs: 60_000,
  });
  await client.register(name);
  console.log(JSON.stringify({ ready: true }));
  for (let k = 1; !stopping; k++) {
    const t0 = Date.now();
    try {
      await client.send(to, `${name} ${k}`);
      console.log(JSON.stringify({ k, at: Date.now(), ms: Date.now() - t0 }));
    } catch (e) {
      const failed = (e as { code?: string }).code ?? (e as Error).name;
      console.log(JSON.stringify({ k, at: Date.now(), failed, message: (e as Error).message }));
    }
    await new Promise((r) => setTimeout(r, Number(everyMs)));
  }
  console.log(JSON.stringify({ done: true }));
}

if (import.meta.main) {
  await main(Deno.args);
  Deno.exit(0);
}
