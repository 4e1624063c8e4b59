import { writeActivity } from "../../lib/state/agent_records.ts";
import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { newMessageId } from "../../lib/broker/wire_messages.ts";
import { hostBroker } from "../../lib/app/host_broker.ts";
import { type LogRecord, setLogSink, stderrText } from "../../lib/log.ts";
import { PAGE_HTML, PAGE_JS } from "../../lib/web/_page.ts";
import { CONSOLE_TOKEN_FILE } from "../../lib/web/console_token.ts";
import { testBroker } from "../_helpers.ts";
import { rawHttp, type RawResponse } from "./_http.ts";

/** A broker with its console on a free port, a logged-in cookie, and agents on demand. */
async function consoleFixture() {
  const tb = await testBroker({ console: { port: 0 } });
  const url = new URL(tb.broker.consoleUrl!);
  const port = Number(url.port);
  const token = tb.broker.consoleToken!;
  const cookie = `agent_ipc_console_${port}=${token}`;
  const origin = `http://127.0.0.1:${port}`;
  const agents: AgentClient[] = [];
  const get = (path: string, headers: Record<string, string> = {}) =>
    rawHttp(port, { path, headers: { cookie, ...headers } });
  const csrf = (await get("/api/session")).json<{ csrf: string }>().csrf;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    rawHttp(port, {
      method: "POST",
      path,
      body: typeof body === "string" ? body : JSON.stringify(body),
      headers: {
        cookie,
        origin,
        "content-type": "application/json",
        "x-csrf-token": csrf,
        ...headers,
      },
    });
  return {
    tb,
    port,
    token,
    cookie,
    origin,
    csrf,
    get,
    post,
    async agent(name: string): Promise<AgentClient> {
      const c = await AgentClient.connect({
        host: "127.0.0.1",
        port: tb.port,
        dataDir: tb.dataDir,
        role: "none",
      });
      agents.push(c);
      await c.register(name);
      return c;
    },
    async [Symbol.asyncDispose]() {
      for (const a of agents) await a.close();
      await tb[Symbol.asyncDispose]();
    },
  };
}

type Msg = {
  id: string;
  from: string;
  to: string;
  time: number;
  content: string;
  data?: Record<string, unknown>;
  large?: { path: string; size: number; url: string };
};
const messagesOf = (r: RawResponse) => r.json<{ messages: Msg[]; more: boolean }>();

Deno.test("console: nothing is served without the login token", async () => {
  await using f = await consoleFixture();
  for (
    const path of ["/", "/app.js", "/app.css", "/favicon.svg", "/api/session", "/api/messages"]
  ) {
    const r = await rawHttp(f.port, { path });
    assert.equal(r.status, 401, path);
    assert.doesNotMatch(r.body, /<html|use strict|"messages"/, path);
  }
  for (const path of ["/api/instances", "/api/events", "/nope"]) {
    assert.equal((await rawHttp(f.port, { path })).status, 401, path);
  }
  const wrongCookie = await rawHttp(f.port, {
    path: "/api/messages",
    headers: { cookie: `agent_ipc_console_${f.port}=${"x".repeat(43)}` },
  });
  assert.equal(wrongCookie.status, 401);
  const post = await rawHttp(f.port, {
    method: "POST",
    path: "/api/send",
    body: JSON.stringify({ to: "bob", content: "hi" }),
    headers: { origin: f.origin, "content-type": "application/json", "x-csrf-token": f.csrf },
  });
  assert.equal(post.status, 401);
  // A cookie of another console port does not open this one.
  const other = await rawHttp(f.port, {
    path: "/api/session",
    headers: { cookie: `agent_ipc_console_1=${f.token}` },
  });
  assert.equal(other.status, 401);
});

