/** The saved session file: what counts as ours, atomic private saves, and refusals. */

import assert from "node:assert/strict";
import { join } from "node:path";
import { IpcError } from "../../lib/protocol/errors.ts";
import {
  inspectSessionFile,
  parseSessionText,
  readSessionFile,
  removeSessionFile,
  writeSessionFile,
} from "../../lib/client/session_file.ts";

const posix = Deno.build.os !== "windows";
const session = { name: "fred", token: "tok_0123456789" };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ipc-session-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseSessionText accepts the original's format only", () => {
  assert.deepEqual(parseSessionText('{"instance_id":"fred","session_token":"abc"}'), {
    name: "fred",
    token: "abc",
  });
  // Extra fields are tolerated (a future version may add some).
  assert.deepEqual(
    parseSessionText('{"instance_id":"a","session_token":"b","note":1}'),
    { name: "a", token: "b" },
  );
  assert.equal(parseSessionText("{"), "not valid JSON");
  assert.equal(parseSessionText("[1]"), "not a JSON object");
  assert.equal(parseSessionText("null"), "not a JSON object");
  assert.equal(parseSessionText('{"session_token":"b"}'), `"instance_id" is not an instance name`);
  assert.equal(
    parseSessionText('{"instance_id":"bad name","session_token":"b"}'),
    `"instance_id" is not an instance name`,
  );
  assert.equal(
    parseSessionText('{"instance_id":"a","session_token":""}'),
    `"session_token" is not a session token`,
  );
  assert.equal(
    parseSessionText('{"instance_id":"a","session_token":7}'),
    `"session_token" is not a session token`,
  );
});

Deno.test("write then read: atomic, mode 0600, the original's field names, no temp left", async () => {
  await withDir(async (dir) => {
    const path = join(dir, ".ipc-session");
    assert.equal(await readSessionFile(path), undefined);
    assert.deepEqual(await inspectSessionFile(path), { kind: "missing" });
    await writeSessionFile(path, session);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), {
      instance_id: "fred",
      session_token: "tok_0123456789",
    });
    if (posix) assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
    assert.deepEqual(await readSessionFile(path), session);
    // Replacing a valid session of ours needs no force.
    await writeSessionFile(path, { name: "bob", token: "t2" });
    assert.deepEqual(await readSessionFile(path), { name: "bob", token: "t2" });
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names, [".ipc-session"]);
  });
});

Deno.test("a corrupt file is reported, kept, and replaced only with force", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "s");
    await Deno.writeTextFile(path, "garbage", { mode: 0o600 });
    await assert.rejects(readSessionFile(path), (e: unknown) => {
      assert.ok(e instanceof IpcError);
      assert.equal(e.code, "E_SESSION");
      assert.match(e.message, /is not an agent-ipc session \(not valid JSON\)/);
      assert.match(e.message, /agent-ipc register NAME --force/);
      return true;
    });
    await assert.rejects(writeSessionFile(path, session), /not an agent-ipc session/);
    assert.equal(await Deno.readTextFile(path), "garbage");
    await writeSessionFile(path, session, { force: true });
    assert.deepEqual(await readSessionFile(path), session);
  });
});

Deno.test({
  name: "a file other users can read, a link or a directory is foreign",
  ignore: !posix,
  fn: async () => {
    await withDir(async (dir) => {
      const path = join(dir, "s");
      await writeSessionFile(path, session);
      await Deno.chmod(path, 0o640);
      const state = await inspectSessionFile(path);
      assert.equal(state.kind, "foreign");
      await assert.rejects(readSessionFile(path), /mode 0640\): run "chmod 600 /);
      await assert.rejects(writeSessionFile(path, session), /mode 0640/);
      await writeSessionFile(path, { name: "new", token: "t" }, { force: true });
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);

      const target = join(dir, "target");
      await writeSessionFile(target, session);
      const link = join(dir, "link");
      await Deno.symlink(target, link);
      await assert.rejects(readSessionFile(link), /is a symbolic link/);
      await writeSessionFile(link, { name: "x", token: "y" }, { force: true });
      // The link itself was replaced; its target is untouched.
      assert.deepEqual(await readSessionFile(target), session);
      assert.deepEqual(await readSessionFile(link), { name: "x", token: "y" });

      const sub = join(dir, "sub");
      await Deno.mkdir(sub);
      await assert.rejects(
        readSessionFile(sub),
        /is not a regular file: it is neither used nor replaced/,
      );
      await assert.rejects(writeSessionFile(sub, session, { force: true }), /not a regular file/);
    });
  },
});

Deno.test("remove deletes only the session it was given", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "s");
    await writeSessionFile(path, session);
    assert.equal(await removeSessionFile(path, { name: "fred", token: "other" }), false);
    assert.deepEqual(await readSessionFile(path), session);
    assert.equal(await removeSessionFile(path, session), true);
    assert.equal(await readSessionFile(path), undefined);
    assert.equal(await removeSessionFile(path, session), false);
  });
});

Deno.test("saving into a missing directory fails with E_SESSION and the path", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "no", "such", "s");
    await assert.rejects(writeSessionFile(path, session), (e: unknown) => {
      assert.ok(e instanceof IpcError);
      assert.equal(e.code, "E_SESSION");
      assert.ok(e.message.includes(path));
      return true;
    });
  });
});

Deno.test({
  name: "another user's file is neither used nor replaced, even with force",
  // Only root can hand a file to another user.
  ignore: !posix || Deno.uid() !== 0,
  fn: async () => {
    await withDir(async (dir) => {
      const path = join(dir, "s");
      await writeSessionFile(path, session);
      await Deno.chown(path, 65534, 65534);
      await assert.rejects(readSessionFile(path), /belongs to another user \(uid 65534\)/);
      await assert.rejects(
        writeSessionFile(path, { name: "x", token: "y" }, { force: true }),
        /belongs to another user/,
      );
      assert.equal((await Deno.stat(path)).uid, 65534);
      assert.deepEqual(JSON.parse(await Deno.readTextFile(path)).instance_id, "fred");
    });
  },
});
