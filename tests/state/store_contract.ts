/**
 * The contract every {@linkcode Store} implementation passes: one Deno.test
 * per rule of `lib/state/store.ts`, written against the interface only, so the
 * SQLite and NATS stores are held to the same behaviour.
 *
 * Usage, from an implementation's test file:
 *
 * ```ts
 * storeContract("sqlite", async () => {
 *   const dir = await Deno.makeTempDir();
 *   const path = join(dir, "s.db");
 *   return {
 *     store: await openSqliteStore(path),
 *     reopen: () => openSqliteStore(path),
 *     cleanup: () => Deno.remove(dir, { recursive: true }),
 *   };
 * });
 * ```
 *
 * `open` gives each test an empty store. `reopen`, when given, opens a new
 * store on the same data after the test has closed the first one (durability
 * tests are skipped without it). `cleanup` runs after every store the test
 * opened is closed.
 *
 * Conventions pinned here that store.ts leaves implicit: `maxBytes` counts
 * UTF-8 bytes of `content` (the tests use ASCII); `since`/`until` are
 * inclusive (the tests stay off the bounds); text search of plain words
 * matches messages containing all the words, case-insensitively; `touch` is
 * visible to reads of the same store at once and reaches the data by `close`;
 * unclaimed queued messages expire by their `time`, delivered ones by the
 * `now` of their `ack`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { IpcError } from "../../lib/protocol/errors.ts";
import { shortId } from "../../lib/protocol/short_id.ts";
import type { ClaimRecord, Store, StoredMessage } from "../../lib/state/store.ts";

/** What `open` hands each contract test. */
export interface ContractSubject {
  store: Store;
  reopen?: () => Promise<Store>;
  cleanup: () => Promise<void>;
}

const T0 = 1_700_000_000_000;
const SECOND = 1000;
const DAY = 86_400_000;
const RETENTION = { unclaimedQueueMs: 7 * DAY, historyMs: 30 * DAY };
const NO_CAP = 1_000_000;

interface Ctx {
  store: Store;
  /** Closes the store and opens it again; throws when the subject has no `reopen`. */
  reopen(): Promise<Store>;
  /** A new unique message. */
  msg(from: string, to: string, content?: string, time?: number): StoredMessage;
}

