import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { IpcError } from "../../lib/protocol/errors.ts";
import { openSqliteStore, type SqliteStoreOptions } from "../../lib/state/sqlite_store.ts";
import { MIGRATIONS, SCHEMA_VERSION } from "../../lib/state/_sqlite_schema.ts";
import { DEDUPE_MS, type StoredMessage } from "../../lib/state/store.ts";
import { storeContract } from "./store_contract.ts";
import { shortId } from "../../lib/protocol/short_id.ts";

storeContract("sqlite", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-ipc-store-" });
  const path = join(dir, "agent-ipc.db");
  return {
    store: await openSqliteStore(path),
    reopen: () => openSqliteStore(path),
    cleanup: () => Deno.remove(dir, { recursive: true }),
  };
});

const T0 = 1_700_000_000_000;
let counter = 0;
function msg(to: string, content = `m${counter}`, time = T0): StoredMessage {
  counter++;
  return { id: `t-${counter.toString().padStart(8, "0")}`, from: "s", to, time, content };
}

/** A temp dir removed when disposed. */
async function tempDir(): Promise<{ dir: string } & AsyncDisposable> {
  const dir = await Deno.makeTempDir({ prefix: "agent-ipc-store-" });
  return { dir, [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
}

async function openIn(dir: string, opts?: SqliteStoreOptions) {
  return await openSqliteStore(join(dir, "s.db"), opts);
}

/** A second, plain connection to look at the file as another reader would. */
function peekFile(dir: string): DatabaseSync & Disposable {
  const db = new DatabaseSync(join(dir, "s.db"));
  return Object.assign(db, { [Symbol.dispose]: () => db.close() });
}

async function assertStoreError(p: Promise<unknown>, ...parts: string[]): Promise<IpcError> {
  let caught: unknown;
  await assert.rejects(p, (e: unknown) => {
    caught = e;
    return true;
  });
  assert.ok(caught instanceof IpcError, `expected IpcError, got ${caught}`);
  assert.equal(caught.code, "E_STORE");
  for (const part of parts) assert.ok(caught.message.includes(part), caught.message);
  return caught;
}

Deno.test("sqlite: a new file gets WAL and the current schema version", async () => {
  await using tmp = await tempDir();
  const store = await openIn(tmp.dir);
  assert.equal(store.kind, "sqlite");
  assert.equal(store.location, join(tmp.dir, "s.db"));
  await store.close();
  using db = peekFile(tmp.dir);
  assert.equal(
    (db.prepare("PRAGMA journal_mode").get() as { journal_mode: string }).journal_mode,
    "wal",
  );
  assert.equal(
    (db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version,
    SCHEMA_VERSION,
  );
});

Deno.test("sqlite: concurrent writes of one turn share one commit, and all survive reopen", async () => {
  await using tmp = await tempDir();
  let store = await openIn(tmp.dir);
  const before = store.commits;
  const ms = Array.from({ length: 1000 }, () => msg("gc"));
  const outs = await Promise.all(ms.map((m) => store.enqueue([m], 1_000_000)));
  assert.ok(outs.every((o) => o[0].ok));
  assert.equal(store.commits - before, 1, "one COMMIT for the whole turn");
  await store.close();
  store = await openIn(tmp.dir);
  try {
    assert.equal(await store.depth("gc"), 1000);
    assert.deepEqual((await store.peek("gc", 2000)).map((m) => m.id), ms.map((m) => m.id));
  } finally {
    await store.close();
  }
});

Deno.test("sqlite: both flush modes commit every write", async () => {
  for (const flush of ["immediate", "microtask"] as const) {
    await using tmp = await tempDir();
    await using store = await openIn(tmp.dir, { flush });
    const ms = Array.from({ length: 50 }, () => msg("fm"));
    await Promise.all(ms.map((m) => store.enqueue([m], 100)));
    assert.equal(await store.depth("fm"), 50);
  }
});

Deno.test("sqlite: reads inside an open batch see its writes", async () => {
  await using tmp = await tempDir();
  await using store = await openIn(tmp.dir);
  const m = msg("rb");
  const pending = store.enqueue([m], 10);
  assert.deepEqual((await store.peek("rb", 10)).map((x) => x.id), [m.id]);
  assert.equal(await store.depth("rb"), 1);
  await pending;
});

Deno.test("sqlite: a failing write rejects alone; the rest of its batch commits", async () => {
  await using tmp = await tempDir();
  await using store = await openIn(tmp.dir);
  const first = msg("sp");
  await store.enqueue([first], 100);
  const fresh = msg("sp");
  const good = msg("sp");
  const [dup, ok] = await Promise.allSettled([
    store.enqueue([fresh, { ...msg("sp"), id: first.id }], 100), // duplicate id: fails as a whole
    store.enqueue([good], 100),
  ]);
  assert.equal(dup.status, "rejected");
  assert.ok(dup.reason instanceof IpcError && dup.reason.code === "E_STORE", String(dup.reason));
  assert.equal(ok.status, "fulfilled");
  assert.deepEqual((await store.peek("sp", 10)).map((m) => m.id), [first.id, good.id]);
  assert.equal(await store.depth("sp"), 2);
});

Deno.test("sqlite: when SQLite rolls the batch back, every write of it rejects and counters revert", async () => {
  await using tmp = await tempDir();
  await using store = await openIn(tmp.dir);
  await store.enqueue([msg("rk")], 100);
  {
    using db = peekFile(tmp.dir);
    db.exec(`CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.content = 'boom'
             BEGIN SELECT RAISE(ROLLBACK, 'boom trigger'); END`);
  }
  const results = await Promise.allSettled([
    store.enqueue([msg("rk")], 100),
    store.register("rk", "h-rk", T0, { revokeOthers: false }),
    store.enqueue([msg("rk", "boom")], 100),
  ]);
  for (const r of results) {
    assert.equal(r.status, "rejected");
    assert.ok(r.reason instanceof IpcError && r.reason.code === "E_STORE", String(r.reason));
  }
  assert.equal(await store.depth("rk"), 1);
  assert.equal(await store.sessionName("h-rk"), null);
  // The store keeps working.
  await store.enqueue([msg("rk")], 100);
  assert.equal(await store.depth("rk"), 2);
});

Deno.test("sqlite: touch is coalesced to one write per second per name and flushed at close", async () => {
  await using tmp = await tempDir();
  const store = await openIn(tmp.dir);
  await store.register("tc", "h", T0, { revokeOthers: false });
  const fileSeen = () => {
    using db = peekFile(tmp.dir);
    return (db.prepare("SELECT last_seen FROM instances WHERE name = 'tc'").get() as {
      last_seen: number;
    }).last_seen;
  };
  await store.touch("tc", T0 + 300);
  await store.enqueue([msg("other")], 10); // a commit that could carry it
  assert.equal(fileSeen(), T0, "within a second of the last write: memory only");
  assert.equal((await store.instance("tc"))?.lastSeen, T0 + 300);
  await store.touch("tc", T0 + 1500);
  await store.enqueue([msg("other")], 10);
  assert.equal(fileSeen(), T0 + 1500);
  await store.touch("tc", T0 + 1700);
  await store.close();
  assert.equal(fileSeen(), T0 + 1700);
});

Deno.test("sqlite: sends do not index text; history indexes lazily, in chunks, and purge unindexes", async () => {
  await using tmp = await tempDir();
  await using store = await openIn(tmp.dir, { ftsChunk: 7, purgeChunk: 4 });
  const ftsRows = () => {
    using db = peekFile(tmp.dir);
    return (db.prepare("SELECT count(*) AS n FROM messages_fts").get() as { n: number }).n;
  };
  const ms = Array.from({ length: 20 }, (_, i) => msg("fx", `needle number ${i}`));
  await store.enqueue(ms, 100);
  assert.equal(ftsRows(), 0);
  assert.equal((await store.history({ text: "needle", limit: 100 })).length, 20);
  assert.equal(ftsRows(), 20);
  // Delete the newest rows (their seq may be reused) and add new ones.
  await store.ack("fx", ms.map((m) => m.id), T0);
  const res = await store.purge(T0 + 40 * 86_400_000, { unclaimedQueueMs: 1, historyMs: 1 });
  assert.equal(res.expiredHistory, 20);
  assert.equal(ftsRows(), 0);
  const again = msg("fx", "needle reborn");
  await store.enqueue([again], 100);
  assert.deepEqual((await store.history({ text: "needle" })).map((m) => m.id), [again.id]);
  assert.deepEqual(await store.history({ text: "number" }), []);
});

Deno.test("sqlite: forwards() lists forwards; a rename repoints forwards to the renamed name", async () => {
  await using tmp = await tempDir();
  await using store = await openIn(tmp.dir);
  await store.register("a", "h-a", T0, { revokeOthers: false });
  await store.rename("a", "b", T0, T0 + 1000);
  await store.rename("b", "c", T0 + 10, T0 + 2000);
  assert.deepEqual(await store.forwards(), [
    { from: "a", to: "c", until: T0 + 1000 },
    { from: "b", to: "c", until: T0 + 2000 },
  ]);
  assert.equal(await store.forward("a", T0 + 20), "c");
  // Renaming back to a forwarded name makes it a live name again.
  await store.rename("c", "a", T0 + 30, T0 + 3000);
  assert.equal(await store.forward("a", T0 + 40), null);
  assert.equal(await store.forward("c", T0 + 40), "a");
  assert.equal(await store.forward("b", T0 + 40), "a");
});

Deno.test("sqlite: text that is not FTS5 syntax is searched as words", async () => {
  await using tmp = await tempDir();
  await using store = await openIn(tmp.dir);
  const m = msg("q", 'say "hello" to colon:words');
  await store.enqueue([m], 10);
  assert.deepEqual((await store.history({ text: '"hello' })).map((x) => x.id), [m.id]);
  assert.deepEqual((await store.history({ text: "colon:words" })).map((x) => x.id), [m.id]);
});

Deno.test("sqlite: calls after close reject with E_STORE", async () => {
  await using tmp = await tempDir();
  const store = await openIn(tmp.dir);
  await store.close();
  await assertStoreError(store.depth("x"), "closed");
  await assertStoreError(store.enqueue([msg("x")], 10), "closed");
  await assertStoreError(store.touch("x", T0), "closed");
  await store.close();
});

Deno.test("sqlite: a file that is not a database gives E_STORE with the path and the fix", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.dir, "s.db");
  await Deno.writeTextFile(path, "this is not a database\n".repeat(500));
  await assertStoreError(openSqliteStore(path), path, "not a database", "move");
});

Deno.test("sqlite: a database with a smashed header gives E_STORE", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.dir, "s.db");
  const store = await openSqliteStore(path);
  await store.enqueue([msg("x")], 10);
  await store.close();
  const bytes = await Deno.readFile(path);
  bytes.fill(0x5a, 0, 100);
  await Deno.writeFile(path, bytes);
  await assertStoreError(openSqliteStore(path), path, "restore a backup");
});

