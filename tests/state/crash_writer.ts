/**
 * Helper process of the crash test in sqlite_store_test.ts: opens the store
 * at `Deno.args[0]` and enqueues messages for "sink" until it is killed,
 * writing each id to stdout once its enqueue has resolved (is committed).
 *
 * @module
 */

import { openSqliteStore } from "../../lib/state/sqlite_store.ts";

const encoder = new TextEncoder();

/** Enqueues forever, 25 concurrent writes per turn, reporting each commit. */
export async function writeUntilKilled(path: string): Promise<never> {
  const store = await openSqliteStore(path);
  let n = 0;
  while (true) {
    await Promise.all(Array.from({ length: 25 }, async () => {
      const id = `crash-${(n++).toString().padStart(10, "0")}`;
      const content = `message ${id} `.repeat(1 + n % 7);
      const [out] = await store.enqueue([{
        id,
        from: "writer",
        to: "sink",
        time: Date.now(),
        content,
      }], 1e9);
      if (!out.ok) throw new Error(`enqueue refused: ${JSON.stringify(out)}`);
      Deno.stdout.writeSync(encoder.encode(id + "\n"));
    }));
  }
}

if (import.meta.main) {
  await writeUntilKilled(Deno.args[0]);
}
