/**
 * The data directory on disk: created private (0700), locked exclusively
 * while a broker owns it, and home of the shared secret (`secret`, 0600).
 * It sits below both the broker (which opens and locks it) and the client
 * (which reads the secret and claims the right to start a broker here).
 * The lock file (`broker.lock`) says who holds it: the broker's pid, and once
 * it listens its address (`pid\nhost:port\n`), so a client on the wrong port
 * or a second broker can name the running one ({@linkcode lockHolder}).
 *
 * @module
 */

import { join } from "node:path";
import { IpcError } from "../protocol/errors.ts";
import { newSecret } from "../protocol/auth.ts";

/** An open, locked data directory. */
export interface DataDir extends AsyncDisposable {
  path: string;
  /** The secret registrations are checked against. */
  secret: string;
  /** Where the secret came from. */
  secretSource: "env" | "file";
  /** Releases the lock. Safe twice. */
  release(): void;
  /**
   * Records the address the broker listens on, and what runs it, in the lock
   * file (for {@linkcode lockHolder}).
   */
  recordAddress(host: string, port: number, hostedBy?: BrokerHost): Promise<void>;
}

/**
 * What runs a broker: the `broker` command (in the foreground, in the
 * background, `deno task start`), or an assistant's MCP server that won the
 * election (it lives as long as that assistant).
 */
export type BrokerHost = "broker" | "mcp";

/** The broker that holds a data dir, as its lock file says. */
export interface LockHolder {
  pid: number;
  /** Once it listens. */
  host?: string;
  port?: number;
  hostedBy?: BrokerHost;
}

/** The holder of a lock file's text (`pid\nhost:port\nhosted-by\n`); undefined when unreadable. */
export function parseLockText(text: string): LockHolder | undefined {
  const [pidLine, addrLine, hostLine] = text.split("\n");
  const pid = Number(pidLine);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const m = /^(.+):(\d{1,5})$/.exec(addrLine?.trim() ?? "");
  if (!m) return { pid };
  const holder: LockHolder = { pid, host: m[1], port: Number(m[2]) };
  const by = hostLine?.trim();
  if (by === "broker" || by === "mcp") holder.hostedBy = by;
  return holder;
}

/**
 * What the lock file of the data dir at `path` says, without checking that
 * anybody holds the lock (no lock taken: cheap, and never in a starting
 * broker's way); undefined when there is none.
 */
export async function lockRecord(path: string): Promise<LockHolder | undefined> {
  try {
    return parseLockText(await Deno.readTextFile(join(path, "broker.lock")));
  } catch {
    return undefined;
  }
}

/**
 * The broker holding the data dir at `path`, or undefined when none does
 * (no lock file, or nobody holds its lock: a broker that died leaves its
 * text behind). Takes a shared lock for an instant to tell: a broker
 * starting at that instant sees the data dir locked and retries, as it does
 * for any broker that is stopping.
 *
 * @example
 * ```ts
 * const holder = await lockHolder("/home/me/.local/share/agent-ipc");
 * if (holder?.port) console.log(`running on ${holder.host}:${holder.port} (pid ${holder.pid})`);
 * ```
 */
export async function lockHolder(path: string): Promise<LockHolder | undefined> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(path, "broker.lock"), { read: true });
  } catch {
    return undefined;
  }
  try {
    let free = false;
    try {
      free = await file.tryLock(false);
    } catch {
      return undefined;
    }
    if (free) return undefined;
    const buf = new Uint8Array(512);
    const n = await file.read(buf);
    return n ? parseLockText(new TextDecoder().decode(buf.subarray(0, n))) : undefined;
  } finally {
    file.close();
  }
}

/** The message for a data dir a running broker holds, naming it when its lock file does. */
export function heldMessage(path: string, holder: LockHolder | undefined): string {
  if (holder?.port === undefined) {
    return `Data dir "${path}" is in use by another broker` +
      (holder ? ` (pid ${holder.pid})` : "") +
      `: stop it, or give this one another --data-dir`;
  }
  const at = `${holder.host}:${holder.port}`;
  return `A broker for this data dir is already running on ${at} (pid ${holder.pid}): ` +
    `use IPC_PORT=${holder.port} or --port ${holder.port}`;
}

const isWindows = Deno.build.os === "windows";