Deno.test("sqlite: a file from a newer schema gives E_STORE", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.dir, "s.db");
  (await openSqliteStore(path)).close();
  {
    using db = peekFile(tmp.dir);
    db.exec(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
  }
  await assertStoreError(openSqliteStore(path), path, "upgrade agent-ipc");
});

Deno.test("sqlite: a path in a missing or non-directory parent gives E_STORE", async () => {
  await using tmp = await tempDir();
  const missing = join(tmp.dir, "no", "such", "dir", "s.db");
  await assertStoreError(openSqliteStore(missing), missing, "writable");
  const file = join(tmp.dir, "plain-file");
  await Deno.writeTextFile(file, "x");
  await assertStoreError(openSqliteStore(join(file, "s.db")), "writable");
});

Deno.test({
  name: "sqlite: an unwritable data dir gives E_STORE",
  // root ignores directory permissions; the test above covers the root case.
  ignore: Deno.build.os === "windows" || Deno.uid() === 0,
  async fn() {
    await using tmp = await tempDir();
    const dir = join(tmp.dir, "ro");
    await Deno.mkdir(dir, { mode: 0o500 });
    try {
      await assertStoreError(openSqliteStore(join(dir, "s.db")), dir, "writable");
    } finally {
      await Deno.chmod(dir, 0o700);
    }
  },
});

