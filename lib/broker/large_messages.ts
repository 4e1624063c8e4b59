/**
 * Large messages: content over {@linkcode LARGE_MESSAGE_BYTES} is written to
 * `<data-dir>/large-messages/<UTC time>_<from>_<to>_<id>.md` (0600) and the
 * queued message carries a ~150-character summary and the path. Names are
 * validated instance names and ids are the broker's own, so a file name can
 * neither escape the directory nor collide (created with `createNew`).
 *
 * @module
 */

import { cutText } from "../protocol/peer_text.ts";
import { join, relative, resolve } from "node:path";
import { IpcError } from "../protocol/errors.ts";
import { LIMITS } from "../defaults.ts";
import { ensurePrivateDir } from "../state/data_dir.ts";
import type { Store, StoredMessage } from "../state/store.ts";

/** Content longer than this many UTF-8 bytes takes the large-message path. */
export const LARGE_MESSAGE_BYTES = LIMITS.largeMessageBytes;

/** Length of the summary kept inline. */
export const SUMMARY_CHARS = 150;

const SAFE = /^[A-Za-z0-9_-]{1,64}$/;

/** A summary of `content`: its start, on word (else grapheme) boundaries, about 150 characters. */
export function summarize(content: string, max = SUMMARY_CHARS): string {
  const flat = content.replace(/\s+/g, " ").trim();
  if (flat.length <= max) return flat;
  // On a grapheme boundary: a lone half of an emoji would end up in every copy of the message.
  const cut = cutText(flat, max);
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

/** True when `path` is strictly inside directory `root` (both resolved). */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && !rel.startsWith("..") && !rel.startsWith("/") && !/^[A-Za-z]:/.test(rel) &&
    resolve(root, rel) === path;
}

/**
 * The full text of a large message, or why there is none: `"gone"` (expired
 * or removed) or `"elsewhere"` (its file is not inside this broker's
 * `<data-dir>/large-messages`, e.g. another host's on a shared NATS store).
 */
export type LargeText = { text: string } | { missing: "gone" | "elsewhere"; inStore: boolean };

/**
 * Reads the full text of a large message: from the store when it keeps large
 * bodies (NATS object store, a relative name), otherwise from its file, which
 * must resolve (symlinks followed) to a file inside `<data-dir>/large-messages`.
 * The path comes from the stored message, never from a request.
 */
export async function readLargeText(
  msg: Pick<StoredMessage, "large">,
  store: Pick<Store, "readLarge">,
  dataDir: string,
): Promise<LargeText> {
  const path = msg.large?.path;
  if (path === undefined) return { missing: "gone", inStore: false };
  if (store.readLarge && !path.startsWith("/") && !/^[A-Za-z]:/.test(path)) {
    // Kept in the store itself: readable from any broker on it.
    const body = await store.readLarge(path).catch(() => null);
    return body === null ? { missing: "gone", inStore: true } : { text: body };
  }
  try {
    const root = await Deno.realPath(join(dataDir, "large-messages"));
    const real = await Deno.realPath(path);
    if (!isInside(root, real) || !(await Deno.stat(real)).isFile) {
      return { missing: "elsewhere", inStore: false };
    }
    return { text: await readLargeMessage(real) };
  } catch {
    return { missing: "gone", inStore: false };
  }
}
