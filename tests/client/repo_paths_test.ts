/** Repository identity for claim keys: remote URLs normalised, root commit, local root. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { normaliseRemote, repoKey } from "../../lib/client/repo_paths.ts";
import { git, gitRepo } from "../_git.ts";

Deno.test("normaliseRemote: one repository's ssh, https and git URLs agree; local ones are null", () => {
  const same = [
    "git@github.com:Team/Proj.git",
    "https://github.com/Team/Proj",
    "https://user:secret@GitHub.com/Team/Proj.git/",
    "ssh://git@github.com:22/Team/Proj.git",
    "ssh://git@github.com/Team/Proj",
    "github.com:Team/Proj",
  ];
  for (const u of same) assert.equal(normaliseRemote(u), "github.com/Team/Proj", u);
  assert.equal(normaliseRemote("git://host.xz/~user/repo.git/"), "host.xz/~user/repo");
  for (const local of ["/srv/git/p.git", "file:///srv/git/p.git", "C:\\repos\\p", "../p", ""]) {
    assert.equal(normaliseRemote(local), null, local);
  }
  // Credentials in an https remote never reach the key.
  assert.ok(!normaliseRemote("https://user:secret@host/p")!.includes("secret"));
});

Deno.test("repoKey: origin URL, else root commit, else the local root", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipc-repokey-" });
  try {
    const repo = await gitRepo(dir);
    const root = (await git(repo, "rev-list", "--max-parents=0", "HEAD")).trim();
    assert.equal(await repoKey(repo), `commit:${root}`);
    // A clone elsewhere (its origin a local path) has the same root commit.
    const clone = join(dir, "clone");
    await git(dir, "clone", "-q", repo, clone);
    await git(clone, "commit", "-q", "--allow-empty", "-m", "later");
    assert.equal(await repoKey(clone), `commit:${root}`);
    await git(repo, "remote", "add", "origin", "git@example.com:team/proj.git");
    assert.equal(await repoKey(repo), "repo:example.com/team/proj");
    // Not a repository, or no commit yet: the directory itself.
    const plain = join(dir, "plain");
    await Deno.mkdir(plain);
    assert.equal(await repoKey(plain), plain);
    await git(plain, "init", "-q");
    assert.equal(await repoKey(plain), plain);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