Deno.test("console: the token logs in once, as an HttpOnly SameSite=Strict cookie, then leaves the URL", async () => {
  await using f = await consoleFixture();
  const wrong = await rawHttp(f.port, { path: "/?token=" + "A".repeat(43) });
  assert.equal(wrong.status, 401);
  assert.equal(wrong.headers.get("set-cookie"), null);
  const ok = await rawHttp(f.port, { path: `/?token=${f.token}` });
  assert.equal(ok.status, 303);
  assert.equal(ok.headers.get("location"), "/");
  const cookie = ok.headers.get("set-cookie")!;
  assert.match(cookie, new RegExp(`^agent_ipc_console_${f.port}=${f.token};`));
  for (const attr of ["HttpOnly", "SameSite=Strict", "Path=/"]) {
    assert.ok(cookie.includes(attr), attr);
  }
  // A path that would redirect off-site ("//host") still goes to "/".
  const sneaky = await rawHttp(f.port, { path: `//evil.example/?token=${f.token}` });
  assert.equal(sneaky.headers.get("location"), "/");
  const page = await rawHttp(f.port, {
    path: "/",
    headers: { cookie: cookie.split(";")[0] },
  });
  assert.equal(page.status, 200);
  assert.match(page.headers.get("content-type")!, /^text\/html/);
  assert.equal(page.body, PAGE_HTML);
  // What is served is the file in lib/web/page/, byte for byte.
  assert.equal(
    page.body,
    await Deno.readTextFile(new URL("../../lib/web/page/index.html", import.meta.url)),
  );
});

Deno.test("console: page, script, style and icon carry a strict CSP and no inline script", async () => {
  await using f = await consoleFixture();
  const types: Record<string, RegExp> = {
    "/": /^text\/html/,
    "/app.js": /^text\/javascript/,
    "/app.css": /^text\/css/,
    "/favicon.svg": /^image\/svg\+xml/,
  };
  for (const [path, type] of Object.entries(types)) {
    const r = await f.get(path);
    assert.equal(r.status, 200, path);
    assert.match(r.headers.get("content-type")!, type, path);
    const csp = r.headers.get("content-security-policy")!;
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(r.headers.get("x-content-type-options"), "nosniff");
    assert.equal(r.headers.get("x-frame-options"), "DENY");
  }
  const html = (await f.get("/")).body;
  // Every <script> has a src; no inline handlers or style attributes; no external hosts.
  for (const tag of html.match(/<script\b[^>]*>/g) ?? []) assert.match(tag, /src="\/app\.js"/);
  assert.doesNotMatch(html, /<script>\s*\S/);
  assert.doesNotMatch(html, /\son[a-z]+=/i);
  assert.doesNotMatch(html, /\sstyle=/i);
  assert.doesNotMatch(html + (await f.get("/app.css")).body, /https?:\/\/(?!www\.w3\.org)/);
  // The script parses, and never writes HTML.
  new Function(PAGE_JS);
  assert.doesNotMatch(PAGE_JS, /innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/);
});

Deno.test("console: Host must be this console's loopback address (no DNS rebinding)", async () => {
  await using f = await consoleFixture();
  for (const host of [`localhost:${f.port}`, `127.0.0.1:${f.port}`, `[::1]:${f.port}`]) {
    const r = await rawHttp(f.port, { path: "/api/session", host, headers: { cookie: f.cookie } });
    assert.equal(r.status, 200, host);
  }
  for (
    const host of [
      `evil.example:${f.port}`,
      "evil.example",
      `127.0.0.1:${f.port + 1}`,
      "127.0.0.1",
      `localhost.evil.example:${f.port}`,
      "",
    ]
  ) {
    const r = await rawHttp(f.port, { path: "/api/session", host, headers: { cookie: f.cookie } });
    assert.equal(r.status, 421, host);
    assert.doesNotMatch(r.body, /csrf/);
  }
  const none = await rawHttp(f.port, {
    path: "/api/session",
    host: null,
    headers: { cookie: f.cookie },
  });
  assert.ok(none.status >= 400 && none.status < 500, String(none.status));
  assert.doesNotMatch(none.body, /csrf/);
  // Even the login link is refused under a foreign Host.
  const login = await rawHttp(f.port, {
    path: `/?token=${f.token}`,
    host: `evil.example:${f.port}`,
  });
  assert.equal(login.status, 421);
  assert.equal(login.headers.get("set-cookie"), null);
});

