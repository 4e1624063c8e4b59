/**
 * The broker's files: secret, lock, store (with its -wal and -shm), large
 * messages and log are private (0600, in 0700 directories, never in a
 * world-writable one); instance names cannot steer a path out of the data
 * dir; a corrupt, misplaced or read-only data dir gives a clear startup error
 * from the real program, and a client that spawns a background broker reports
 * that error at once instead of retrying into a crash loop.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { writeLargeMessage } from "../../lib/broker/large_messages.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { brokerLog, freePort, legacyRequest, RawClient, testBroker } from "../_helpers.ts";
import { START_FAILED } from "../../lib/client/spawn.ts";
import { waitFor } from "../_wait.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };
const posix = Deno.build.os !== "windows";
const main = new URL("../../main.ts", import.meta.url).pathname;

async function mode(path: string): Promise<number> {
  return (await Deno.stat(path)).mode! & 0o777;
}

/** Runs `main.ts broker` to its end (it must fail to start); returns code, stderr and time. */
async function brokerProcess(dataDir: string, extra: string[] = []) {
  const t0 = Date.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSION_FLAGS,
      main,
      "broker",
      "--port",
      String(freePort()),
      "--data-dir",
      dataDir,
      "--no-http",
      ...extra,
    ],
    env: { IPC_SHARED_SECRET: "", IPC_LOG: "" },
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(20_000),
  }).output();
  return {
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr),
    ms: Date.now() - t0,
  };
}

Deno.test({
  name: "every file the broker writes is 0600 in a 0700 directory",
  ignore: !posix,
  ...opts,
  async fn() {
    const parent = await Deno.makeTempDir({ prefix: "ipc-files-" });
    const dataDir = join(parent, "fresh");
    try {
      {
        await using tb = await testBroker({ dataDir });
        const c = await RawClient.connect(tb.port);
        await c.request({ action: "register", instance_id: "a", auth_token: tb.auth("a") });
        const r = await c.request({
          action: "send",
          to_id: "a",
          message: { content: "big ".repeat(4_000) },
        });
        assert.equal(r.status, "ok");
        const large = (r.large as { path: string }).path;
        c.close();
        assert.equal(await mode(dataDir), 0o700);
        assert.equal(await mode(join(dataDir, "large-messages")), 0o700);
        for (const f of ["secret", "broker.lock", "agent-ipc.db", "agent-ipc.db-wal"]) {
          assert.equal(await mode(join(dataDir, f)), 0o600, f);
        }
        assert.equal(await mode(large), 0o600);
      }
      // An existing data dir the user made 0755, with a store file left 0644:
      // the store (every message) is made private again, -wal and -shm too.
      const open = join(parent, "open");
      await Deno.mkdir(open, { mode: 0o755 });
      await Deno.chmod(open, 0o755);
      await Deno.writeTextFile(join(open, "agent-ipc.db"), "");
      await Deno.chmod(join(open, "agent-ipc.db"), 0o644);
      await Deno.writeTextFile(join(open, "secret"), "s3cret\n");
      await Deno.chmod(join(open, "secret"), 0o644);
      {
        await using tb = await testBroker({ dataDir: open });
        assert.equal(tb.secret, "s3cret");
        const reg = await legacyRequest(tb.port, {
          action: "register",
          instance_id: "b",
          auth_token: tb.auth("b"),
        });
        assert.equal(reg.status, "ok");
        for (const f of ["secret", "agent-ipc.db", "agent-ipc.db-wal", "agent-ipc.db-shm"]) {
          assert.equal(await mode(join(open, f)), 0o600, f);
        }
      }
    } finally {
      await Deno.remove(parent, { recursive: true });
    }
  },
});

Deno.test({
  name: "a world-writable data dir is refused with the fix in the message",
  ignore: !posix,
  ...opts,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "ipc-files-" });
    try {
      await Deno.chmod(dataDir, 0o777);
      await assert.rejects(
        () => testBroker({ dataDir }),
        (e: Error & { code?: string }) =>
          e.code === "E_STORE" && /world-writable: run "chmod 700/.test(e.message),
      );
      const run = await brokerProcess(dataDir);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /world-writable/);
      assert.doesNotMatch(run.stderr, /Uncaught|at .*\.ts:\d+/);
    } finally {
      await Deno.remove(dataDir, { recursive: true });
    }
  },
});

