/**
 * The load process of the benchmark: `deno run <flags> bench/load.ts SCENARIO CONFIG_JSON`.
 * Runs one scenario's load against a broker in another process and writes
 * JSON lines on stdout: `{"type":"mark"}` when the driver should sample the
 * broker (the driver answers with a line on stdin), then one
 * `{"type":"result"}` or `{"type":"error"}`. Progress goes to stderr.
 *
 * @module
 */

import type { LoadIo } from "./_scenario.ts";

type LoadFn = (config: never, io: LoadIo) => Promise<Record<string, unknown>>;

const LOADS: Record<string, () => Promise<LoadFn>> = {
  latency: async () => (await import("./scenarios/latency.ts")).load as LoadFn,
  throughput: async () => (await import("./scenarios/throughput.ts")).load as LoadFn,
  legacy: async () => (await import("./scenarios/legacy.ts")).load as LoadFn,
  backlog: async () => (await import("./scenarios/backlog.ts")).load as LoadFn,
  mcp: async () => (await import("./scenarios/mcp.ts")).load as LoadFn,
  failover: async () => (await import("./scenarios/failover.ts")).load as LoadFn,
};

const encoder = new TextEncoder();

function emit(line: Record<string, unknown>): void {
  Deno.stdout.writeSync(encoder.encode(JSON.stringify(line) + "\n"));
}

/** Waits for one line on stdin (the driver's go-ahead after a mark). */
async function readLine(reader: ReadableStreamDefaultReader<Uint8Array>): Promise<void> {
  for (;;) {
    const { value, done } = await reader.read();
    if (done || value.includes(0x0a)) return;
  }
}

/** Runs the scenario named by `args[0]` with the JSON config `args[1]`. */
export async function main(args: string[]): Promise<number> {
  const [name, json] = args;
  const pick = LOADS[name];
  if (!pick || json === undefined) {
    console.error(`usage: load.ts (${Object.keys(LOADS).join("|")}) CONFIG_JSON`);
    return 2;
  }
  const reader = Deno.stdin.readable.getReader();
  const io: LoadIo = {
    async mark(mark) {
      emit({ type: "mark", name: mark });
      await readLine(reader);
    },
    log(message) {
      console.error(`[load] ${message}`);
    },
  };
  try {
    const fn = await pick();
    const result = await fn(JSON.parse(json) as never, io);
    emit({ type: "result", result });
    return 0;
  } catch (e) {
    emit({ type: "error", message: (e as Error)?.stack ?? String(e) });
    return 1;
  } finally {
    reader.releaseLock();
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