Deno.test("console: cross-origin requests and CSRF are refused", async () => {
  await using f = await consoleFixture();
  await using bob = await f.agent("bob");
  const body = { to: "bob", content: "hello" };
  // Reading from a foreign origin.
  const read = await f.get("/api/messages", { origin: "http://evil.example" });
  assert.equal(read.status, 403);
  // State changes: Origin required and same-origin, CSRF header required, JSON only.
  assert.equal((await f.post("/api/send", body, { origin: "http://evil.example" })).status, 403);
  assert.equal((await f.post("/api/send", body, { origin: "null" })).status, 403);
  assert.equal(
    (await f.post("/api/send", body, { origin: `http://127.0.0.1:${f.port + 1}` })).status,
    403,
  );
  const noOrigin = await rawHttp(f.port, {
    method: "POST",
    path: "/api/send",
    body: JSON.stringify(body),
    headers: { cookie: f.cookie, "content-type": "application/json", "x-csrf-token": f.csrf },
  });
  assert.equal(noOrigin.status, 403);
  assert.equal((await f.post("/api/send", body, { "x-csrf-token": "" })).status, 403);
  assert.equal((await f.post("/api/send", body, { "x-csrf-token": f.token })).status, 403);
  assert.equal((await f.post("/api/send", body, { "sec-fetch-site": "cross-site" })).status, 403);
  assert.equal((await f.post("/api/send", body, { "sec-fetch-site": "same-site" })).status, 403);
  const form = await f.post("/api/send", "to=bob&content=hi", {
    "content-type": "application/x-www-form-urlencoded",
  });
  assert.equal(form.status, 400);
  assert.equal(form.json<{ error: { code: string } }>().error.code, "E_BAD_FIELD");
  // None of those reached bob.
  assert.equal((await bob.check()).messages.length, 0);
  // The same request, same-origin (localhost form too), goes through.
  const ok = await f.post("/api/send", body, {
    origin: `http://localhost:${f.port}`,
    "sec-fetch-site": "same-origin",
  });
  assert.equal(ok.status, 200, ok.body);
  assert.equal((await bob.check()).messages.length, 1);
});

Deno.test("console: /api/session gives the CSRF value and broker facts", async () => {
  await using f = await consoleFixture();
  const s = (await f.get("/api/session")).json<Record<string, unknown>>();
  assert.equal(typeof s.csrf, "string");
  assert.notEqual(s.csrf, f.token);
  assert.equal(s.human, "human");
  assert.equal(s.store, "sqlite");
  assert.equal(s.broker, `127.0.0.1:${f.tb.port}`);
  assert.match(String(s.version), /^\d+\.\d+\.\d+/);
});

