/**
 * `setup git-hook`: the pure merge of our block into pre-commit hooks, then
 * the real program installing the hook in a real repository where a real
 * `git commit` is stopped by another agent's claim and let through otherwise.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { editPreCommit, hookBlock } from "../../lib/setup/git_hook.ts";
import { realDenoDir, testBroker } from "../_helpers.ts";
import { git, gitRepo } from "../_git.ts";
import { CliPlace } from "../cli/_cli.ts";

const CMD = "/usr/local/bin/agent-ipc";

Deno.test("editPreCommit: add, merge, update, keep, remove, refuse", () => {
  const block = hookBlock(CMD);
  // No hook: ours, as a shell script.
  assert.deepEqual(editPreCommit(undefined, CMD, false), {
    outcome: "added",
    text: `#!/bin/sh\n${block}`,
  });
  // An existing shell hook: ours right after the #! line, the rest kept as is.
  const theirs = "#!/usr/bin/env bash\nset -e\nnpm test\nexit 0\n";
  const merged = editPreCommit(theirs, CMD, false);
  assert.deepEqual(merged, {
    outcome: "added",
    text: `#!/usr/bin/env bash\n${block}set -e\nnpm test\nexit 0\n`,
  });
  const text = (merged as { text: string }).text;
  // Again: nothing to do. A new command: only our block changes.
  assert.deepEqual(editPreCommit(text, CMD, false), { outcome: "unchanged" });
  assert.deepEqual(editPreCommit(text, "/opt/agent-ipc", false), {
    outcome: "updated",
    text: `#!/usr/bin/env bash\n${hookBlock("/opt/agent-ipc")}set -e\nnpm test\nexit 0\n`,
  });
  // Remove: their hook comes back byte for byte; a hook that was only ours is deleted.
  assert.deepEqual(editPreCommit(text, CMD, true), { outcome: "removed", text: theirs });
  assert.deepEqual(editPreCommit(`#!/bin/sh\n${block}`, CMD, true), {
    outcome: "removed",
    text: null,
  });
  assert.deepEqual(editPreCommit(theirs, CMD, true), { outcome: "absent" });
  assert.deepEqual(editPreCommit(undefined, CMD, true), { outcome: "absent" });
  // Not a shell script: left alone.
  const py = editPreCommit("#!/usr/bin/env python3\nprint('hi')\n", CMD, false);
  assert.equal(py.outcome, "foreign");
  // No #! line: sh runs it; ours goes first, with a #! line that --remove takes away too.
  const bare = editPreCommit("make lint\n", CMD, false);
  assert.deepEqual(bare, {
    outcome: "added",
    text: `#!/bin/sh\n${hookBlock(CMD, true)}make lint\n`,
  });
  const bareText = (bare as { text: string }).text;
  assert.deepEqual(editPreCommit(bareText, CMD, false), { outcome: "unchanged" });
  assert.deepEqual(editPreCommit(bareText, "/opt/x", false), {
    outcome: "updated",
    text: `#!/bin/sh\n${hookBlock("/opt/x", true)}make lint\n`,
  });
  assert.deepEqual(editPreCommit(bareText, CMD, true), { outcome: "removed", text: "make lint\n" });
  // Their own #!/bin/sh line stays.
  const sh = "#!/bin/sh\nmake lint\n";
  const shText = (editPreCommit(sh, CMD, false) as { text: string }).text;
  assert.deepEqual(editPreCommit(shText, CMD, true), { outcome: "removed", text: sh });
});

Deno.test("setup git-hook: a real commit is stopped by another agent's claim", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  const repo = await gitRepo(place.dir);
  const hook = join(repo, ".git", "hooks", "pre-commit");
  // Somebody's hook is there already.
  await Deno.writeTextFile(hook, "#!/bin/sh\necho their-hook-ran\n", { mode: 0o755 });

  // --dry-run shows the diff and writes nothing.
  let r = await place.run("alice", ["setup", "git-hook", "--dry-run"], { cwd: join(repo, "src") });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /would add the file claims check in .*pre-commit \(dry run\)/);
  assert.match(r.stdout, /\+.*claims --check-staged/);
  assert.equal(await Deno.readTextFile(hook), "#!/bin/sh\necho their-hook-ran\n");

  r = await place.run("alice", ["setup", "git-hook"], { cwd: join(repo, "src") });
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stdout,
    /added the file claims check in .*pre-commit \(backup: .*pre-commit\.bak\)/,
  );
  assert.equal(await Deno.readTextFile(`${hook}.bak`), "#!/bin/sh\necho their-hook-ran\n");
  r = await place.run("alice", ["setup", "git-hook"], { cwd: repo });
  assert.match(r.stdout, /already checks file claims/);

  assert.equal((await place.run("alice", ["register", "alice"])).code, 0);
  assert.equal((await place.run("bob", ["register", "bob"])).code, 0);
  assert.equal(
    (await place.run("alice", ["claim", "src/**", "--reason", "mine"], { cwd: repo })).code,
    0,
  );
  await Deno.writeTextFile(join(repo, "src", "a.ts"), "export const a = 3;\n");
  await git(repo, "add", "src/a.ts");
  const denoDir = await realDenoDir();
  const commit = (who: string) =>
    new Deno.Command("git", {
      args: ["-c", "user.name=T", "-c", "user.email=t@example.invalid", "commit", "-qm", "x"],
      cwd: repo,
      // The hook runs `deno run main.ts` under this HOME: DENO_DIR keeps it on the warm cache.
      env: {
        ...place.env(who),
        GIT_CONFIG_NOSYSTEM: "1",
        HOME: place.dir,
        DENO_DIR: denoDir,
      },
      stdin: "null",
    }).output();
  let out = await commit("bob");
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.success, false, "bob's commit should be stopped");
  assert.match(err, /src\/a\.ts: claimed by alice \(as src\/\*\*\) "mine"/);
  assert.doesNotMatch(err, /their-hook-ran/, "their hook runs after the check");
  out = await commit("alice");
  // (git sends a hook's stdout to stderr.)
  assert.equal(out.success, true, new TextDecoder().decode(out.stderr));
  assert.match(new TextDecoder().decode(out.stderr), /their-hook-ran/);

  // --remove gives their hook back as it was.
  r = await place.run("alice", ["setup", "git-hook", "--remove"], { cwd: repo });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await Deno.readTextFile(hook), "#!/bin/sh\necho their-hook-ran\n");
  assert.equal((await Deno.stat(hook)).mode! & 0o111, 0o111);
});

Deno.test("setup git-hook: core.hooksPath, a hook of ours only, outside git", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipc-githook-" });
  try {
    const repo = await gitRepo(dir);
    await git(repo, "config", "core.hooksPath", ".husky");
    await using place = await CliPlace.create(1);
    let r = await place.run("x", ["setup", "git-hook"], { cwd: join(repo, "docs") });
    assert.equal(r.code, 0, r.stderr);
    const hook = join(repo, ".husky", "pre-commit");
    assert.match(await Deno.readTextFile(hook), /^#!\/bin\/sh\n# >>> agent-ipc/);
    assert.equal((await Deno.stat(hook)).mode! & 0o777, 0o755);
    r = await place.run("x", ["setup", "git-hook", "--remove"], { cwd: repo });
    assert.equal(r.code, 0, r.stderr);
    await assert.rejects(Deno.stat(hook), Deno.errors.NotFound);
    r = await place.run("x", ["setup", "git-hook"], { cwd: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not in a git repository/);
    r = await place.run("x", ["setup", "git-hook", "--bogus"], { cwd: repo });
    assert.equal(r.code, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
