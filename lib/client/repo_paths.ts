/**
 * Where file claims live: the repository root of a directory (git's top
 * level, else the directory itself) and claim paths made relative to it, so
 * agents in different subfolders of one repository name a file the same way;
 * the key claims are stored under (the repository's identity, the same in
 * every clone on every machine); the files staged for commit, for
 * `claims --check-staged`.
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
 * The key a repository's claims are stored under, the same in every clone on
 * every machine, so agents on two hosts working on one repository see each
 * other's claims: `repo:HOST/PATH` from the normalised `origin` URL (scheme,
 * user, port and `.git` dropped: the ssh and https URLs of one repository
 * agree), else `commit:SHA` of its root commit (the first, sorted, when it
 * has several), else the local root itself (not a git repository, or no
 * commit yet: that directory only).
 *
 * @example
 * ```ts
 * await repoKey("/home/me/project"); // "repo:github.com/me/project"
 * ```
 */
export async function repoKey(root: string): Promise<string> {
  const origin = (await git(root, ["config", "--get", "remote.origin.url"]))?.trim();
  const remote = origin ? normaliseRemote(origin) : null;
  if (remote) return `repo:${remote}`;
  const roots = (await git(root, ["rev-list", "--max-parents=0", "HEAD"]))?.split("\n")
    .map((l) => l.trim()).filter((l) => /^[0-9a-f]{40,64}$/.test(l)).sort();
  if (roots?.length) return `commit:${roots[0]}`;
  return root;
}

/**
 * A git remote URL as `host/path` (host lower-cased; user, port, trailing
 * slashes and `.git` dropped), or null for a local path or `file://` URL,
 * which names a directory of one machine, not a repository others share.
 *
 * @example
 * ```ts
 * normaliseRemote("git@github.com:me/project.git"); // "github.com/me/project"
 * normaliseRemote("https://github.com/me/project"); // "github.com/me/project"
 * ```
 */
export function normaliseRemote(url: string): string | null {
  const u = url.trim();
  let host: string;
  let path: string;
  const withScheme = /^([a-z][a-z0-9+.-]*):\/\/(?:[^@/]*@)?(\[[^\]]+\]|[^/:]+)(?::\d*)?(\/.*)?$/i
    .exec(u);
  // scp-like syntax: [user@]host:path (a one-letter "host" is a Windows drive).
  const scp = /^(?:[^@/]+@)?([^:/\\]{2,}):(?!\/\/)(.+)$/.exec(u);
  if (withScheme) {
    if (withScheme[1].toLowerCase() === "file") return null;
    host = withScheme[2];
    path = withScheme[3] ?? "";
  } else if (/^[a-z][a-z0-9+.-]*:\/\//i.test(u)) {
    return null;
  } else if (scp) {
    host = scp[1];
    path = scp[2];
  } else {
    return null;
  }
  path = path.replace(/\/+$/, "").replace(/\.git$/, "").replace(/^\/+/, "").replace(/\/+$/, "");
  if (!path || !host) return null;
  return `${host.toLowerCase()}/${path}`;
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