Deno.test("console: /api/messages is the feed, the conversation view and the search", async () => {
  await using f = await consoleFixture();
  const alice = await f.agent("alice");
  const bob = await f.agent("bob");
  const carol = await f.agent("carol");
  await alice.send("bob", "the build is green");
  await bob.send("alice", "great, shipping the release");
  await carol.send("alice", "lunch?", { urgent: false });
  await alice.send("carol", "<b>bold</b> & <script>alert(1)</script>");
  const before = Date.now();

  const feed = messagesOf(await f.get("/api/messages"));
  assert.deepEqual(feed.messages.map((m) => m.from + ">" + m.to), [
    "alice>carol",
    "carol>alice",
    "bob>alice",
    "alice>bob",
  ]);
  assert.equal(feed.more, false);
  // Stored text comes back as text in JSON: escaping is the page's job (textContent).
  assert.equal(feed.messages[0].content, "<b>bold</b> & <script>alert(1)</script>");
  assert.deepEqual(feed.messages[1].data, { urgent: false });

  const page1 = messagesOf(await f.get("/api/messages?limit=2"));
  assert.equal(page1.messages.length, 2);
  assert.equal(page1.more, true);
  const page2 = messagesOf(await f.get(`/api/messages?limit=2&before=${page1.messages[1].id}`));
  assert.deepEqual(page2.messages.map((m) => m.content), [
    "great, shipping the release",
    "the build is green",
  ]);
  assert.equal(page2.more, false);

  const conv = messagesOf(await f.get("/api/messages?a=bob&b=alice"));
  assert.deepEqual(conv.messages.map((m) => m.content), [
    "great, shipping the release",
    "the build is green",
  ]);
  const fromCarol = messagesOf(await f.get("/api/messages?from=carol"));
  assert.deepEqual(fromCarol.messages.map((m) => m.content), ["lunch?"]);
  const toAlice = messagesOf(await f.get("/api/messages?to=alice"));
  assert.equal(toAlice.messages.length, 2);

  const search = messagesOf(await f.get("/api/messages?q=" + encodeURIComponent("release")));
  assert.deepEqual(search.messages.map((m) => m.content), ["great, shipping the release"]);
  const phrase = messagesOf(await f.get("/api/messages?q=" + encodeURIComponent('"build is"')));
  assert.deepEqual(phrase.messages.map((m) => m.content), ["the build is green"]);
  const filtered = messagesOf(await f.get("/api/messages?q=green&from=bob"));
  assert.equal(filtered.messages.length, 0);
  const prefix = messagesOf(await f.get("/api/messages?q=ship*&to=alice"));
  assert.equal(prefix.messages.length, 1);
  // Text that is not FTS5 syntax is searched as words rather than failing.
  const odd = await f.get("/api/messages?q=" + encodeURIComponent('lunch? "'));
  assert.equal(odd.status, 200);

  assert.equal(
    messagesOf(await f.get(`/api/messages?since=${before + 60_000}`)).messages.length,
    0,
  );
  assert.equal(
    messagesOf(await f.get(`/api/messages?until=${before - 600_000}`)).messages.length,
    0,
  );
  const iso = new Date(before - 600_000).toISOString();
  assert.equal(messagesOf(await f.get(`/api/messages?since=${iso}`)).messages.length, 4);

  for (
    const bad of [
      "limit=0",
      "limit=501",
      "limit=x",
      "from=a%20b",
      "to=" + "x".repeat(33),
      "a=alice",
      "since=yesterday",
      "before=../../etc",
      "q=" + "x".repeat(501),
    ]
  ) {
    const r = await f.get(`/api/messages?${bad}`);
    assert.equal(r.status, 400, bad);
    assert.equal(r.json<{ error: { code: string } }>().error.code, "E_BAD_FIELD", bad);
  }
});

Deno.test("console: /api/instances lists online state, last seen, queue depth and renames", async () => {
  await using f = await consoleFixture();
  const alice = await f.agent("alice");
  const bob = await f.agent("bob");
  await alice.send("bob", "one");
  await alice.send("bob", "two");
  await bob.rename("robert");
  const gone = await f.agent("ghost");
  await gone.unregister();
  type Inst = {
    name: string;
    online: boolean;
    registered: boolean;
    last_seen: number;
    queued: number;
    last_rename_at?: number;
    renamed_from: { name: string; at: number }[];
  };
  const { instances } = (await f.get("/api/instances")).json<{ instances: Inst[] }>();
  const by = Object.fromEntries(instances.map((i) => [i.name, i]));
  assert.deepEqual(Object.keys(by).sort(), ["alice", "ghost", "robert"]);
  assert.equal(by.robert.queued, 2);
  assert.equal(by.robert.online, true);
  assert.equal(by.robert.renamed_from[0].name, "bob");
  assert.equal(typeof by.robert.last_rename_at, "number");
  assert.equal(by.alice.queued, 1); // the rename notice from "system"
  assert.equal(by.ghost.registered, false);
  assert.equal(by.ghost.online, false);
  assert.ok(Math.abs(by.alice.last_seen - Date.now()) < 60_000);
  // Online first, the unregistered last.
  assert.equal(instances.at(-1)!.name, "ghost");
  await alice.close();
  const after = (await f.get("/api/instances")).json<{ instances: Inst[] }>();
  assert.equal(after.instances.find((i) => i.name === "alice")!.online, false);
});

Deno.test("console: /api/instances shows each assistant awake or idle, how it is reached and its last wake, from its hooks", async () => {
  await using f = await consoleFixture();
  await f.agent("alice");
  await f.agent("bob");
  await writeActivity(f.tb.dataDir, {
    name: "alice",
    state: "idle",
    since: 1_000,
    last_wake: 900,
    wakes: [900],
    assistant: "claude",
    wake: "claude-socket",
    last_wake_via: "claude-socket",
  });
  type Inst = { name: string; activity?: Record<string, unknown> };
  const { instances } = (await f.get("/api/instances")).json<{ instances: Inst[] }>();
  const by = Object.fromEntries(instances.map((i) => [i.name, i]));
  // How it is reached, too: messages shown at its prompts, woken through Claude Code's socket.
  assert.deepEqual(by.alice.activity, {
    state: "idle",
    since: 1_000,
    last_wake: 900,
    attention: true,
    wake: "claude-socket",
    last_wake_via: "claude-socket",
  });
  assert.equal(by.bob.activity, undefined, "no hooks ran for bob");
});

