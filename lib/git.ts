/**
 * Running `git` for the parts that need a repository's facts (its top level,
 * staged files, hooks folder): one place that starts the command quietly and
 * answers null when git is missing or fails, so callers fall back instead of
 * breaking.
 *
 * @module
 */

/**
 * The standard output of `git ARGS` run in `cwd`, or null when git is not on
 * PATH or exits non-zero (e.g. outside a repository).
 *
 * @example
 * ```ts
 * const top = (await git(Deno.cwd(), ["rev-parse", "--show-toplevel"]))?.trim();
 * ```
 */
export async function git(cwd: string, args: string[]): Promise<string | null> {
  try {
    const out = await new Deno.Command("git", {
      args,
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout) : null;
  } catch {
    return null; // no git on PATH
  }
}