Deno.test("sqlite: every id acknowledged before a SIGKILL is there after reopen", async () => {
  await using tmp = await tempDir();
  const path = join(tmp.dir, "s.db");
  const script = new URL("./crash_writer.ts", import.meta.url).pathname;
  const WANT = 10_000; // acknowledged ids before the kill
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", script, path],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const decoder = new TextDecoder();
  let out = "";
  let killed = false;
  const deadline = Date.now() + 30_000;
  for await (const chunk of child.stdout) {
    out += decoder.decode(chunk, { stream: true });
    if (!killed && (out.split("\n").length > WANT || Date.now() > deadline)) {
      child.kill("SIGKILL");
      killed = true;
    }
  }
  const status = await child.status;
  const err = await stderr;
  assert.equal(status.signal, "SIGKILL", `writer ended by itself: ${status.code}\n${err}`);
  // Only complete lines were acknowledged; the last one may be cut.
  const printed = out.split("\n").slice(0, -1);
  assert.ok(printed.length >= WANT, `only ${printed.length} ids before the deadline\n${err}`);

  await using store = await openSqliteStore(path);
  const queued = (await store.peek("sink", 10_000_000)).map((m) => m.id);
  const position = new Map(queued.map((id, i) => [id, i]));
  let last = -1;
  for (const id of printed) {
    const at = position.get(id);
    assert.ok(at !== undefined, `acknowledged id ${id} was lost`);
    assert.ok(at > last, `id ${id} out of FIFO order`);
    last = at;
  }
});