Deno.test("console: /api/claims lists the live file claims, read-only", async () => {
  await using f = await consoleFixture();
  const alice = await f.agent("alice");
  const bob = await f.agent("bob");
  assert.deepEqual((await f.get("/api/claims")).json(), { claims: [] });
  await alice.claim("/repo", ["src/**"], { reason: "refactor" });
  await bob.claim("/repo", ["README.md"], { shared: true, ttlMs: 60_000 });
  type Claim = { root: string; path: string; holder: string; shared: boolean; reason: string };
  const { claims } = (await f.get("/api/claims")).json<{ claims: Claim[] }>();
  assert.deepEqual(
    claims.map((c) => [c.root, c.path, c.holder, c.shared, c.reason]),
    [["/repo", "README.md", "bob", true, null], ["/repo", "src/**", "alice", false, "refactor"]],
  );
  await alice.unregister();
  const after = (await f.get("/api/claims")).json<{ claims: Claim[] }>();
  assert.deepEqual(after.claims.map((c) => c.holder), ["bob"]);
  assert.equal((await f.post("/api/claims", {})).status, 404);
  assert.match(PAGE_HTML, /id="side-claims"/);
  assert.match(PAGE_JS, /\/api\/claims/);
});

Deno.test("console: POST /api/send sends as human to one instance or to all", async () => {
  await using f = await consoleFixture();
  const alice = await f.agent("alice");
  const bob = await f.agent("bob");
  const one = await f.post("/api/send", { to: "alice", content: "hi alice, from the person" });
  assert.equal(one.status, 200, one.body);
  const sent = one.json<{ id: string; to: string; message: string }>();
  assert.equal(sent.to, "alice");
  const got = await alice.check({ ack: true });
  assert.equal(got.messages.length, 1);
  assert.equal(got.messages[0].from, "human");
  assert.equal(got.messages[0].message.content, "hi alice, from the person");
  assert.equal(got.messages[0].id, sent.id);

  const all = await f.post("/api/send", { to: "all", content: "standup in 5" });
  assert.equal(all.status, 200, all.body);
  assert.deepEqual(all.json<{ delivered: string[] }>().delivered.sort(), ["alice", "bob"]);
  assert.equal((await bob.check()).messages[0].message.content, "standup in 5");

  // A name that never registered gets it when it does.
  const future = await f.post("/api/send", { to: "dave", content: "welcome" });
  assert.equal(future.json<{ queued_for_future: boolean }>().queued_for_future, true);

  const cases: [unknown, number, string][] = [
    [{ to: "system", content: "x" }, 400, "E_RESERVED_NAME"],
    [{ to: "human", content: "x" }, 400, "E_RESERVED_NAME"],
    [{ to: "a b", content: "x" }, 400, "E_BAD_FIELD"],
    [{ to: "alice", content: "   " }, 400, "E_BAD_FIELD"],
    [{ to: "alice" }, 400, "E_BAD_FIELD"],
    [{ to: "alice", content: 5 }, 400, "E_BAD_FIELD"],
    [[1, 2], 400, "E_BAD_FIELD"],
    ["{not json", 400, "E_BAD_FIELD"],
    [{ to: "alice", content: "x".repeat(512 * 1024 + 1) }, 400, "E_BAD_FIELD"],
    ["x".repeat(3 * 1024 * 1024), 400, "E_BAD_FIELD"],
  ];
  for (const [body, status, code] of cases) {
    const r = await f.post("/api/send", body);
    assert.equal(r.status, status, JSON.stringify(body).slice(0, 80));
    assert.equal(r.json<{ error: { code: string } }>().error.code, code);
  }
  assert.equal((await alice.check()).messages.length, 1); // only the broadcast
});

