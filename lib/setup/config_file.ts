/**
 * Reading and safely rewriting one config file for `setup`: the new content
 * goes to a temporary file beside the real one and is renamed over it (so a
 * crash never leaves half a config), with the original's permissions, through
 * symlinks (dotfile managers link these files), after a `<file>.bak` copy.
 *
 * @module
 */

import { dirname } from "node:path";

/** A config file as read: its text (`undefined` when missing) and where to write. */
export interface ConfigFile {
  /** The path as given (the backup goes beside it). */
  path: string;
  /** Where the content lives: `path` with symlinks resolved. */
  realPath: string;
  text: string | undefined;
  /** Permission bits to keep, when known. */
  mode: number | null;
}

/**
 * Reads a config file; a missing file has `text: undefined`.
 *
 * @example
 * ```ts
 * const file = await readConfigFile("/home/me/.cursor/mcp.json");
 * if (file.text === undefined) console.log("not there yet");
 * ```
 */
export async function readConfigFile(path: string): Promise<ConfigFile> {
  let realPath: string;
  try {
    realPath = await Deno.realPath(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      return { path, realPath: path, text: undefined, mode: null };
    }
    throw error;
  }
  const info = await Deno.stat(realPath);
  if (!info.isFile) throw new Error(`${path} is not a file`);
  return { path, realPath, text: await Deno.readTextFile(realPath), mode: info.mode };
}

/**
 * Writes `text` in place of `file`: copies the old content to `<path>.bak`
 * first when `backup` is set and the file existed, creates missing parent
 * directories, and replaces the file atomically. Returns the backup path.
 */
export async function writeConfigFile(
  file: ConfigFile,
  text: string,
  backup: boolean,
): Promise<string | undefined> {
  let backupPath: string | undefined;
  if (backup && file.text !== undefined) {
    backupPath = `${file.path}.bak`;
    await Deno.copyFile(file.realPath, backupPath);
  }
  await Deno.mkdir(dirname(file.realPath), { recursive: true });
  const temp = `${file.realPath}.agent-ipc-${Deno.pid}.tmp`;
  try {
    await Deno.writeTextFile(temp, text, { mode: 0o600 });
    if (file.mode !== null) await Deno.chmod(temp, file.mode & 0o7777);
    await Deno.rename(temp, file.realPath);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw error;
  }
  return backupPath;
}

/**
 * Deletes a config file that `--remove` emptied down to what setup itself
 * created ({@link isSetupSkeleton}), and the `<path>.bak` this run made of it
 * (a copy of a file that did not exist before setup). False, and nothing
 * deleted, when the path is a symlink: a dotfile manager's link is the user's.
 */
export async function deleteConfigFile(
  file: ConfigFile,
  backup: string | undefined,
): Promise<boolean> {
  if ((await Deno.lstat(file.path)).isSymlink) return false;
  await Deno.remove(file.path);
  if (backup !== undefined) await Deno.remove(backup).catch(() => {});
  return true;
}
