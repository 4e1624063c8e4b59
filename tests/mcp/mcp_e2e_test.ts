/**
 * End to end: the SDK's Client with StdioClientTransport spawning the real
 * `main.ts mcp`. Two servers exchange messages; the one hosting the broker
 * is SIGKILLed and the other carries on with its session and its messages.
 * A raw stdio run checks that stdout carries only JSON-RPC and that a
 * response never written (process killed) leaves its messages queued.
 *
 * The SDK's client spawns through node:child_process and leaves timers and
 * pipes to the event loop after close, so these tests turn the op and
 * resource sanitizers off.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { CallToolResult } from "../../lib/deps.ts";
import { Client, StdioClientTransport } from "../_deps.ts";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { openSqliteStore } from "../../lib/state/sqlite_store.ts";
import { freePort, mcpInitialize, testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

interface Env {
  port: number;
  /** Temp dir for logs and the session file. */
  dir: string;
  /** The broker's data dir (default: `<dir>/data`). */
  dataDir?: string;
}

interface Mcp {
  client: Client;
  transport: StdioClientTransport;
  log: string;
  call(name: string, args?: Record<string, unknown>): Promise<string>;
  close(): Promise<void>;
}

function envFor(e: Env, extra: Record<string, string> = {}): Record<string, string> {
  return {
    ...Deno.env.toObject(),
    IPC_PORT: String(e.port),
    IPC_DATA_DIR: e.dataDir ?? join(e.dir, "data"),
    IPC_SESSION_FILE: join(e.dir, "session"),
    IPC_NO_HTTP: "1",
    IPC_LOG: "info",
    ...extra,
  };
}

function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
}

/** Spawns `main.ts mcp` and connects the SDK client (resolves once `initialize` is answered). */
async function spawnMcp(e: Env, label: string, args: string[] = [], extra = {}): Promise<Mcp> {
  const log = join(e.dir, `${label}.log`);
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", ...PERMISSION_FLAGS, MAIN, "mcp", "--log-file", log, ...args],
    env: envFor(e, extra),
    stderr: "ignore",
  });
  const client = new Client({ name: `test-${label}`, version: "1.0.0" });
  await client.connect(transport);
  return {
    client,
    transport,
    log,
    async call(name, a = {}) {
      const r = (await client.callTool({ name, arguments: a })) as CallToolResult;
      const t = text(r);
      if (r.isError) throw new Error(`${label} ${name}: ${t}`);
      return t;
    },
    close: () => client.close(),
  };
}

async function withLogs(e: Env, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    for await (const f of Deno.readDir(e.dir)) {
      if (f.name.endsWith(".log")) {
        console.error(`--- ${f.name}\n${await Deno.readTextFile(join(e.dir, f.name))}`);
      }
    }
    throw err;
  }
}

async function until<T>(fn: () => Promise<T | undefined>, ms = 15_000): Promise<T> {
  const { value } = await waitFor(async () => {
    const v = await fn();
    return v !== undefined && { value: v };
  }, { timeout: ms, interval: 20 });
  return value;
}