Deno.test("console: a full queue answers 429 with the broker's message", async () => {
  const dataDir = await Deno.makeTempDir();
  await using broker = await hostBroker({
    host: "127.0.0.1",
    port: 0,
    dataDir,
    queueCap: 1,
    console: { port: 0 },
  });
  const port = Number(new URL(broker.consoleUrl!).port);
  const cookie = `agent_ipc_console_${port}=${broker.consoleToken}`;
  const csrf = (await rawHttp(port, { path: "/api/session", headers: { cookie } })).json<
    { csrf: string }
  >().csrf;
  const send = () =>
    rawHttp(port, {
      method: "POST",
      path: "/api/send",
      body: JSON.stringify({ to: "zed", content: "x" }),
      headers: {
        cookie,
        origin: `http://127.0.0.1:${port}`,
        "content-type": "application/json",
        "x-csrf-token": csrf,
      },
    });
  assert.equal((await send()).status, 200);
  const full = await send();
  assert.equal(full.status, 429);
  assert.equal(full.json<{ error: { code: string } }>().error.code, "E_QUEUE_FULL");
  await broker.close();
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("console: large message content is served by id, only from inside large-messages", async () => {
  await using f = await consoleFixture();
  const alice = await f.agent("alice");
  await f.agent("bob");
  const big = "lorem ipsum ".repeat(2000) + "THE END";
  await alice.send("bob", big);
  await alice.send("bob", "small one");
  const [small, large] = messagesOf(await f.get("/api/messages")).messages;
  assert.ok(large.large, "the big one is a large message");
  assert.equal(large.large!.url, `/api/messages/${large.id}/content`);
  const r = await f.get(large.large!.url);
  assert.equal(r.status, 200);
  assert.equal(r.body, big);
  assert.match(r.headers.get("content-type")!, /^text\/plain; charset=utf-8/);
  assert.match(r.headers.get("content-security-policy")!, /sandbox/);
  assert.equal(r.headers.get("x-content-type-options"), "nosniff");

  assert.equal((await f.get(`/api/messages/${small.id}/content`)).status, 404);
  assert.equal((await f.get(`/api/messages/${newMessageId()}/content`)).status, 404);
  const secret = await Deno.readTextFile(join(f.tb.dataDir, "secret"));
  for (
    const path of [
      "/api/messages/..%2F..%2Fsecret/content",
      "/api/messages/%2E%2E/content",
      "/api/messages/../secret/content",
      `/api/messages/${encodeURIComponent(join(f.tb.dataDir, "secret"))}/content`,
    ]
  ) {
    const x = await f.get(path);
    assert.ok(x.status === 404, `${path}: ${x.status}`);
    assert.ok(!x.body.includes(secret.trim()), path);
  }

  // A stored path outside large-messages (a tampered or foreign store) is refused.
  const store = f.tb.broker.store;
  const now = Date.now();
  const outside = {
    id: newMessageId(now),
    from: "alice",
    to: "bob",
    time: now,
    content: "see file",
    large: { path: join(f.tb.dataDir, "secret"), size: 64 },
  };
  await store.enqueue([outside], 100);
  const o = await f.get(`/api/messages/${outside.id}/content`);
  assert.equal(o.status, 404);
  assert.ok(!o.body.includes(secret.trim()));
  // So is a symlink inside large-messages that points outside it.
  const link = join(f.tb.dataDir, "large-messages", "link.md");
  await Deno.symlink(join(f.tb.dataDir, "secret"), link);
  const linked = { ...outside, id: newMessageId(now), large: { path: link, size: 64 } };
  await store.enqueue([linked], 100);
  const l = await f.get(`/api/messages/${linked.id}/content`);
  assert.equal(l.status, 404);
  assert.ok(!l.body.includes(secret.trim()));
  // And a path that climbs out by "..".
  const climbing = {
    ...outside,
    id: newMessageId(now),
    large: { path: join(f.tb.dataDir, "large-messages", "..", "secret"), size: 64 },
  };
  await store.enqueue([climbing], 100);
  assert.equal((await f.get(`/api/messages/${climbing.id}/content`)).status, 404);
});

Deno.test("console: /api/events streams messages and instance changes as server-sent events", async () => {
  await using f = await consoleFixture();
  const alice = await f.agent("alice");
  const res = await fetch(`http://127.0.0.1:${f.port}/api/events`, {
    headers: { cookie: f.cookie },
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /^text\/event-stream/);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const until = async (pattern: RegExp) => {
    const deadline = Date.now() + 5_000;
    while (!pattern.test(text)) {
      assert.ok(Date.now() < deadline, `no ${pattern} in ${text}`);
      const { value, done } = await reader.read();
      assert.ok(!done, "stream ended");
      text += value;
    }
  };
  await until(/event: hello/);
  await alice.send("bob", "live <i>one</i>");
  await until(/event: message\ndata: .*live <i>one<\/i>/);
  const line = text.split("\n").find((l) => l.startsWith("data: ") && l.includes("live"))!;
  const event = JSON.parse(line.slice(6));
  assert.equal(event.message.from, "alice");
  assert.equal(event.message.to, "bob");
  // The same shape as /api/messages gives, so the page renders both alike.
  const [stored] = messagesOf(await f.get("/api/messages?limit=1")).messages;
  assert.deepEqual(event.message, stored);
  await f.agent("carol");
  await until(/event: instance\ndata: \{"type":"registered","name":"carol"\}/);
  await reader.cancel();
});

Deno.test("console: closing the broker ends live streams and the console", async () => {
  const tb = await testBroker({ console: { port: 0 } });
  const port = Number(new URL(tb.broker.consoleUrl!).port);
  const res = await fetch(`http://127.0.0.1:${port}/api/events`, {
    headers: { cookie: `agent_ipc_console_${port}=${tb.broker.consoleToken}` },
  });
  const reader = res.body!.getReader();
  await reader.read();
  await tb[Symbol.asyncDispose]();
  // The stream ends (the broker did not hang on it) and the port is closed.
  for (;;) if ((await reader.read()).done) break;
  await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
});

Deno.test("console: unknown paths are 404 and other methods 405", async () => {
  await using f = await consoleFixture();
  assert.equal((await f.get("/nope")).status, 404);
  const api = await f.get("/api/nope");
  assert.equal(api.status, 404);
  assert.equal(api.json<{ error: { code: string } }>().error.code, "E_NOT_FOUND");
  assert.equal((await f.post("/api/messages", {})).status, 404);
  const put = await rawHttp(f.port, {
    method: "PUT",
    path: "/api/send",
    body: "{}",
    headers: {
      cookie: f.cookie,
      origin: f.origin,
      "content-type": "application/json",
      "x-csrf-token": f.csrf,
    },
  });
  assert.equal(put.status, 405);
});

Deno.test("console: a taken console port leaves the broker running without a console", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (taken.addr as Deno.NetAddr).port;
  const records: LogRecord[] = [];
  setLogSink((r) => records.push(r));
  try {
    await using tb = await testBroker({ console: { port } });
    assert.equal(tb.broker.consoleUrl, undefined);
    assert.equal(tb.broker.consoleToken, undefined);
    assert.ok(
      records.some((r) =>
        r.level === "warn" && r.message.includes(`port ${port} is already in use`)
      ),
      records.map((r) => r.message).join("\n"),
    );
    const c = await AgentClient.connect({
      host: "127.0.0.1",
      port: tb.port,
      dataDir: tb.dataDir,
      role: "none",
    });
    const status = await c.status();
    assert.equal((status.broker as Record<string, unknown>).console_url, undefined);
    await c.close();
  } finally {
    setLogSink(stderrText);
  }
});

Deno.test("console: status shows the console address; the token persists (0600) across restarts", async () => {
  const dataDir = await Deno.makeTempDir();
  try {
    let token: string;
    {
      await using broker = await hostBroker({
        host: "127.0.0.1",
        port: 0,
        dataDir,
        console: { port: 0 },
      });
      token = broker.consoleToken!;
      assert.match(token, /^[A-Za-z0-9_-]{43}$/);
      const c = await AgentClient.connect({
        host: "127.0.0.1",
        port: broker.port,
        dataDir,
        role: "none",
      });
      const status = await c.status();
      assert.equal((status.broker as Record<string, unknown>).console_url, broker.consoleUrl);
      assert.match(broker.consoleUrl!, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      await c.close();
    }
    const file = join(dataDir, CONSOLE_TOKEN_FILE);
    assert.equal((await Deno.readTextFile(file)).trim(), token);
    if (Deno.build.os !== "windows") assert.equal((await Deno.stat(file)).mode! & 0o777, 0o600);
    await using again = await hostBroker({
      host: "127.0.0.1",
      port: 0,
      dataDir,
      console: { port: 0 },
    });
    assert.equal(again.consoleToken, token);
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("console: short ids, urgency, replies, receipts (ticks), threads, and replying as human", async () => {
  await using f = await consoleFixture();
  const alice = await f.agent("alice");
  const bob = await f.agent("bob");
  const res = await fetch(`http://127.0.0.1:${f.port}/api/events`, {
    headers: { cookie: f.cookie },
  });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const until = async (pattern: RegExp) => {
    const deadline = Date.now() + 5_000;
    while (!pattern.test(text)) {
      assert.ok(Date.now() < deadline, `no ${pattern} in ${text}`);
      const { value, done } = await reader.read();
      assert.ok(!done, "stream ended");
      text += value;
    }
  };
  await until(/event: hello/);
  type Page = Msg & {
    short_id: string;
    urgent?: boolean;
    reply_to?: string;
    quote?: string;
    delivered_at?: number;
    read_at?: number;
    replied_at?: number;
  };
  const page = async () => messagesOf(await f.get("/api/messages?limit=10")).messages as Page[];

  const q = await alice.send("bob", "review #42?", undefined, { urgent: true });
  let [m] = await page();
  assert.deepEqual([m.id, m.short_id, m.urgent], [q.messageId, q.shortId, true]);
  assert.equal(m.delivered_at, undefined, "queued: one tick");
  // Delivered, then read: the ticks change live and in history.
  const [got] = (await bob.check()).messages;
  await until(new RegExp(`event: delivered\\ndata: .*${q.messageId}`));
  await bob.ack([got.id]);
  await until(new RegExp(`event: acked\\ndata: .*${q.messageId}`));
  [m] = await page();
  assert.ok(m.delivered_at && m.read_at && m.read_at >= m.delivered_at);
  // A reply: quoted, in the thread; the question shows replied.
  const r = await bob.reply(got.short_id!, "lgtm");
  const msgs = await page();
  const reply = msgs.find((x) => x.id === r.messageId)!;
  assert.deepEqual([reply.reply_to, reply.quote], [q.messageId, "review #42?"]);
  assert.ok(msgs.find((x) => x.id === q.messageId)!.replied_at);
  const thread = (await f.get(`/api/thread?id=${q.messageId}&party=alice`)).json<
    { messages: Page[] }
  >();
  assert.deepEqual(thread.messages.map((x) => x.id), [q.messageId, r.messageId]);
  assert.equal((await f.get(`/api/thread?id=${q.messageId}&party=carol`)).status, 404);

  // The console sends urgent messages and replies as human to what was sent to human.
  const sent = await f.post("/api/send", { to: "alice", content: "stop the deploy", urgent: true });
  assert.equal(sent.status, 200, sent.body);
  const [hot] = (await alice.check()).messages;
  assert.deepEqual([hot.from, hot.urgent], ["human", true]);
  const ask = await alice.send("human", "may I deploy now?");
  const answered = await f.post("/api/send", { reply_to: ask.shortId, content: "yes" });
  assert.equal(answered.status, 200, answered.body);
  const back = (await alice.check()).messages.find((x) => x.message.content === "yes")!;
  assert.deepEqual([back.from, back.reply_to], ["human", ask.messageId]);
  const notMine = await f.post("/api/send", { reply_to: q.shortId, content: "x" });
  assert.equal(notMine.status, 404, "human replies only to messages sent to human");
  await reader.cancel();

  // The page renders the ticks, the short id, the urgent flag and the reply line.
  for (const needle of ["ticks", "short-id", "URGENT", "reply-to", "/api/thread"]) {
    assert.ok(PAGE_JS.includes(needle), needle);
  }
  assert.ok(PAGE_HTML.includes('id="compose-urgent"'));
});