/** Registers the contract tests of `label` (see the module doc). */
export function storeContract(label: string, open: () => Promise<ContractSubject>): void {
  const run = crypto.randomUUID().slice(0, 8);
  let counter = 0;

  function test(
    name: string,
    fn: (ctx: Ctx) => Promise<void> | void,
    needsReopen = false,
  ): void {
    Deno.test({
      name: `${label} store: ${name}`,
      async fn(t) {
        const subject = await open();
        if (needsReopen && !subject.reopen) {
          await subject.store.close();
          await subject.cleanup();
          await t.step({ name: "needs reopen (not offered)", ignore: true, fn() {} });
          return;
        }
        const opened: Store[] = [subject.store];
        const ctx: Ctx = {
          store: subject.store,
          async reopen() {
            await ctx.store.close();
            ctx.store = await subject.reopen!();
            opened.push(ctx.store);
            return ctx.store;
          },
          msg(from, to, content, time = T0) {
            counter++;
            const id = `${run}-${counter.toString(36).padStart(6, "0")}`;
            return { id, from, to, time, content: content ?? `message ${counter} to ${to}` };
          },
        };
        try {
          await fn(ctx);
        } finally {
          for (const s of opened) await s.close();
          await subject.cleanup();
        }
      },
    });
  }

  const ids = (ms: StoredMessage[]) => ms.map((m) => m.id);
  const sorted = (xs: string[]) => [...xs].sort();
  async function fill(ctx: Ctx, to: string, n: number, time = T0): Promise<StoredMessage[]> {
    const ms = Array.from({ length: n }, () => ctx.msg("sender", to, undefined, time));
    const out = await ctx.store.enqueue(ms, NO_CAP);
    assert.deepEqual(out, ms.map(() => ({ ok: true })));
    return ms;
  }
  async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof IpcError, `expected an IpcError, got ${e}`);
      assert.equal(e.code, code);
      return true;
    });
  }

  // --- identity -----------------------------------------------------------

  test("kind and location describe the store", ({ store }) => {
    assert.equal(typeof store.kind, "string");
    assert.ok(store.kind.length > 0);
    assert.equal(typeof store.location, "string");
    assert.ok(store.location.length > 0);
  });

  test("close is safe twice and asyncDispose closes", async ({ store }) => {
    await store.close();
    await store.close();
    await store[Symbol.asyncDispose]();
  });

  // --- sessions -----------------------------------------------------------

  test("register creates the instance record and a session", async ({ store }) => {
    assert.deepEqual(
      await store.register("alice", "h-a1", T0, { revokeOthers: false, host: "hostA" }),
      {
        queued: 0,
      },
    );
    assert.equal(await store.sessionName("h-a1"), "alice");
    assert.equal(await store.sessionName("h-unknown"), null);
    const rec = await store.instance("alice");
    assert.ok(rec);
    assert.equal(rec.name, "alice");
    assert.equal(rec.createdAt, T0);
    assert.equal(rec.lastSeen, T0);
    assert.equal(rec.sessions, 1);
    assert.equal(rec.queued, 0);
    assert.equal(rec.host, "hostA");
    assert.equal(rec.lastRenameAt, undefined);
    assert.equal(await store.instance("bob"), null);
  });

  test("register again keeps createdAt, updates lastSeen and host, adds a session", async ({ store }) => {
    await store.register("alice", "h-a1", T0, { revokeOthers: false, host: "hostA" });
    await store.register("alice", "h-a2", T0 + 5 * SECOND, { revokeOthers: false, host: "hostB" });
    assert.equal(await store.sessionName("h-a1"), "alice");
    assert.equal(await store.sessionName("h-a2"), "alice");
    const rec = await store.instance("alice");
    assert.equal(rec?.createdAt, T0);
    assert.equal(rec?.lastSeen, T0 + 5 * SECOND);
    assert.equal(rec?.host, "hostB");
    assert.equal(rec?.sessions, 2);
  });

  test("register with revokeOthers removes only that name's other sessions", async ({ store }) => {
    await store.register("alice", "h-a1", T0, { revokeOthers: false });
    await store.register("alice", "h-a2", T0, { revokeOthers: false });
    await store.register("bob", "h-b1", T0, { revokeOthers: false });
    await store.register("alice", "h-a3", T0 + SECOND, { revokeOthers: true });
    assert.equal(await store.sessionName("h-a1"), null);
    assert.equal(await store.sessionName("h-a2"), null);
    assert.equal(await store.sessionName("h-a3"), "alice");
    assert.equal(await store.sessionName("h-b1"), "bob");
    assert.equal((await store.instance("alice"))?.sessions, 1);
    assert.equal((await store.instance("bob"))?.sessions, 1);
  });

  test("a session read before it is revoked, removed or renamed is not answered from memory", async ({ store }) => {
    await store.register("mia", "h-m1", T0, { revokeOthers: false });
    await store.register("mia", "h-m2", T0, { revokeOthers: false });
    await store.register("ned", "h-n1", T0, { revokeOthers: false });
    // Read every session first, so a store that remembers them has them.
    for (const h of ["h-m1", "h-m2", "h-n1"]) assert.notEqual(await store.sessionName(h), null);
    await store.register("mia", "h-m3", T0 + SECOND, { revokeOthers: true });
    assert.equal(await store.sessionName("h-m1"), null);
    assert.equal(await store.sessionName("h-m2"), null);
    assert.equal(await store.sessionName("h-m3"), "mia");
    assert.equal(await store.removeSession("h-m3"), true);
    assert.equal(await store.sessionName("h-m3"), null);
    assert.equal(await store.sessionName("h-n1"), "ned");
    await store.rename("ned", "otto", T0 + 2 * SECOND, T0 + DAY);
    assert.equal(await store.sessionName("h-n1"), "otto");
  });

  test("register returns the number of messages already queued for the name", async (ctx) => {
    await fill(ctx, "carol", 3);
    assert.deepEqual(
      await ctx.store.register("carol", "h-c1", T0, { revokeOthers: false }),
      { queued: 3 },
    );
    assert.equal((await ctx.store.instance("carol"))?.queued, 3);
  });

  test("removeSession removes one session and keeps the instance and its queue", async (ctx) => {
    const { store } = ctx;
    await store.register("dave", "h-d1", T0, { revokeOthers: false });
    await store.register("dave", "h-d2", T0, { revokeOthers: false });
    await fill(ctx, "dave", 2);
    assert.equal(await store.removeSession("h-d1"), true);
    assert.equal(await store.removeSession("h-d1"), false);
    assert.equal(await store.removeSession("h-never"), false);
    assert.equal(await store.sessionName("h-d1"), null);
    assert.equal(await store.sessionName("h-d2"), "dave");
    assert.equal(await store.removeSession("h-d2"), true);
    const rec = await store.instance("dave");
    assert.equal(rec?.sessions, 0);
    assert.equal(rec?.queued, 2);
    assert.equal(await store.depth("dave"), 2);
  });

  test("touch moves lastSeen forward, never back", async ({ store }) => {
    await store.register("erin", "h-e1", T0, { revokeOthers: false });
    await store.touch("erin", T0 + 200);
    assert.equal((await store.instance("erin"))?.lastSeen, T0 + 200);
    await store.touch("erin", T0 + 60 * SECOND);
    assert.equal((await store.instance("erin"))?.lastSeen, T0 + 60 * SECOND);
    await store.touch("erin", T0 + 10 * SECOND);
    assert.equal((await store.instance("erin"))?.lastSeen, T0 + 60 * SECOND);
    assert.equal((await store.instance("erin"))?.createdAt, T0);
  });

  // --- instances ----------------------------------------------------------

  test("instances lists every registered name, by name, with sessions and queue", async (ctx) => {
    const { store } = ctx;
    assert.deepEqual(await store.instances(), []);
    await store.register("zed", "h-z", T0, { revokeOthers: false });
    await store.register("amy", "h-a", T0 + 1, { revokeOthers: false, host: "h1" });
    await store.register("Mia", "h-m", T0 + 2, { revokeOthers: false });
    await store.removeSession("h-m");
    await fill(ctx, "amy", 2);
    await fill(ctx, "nobody", 1); // queued for a name that never registered: not an instance
    const list = await store.instances();
    assert.deepEqual(list.map((r) => r.name), ["Mia", "amy", "zed"]);
    const amy = list[1];
    assert.deepEqual(
      [amy.createdAt, amy.lastSeen, amy.sessions, amy.queued, amy.host],
      [T0 + 1, T0 + 1, 1, 2, "h1"],
    );
    assert.equal(list[0].sessions, 0);
    assert.equal(list[2].queued, 0);
  });

  // --- queues -------------------------------------------------------------

  test("enqueue keeps per-recipient FIFO across many messages and calls", async (ctx) => {
    const { store } = ctx;
    const expected: Record<string, string[]> = { q1: [], q2: [], q3: [] };
    for (let call = 0; call < 20; call++) {
      const batch: StoredMessage[] = [];
      for (let i = 0; i < 50; i++) {
        const to = ["q1", "q2", "q3"][(call + i) % 3];
        const m = ctx.msg("s", to);
        batch.push(m);
        expected[to].push(m.id);
      }
      const out = await store.enqueue(batch, NO_CAP);
      assert.equal(out.length, 50);
      assert.ok(out.every((o) => o.ok));
    }
    for (const [to, want] of Object.entries(expected)) {
      assert.equal(await store.depth(to), want.length);
      assert.deepEqual(ids(await store.peek(to, 10_000)), want);
    }
    // Draining in chunks keeps the order.
    const drained: string[] = [];
    while (true) {
      const got = await store.peek("q1", 37);
      if (got.length === 0) break;
      drained.push(...ids(got));
      assert.deepEqual(sorted(await store.ack("q1", ids(got), T0)), sorted(ids(got)));
    }
    assert.deepEqual(drained, expected.q1);
    assert.equal(await store.depth("q1"), 0);
  });

  test("concurrent enqueue calls all land", async (ctx) => {
    const ms = Array.from({ length: 200 }, () => ctx.msg("s", "busy"));
    const outs = await Promise.all(ms.map((m) => ctx.store.enqueue([m], NO_CAP)));
    assert.ok(outs.every((o) => o.length === 1 && o[0].ok));
    assert.equal(await ctx.store.depth("busy"), 200);
    assert.deepEqual(sorted(ids(await ctx.store.peek("busy", 1000))), sorted(ids(ms)));
  });

  test("enqueue and ack of nothing do nothing", async ({ store }) => {
    assert.deepEqual(await store.enqueue([], 10), []);
    assert.deepEqual(await store.ack("x", [], T0), []);
    assert.equal(await store.depth("x"), 0);
  });

  test("a full queue refuses with reason full and does not store", async (ctx) => {
    const { store } = ctx;
    const ms = Array.from({ length: 5 }, () => ctx.msg("s", "capped"));
    const other = ctx.msg("s", "roomy");
    const out = await store.enqueue([...ms, other], 3);
    assert.deepEqual(out, [
      { ok: true },
      { ok: true },
      { ok: true },
      { ok: false, reason: "full", queued: 3 },
      { ok: false, reason: "full", queued: 3 },
      { ok: true },
    ]);
    assert.equal(await store.depth("capped"), 3);
    assert.deepEqual(ids(await store.peek("capped", 100)), ids(ms.slice(0, 3)));
    const refused = new Set(ids(ms.slice(3)));
    assert.ok((await store.history({ limit: 100 })).every((m) => !refused.has(m.id)));
    // Still full on a later call; room again after an ack.
    assert.deepEqual(await store.enqueue([ctx.msg("s", "capped")], 3), [
      { ok: false, reason: "full", queued: 3 },
    ]);
    await store.ack("capped", [ms[0].id], T0);
    assert.deepEqual(await store.enqueue([ctx.msg("s", "capped")], 3), [{ ok: true }]);
    assert.equal(await store.depth("capped"), 3);
  });

  // --- idempotent sends (clientId) --------------------------------------

  /** A message carrying an idempotency key. */
  const keyed = (ctx: Ctx, from: string, to: string, clientId: string, content?: string) => ({
    ...ctx.msg(from, to, content),
    clientId,
  });

  test("a repeated clientId returns the first id and stores nothing", async (ctx) => {
    const { store } = ctx;
    const first = keyed(ctx, "s", "dd", "client-key-1", "once");
    assert.deepEqual(await store.enqueue([first], NO_CAP), [{ ok: true }]);
    const again = keyed(ctx, "s", "dd", "client-key-1", "once");
    assert.notEqual(again.id, first.id);
    assert.deepEqual(await store.enqueue([again], NO_CAP), [{ ok: true, duplicateOf: first.id }]);
    // Twice in one call: the second is a repeat of the first.
    const a = keyed(ctx, "s", "dd", "client-key-2");
    const b = keyed(ctx, "s", "dd", "client-key-2");
    assert.deepEqual(await store.enqueue([a, b], NO_CAP), [
      { ok: true },
      { ok: true, duplicateOf: a.id },
    ]);
    assert.equal(await store.depth("dd"), 2);
    assert.deepEqual(ids(await store.peek("dd", 100)), [first.id, a.id]);
    const stored = new Set(ids(await store.history({ limit: 100 })));
    assert.ok(!stored.has(again.id) && !stored.has(b.id), "repeats are not in history");
    // Still a repeat once the first was delivered and acknowledged.
    await store.ack("dd", [first.id], T0);
    assert.deepEqual(
      await store.enqueue([keyed(ctx, "s", "dd", "client-key-1")], NO_CAP),
      [{ ok: true, duplicateOf: first.id }],
    );
    assert.equal(await store.depth("dd"), 1);
  });

  test("a clientId is scoped to its sender and recipient", async (ctx) => {
    const { store } = ctx;
    const ms = [
      keyed(ctx, "s1", "r1", "shared-key"),
      keyed(ctx, "s1", "r2", "shared-key"), // another recipient (a broadcast)
      keyed(ctx, "s2", "r1", "shared-key"), // another sender
      ctx.msg("s1", "r1"), // no key: never a repeat
      ctx.msg("s1", "r1"),
    ];
    assert.deepEqual(await store.enqueue(ms, NO_CAP), ms.map(() => ({ ok: true })));
    assert.equal(await store.depth("r1"), 4);
    assert.equal(await store.depth("r2"), 1);
    assert.deepEqual(
      await store.enqueue([
        keyed(ctx, "s1", "r2", "shared-key"),
        keyed(ctx, "s2", "r1", "shared-key"),
      ], NO_CAP),
      [{ ok: true, duplicateOf: ms[1].id }, { ok: true, duplicateOf: ms[2].id }],
    );
  });

  test("a repeat does not count against the cap and a full queue does not claim the key", async (ctx) => {
    const { store } = ctx;
    const a = keyed(ctx, "s", "dcap", "cap-key-a");
    const b = keyed(ctx, "s", "dcap", "cap-key-b");
    assert.deepEqual(await store.enqueue([a, b], 2), [{ ok: true }, { ok: true }]);
    // Full, but a repeat of a stored message is still answered as one.
    assert.deepEqual(
      await store.enqueue([keyed(ctx, "s", "dcap", "cap-key-a")], 2),
      [{ ok: true, duplicateOf: a.id }],
    );
    const c = keyed(ctx, "s", "dcap", "cap-key-c");
    assert.deepEqual(await store.enqueue([c], 2), [{ ok: false, reason: "full", queued: 2 }]);
    assert.equal(await store.depth("dcap"), 2);
    // After room is made, the refused message can be sent with its key.
    await store.ack("dcap", [a.id], T0);
    const out = await store.enqueue([keyed(ctx, "s", "dcap", "cap-key-c")], 2);
    assert.equal(out.length, 1);
    assert.equal(out[0].ok, true);
    assert.equal(await store.depth("dcap"), 2);
    assert.equal((await store.peek("dcap", 10)).length, 2);
  });

  test("idempotency keys survive close and reopen", async (ctx) => {
    const first = keyed(ctx, "s", "dre", "reopen-key");
    assert.deepEqual(await ctx.store.enqueue([first], NO_CAP), [{ ok: true }]);
    const store = await ctx.reopen();
    assert.deepEqual(
      await store.enqueue([keyed(ctx, "s", "dre", "reopen-key")], NO_CAP),
      [{ ok: true, duplicateOf: first.id }],
    );
    assert.deepEqual(ids(await store.peek("dre", 10)), [first.id]);
  }, true);

  test("peek honours limit, leaves the queue alone, and returns [] for unknown names", async (ctx) => {
    const ms = await fill(ctx, "pk", 5);
    assert.deepEqual(ids(await ctx.store.peek("pk", 2)), ids(ms.slice(0, 2)));
    assert.deepEqual(ids(await ctx.store.peek("pk", 2)), ids(ms.slice(0, 2)));
    assert.deepEqual(ids(await ctx.store.peek("pk", 100)), ids(ms));
    assert.equal(await ctx.store.depth("pk"), 5);
    assert.deepEqual(await ctx.store.peek("nobody-here", 10), []);
  });

  test("peek stops before maxBytes of content would pass, but returns at least one", async (ctx) => {
    const ms = Array.from(
      { length: 4 },
      (_, i) => ctx.msg("s", "mb", `0123456789`.slice(0, 9) + i),
    );
    await ctx.store.enqueue(ms, NO_CAP);
    assert.deepEqual(ids(await ctx.store.peek("mb", 10, 25)), ids(ms.slice(0, 2)));
    assert.deepEqual(ids(await ctx.store.peek("mb", 10, 30)), ids(ms.slice(0, 3)));
    assert.deepEqual(ids(await ctx.store.peek("mb", 10, 5)), ids(ms.slice(0, 1)));
    assert.deepEqual(ids(await ctx.store.peek("mb", 2, 1_000)), ids(ms.slice(0, 2)));
    const big = ctx.msg("s", "mb2", "x".repeat(5000));
    await ctx.store.enqueue([big, ctx.msg("s", "mb2", "small")], NO_CAP);
    assert.deepEqual(ids(await ctx.store.peek("mb2", 10, 100)), [big.id]);
  });

  test("ack removes only the caller's own queued ids and keeps them in history", async (ctx) => {
    const { store } = ctx;
    const mine = await fill(ctx, "me", 4);
    const theirs = await fill(ctx, "them", 2);
    const acked = await store.ack("me", [mine[0].id, mine[2].id, "no-such-id", theirs[0].id], T0);
    assert.deepEqual(sorted(acked), sorted([mine[0].id, mine[2].id]));
    assert.deepEqual(ids(await store.peek("me", 10)), [mine[1].id, mine[3].id]);
    assert.deepEqual(ids(await store.peek("them", 10)), ids(theirs));
    assert.equal(await store.depth("me"), 2);
    assert.equal(await store.depth("them"), 2);
    assert.deepEqual(await store.ack("me", [mine[0].id], T0), [], "acked twice");
    const hist = ids(await store.history({ to: "me" }));
    assert.deepEqual(sorted(hist), sorted(ids(mine)));
  });

  test("ack of many ids at once skips unknown and foreign ids", async (ctx) => {
    const mine = await fill(ctx, "many", 60);
    const theirs = await fill(ctx, "other", 5);
    const asked = [
      ...ids(mine.slice(0, 40)),
      ...ids(theirs),
      "unknown-1",
      "unknown-2",
      mine[0].id,
    ];
    const acked = await ctx.store.ack("many", asked, T0);
    assert.deepEqual(sorted(acked), sorted(ids(mine.slice(0, 40))));
    assert.equal(await ctx.store.depth("many"), 20);
    assert.equal(await ctx.store.depth("other"), 5);
    assert.deepEqual(ids(await ctx.store.peek("many", 100)), ids(mine.slice(40)));
  });

  test("depth counts unacknowledged messages", async (ctx) => {
    assert.equal(await ctx.store.depth("d"), 0);
    const ms = await fill(ctx, "d", 7);
    assert.equal(await ctx.store.depth("d"), 7);
    await ctx.store.ack("d", ids(ms.slice(0, 3)), T0);
    assert.equal(await ctx.store.depth("d"), 4);
    await ctx.store.ack("d", ids(ms), T0);
    assert.equal(await ctx.store.depth("d"), 0);
  });

  test("messages round-trip exactly: unicode, emoji, empty content, nested data, large", async (ctx) => {
    const { store } = ctx;
    const base = ctx.msg("s", "rt");
    const cases: StoredMessage[] = [
      { ...base, content: "" },
      { ...ctx.msg("s", "rt"), content: "héllo wörld ✓ — 日本語 😀 👩‍👩‍👧‍👦 עברית \u0000 tab\tnl\n" },
      {
        ...ctx.msg("s", "rt"),
        content: "with data",
        data: {
          n: 1.5,
          neg: -42,
          big: 9007199254740991,
          t: true,
          f: false,
          nil: null,
          s: "ünï 🚀",
          arr: [1, "two", { three: [3] }, []],
          nested: { deep: { deeper: { deepest: "ok" } }, empty: {} },
          "clé ✨": "unicode key",
        },
      },
      { ...ctx.msg("s", "rt"), content: "empty data", data: {} },
      {
        ...ctx.msg("s", "rt"),
        content: "summary of a large message",
        large: { path: "/data/large/2026/ü 😀.md", size: 123_456_789 },
      },
      {
        ...ctx.msg("s", "rt"),
        content: "z".repeat(200_000),
        data: { k: "v" },
        large: { path: "p", size: 0 },
      },
    ];
    assert.deepEqual(await store.enqueue(cases, NO_CAP), cases.map(() => ({ ok: true })));
    assert.deepStrictEqual(await store.peek("rt", 100), cases);
    assert.deepStrictEqual(await store.history({ to: "rt" }), [...cases].reverse());
  });

  // --- renames ------------------------------------------------------------

  test("rename moves record, sessions and queue, and forwards the old name until expiry", async (ctx) => {
    const { store } = ctx;
    const T1 = T0 + DAY;
    const until = T1 + 2 * 3600 * SECOND;
    await store.register("erin", "h-e1", T0, { revokeOthers: false, host: "hostE" });
    const ms = await fill(ctx, "erin", 3);
    await store.ack("erin", [ms[0].id], T0);
    await store.rename("erin", "frank", T1, until);

    assert.equal(await store.instance("erin"), null);
    const rec = await store.instance("frank");
    assert.ok(rec);
    assert.equal(rec.createdAt, T0);
    assert.equal(rec.lastRenameAt, T1);
    assert.equal(rec.sessions, 1);
    assert.equal(rec.queued, 2);
    assert.equal(rec.host, "hostE");
    assert.equal(await store.sessionName("h-e1"), "frank");
    assert.equal(await store.depth("erin"), 0);
    assert.deepEqual(await store.peek("erin", 10), []);
    assert.equal(await store.depth("frank"), 2);
    assert.deepEqual(ids(await store.peek("frank", 10)), ids(ms.slice(1)));
    assert.deepEqual((await store.instances()).map((r) => r.name), ["frank"]);

    assert.equal(await store.forward("erin", T1 + SECOND), "frank");
    assert.equal(await store.forward("erin", until - SECOND), "frank");
    assert.equal(await store.forward("erin", until + SECOND), null);
    assert.equal(await store.forward("frank", T1 + SECOND), null);
    assert.equal(await store.forward("never", T1), null);

    // New messages queue after the moved ones; acks work under the new name.
    const later = await fill(ctx, "frank", 1);
    assert.deepEqual(ids(await store.peek("frank", 10)), [...ids(ms.slice(1)), later[0].id]);
    assert.deepEqual(await store.ack("frank", [ms[1].id], T1), [ms[1].id]);
    assert.equal(await store.depth("frank"), 2);
  });

  test("rename to a name with live sessions fails with E_NAME_TAKEN and changes nothing", async (ctx) => {
    const { store } = ctx;
    await store.register("gus", "h-g", T0, { revokeOthers: false });
    await store.register("hal", "h-h", T0, { revokeOthers: false });
    const ms = await fill(ctx, "gus", 2);
    await rejectsWith(store.rename("gus", "hal", T0 + SECOND, T0 + DAY), "E_NAME_TAKEN");
    assert.equal(await store.sessionName("h-g"), "gus");
    assert.equal(await store.sessionName("h-h"), "hal");
    assert.deepEqual(ids(await store.peek("gus", 10)), ids(ms));
    assert.equal(await store.depth("hal"), 0);
    assert.equal((await store.instance("gus"))?.lastRenameAt, undefined);
    assert.equal(await store.forward("gus", T0 + 2 * SECOND), null);
  });

  test("rename to a registered name without live sessions takes it over", async (ctx) => {
    const { store } = ctx;
    await store.register("ivy", "h-i", T0, { revokeOthers: false });
    await store.register("old", "h-o", T0, { revokeOthers: false });
    await store.removeSession("h-o");
    const ms = await fill(ctx, "ivy", 2);
    await store.rename("ivy", "old", T0 + SECOND, T0 + DAY);
    assert.equal(await store.sessionName("h-i"), "old");
    assert.equal((await store.instance("old"))?.sessions, 1);
    assert.equal((await store.instance("old"))?.lastRenameAt, T0 + SECOND);
    assert.equal(await store.instance("ivy"), null);
    const queued = ids(await store.peek("old", 10));
    for (const id of ids(ms)) assert.ok(queued.includes(id));
    assert.equal(await store.forward("ivy", T0 + 2 * SECOND), "old");
  });

  // --- history ------------------------------------------------------------

  async function seedHistory(ctx: Ctx) {
    const { store } = ctx;
    const spec: [string, string, string, number][] = [
      ["ann", "bob", "banana bread recipe", T0 + 1 * SECOND],
      ["bob", "ann", "thanks for the BANANA", T0 + 2 * SECOND],
      ["ann", "cat", "apple pie and banana", T0 + 3 * SECOND],
      ["cat", "ann", "cherry tart", T0 + 4 * SECOND],
      ["bob", "cat", "bread without banana", T0 + 5 * SECOND],
      ["ann", "bob", "plain text", T0 + 6 * SECOND],
      ["cat", "bob", "the bread is ready", T0 + 7 * SECOND],
    ];
    const ms = spec.map(([from, to, content, time]) => ctx.msg(from, to, content, time));
    // One at a time, so the order of `time` is also the order of arrival.
    for (const m of ms) await store.enqueue([m], NO_CAP);
    // History holds delivered and queued messages alike.
    await store.ack("bob", [ms[0].id], T0 + 10 * SECOND);
    await store.ack("ann", [ms[1].id, ms[3].id], T0 + 10 * SECOND);
    return ms;
  }

  test("history lists delivered and queued messages, newest first, with limit", async (ctx) => {
    const ms = await seedHistory(ctx);
    assert.deepEqual(ids(await ctx.store.history({})), ids(ms).reverse());
    assert.deepEqual(ids(await ctx.store.history({ limit: 2 })), ids(ms.slice(5)).reverse());
  });

  test("history filters by from, to, between, since and until", async (ctx) => {
    const { store } = ctx;
    const ms = await seedHistory(ctx);
    const pick = (...i: number[]) => i.map((k) => ms[k].id).reverse();
    assert.deepEqual(ids(await store.history({ from: "ann" })), pick(0, 2, 5));
    assert.deepEqual(ids(await store.history({ to: "bob" })), pick(0, 5, 6));
    assert.deepEqual(ids(await store.history({ from: "ann", to: "bob" })), pick(0, 5));
    assert.deepEqual(ids(await store.history({ between: ["ann", "bob"] })), pick(0, 1, 5));
    assert.deepEqual(ids(await store.history({ between: ["bob", "ann"] })), pick(0, 1, 5));
    assert.deepEqual(ids(await store.history({ since: T0 + 4500 })), pick(4, 5, 6));
    assert.deepEqual(ids(await store.history({ until: T0 + 2500 })), pick(0, 1));
    assert.deepEqual(
      ids(await store.history({ since: T0 + 1500, until: T0 + 5500, to: "cat" })),
      pick(2, 4),
    );
    assert.deepEqual(await store.history({ from: "nobody" }), []);
  });

  test("history pages with beforeId", async (ctx) => {
    const ms = await seedHistory(ctx);
    const all = ids(ms).reverse();
    const page1 = ids(await ctx.store.history({ limit: 3 }));
    assert.deepEqual(page1, all.slice(0, 3));
    const page2 = ids(await ctx.store.history({ limit: 3, beforeId: page1[2] }));
    assert.deepEqual(page2, all.slice(3, 6));
    const page3 = ids(await ctx.store.history({ limit: 3, beforeId: page2[2] }));
    assert.deepEqual(page3, all.slice(6));
    assert.deepEqual(
      ids(await ctx.store.history({ beforeId: ms[4].id, from: "ann" })),
      [ms[2].id, ms[0].id],
    );
  });

  test("history searches text by words, case-insensitively, with filters", async (ctx) => {
    const { store } = ctx;
    const ms = await seedHistory(ctx);
    const pick = (...i: number[]) => i.map((k) => ms[k].id).reverse();
    assert.deepEqual(ids(await store.history({ text: "banana" })), pick(0, 1, 2, 4));
    assert.deepEqual(ids(await store.history({ text: "Banana" })), pick(0, 1, 2, 4));
    assert.deepEqual(ids(await store.history({ text: "banana bread" })), pick(0, 4));
    assert.deepEqual(ids(await store.history({ text: "banana", from: "ann" })), pick(0, 2));
    assert.deepEqual(ids(await store.history({ text: "bread", limit: 1 })), pick(6));
    assert.deepEqual(await store.history({ text: "durian" }), []);
    // Messages sent after a search are found by the next one.
    const late = ctx.msg("dan", "ann", "durian season", T0 + 9 * SECOND);
    await store.enqueue([late], NO_CAP);
    assert.deepEqual(ids(await store.history({ text: "durian" })), [late.id]);
  });

  // --- purge --------------------------------------------------------------

  test("purge drops unclaimed queued messages after the retention", async (ctx) => {
    const { store } = ctx;
    const now = T0 + 8 * DAY;
    await store.register("live", "h-live", T0, { revokeOthers: false });
    await store.register("gone", "h-gone", T0, { revokeOthers: false });
    await store.removeSession("h-gone");
    const ghostOld = await fill(ctx, "ghost", 2, T0);
    const ghostNew = await fill(ctx, "ghost", 1, T0 + 6 * DAY);
    const liveOld = await fill(ctx, "live", 2, T0);
    await fill(ctx, "gone", 3, T0);
    const res = await store.purge(now, RETENTION);
    assert.equal(res.expiredQueued, 5);
    assert.equal(res.expiredHistory, 0);
    assert.deepEqual(ids(await store.peek("ghost", 10)), ids(ghostNew));
    assert.deepEqual(ids(await store.peek("live", 10)), ids(liveOld));
    assert.deepEqual(await store.peek("gone", 10), []);
    assert.equal(await store.depth("ghost"), 1);
    assert.equal(await store.depth("gone"), 0);
    assert.equal((await store.instance("gone"))?.queued, 0);
    const hist = new Set(ids(await store.history({ limit: 1000 })));
    for (const m of ghostOld) assert.ok(!hist.has(m.id));
    // The queues keep working after a purge.
    await fill(ctx, "ghost", 1, now);
    assert.equal(await store.depth("ghost"), 2);
    assert.deepEqual(await store.purge(now, RETENTION), {
      expiredQueued: 0,
      expiredHistory: 0,
      expiredForwards: 0,
    });
  });

  test("purge drops delivered messages older than the history retention", async (ctx) => {
    const { store } = ctx;
    await store.register("reader", "h-r", T0, { revokeOthers: false });
    const ms = await fill(ctx, "reader", 5, T0);
    await store.ack("reader", ids(ms.slice(0, 2)), T0 + DAY);
    await store.ack("reader", ids(ms.slice(2, 3)), T0 + 20 * DAY);
    await ctx.store.enqueue([ctx.msg("x", "reader", "findable words", T0)], NO_CAP);
    assert.equal((await store.history({ text: "findable" })).length, 1); // builds any index
    const res = await store.purge(T0 + 35 * DAY, RETENTION);
    assert.equal(res.expiredHistory, 2);
    assert.equal(res.expiredQueued, 0);
    const left = ids(await store.history({ limit: 100 }));
    assert.equal(left.length, 4);
    assert.ok(!left.includes(ms[0].id) && !left.includes(ms[1].id));
    assert.ok(left.includes(ms[2].id), "acked 15 days before: kept");
    assert.equal(await store.depth("reader"), 3, "queued messages of a live session stay");
    assert.equal((await store.history({ text: "findable" })).length, 1);
  });

  test("purge drops expired forwards", async ({ store }) => {
    await store.register("p1", "h-p1", T0, { revokeOthers: false });
    await store.register("q1", "h-q1", T0, { revokeOthers: false });
    await store.rename("p1", "p2", T0, T0 + 1000);
    await store.rename("q1", "q2", T0, T0 + 10 * DAY);
    const res = await store.purge(T0 + 2000, RETENTION);
    assert.equal(res.expiredForwards, 1);
    assert.equal(await store.forward("p1", T0 + 500), null);
    assert.equal(await store.forward("q1", T0 + 3000), "q2");
  });

  // --- durability ---------------------------------------------------------

  test("everything committed is there after close and reopen", async (ctx) => {
    let store = ctx.store;
    await store.register("kim", "h-k1", T0, { revokeOthers: false, host: "hostK" });
    await store.register("lee", "h-l1", T0, { revokeOthers: false });
    await store.register("lee", "h-l2", T0, { revokeOthers: false });
    await store.removeSession("h-l2");
    const ms = await fill(ctx, "kim", 6);
    const extra = {
      ...ctx.msg("lee", "kim", "ünïcødé 😀"),
      data: { a: [1, { b: null }] },
      large: { path: "/x/y.md", size: 42 },
    };
    await store.enqueue([extra], NO_CAP);
    await store.ack("kim", [ms[0].id, ms[1].id], T0 + SECOND);
    await store.rename("kim", "kit", T0 + 2 * SECOND, T0 + DAY);
    await store.touch("kit", T0 + 3 * SECOND);
    await store.touch("lee", T0 + 4 * SECOND);

    store = await ctx.reopen();
    assert.equal(await store.sessionName("h-k1"), "kit");
    assert.equal(await store.sessionName("h-l1"), "lee");
    assert.equal(await store.sessionName("h-l2"), null);
    const kit = await store.instance("kit");
    assert.deepEqual(
      [kit?.createdAt, kit?.lastSeen, kit?.lastRenameAt, kit?.host, kit?.sessions, kit?.queued],
      [T0, T0 + 3 * SECOND, T0 + 2 * SECOND, "hostK", 1, 5],
    );
    assert.equal((await store.instance("lee"))?.lastSeen, T0 + 4 * SECOND);
    assert.equal(await store.instance("kim"), null);
    assert.equal(await store.depth("kit"), 5);
    const queued = await store.peek("kit", 10);
    assert.deepEqual(ids(queued), [...ids(ms.slice(2)), extra.id]);
    const back = queued[4];
    assert.deepStrictEqual(
      [back.content, back.data, back.large, back.from, back.time],
      [extra.content, extra.data, extra.large, extra.from, extra.time],
    );
    assert.equal(await store.forward("kim", T0 + 3 * SECOND), "kit");
    const hist = ids(await store.history({ limit: 100 }));
    assert.ok(hist.includes(ms[0].id) && hist.includes(ms[1].id), "acked stay in history");
    assert.deepEqual(ids(await store.history({ text: "ünïcødé" })), [extra.id]);
    // Counters are right after reopen: the cap check and FIFO continue.
    assert.deepEqual(await store.enqueue([ctx.msg("s", "kit")], 5), [
      { ok: false, reason: "full", queued: 5 },
    ]);
    const next = ctx.msg("s", "kit");
    assert.deepEqual(await store.enqueue([next], 6), [{ ok: true }]);
    assert.equal(ids(await store.peek("kit", 10)).at(-1), next.id);
  }, true);

  test(
    "writes resolved before close survive a reopen even when issued concurrently",
    async (ctx) => {
      const ms = Array.from({ length: 300 }, (_, i) => ctx.msg("s", `c${i % 3}`));
      await Promise.all(ms.map((m) => ctx.store.enqueue([m], NO_CAP)));
      await Promise.all([
        ctx.store.ack("c0", [ms[0].id], T0),
        ctx.store.register("c1", "h-c1", T0, { revokeOthers: false }),
      ]);
      const store = await ctx.reopen();
      assert.equal(await store.depth("c0"), 99);
      assert.equal(await store.depth("c1"), 100);
      assert.equal(await store.depth("c2"), 100);
      assert.equal(await store.sessionName("h-c1"), "c1");
    },
    true,
  );

  // --- file claims --------------------------------------------------------

  const claim = (root: string, path: string, holder: string, extra: Partial<ClaimRecord> = {}) =>
    ({
      root,
      path,
      holder,
      shared: false,
      createdAt: T0,
      expiresAt: T0 + 60 * SECOND,
      ...extra,
    }) satisfies ClaimRecord;
  const paths = (cs: ClaimRecord[]) => cs.map((c) => `${c.holder}:${c.path}`).sort();

  test("updateClaims replaces one root's claims and hands back the result", async ({ store }) => {
    assert.deepEqual(await store.claims("/r1"), []);
    const seen: ClaimRecord[][] = [];
    const out = await store.updateClaims("/r1", (cur) => {
      seen.push(cur);
      return {
        next: [
          claim("/r1", "src/**", "ann", { reason: "refactor" }),
          claim("/r1", "a", "bob", {
            shared: true,
          }),
        ],
        result: 42,
      };
    });
    assert.equal(out, 42);
    assert.deepEqual(seen.at(-1), []);
    await store.updateClaims("/r2", () => ({ next: [claim("/r2", "x", "ann")], result: null }));
    const r1 = await store.claims("/r1");
    assert.deepEqual(paths(r1), ["ann:src/**", "bob:a"]);
    const ann = r1.find((c) => c.holder === "ann")!;
    assert.deepEqual(ann, claim("/r1", "src/**", "ann", { reason: "refactor" }));
    assert.equal(r1.find((c) => c.holder === "bob")!.shared, true);
    assert.deepEqual(paths(await store.claims("/r2")), ["ann:x"]);
    assert.deepEqual((await store.claims()).map((c) => c.root).sort(), ["/r1", "/r1", "/r2"]);
    // next: null changes nothing; the current claims are handed in.
    const again = await store.updateClaims("/r1", (cur) => ({ next: null, result: paths(cur) }));
    assert.deepEqual(again, ["ann:src/**", "bob:a"]);
    assert.equal((await store.claims("/r1")).length, 2);
    // An empty next clears the root, and only it.
    await store.updateClaims("/r1", () => ({ next: [], result: null }));
    assert.deepEqual(await store.claims("/r1"), []);
    assert.equal((await store.claims()).length, 1);
  });

  test("concurrent updateClaims of one root lose no write", async ({ store }) => {
    await Promise.all(Array.from({ length: 12 }, (_, i) =>
      store.updateClaims("/race", (cur) => ({
        next: [...cur, claim("/race", `f${i}`, `h${i}`)],
        result: null,
      }))));
    assert.equal((await store.claims("/race")).length, 12);
  });

  test("claims survive a reopen", async (ctx) => {
    await ctx.store.updateClaims("/keep", () => ({
      next: [claim("/keep", "lib/*.ts", "ann", { reason: "why", shared: true })],
      result: null,
    }));
    const store = await ctx.reopen();
    assert.deepEqual(await store.claims("/keep"), [
      claim("/keep", "lib/*.ts", "ann", { reason: "why", shared: true }),
    ]);
  }, true);

  // --- conversations and receipts -------------------------------------------

  test("conversation fields come back from peek, history, thread and findMessages", async (ctx) => {
    const { store } = ctx;
    const q = ctx.msg("ann", "ben", "the question");
    const r = { ...ctx.msg("ben", "ann", "the answer"), urgent: true };
    Object.assign(r, { replyTo: q.id, threadId: q.id, quote: "the question" });
    assert.deepEqual(await store.enqueue([q, r], NO_CAP), [{ ok: true }, { ok: true }]);
    const [back] = await store.peek("ann", 10);
    assert.deepEqual(
      [back.id, back.urgent, back.replyTo, back.threadId, back.quote],
      [r.id, true, q.id, q.id, "the question"],
    );
    const [plain] = await store.peek("ben", 10);
    assert.deepEqual([plain.urgent, plain.replyTo, plain.threadId], [
      undefined,
      undefined,
      undefined,
    ]);
    const hist = await store.history({ from: "ben" });
    assert.equal(hist[0].replyTo, q.id);
    const found = await store.findMessages(r.id, "ann");
    assert.equal(found[0].threadId, q.id);
  });

  test("peek returns urgent messages first, from anywhere in the queue", async (ctx) => {
    const { store } = ctx;
    const early = await fill(ctx, "una", 5);
    const u1 = { ...ctx.msg("boss", "una", "urgent one"), urgent: true };
    await store.enqueue([u1], NO_CAP);
    const middle = await fill(ctx, "una", 3);
    const u2 = { ...ctx.msg("boss", "una", "urgent two"), urgent: true };
    await store.enqueue([u2], NO_CAP);
    assert.deepEqual(ids(await store.peek("una", 3)), [u1.id, u2.id, early[0].id]);
    assert.deepEqual(
      ids(await store.peek("una", 20)),
      [u1.id, u2.id, ...ids(early), ...ids(middle)],
    );
    // maxBytes still bounds the batch (at least one message).
    assert.deepEqual(ids(await store.peek("una", 20, 1)), [u1.id]);
    await store.ack("una", [u1.id, u2.id], T0);
    assert.deepEqual(ids(await store.peek("una", 2)), ids(early.slice(0, 2)));
  });

  test("findMessages resolves ids and short ids for the sender and the recipient only", async (ctx) => {
    const { store } = ctx;
    const m = ctx.msg("ann", "ben", "hello");
    await store.enqueue([m], NO_CAP);
    for (const ref of [m.id, shortId(m.id)]) {
      assert.deepEqual(ids(await store.findMessages(ref, "ann")), [m.id]);
      assert.deepEqual(ids(await store.findMessages(ref, "ben")), [m.id]);
      assert.deepEqual(await store.findMessages(ref, "eve"), []);
    }
    assert.deepEqual(await store.findMessages("zzzzzzz", "ann"), []);
    // Still found once read (history).
    await store.ack("ben", [m.id], T0 + SECOND);
    assert.deepEqual(ids(await store.findMessages(shortId(m.id), "ann")), [m.id]);
  });

  test("receipts: queued, delivered, read, replied, with times; first reply wins", async (ctx) => {
    const { store } = ctx;
    const q = ctx.msg("ann", "ben", "question");
    await store.enqueue([q], NO_CAP);
    const receipt = async () => (await store.findMessages(q.id, "ann"))[0];
    let r = await receipt();
    assert.deepEqual([r.deliveredAt, r.readAt, r.repliedAt], [undefined, undefined, undefined]);
    await store.markDelivered("ben", [q.id], T0 + SECOND);
    r = await receipt();
    assert.deepEqual([r.deliveredAt, r.readAt], [T0 + SECOND, undefined]);
    await store.markDelivered("ben", [q.id], T0 + 9 * SECOND); // the first time stays
    assert.equal((await receipt()).deliveredAt, T0 + SECOND);
    await store.ack("ben", [q.id], T0 + 2 * SECOND);
    r = await receipt();
    assert.deepEqual([r.deliveredAt, r.readAt], [T0 + SECOND, T0 + 2 * SECOND]);
    const a1 = {
      ...ctx.msg("ben", "ann", "answer", T0 + 3 * SECOND),
      replyTo: q.id,
      threadId: q.id,
    };
    const a2 = {
      ...ctx.msg("ben", "ann", "again", T0 + 4 * SECOND),
      replyTo: q.id,
      threadId: q.id,
    };
    await store.enqueue([a1], NO_CAP);
    await store.enqueue([a2], NO_CAP);
    r = await receipt();
    assert.deepEqual([r.repliedAt, r.replyId], [T0 + 3 * SECOND, a1.id]);
    // An ack without an earlier delivery stamp counts as delivered then.
    const s = ctx.msg("ann", "ben", "second");
    await store.enqueue([s], NO_CAP);
    await store.ack("ben", [s.id], T0 + 5 * SECOND);
    const rs = (await store.findMessages(s.id, "ann"))[0];
    assert.deepEqual([rs.deliveredAt, rs.readAt], [T0 + 5 * SECOND, T0 + 5 * SECOND]);
  });

  test("one ack of many ids keeps the delivery stamps of those delivered before", async (ctx) => {
    const { store } = ctx;
    // 20 ids: the SQLite store acks these in one statement (from 16), not one by one.
    const msgs = Array.from({ length: 20 }, (_, i) => ctx.msg("ann", "ben", `m${i}`, T0 + i));
    await store.enqueue(msgs, NO_CAP);
    const early = msgs.filter((_, i) => i % 2 === 0).map((m) => m.id);
    await store.markDelivered("ben", early, T0 + SECOND);
    assert.deepEqual((await store.ack("ben", ids(msgs), T0 + 2 * SECOND)).sort(), ids(msgs).sort());
    for (const m of msgs) {
      const [r] = await store.findMessages(m.id, "ann");
      const delivered = early.includes(m.id) ? T0 + SECOND : T0 + 2 * SECOND;
      assert.deepEqual([r.deliveredAt, r.readAt], [delivered, T0 + 2 * SECOND], m.content);
    }
    // Nothing stamped: the plain statement, the ack time for both.
    const more = Array.from({ length: 16 }, (_, i) => ctx.msg("ann", "ben", `n${i}`, T0 + i));
    await store.enqueue(more, NO_CAP);
    await store.ack("ben", ids(more), T0 + 3 * SECOND);
    const [r] = await store.findMessages(more[5].id, "ann");
    assert.deepEqual([r.deliveredAt, r.readAt], [T0 + 3 * SECOND, T0 + 3 * SECOND]);
  });

  test("history with receipts carries delivered, read and replied times", async (ctx) => {
    const { store } = ctx;
    const q = ctx.msg("ann", "ben", "q", T0);
    await store.enqueue([q], NO_CAP);
    await store.markDelivered("ben", [q.id], T0 + 1);
    let [h] = await store.history({ from: "ann", receipts: true });
    assert.deepEqual([h.id, h.deliveredAt, h.readAt], [q.id, T0 + 1, undefined]);
    await store.ack("ben", [q.id], T0 + 2);
    const a = { ...ctx.msg("ben", "ann", "a", T0 + 3), replyTo: q.id, threadId: q.id };
    await store.enqueue([a], NO_CAP);
    [h] = await store.history({ from: "ann", receipts: true });
    assert.deepEqual(
      [h.deliveredAt, h.readAt, h.repliedAt, h.replyId],
      [T0 + 1, T0 + 2, T0 + 3, a.id],
    );
  });

  test("thread returns the first message and its replies, oldest first", async (ctx) => {
    const { store } = ctx;
    const q = ctx.msg("ann", "ben", "q", T0);
    const a = { ...ctx.msg("ben", "ann", "a", T0 + 1), replyTo: q.id, threadId: q.id };
    const other = ctx.msg("ann", "ben", "unrelated", T0 + 2);
    const b = { ...ctx.msg("ann", "ben", "b", T0 + 3), replyTo: a.id, threadId: q.id };
    for (const m of [q, a, other, b]) await store.enqueue([m], NO_CAP);
    await store.ack("ben", [q.id], T0 + 10);
    const t = await store.thread({ id: q.id, from: "ann", to: "ben" }, 100);
    assert.deepEqual(ids(t), [q.id, a.id, b.id]);
    assert.equal(t[0].readAt, T0 + 10);
    assert.deepEqual(ids(await store.thread({ id: q.id, from: "ann", to: "ben" }, 2)), [
      q.id,
      a.id,
    ]);
  });

  test("findReply finds the queued reply to a message, until it is acknowledged", async (ctx) => {
    const { store } = ctx;
    const q = ctx.msg("ann", "ben", "q");
    await store.enqueue([q], NO_CAP);
    assert.equal(await store.findReply("ann", q.id), null);
    await fill(ctx, "ann", 2);
    const a = { ...ctx.msg("ben", "ann", "a"), replyTo: q.id, threadId: q.id };
    await store.enqueue([a], NO_CAP);
    assert.equal((await store.findReply("ann", q.id))?.id, a.id);
    assert.equal(await store.findReply("ben", q.id), null);
    await store.ack("ann", [a.id], T0);
    assert.equal(await store.findReply("ann", q.id), null);
  });

  test("delivery stamps of whole replies and of single messages survive a reopen", async (ctx) => {
    // 20 ids handed over in one reply (the SQLite store writes them in one
    // statement, from 16), then 3 more one by one: each keeps its own time.
    const msgs = Array.from({ length: 23 }, (_, i) => ctx.msg("ann", "ben", `m${i}`, T0 + i));
    await ctx.store.enqueue(msgs, NO_CAP);
    await ctx.store.markDelivered("ben", ids(msgs.slice(0, 20)), T0 + SECOND);
    for (const [i, m] of msgs.slice(20).entries()) {
      await ctx.store.markDelivered("ben", [m.id], T0 + (2 + i) * SECOND);
    }
    const store = await ctx.reopen();
    for (const [i, m] of msgs.entries()) {
      const [r] = await store.findMessages(m.id, "ann");
      assert.equal(r.deliveredAt, i < 20 ? T0 + SECOND : T0 + (i - 18) * SECOND, m.content);
    }
  }, true);

  test("receipts and conversation fields survive a reopen", async (ctx) => {
    const q = ctx.msg("ann", "ben", "q");
    const u = { ...ctx.msg("ann", "ben", "u"), urgent: true };
    await ctx.store.enqueue([q, u], NO_CAP);
    await ctx.store.markDelivered("ben", [q.id], T0 + SECOND);
    const a = { ...ctx.msg("ben", "ann", "a", T0 + 2 * SECOND), replyTo: q.id, threadId: q.id };
    await ctx.store.enqueue([a], NO_CAP);
    const store = await ctx.reopen();
    const r = (await store.findMessages(shortId(q.id), "ann"))[0];
    assert.deepEqual([r.deliveredAt, r.repliedAt, r.replyId], [T0 + SECOND, T0 + 2 * SECOND, a.id]);
    assert.deepEqual(ids(await store.peek("ben", 1)), [u.id], "urgent first after reopen");
    assert.equal((await store.findReply("ann", q.id))?.id, a.id);
  }, true);
}