Deno.test("sqlite: a version 1 file migrates to idempotent sends and keeps its data", async () => {
  await using tmp = await tempDir();
  {
    // A file as the first release wrote it: schema 1 and a queued message.
    using db = peekFile(tmp.dir);
    db.exec(MIGRATIONS[0]);
    db.exec("PRAGMA user_version = 1");
    db.prepare(
      "INSERT INTO messages (id, sender, recipient, time, content) VALUES (?, ?, ?, ?, ?)",
    ).run("old-1", "s", "v1", T0, "from v1");
  }
  const store = await openIn(tmp.dir);
  try {
    assert.deepEqual((await store.peek("v1", 10)).map((m) => m.id), ["old-1"]);
    const first = { ...msg("v1"), clientId: "after-migration" };
    assert.deepEqual(await store.enqueue([first], 100), [{ ok: true }]);
    assert.deepEqual(
      await store.enqueue([{ ...msg("v1"), clientId: "after-migration" }], 100),
      [{ ok: true, duplicateOf: first.id }],
    );
    assert.equal(await store.depth("v1"), 2);
  } finally {
    await store.close();
  }
  using db = peekFile(tmp.dir);
  const v = db.prepare("PRAGMA user_version").get() as { user_version: number };
  assert.equal(v.user_version, SCHEMA_VERSION);
  assert.ok(SCHEMA_VERSION >= 2);
});

Deno.test("sqlite: a version 2 file migrates to file claims and keeps its data", async () => {
  await using tmp = await tempDir();
  {
    // A data dir as the release with idempotent sends left it: schema 2, a
    // session, a queued message and a dedupe key.
    using db = peekFile(tmp.dir);
    db.exec(MIGRATIONS[0]);
    db.exec(MIGRATIONS[1]);
    db.exec("PRAGMA user_version = 2");
    db.prepare("INSERT INTO instances (name, created_at, last_seen) VALUES (?, ?, ?)")
      .run("v2", T0, T0);
    db.prepare("INSERT INTO sessions (token_hash, name, created_at) VALUES (?, ?, ?)")
      .run("hash-v2", "v2", T0);
    db.prepare(
      "INSERT INTO messages (id, sender, recipient, time, content) VALUES (?, ?, ?, ?, ?)",
    ).run("old-2", "s", "v2", T0, "from v2");
    db.prepare(
      "INSERT INTO dedupe (sender, client_id, recipient, message_id, time) VALUES (?, ?, ?, ?, ?)",
    ).run("s", "key-from-v2", "v2", "old-2", T0);
  }
  const store = await openIn(tmp.dir);
  try {
    assert.equal(await store.sessionName("hash-v2"), "v2");
    assert.deepEqual((await store.peek("v2", 10)).map((m) => m.id), ["old-2"]);
    assert.deepEqual(
      await store.enqueue([{ ...msg("v2"), clientId: "key-from-v2", from: "s" }], 100),
      [{ ok: true, duplicateOf: "old-2" }],
    );
    const c = {
      root: "/repo",
      path: "src/**",
      holder: "v2",
      shared: false,
      createdAt: T0,
      expiresAt: T0 + 1000,
    };
    await store.updateClaims("/repo", () => ({ next: [c], result: null }));
    assert.deepEqual(await store.claims(), [c]);
  } finally {
    await store.close();
  }
  using db = peekFile(tmp.dir);
  const v = db.prepare("PRAGMA user_version").get() as { user_version: number };
  assert.equal(v.user_version, SCHEMA_VERSION);
  assert.ok(SCHEMA_VERSION >= 3);
});

