/**
 * Where file claims live: the repository root of a directory (git's top
 * level, else the directory itself) and claim paths made relative to it, so
 * agents in different subfolders of one repository name a file the same way.
 * Also the files staged for commit, for `claims --check-staged`.
 *
 * @module
 */

import { isAbsolute, relative, resolve, sep } from "node:path";
import { git } from "../git.ts";
import { IpcError } from "../protocol/errors.ts";
import { checkClaimPath } from "../protocol/globs.ts";

/**
 * The repository root of `cwd`: git's top level (real path), else the real
 * path of `cwd` itself.
 *
 * @example
 * ```ts
 * const root = await repoRoot(Deno.cwd()); // "/home/me/project"
 * ```
 */
export async function repoRoot(cwd: string): Promise<string> {
  const real = await Deno.realPath(cwd);
  const top = (await git(real, ["rev-parse", "--show-toplevel"]))?.trim();
  return top ? await Deno.realPath(top) : real;
}

/**
 * `args` (paths or globs, relative to `cwd` or absolute) as claim paths
 * relative to `root`. `.` or the root itself is `**`. Throws
 * `E_PATH_ESCAPE` for a path outside the root.
 */
export async function claimPaths(root: string, cwd: string, args: string[]): Promise<string[]> {
  const base = await Deno.realPath(cwd);
  return args.map((arg) => {
    const abs = resolve(base, arg);
    let rel = relative(root, abs);
    if (sep === "\\") rel = rel.replaceAll("\\", "/");
    if (rel === "") return "**";
    if (rel === ".." || rel.startsWith("../") || isAbsolute(rel)) {
      throw new IpcError(
        "E_PATH_ESCAPE",
        `"${arg}" is outside the repository root "${root}": claim paths inside it`,
      );
    }
    return checkClaimPath(rel);
  });
}

/** Files staged for commit in the repository at `root`, relative to it (empty outside git). */
export async function stagedFiles(root: string): Promise<string[]> {
  const out = await git(root, ["diff", "--cached", "--name-only", "-z"]);
  if (out === null) {
    throw new IpcError("E_NOT_FOUND", `"${root}" is not a git repository: nothing is staged`);
  }
  return out.split("\0").filter((p) => p.length > 0);
}
