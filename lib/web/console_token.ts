/**
 * The web console's login token: 256 random bits kept in
 * `<data-dir>/console-token` (0600), created by the broker that owns the data
 * dir and read by `agent-ipc web` to print the login address. It stays the same
 * across broker restarts, so a browser that has logged in once stays logged in.
 *
 * @module
 */

import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { IpcError } from "../protocol/errors.ts";

/** File name of the token inside the data dir. */
export const CONSOLE_TOKEN_FILE = "console-token";

const TOKEN_PATTERN = /^[A-Za-z0-9_-]{32,128}$/;
const isWindows = Deno.build.os === "windows";

/**
 * Reads the console token of a data dir; undefined when there is none (or it
 * is malformed or unreadable).
 *
 * @example
 * ```ts
 * const token = await readConsoleToken("/home/me/.local/share/agent-ipc");
 * ```
 */
export async function readConsoleToken(dataDir: string): Promise<string | undefined> {
  try {
    const token = (await Deno.readTextFile(join(dataDir, CONSOLE_TOKEN_FILE))).trim();
    return TOKEN_PATTERN.test(token) ? token : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Returns the data dir's console token, creating it (0600) when missing.
 * Only the broker that holds the data dir's lock calls this.
 */
export async function loadOrCreateConsoleToken(dataDir: string): Promise<string> {
  const file = join(dataDir, CONSOLE_TOKEN_FILE);
  const existing = await readConsoleToken(dataDir);
  if (existing) {
    if (!isWindows) {
      const info = await Deno.stat(file);
      if (info.mode !== null && (info.mode & 0o077) !== 0) await Deno.chmod(file, 0o600);
    }
    return existing;
  }
  const token = randomBytes(32).toString("base64url");
  try {
    // A malformed leftover is replaced; the lock keeps other brokers out.
    await Deno.remove(file).catch(() => {});
    await Deno.writeTextFile(file, token + "\n", { mode: 0o600, createNew: true });
  } catch (e) {
    throw new IpcError(
      "E_STORE",
      `Cannot write console token "${file}": ${(e as Error).message}`,
    );
  }
  return token;
}
