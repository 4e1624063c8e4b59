/**
 * The MCP server's stdio transport: the SDK's `StdioServerTransport` over
 * this process's stdin, writing to a stdout stream whose `send` resolves only
 * once the bytes reached the OS (so an acknowledgement that follows a
 * written response is honest), and whose writes never block the event loop
 * (a hosted broker keeps serving while the assistant is slow to read).
 *
 * @module
 */

import process from "node:process";
import { Writable } from "node:stream";
import { StdioServerTransport } from "../deps.ts";

async function writeAll(data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.length) at += await Deno.stdout.write(data.subarray(at));
}

/**
 * A stdout stream with no buffer: every `write` returns false and `drain`
 * follows once everything written so far is out, which is when the SDK's
 * `send` resolves.
 */
export function unbufferedStdout(): Writable {
  return new Writable({
    highWaterMark: 0,
    decodeStrings: true,
    write(chunk: Uint8Array, _encoding, callback) {
      writeAll(chunk).then(() => callback(), (e) => callback(e));
    },
  });
}

/** The stdio transport, and a promise that resolves when stdin ends. */
export function stdioTransport(): { transport: StdioServerTransport; stdinEnded: Promise<void> } {
  const transport = new StdioServerTransport(process.stdin, unbufferedStdout());
  const stdinEnded = new Promise<void>((resolve) => {
    process.stdin.once("end", () => resolve());
    process.stdin.once("close", () => resolve());
  });
  return { transport, stdinEnded };
}