Deno.test("sqlite: a version 2 file migrates to conversations and receipts without loss", async () => {
  await using tmp = await tempDir();
  {
    // A file as the idempotent-sends release wrote it: a queued message, a
    // read one, an idempotency key, an instance with a session.
    using db = peekFile(tmp.dir);
    db.exec(MIGRATIONS[0]);
    db.exec(MIGRATIONS[1]);
    db.exec("PRAGMA user_version = 2");
    const insert = db.prepare(
      "INSERT INTO messages (id, sender, recipient, time, content, acked_at) VALUES (?, ?, ?, ?, ?, ?)",
    );
    insert.run("old-queued", "ann", "ben", T0, "still queued", null);
    insert.run("old-read", "ann", "ben", T0 - 1, "already read", T0 + 5);
    db.prepare(
      "INSERT INTO dedupe (sender, client_id, recipient, message_id, time) VALUES (?, ?, ?, ?, ?)",
    ).run("ann", "old-client-id", "ben", "old-queued", T0);
    db.prepare("INSERT INTO instances (name, created_at, last_seen) VALUES (?, ?, ?)")
      .run("ben", T0, T0);
    db.prepare("INSERT INTO sessions (token_hash, name, created_at) VALUES (?, ?, ?)")
      .run("h-ben", "ben", T0);
  }
  const store = await openIn(tmp.dir);
  try {
    assert.equal(await store.sessionName("h-ben"), "ben");
    assert.deepEqual((await store.peek("ben", 10)).map((m) => m.id), ["old-queued"]);
    assert.deepEqual((await store.history({ to: "ben" })).map((m) => m.id), [
      "old-read",
      "old-queued",
    ]);
    assert.deepEqual(
      await store.enqueue([{ ...msg("ben"), from: "ann", clientId: "old-client-id" }], 100),
      [{ ok: true, duplicateOf: "old-queued" }],
    );
    // Old messages are found by their short ids (these ids carry no time: found by a scan).
    const [read] = await store.findMessages(shortId("old-read"), "ann");
    assert.deepEqual([read.id, read.readAt, read.deliveredAt], ["old-read", T0 + 5, undefined]);
    const answer = { ...msg("ann", "answer"), from: "ben", replyTo: "old-queued", urgent: true };
    await store.enqueue([{ ...answer, threadId: "old-queued" }], 100);
    const [q] = await store.findMessages(shortId("old-queued"), "ann");
    assert.equal(q.replyId, answer.id);
    assert.deepEqual(
      (await store.thread({ id: "old-queued", from: "ann", to: "ben" }, 10)).map((m) => m.id),
      ["old-queued", answer.id],
    );
  } finally {
    await store.close();
  }
  using db = peekFile(tmp.dir);
  const v = db.prepare("PRAGMA user_version").get() as { user_version: number };
  assert.equal(v.user_version, SCHEMA_VERSION);
  const idx = db.prepare("SELECT name FROM sqlite_master WHERE name = 'messages_short'").all();
  assert.deepEqual(idx, [], "no short-id index: sends pay for none");
});

Deno.test("sqlite: purge forgets idempotency keys after 24 hours, not before", async () => {
  await using tmp = await tempDir();
  await using store = await openIn(tmp.dir, { purgeChunk: 2 });
  const retention = { unclaimedQueueMs: 7 * 86_400_000, historyMs: 30 * 86_400_000 };
  const firsts = [1, 2, 3].map((i) => ({ ...msg("pd"), clientId: `purge-key-${i}` }));
  await store.enqueue(firsts, 100);
  const repeat = (i: number) => store.enqueue([{ ...msg("pd"), clientId: `purge-key-${i}` }], 100);
  await store.purge(T0 + DEDUPE_MS - 1, retention);
  assert.deepEqual(await repeat(1), [{ ok: true, duplicateOf: firsts[0].id }], "kept for 24 h");
  await store.purge(T0 + DEDUPE_MS + 1, retention);
  for (const i of [1, 2, 3]) {
    const [out] = await repeat(i);
    assert.deepEqual(out, { ok: true }, `key ${i} is forgotten (chunked purge)`);
  }
  assert.equal(await store.depth("pd"), 6);
  using db = peekFile(tmp.dir);
  assert.equal((db.prepare("SELECT count(*) AS n FROM dedupe").get() as { n: number }).n, 3);
});