/** Asserts `queued()` stays `n` for `ms` milliseconds. */
async function steadyQueue(queued: () => Promise<number | undefined>, n: number, ms: number) {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    assert.equal(await queued(), n, "nothing acknowledged while the response is unwritten");
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test({
  name: "mcp e2e: two servers exchange; the host is SIGKILLed and the other carries on",
  sanitizeOps: false, // the SDK's stdio client leaves child-process timers and pipes behind
  sanitizeResources: false,
  async fn() {
    const e = { port: freePort(), dir: await Deno.makeTempDir({ prefix: "ipc-mcp-e2e-" }) };
    const open: Mcp[] = [];
    try {
      await withLogs(e, async () => {
        const t0 = performance.now();
        const a = await spawnMcp(e, "alice", ["--name", "alice"]);
        const coldStartMs = performance.now() - t0;
        open.push(a);
        assert.match(await a.call("whoami"), /You are alice .*this process hosts the broker/);
        const b = await spawnMcp(e, "bob", [], { IPC_INSTANCE: "bob" });
        open.push(b);
        assert.match(await b.call("whoami"), /You are bob .*joined as a client/);

        const { tools } = await b.client.listTools();
        assert.equal(tools.length, 16);

        // Exchange, both ways, and a broadcast.
        assert.match(await a.call("send", { to: "bob", message: "hello bob" }), /Sent to bob/);
        assert.match(await b.call("check"), /From alice at .* UTC \(#[0-9a-z]{7}\):\n> hello bob/);
        const waiting = b.call("wait", { timeout_s: 20 }).then((t) => t);
        await a.call("ipc", { command: "tell bob that lunch is at noon" });
        assert.match(await waiting, /From alice at .*:\n> lunch is at noon/);
        await b.call("send", { to: "alice", message: "ack from bob" });
        assert.match(await a.call("wait", { timeout_s: 10 }), /> ack from bob/);
        assert.match(await a.call("broadcast", { message: "all hands" }), /Broadcast to 1 /);
        assert.match(await b.call("ipc", { command: "msgs?" }), /> all hands/);
        const listed = await b.call("list_instances");
        assert.match(listed, /- alice: online/);
        assert.match(listed, /- bob \(you\): online/);

        // Measure a send round trip through the tool.
        const n = 20;
        const s0 = performance.now();
        for (let i = 0; i < n; i++) await a.call("send", { to: "bob", message: `m${i}` });
        const sendMs = (performance.now() - s0) / n;
        assert.match(await b.call("check", { limit: 100 }), /> m19/);
        console.log(
          `mcp cold start to initialize: ${coldStartMs.toFixed(0)} ms; ` +
            `send tool round trip: ${sendMs.toFixed(2)} ms`,
        );

        // Two messages wait unread when the host dies.
        await a.call("send", { to: "bob", message: "before the crash 1" });
        await a.call("send", { to: "bob", message: "before the crash 2" });
        Deno.kill(a.transport.pid!, "SIGKILL");
        await a.close();
        open.shift();

        // No action from bob's assistant: the next call just works, same session.
        const after = await b.call("check");
        assert.match(after, /> before the crash 1[\s\S]*> before the crash 2/);
        await until(async () =>
          /You are bob .*this process hosts the broker/.test(await b.call("whoami"))
            ? true
            : undefined
        );

        // A newcomer joins the new host; every remaining tool works over stdio.
        const c = await spawnMcp(e, "carol");
        open.push(c);
        assert.match(await c.call("whoami"), /Not registered/);
        assert.match(await c.call("register", { name: "carol" }), /as carol/);
        const bobWaits = b.call("wait", { timeout_s: 20 });
        await c.call("send", { to: "bob", message: "after the failover" });
        assert.match(await bobWaits, /From carol at .*:\n> after the failover/);
        assert.match(await c.call("rename", { name: "carol2" }), /Renamed carol to carol2/);
        assert.match(await b.call("check"), /carol renamed to carol2/);
        assert.match(await b.call("list_instances"), /- carol2: online/);
      });
    } finally {
      for (const m of open) await m.close().catch(() => {});
      await Deno.remove(e.dir, { recursive: true }).catch(() => {});
    }
  },
});

// --- raw stdio ---------------------------------------------------------------

const enc = new TextEncoder();
const dec = new TextDecoder();

/** `main.ts mcp` with raw pipes, JSON-RPC written by hand. */
class RawMcp {
  readonly child: Deno.ChildProcess;
  readonly #writer: WritableStreamDefaultWriter<Uint8Array>;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #buf = "";

  constructor(e: Env, args: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMISSION_FLAGS, MAIN, "mcp", ...args],
      env: envFor(e),
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    this.#writer = this.child.stdin.getWriter();
  }

  send(msg: Record<string, unknown>): Promise<void> {
    return this.#writer.write(enc.encode(JSON.stringify({ jsonrpc: "2.0", ...msg }) + "\n"));
  }

  /** The next stdout line, parsed (every line must be JSON-RPC). */
  async next(): Promise<Record<string, unknown>> {
    this.#reader ??= this.child.stdout.getReader();
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        const msg = JSON.parse(line);
        assert.equal(msg.jsonrpc, "2.0", `stdout line is not JSON-RPC: ${line.slice(0, 200)}`);
        return msg;
      }
      const { value, done } = await this.#reader.read();
      if (done) throw new Error("stdout closed");
      this.#buf += dec.decode(value, { stream: true });
    }
  }

  /** The response to `id`, skipping notifications. */
  async response(id: number): Promise<Record<string, unknown>> {
    for (;;) {
      const m = await this.next();
      if (m.id === id) return m;
    }
  }

  async initialize(): Promise<void> {
    await this.send(mcpInitialize("raw", 0));
    await this.response(0);
    await this.send({ method: "notifications/initialized" });
  }

  async kill(): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.#writer.close().catch(() => {});
    await this.#reader?.cancel().catch(() => {});
    if (!this.#reader) await this.child.stdout.cancel().catch(() => {});
    await this.child.status;
  }
}

