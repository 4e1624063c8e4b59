/**
 * Real git repositories in temp dirs for the tests of file claims and the
 * pre-commit hook (no global or system git config is read).
 *
 * @module
 */

import { join } from "node:path";

/** Runs git in `cwd`; throws with its stderr on failure. */
export async function git(cwd: string, ...args: string[]): Promise<string> {
  const out = await new Deno.Command("git", {
    args: ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", ...args],
    cwd,
    env: { GIT_CONFIG_NOSYSTEM: "1", HOME: cwd },
    stdin: "null",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(`git ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  }
  return text;
}

/** A fresh git repository with src/ and docs/, its real path. */
export async function gitRepo(parent: string): Promise<string> {
  const repo = join(parent, "repo");
  await Deno.mkdir(join(repo, "src", "x"), { recursive: true });
  await Deno.mkdir(join(repo, "docs"), { recursive: true });
  await git(repo, "init", "-q");
  await Deno.writeTextFile(join(repo, "src", "a.ts"), "export const a = 1;\n");
  await Deno.writeTextFile(join(repo, "docs", "guide.md"), "# Guide\n");
  await git(repo, "add", ".");
  await git(repo, "commit", "-qm", "init");
  return await Deno.realPath(repo);
}
