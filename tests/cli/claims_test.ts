/**
 * End-to-end file claims between agents on the real program, in a real git
 * repository in a temp dir: agents in different subfolders agree on paths,
 * conflicts name the holder, reason and expiry, shared claims coexist,
 * releases, renewals, expiry, unregister and rename, escapes refused, and
 * `claims --check-staged` against what is really staged.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { brokerProcess, freePort, testBroker } from "../_helpers.ts";
import { NATS_SKIP_REASON, startNatsServer } from "../_nats_server.ts";
import { CliPlace, jsonOf, type Result } from "./_cli.ts";
import { git, gitRepo } from "../_git.ts";

function ok(r: Result, what: string): Result {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r;
}

Deno.test("claims between CLI agents in one repository", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  const repo = await gitRepo(place.dir);
  const src = join(repo, "src");
  const docs = join(repo, "docs");
  ok(await place.run("alice", ["register", "alice"]), "register alice");
  ok(await place.run("bob", ["register", "bob"]), "register bob");

  // alice, in src/, claims a.ts: stored relative to the repository root.
  let r = ok(
    await place.run("alice", ["claim", "a.ts", "--reason", "auth refactor", "--ttl", "10m"], {
      cwd: src,
    }),
    "claim",
  );
  assert.match(r.stdout, new RegExp(`^Claimed 1 path in ${repo} until .*\\n  src/a.ts\\n$`));
  r = ok(await place.run("alice", ["claims", "--json"], { cwd: src }), "claims");
  const listed = jsonOf(r);
  assert.equal(listed.root, repo);
  const [mine] = listed.claims as Record<string, unknown>[];
  assert.equal(mine.path, "src/a.ts");
  assert.equal(mine.holder, "alice");
  assert.equal(mine.reason, "auth refactor");
  const left = Date.parse(String(mine.expires_at)) - Date.now();
  assert.ok(left > 9 * 60_000 && left <= 10 * 60_000, `expires in ${left} ms`);

  // bob, in docs/, names the same file another way and a glob over it: conflict, exit 1.
  r = await place.run("bob", ["claim", "../src/**"], { cwd: docs });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /"src\/a\.ts" is claimed by alice \("auth refactor"\) until \d{4}-/);
  r = await place.run("bob", ["claim", join(src, "a.ts"), "--json"], { cwd: docs });
  assert.equal(r.code, 1);
  const conflict = jsonOf(r);
  assert.equal(conflict.code, "E_CLAIMED");
  assert.deepEqual(
    (conflict.conflicts as Record<string, unknown>[]).map((c) => [c.holder, c.path, c.root]),
    [["alice", "src/a.ts", `commit:${(await git(repo, "rev-parse", "HEAD")).trim()}`]],
  );
  // All or nothing: the non-conflicting path of that request was not claimed either.
  r = await place.run("bob", ["claim", "guide.md", "../src/a.ts"], { cwd: docs });
  assert.equal(r.code, 1);
  r = ok(await place.run("bob", ["claims", "--json"], { cwd: repo }), "claims");
  assert.deepEqual((jsonOf(r).claims as unknown[]).length, 1);

  // Globs that cannot meet alice's file are fine; a path outside the root is refused.
  ok(await place.run("bob", ["claim", "../src/*.js", "src/x/**"], { cwd: docs }), "apart");
  r = await place.run("bob", ["claim", "../../elsewhere.ts", "--json"], { cwd: docs });
  assert.equal(r.code, 1);
  assert.equal(jsonOf(r).code, "E_PATH_ESCAPE");

  // The list from the repository root, as a table, marks who is who.
  r = ok(await place.run("bob", ["claims"], { cwd: repo }), "claims table");
  assert.match(r.stdout, /^PATH\s+HOLDER\s+KIND\s+EXPIRES IN\s+REASON\n/);
  assert.match(r.stdout, /src\/a\.ts\s+alice\s+exclusive\s+\d+m \d+s\s+auth refactor\n/);
  assert.match(r.stdout, /docs\/src\/x\/\*\*\s+bob \(you\)\s+exclusive/);

  // Shared claims coexist; an exclusive one over a shared one does not.
  ok(await place.run("alice", ["claim", "--shared", "../README.md"], { cwd: src }), "shared");
  ok(await place.run("bob", ["claim", "--shared", "README.md"], { cwd: repo }), "shared 2");
  r = await place.run("bob", ["claim", "README.md"], { cwd: repo });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /"README\.md" is claimed \(shared\) by alice/);

  // Renewal: claiming again moves the expiry.
  r = ok(
    await place.run("alice", ["claim", "a.ts", "--ttl", "2h", "--json"], { cwd: src }),
    "renew",
  );
  const renewed = (jsonOf(r).claims as Record<string, unknown>[])[0];
  assert.ok(Date.parse(String(renewed.expires_at)) - Date.now() > 100 * 60_000);
  assert.equal(renewed.claimed_at, mine.claimed_at);

  // Release by path, then bob can have it.
  r = ok(await place.run("alice", ["release", "a.ts"], { cwd: src }), "release");
  assert.equal(r.stdout, `Released 1 claim:\n  ${repo}/src/a.ts\n`);
  ok(await place.run("bob", ["claim", "../src/a.ts", "--ttl", "1s"], { cwd: docs }), "take");

  // A claim expires on its own: poll (no fixed sleep) until alice's claim goes through.
  const deadline = Date.now() + 10_000;
  for (;;) {
    r = await place.run("alice", ["claim", "a.ts"], { cwd: src });
    if (r.code === 0) break;
    assert.match(r.stderr, /claimed by bob/);
    assert.ok(Date.now() < deadline, "bob's 1 s claim never expired");
  }

  // Rename carries the claims; unregister drops them.
  ok(await place.run("alice", ["rename", "alicia"]), "rename");
  r = ok(await place.run("bob", ["claims", "--json"], { cwd: repo }), "after rename");
  const holders = (jsonOf(r).claims as Record<string, unknown>[]).map((c) => c.holder);
  assert.ok(holders.includes("alicia") && !holders.includes("alice"), String(holders));
  ok(await place.run("alice", ["unregister"]), "unregister");
  r = ok(await place.run("bob", ["claims", "--json", "--all"], { cwd: repo }), "after unregister");
  assert.deepEqual(
    (jsonOf(r).claims as Record<string, unknown>[]).filter((c) => c.holder !== "bob"),
    [],
  );
  ok(await place.run("bob", ["claim", "src/a.ts"], { cwd: repo }), "free after unregister");

  // release with no paths: everything bob holds.
  r = ok(await place.run("bob", ["release", "--json"], { cwd: docs }), "release all");
  assert.ok((jsonOf(r).released as unknown[]).length >= 3);
  r = ok(await place.run("bob", ["claims", "--all", "--json"]), "none left");
  assert.deepEqual(jsonOf(r).claims, []);
});

Deno.test("claims --check-staged: exit 1 when a staged file is claimed by another agent", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  const repo = await gitRepo(place.dir);
  ok(await place.run("alice", ["register", "alice"]), "register alice");
  ok(await place.run("bob", ["register", "bob"]), "register bob");

  // Nothing staged.
  let r = ok(await place.run("bob", ["claims", "--check-staged"], { cwd: repo }), "nothing");
  assert.equal(r.stdout, "No staged files\n");

  ok(
    await place.run("alice", ["claim", "src/**", "--reason", "big change"], { cwd: repo }),
    "claim",
  );
  await Deno.writeTextFile(join(repo, "src", "a.ts"), "export const a = 2;\n");
  await Deno.writeTextFile(join(repo, "docs", "guide.md"), "# Guide v2\n");
  await git(repo, "add", "docs/guide.md");
  r = ok(await place.run("bob", ["claims", "--check-staged"], { cwd: join(repo, "docs") }), "ok");
  assert.equal(r.stdout, "1 staged file: none claimed by another agent\n");

  await git(repo, "add", "src/a.ts");
  r = await place.run("bob", ["claims", "--check-staged"], { cwd: join(repo, "docs") });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, / {2}src\/a\.ts: claimed by alice \(as src\/\*\*\) "big change" for \d+m/);
  r = await place.run("bob", ["claims", "--check-staged", "--json"], { cwd: repo });
  assert.equal(r.code, 1);
  assert.deepEqual(jsonOf(r).files, ["src/a.ts"]);
  assert.deepEqual(
    (jsonOf(r).conflicts as Record<string, unknown>[]).map((c) => c.path),
    ["src/**"],
  );
  // The holder itself may commit.
  ok(await place.run("alice", ["claims", "--check-staged"], { cwd: repo }), "holder");

  // A file name with glob characters is matched literally.
  await Deno.writeTextFile(join(repo, "docs", "[x].md"), "x\n");
  await git(repo, "reset", "-q", "src/a.ts");
  await git(repo, "add", "docs/[x].md");
  ok(await place.run("alice", ["claim", "docs/x.md"], { cwd: repo }), "claim x.md");
  ok(await place.run("bob", ["claims", "--check-staged"], { cwd: repo }), "literal name");

  // No session, or no broker: says so and lets the commit through.
  r = ok(await place.run("nobody", ["claims", "--check-staged"], { cwd: repo }), "no session");
  assert.match(r.stderr, /not registered .*staged files not checked/);
  // No broker on the port (and none is started for a hook): the commit goes through.
  await b[Symbol.asyncDispose]();
  r = ok(await place.run("bob", ["claims", "--check-staged"], { cwd: repo }), "no broker");
  assert.match(r.stderr, /no broker is running: staged files not checked/);
});

Deno.test({
  name: "claims between CLI agents on two broker processes sharing NATS",
  ignore: NATS_SKIP_REASON !== null,
  async fn() {
    await using nats = await startNatsServer();
    const env = { IPC_STORE: nats.url, IPC_SHARED_SECRET: "claims-cli-nats" };
    await using place = await CliPlace.create(freePort(), undefined, env);
    const other = freePort();
    const b1 = await brokerProcess(place.port, place.dataDir, { env });
    const b2 = await brokerProcess(other, join(place.dir, "data2"), { env });
    try {
      const repo = await gitRepo(place.dir);
      const viaB2 = { IPC_PORT: String(other), IPC_DATA_DIR: join(place.dir, "data2") };
      ok(await place.run("alice", ["register", "alice"]), "register alice");
      ok(await place.run("bob", ["register", "bob"], { env: viaB2 }), "register bob");
      ok(
        await place.run("alice", ["claim", "src/**", "--reason", "on b1"], { cwd: repo }),
        "claim via b1",
      );
      let r = await place.run("bob", ["claim", "a.ts"], { cwd: join(repo, "src"), env: viaB2 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /"src\/\*\*" is claimed by alice \("on b1"\)/);
      r = ok(await place.run("bob", ["claims", "--json"], { cwd: repo, env: viaB2 }), "list b2");
      assert.deepEqual(
        (jsonOf(r).claims as Record<string, unknown>[]).map((c) => [c.holder, c.path]),
        [["alice", "src/**"]],
      );
      ok(await place.run("alice", ["release"], { cwd: repo }), "release via b1");
      ok(await place.run("bob", ["claim", "a.ts"], { cwd: join(repo, "src"), env: viaB2 }), "b2");
      ok(await place.run("bob", ["release"], { cwd: repo, env: viaB2 }), "release via b2");

      // Two clones of one repository, as on two machines (other paths, the
      // origin spelled once as ssh, once as https): one claim key, so each
      // sees the other's claims and the pre-commit guard works on both.
      const clone = join(place.dir, "elsewhere", "proj");
      await git(place.dir, "clone", "-q", repo, clone);
      await git(repo, "remote", "add", "origin", "git@github.com:team/proj.git");
      await git(clone, "remote", "set-url", "origin", "https://github.com/team/proj");
      ok(await place.run("alice", ["claim", "src/a.ts", "--reason", "host A"], { cwd: repo }), "A");
      r = await place.run("bob", ["claim", "src/**"], { cwd: clone, env: viaB2 });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /"src\/a\.ts" is claimed by alice \("host A"\)/);
      r = ok(await place.run("bob", ["claims", "--json"], { cwd: clone, env: viaB2 }), "list");
      assert.deepEqual(
        (jsonOf(r).claims as Record<string, unknown>[]).map((c) => [c.holder, c.path, c.root]),
        [["alice", "src/a.ts", "repo:github.com/team/proj"]],
      );
      await Deno.writeTextFile(join(clone, "src", "a.ts"), "export const a = 2;\n");
      await git(clone, "add", "src/a.ts");
      r = await place.run("bob", ["claims", "--check-staged"], { cwd: clone, env: viaB2 });
      assert.equal(r.code, 1, `bob's commit in the other clone is stopped: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr + r.stdout, /src\/a\.ts/);
      // Without a shared origin, the root commit is the identity.
      await git(clone, "remote", "remove", "origin");
      await git(repo, "remote", "remove", "origin");
      ok(await place.run("alice", ["claim", "docs/**"], { cwd: repo }), "claim by root commit");
      r = ok(await place.run("bob", ["claims", "--json"], { cwd: clone, env: viaB2 }), "list 2");
      assert.deepEqual(
        (jsonOf(r).claims as Record<string, unknown>[]).map((c) => [c.path, c.root]),
        [["docs/**", `commit:${(await git(repo, "rev-parse", "HEAD")).trim()}`]],
      );
    } finally {
      for (const b of [b1, b2]) {
        b.kill("SIGTERM");
        await b.status;
      }
    }
  },
});