Deno.test({
  name: "mcp e2e: a response never written (process killed) leaves its messages queued",
  sanitizeOps: false, // the killed child's pipes close asynchronously
  sanitizeResources: false,
  async fn() {
    // The broker's store tells the test when alice's check has read her queue.
    const dir = await Deno.makeTempDir({ prefix: "ipc-test-" });
    const real = await openSqliteStore(join(dir, "agent-ipc.db"));
    const checks: number[] = [];
    const watched = new Proxy(real, {
      get(target, prop, receiver) {
        const v = Reflect.get(target, prop, receiver);
        if (prop !== "peek") return typeof v === "function" ? v.bind(target) : v;
        return (...args: Parameters<typeof real.peek>) => {
          if (args[0] === "alice") checks.push(performance.now());
          return real.peek(...args);
        };
      },
    });
    await using tb = await testBroker({ dataDir: dir, openedStore: watched });
    using _cleanup = { [Symbol.dispose]: () => Deno.removeSync(dir, { recursive: true }) };
    const e = { port: tb.port, dir: tb.dataDir, dataDir: tb.dataDir };
    const sender = await AgentClient.connect({
      host: "127.0.0.1",
      port: tb.port,
      dataDir: tb.dataDir,
      role: "none",
    });
    const queued = async () => (await sender.list()).find((i) => i.id === "alice")?.queued;
    try {
      await sender.register("sender");
      await sender.send("alice", "hello"); // creates alice's queue before she registers
      // 30 messages of 9 KB: a check response (20 of them) overfills a 64 KiB pipe.
      for (let i = 1; i < 30; i++) await sender.send("alice", `${i} `.padEnd(9000, "x"));

      const p1 = new RawMcp(e, ["--name", "alice"]);
      await p1.initialize();
      // Stdout is never read past here: the response cannot be written out.
      const before = checks.length;
      await p1.send({ id: 1, method: "tools/call", params: { name: "check", arguments: {} } });
      // Once the check has read the queue, an ack made before the response is
      // written out would come at once: watch the queue for a while after it.
      await waitFor(() => checks.length > before, { what: "alice's check to read her queue" });
      await steadyQueue(queued, 30, 300);
      await p1.kill();
      assert.equal(await queued(), 30);

      // A new server for alice: the same messages come again, then are acknowledged.
      const p2 = new RawMcp(e, ["--name", "alice"]);
      try {
        await p2.initialize();
        await p2.send({ id: 1, method: "tools/call", params: { name: "check", arguments: {} } });
        const r = await p2.response(1);
        const t = ((r.result as CallToolResult).content[0] as { text: string }).text;
        assert.match(t, /From sender at .*:\n> hello\n/);
        assert.match(t, /10 unread messages from sender/);
        await until(async () => (await queued()) === 10 ? true : undefined, 5000);
        // Protocol misuse is a JSON-RPC error, on stdout like everything else.
        await p2.send({ id: 2, method: "no/such_method" });
        const bad = await p2.response(2);
        assert.equal((bad.error as { code: number }).code, -32601);
      } finally {
        await p2.kill();
      }
    } finally {
      await sender.close();
    }
  },
});
