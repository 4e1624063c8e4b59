/**
 * Large messages: content over {@linkcode LARGE_MESSAGE_BYTES} is written to
 * `<data-dir>/large-messages/<UTC time>_<from>_<to>_<id>.md` (0600) and the
 * queued message carries a ~150-character summary and the path. Names are
 * validated instance names and ids are the broker's own, so a file name can
 * neither escape the directory nor collide (created with `createNew`).
 *
 * @module
 */

import { join } from "node:path";
import { IpcError } from "../protocol/errors.ts";
import { ensurePrivateDir } from "../state/data_dir.ts";

/** Content longer than this many UTF-8 bytes takes the large-message path. */
export const LARGE_MESSAGE_BYTES = 10 * 1024;

/** Length of the summary kept inline. */
export const SUMMARY_CHARS = 150;

const SAFE = /^[A-Za-z0-9_-]{1,64}$/;

/** A summary of `content`: its start, on word boundaries, about 150 characters. */
export function summarize(content: string, max = SUMMARY_CHARS): string {
  const flat = content.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  const cut = flat.slice(0, max);
  const space = cut.lastIndexOf(" ");
  return (space > max * 0.6 ? cut.slice(0, space) : cut) + "…";
}

/** The inline text queued in place of a large message: summary, size, where the rest is. */
export function largeInline(content: string, bytes: number, path: string): string {
  return `${summarize(content)}\n[Large message: ${bytes} bytes. Full content: ${path}]`;
}

function stamp(time: number): string {
  return new Date(time).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
}

/** Writes a large message; returns its path and the inline content to queue. */
export async function writeLargeMessage(
  dataDir: string,
  msg: { id: string; from: string; to: string; time: number; content: string; bytes: number },
): Promise<{ path: string; inline: string }> {
  for (const part of [msg.from, msg.to, msg.id]) {
    if (!SAFE.test(part)) throw new IpcError("E_BAD_NAME", `Unsafe file name part "${part}"`);
  }
  const dir = join(dataDir, "large-messages");
  await ensurePrivateDir(dir);
  const path = join(dir, `${stamp(msg.time)}_${msg.from}_${msg.to}_${msg.id}.md`);
  const header = [
    `# Message from ${msg.from} to ${msg.to}`,
    "",
    `- From: ${msg.from}`,
    `- To: ${msg.to}`,
    `- Time: ${new Date(msg.time).toISOString()}`,
    `- Size: ${msg.bytes} bytes`,
    `- Id: ${msg.id}`,
    "",
    "---",
    "",
  ].join("\n");
  try {
    await Deno.writeTextFile(path, header + msg.content, { mode: 0o600, createNew: true });
  } catch (e) {
    throw new IpcError("E_STORE", `Cannot write large message "${path}": ${(e as Error).message}`);
  }
  return { path, inline: largeInline(msg.content, msg.bytes, path) };
}

/** Reads the full content of a large message file (without its header). */
export async function readLargeMessage(path: string): Promise<string> {
  const text = await Deno.readTextFile(path);
  // The header ends with "\n---\n" (see writeLargeMessage); the content follows at once.
  const at = text.indexOf("\n---\n");
  return at < 0 ? text : text.slice(at + 5);
}