Deno.test("instance names cannot make a path escape the data dir", opts, async () => {
  await using tb = await testBroker();
  for (const name of ["../evil", "..", "a/b", "a\\b", "/etc/passwd", "x\u0000y", ".hidden"]) {
    const r = await legacyRequest(tb.port, {
      action: "register",
      instance_id: name,
      auth_token: tb.auth(name),
    });
    assert.equal(r.code, "E_BAD_NAME", name);
  }
  // The file writer checks again, whoever calls it.
  await assert.rejects(
    () =>
      writeLargeMessage(tb.dataDir, {
        id: "m1",
        from: "../../x",
        to: "b",
        time: Date.now(),
        content: "c",
        bytes: 1,
      }),
    (e: Error & { code?: string }) => e.code === "E_BAD_NAME",
  );
  // Large messages between the oddest valid names land inside large-messages/.
  const names = ["-", "_", "--", "a-_-b"];
  const conns: RawClient[] = [];
  try {
    for (const n of names) {
      const c = await RawClient.connect(tb.port);
      conns.push(c);
      const r = await c.request({ action: "register", instance_id: n, auth_token: tb.auth(n) });
      assert.equal(r.status, "ok", n);
    }
    for (const [i, c] of conns.entries()) {
      const to = names[(i + 1) % names.length];
      const r = await c.request({
        action: "send",
        to_id: to,
        message: { content: "z".repeat(12_000) },
      });
      const path = (r.large as { path: string }).path;
      assert.equal(join(tb.dataDir, "large-messages", path.split("/").pop()!), path);
    }
    const entries = [...Deno.readDirSync(tb.dataDir)].map((e) => e.name).sort();
    assert.ok(
      entries.every((e) => /^(agent-ipc\.db.*|broker\.lock|large-messages|secret)$/.test(e)),
      entries.join(),
    );
    assert.equal([...Deno.readDirSync(join(tb.dataDir, "large-messages"))].length, names.length);
  } finally {
    for (const c of conns) c.close();
  }
});

Deno.test("a corrupt store or a file as data dir: exit 1 with a clear message", opts, async () => {
  const parent = await Deno.makeTempDir({ prefix: "ipc-files-" });
  try {
    const corrupt = join(parent, "corrupt");
    await Deno.mkdir(corrupt, { mode: 0o700 });
    await Deno.writeTextFile(join(corrupt, "agent-ipc.db"), "not a database ".repeat(500));
    const a = await brokerProcess(corrupt);
    assert.equal(a.code, 1, a.stderr);
    assert.match(a.stderr, /cannot start: Cannot open store ".*agent-ipc\.db"/);
    assert.match(a.stderr, /move ".*agent-ipc\.db".* aside/);
    assert.doesNotMatch(a.stderr, /Uncaught|at .*\.ts:\d+/);

    const file = join(parent, "a-file");
    await Deno.writeTextFile(file, "");
    const b = await brokerProcess(file);
    assert.equal(b.code, 1, b.stderr);
    assert.match(b.stderr, /cannot start: .*a-file/);
    assert.doesNotMatch(b.stderr, /Uncaught|at .*\.ts:\d+/);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
});

/** Makes `dir` read-only for this process: chattr +i as root (root ignores modes), else 0500. */
async function makeReadOnly(dir: string): Promise<(() => Promise<void>) | undefined> {
  if (!posix) return undefined;
  if (Deno.uid() === 0) {
    try {
      const r = await new Deno.Command("chattr", { args: ["+i", dir], stderr: "null" }).output();
      if (!r.success) return undefined;
    } catch {
      return undefined; // no chattr: cannot make a directory read-only for root
    }
    return async () => void await new Deno.Command("chattr", { args: ["-i", dir] }).output();
  }
  await Deno.chmod(dir, 0o500);
  return () => Deno.chmod(dir, 0o700);
}

Deno.test("a read-only data dir: exit 1 with a clear message", opts, async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ipc-files-" });
  const restore = await makeReadOnly(dataDir);
  try {
    if (!restore) {
      console.warn("skipped: cannot make a directory read-only here (root without chattr)");
      return;
    }
    const run = await brokerProcess(dataDir);
    assert.equal(run.code, 1, run.stderr);
    assert.match(
      run.stderr,
      /cannot start: Cannot .*(lock file|secret|private).*(denied|permitted)/i,
    );
    assert.doesNotMatch(run.stderr, /Uncaught|at .*\.ts:\d+/);
  } finally {
    await restore?.();
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("a client that spawns a broker reports why it cannot start, at once", opts, async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "ipc-files-" });
  try {
    await Deno.writeTextFile(join(dataDir, "agent-ipc.db"), "not a database ".repeat(500));
    const t0 = Date.now();
    await assert.rejects(
      () =>
        AgentClient.connect({
          host: "127.0.0.1",
          port: freePort(),
          dataDir,
          role: "spawn",
          spawnArgs: ["--no-http"],
          timeoutMs: 15_000,
        }),
      (e: Error & { code?: string }) =>
        e.code === "E_UNAVAILABLE" &&
        /background broker could not start: Cannot open store/.test(e.message),
    );
    const ms = Date.now() - t0;
    assert.ok(ms < 10_000, `took ${ms} ms: the client waited for its deadline`);
    // One broker was started, failed once, and nothing restarts it (the client
    // that would have is done).
    const failed = await waitFor(async () => {
      const records = (await brokerLog(dataDir)).filter((r) => r.event === START_FAILED);
      return records.length > 0 && records;
    }, { what: "the broker's start failure in its log" });
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0].transient, false, "a damaged store is no race to retry");
    assert.match(String(failed[0].reason), /^Cannot open store/);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});