/** Creates `path` (mode 0700) if needed and refuses a world-writable one. */
export async function ensurePrivateDir(path: string): Promise<void> {
  try {
    await Deno.mkdir(path, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new IpcError("E_STORE", `Cannot create data dir "${path}": ${(e as Error).message}`);
  }
  if (isWindows) return;
  const info = await Deno.stat(path);
  if (!info.isDirectory) throw new IpcError("E_STORE", `Data dir "${path}" is not a directory`);
  if (info.mode !== null && (info.mode & 0o002) !== 0) {
    throw new IpcError(
      "E_STORE",
      `Data dir "${path}" is world-writable: run "chmod 700 ${path}" or pick another --data-dir`,
    );
  }
}

/**
 * Makes the files at `paths` private to their owner: creates the first one
 * empty with mode 0600 if it is missing (SQLite gives its -wal and -shm files
 * the mode of the database file) and clears group and other bits of those
 * that exist. Used for the store's files, which hold every message.
 */
export async function ensurePrivateFiles(paths: string[]): Promise<void> {
  if (isWindows) return;
  for (const [i, path] of paths.entries()) {
    try {
      if (i === 0) (await Deno.open(path, { create: true, append: true, mode: 0o600 })).close();
      const info = await Deno.stat(path);
      if (info.mode !== null && (info.mode & 0o077) !== 0) {
        await Deno.chmod(path, info.mode & 0o700);
      }
    } catch (e) {
      if (i > 0 && e instanceof Deno.errors.NotFound) continue;
      throw new IpcError("E_STORE", `Cannot make "${path}" private: ${(e as Error).message}`);
    }
  }
}

/**
 * Reads the secret file of a data dir, or returns undefined when there is none.
 * Used by clients; the broker uses {@linkcode openDataDir}.
 */
export async function readSecret(dataDir: string): Promise<string | undefined> {
  try {
    return (await Deno.readTextFile(join(dataDir, "secret"))).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** Reads, or creates once (0600, exclusively), the data dir's secret. */
async function loadOrCreateSecret(path: string): Promise<string> {
  const file = join(path, "secret");
  const existing = await readSecret(path);
  if (existing) {
    if (!isWindows) {
      const info = await Deno.stat(file);
      if (info.mode !== null && (info.mode & 0o077) !== 0) await Deno.chmod(file, 0o600);
    }
    return existing;
  }
  const secret = newSecret();
  try {
    await Deno.writeTextFile(file, secret + "\n", { mode: 0o600, createNew: true });
    return secret;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) {
      const again = await readSecret(path);
      if (again) return again;
    }
    throw new IpcError("E_STORE", `Cannot write secret "${file}": ${(e as Error).message}`);
  }
}

/** True when `e` says the data dir is locked by another broker (which may be starting or stopping). */
export function isDataDirLocked(e: unknown): boolean {
  return e instanceof IpcError && e.code === "E_STORE" && e.details?.locked === true;
}

/**
 * Opens and locks a data directory. Fails at once (E_STORE) when another
 * broker holds it: only one broker may own a data dir.
 */
export async function openDataDir(path: string, envSecret?: string): Promise<DataDir> {
  await ensurePrivateDir(path);
  let lock: Deno.FsFile;
  try {
    lock = await Deno.open(join(path, "broker.lock"), {
      read: true,
      write: true,
      create: true,
      mode: 0o600,
    });
  } catch (e) {
    throw new IpcError(
      "E_STORE",
      `Cannot open lock file in data dir "${path}": ${(e as Error).message}`,
    );
  }
  let locked = false;
  try {
    locked = await lock.tryLock(true);
  } catch (e) {
    lock.close();
    throw new IpcError("E_STORE", `Cannot lock data dir "${path}": ${(e as Error).message}`);
  }
  if (!locked) {
    lock.close();
    const holder = await lockHolder(path);
    throw new IpcError("E_STORE", heldMessage(path, holder), {
      locked: true,
      data_dir: path,
      ...(holder ?? {}),
    });
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    try {
      lock.unlockSync();
    } catch { /* closing releases it too */ }
    lock.close();
  };
  try {
    await lock.truncate(0);
    await lock.write(new TextEncoder().encode(`${Deno.pid}\n`));
    const secret = envSecret ?? await loadOrCreateSecret(path);
    return {
      path,
      secret,
      secretSource: envSecret ? "env" : "file",
      release,
      recordAddress: async (host, port, hostedBy = "broker") => {
        if (released) return;
        await lock.truncate(0);
        await lock.seek(0, Deno.SeekMode.Start);
        await lock.write(new TextEncoder().encode(`${Deno.pid}\n${host}:${port}\n${hostedBy}\n`));
      },
      [Symbol.asyncDispose]: () => Promise.resolve(release()),
    };
  } catch (e) {
    release();
    throw e instanceof IpcError ? e : new IpcError("E_STORE", (e as Error).message);
  }
}
