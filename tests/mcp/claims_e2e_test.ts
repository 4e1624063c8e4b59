/**
 * End to end, file claims between an assistant and a shell agent: the real
 * `main.ts mcp` (SDK client over stdio, working in a subfolder of a real git
 * repository) and the real CLI (in another subfolder) against a broker
 * process. The broker is SIGKILLed: the MCP server takes over hosting and
 * the claims are still there, on SQLite (same data dir) and on NATS (a second
 * broker on the same nats-server serves the CLI throughout).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { CallToolResult } from "../../lib/deps.ts";
import { Client, StdioClientTransport } from "../_deps.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { brokerProcess, freePort } from "../_helpers.ts";
import { NATS_SKIP_REASON, startNatsServer } from "../_nats_server.ts";
import { CliPlace, jsonOf } from "../cli/_cli.ts";
import { gitRepo } from "../_git.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const SECRET = "claims-e2e-shared-secret";

function text(r: CallToolResult): string {
  return r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
}

async function until<T>(fn: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function scenario(store: "sqlite" | "nats"): Promise<void> {
  await using nats = store === "nats" ? await startNatsServer() : undefined;
  const dir = await Deno.makeTempDir({ prefix: "ipc-claims-e2e-" });
  const port = freePort();
  const dataDir = join(dir, "data");
  const storeEnv: Record<string, string> = nats ? { IPC_STORE: nats.url } : {};
  const env = { IPC_SHARED_SECRET: SECRET, ...storeEnv };
  const children: Deno.ChildProcess[] = [];
  let client: Client | undefined;
  try {
    const broker = await brokerProcess(port, dataDir, { env });
    children.push(broker);
    // On NATS the shell agent talks to a second broker of its own.
    let cliPort = port;
    if (nats) {
      cliPort = freePort();
      children.push(await brokerProcess(cliPort, join(dir, "data2"), { env }));
    }
    await using place = await CliPlace.create(cliPort, nats ? join(dir, "data2") : dataDir, env);
    const repo = await gitRepo(place.dir);

    const transport = new StdioClientTransport({
      command: Deno.execPath(),
      args: [
        "run",
        ...PERMISSION_FLAGS,
        MAIN,
        "mcp",
        "--name",
        "claude",
        "--log-file",
        join(dir, "mcp.log"),
      ],
      env: {
        ...Deno.env.toObject(),
        IPC_PORT: String(port),
        IPC_DATA_DIR: dataDir,
        IPC_NO_HTTP: "1",
        ...env,
      },
      cwd: join(repo, "src"),
      stderr: "ignore",
    });
    client = new Client({ name: "claims-e2e", version: "1.0.0" });
    await client.connect(transport);
    const call = async (name: string, args: Record<string, unknown> = {}) =>
      (await client!.callTool({ name, arguments: args })) as CallToolResult;

    // The assistant claims a file from src/; the shell agent in docs/ runs into it.
    let r = await call("claim_files", { paths: ["a.ts"], reason: "fixing the parser" });
    assert.ok(!r.isError, text(r));
    assert.match(
      text(r),
      new RegExp(`Claimed in ${repo} until .*\\n- src/a\\.ts: claude \\(you\\)`),
    );
    // Over stdio too, the structured result carries what the text says.
    const sc = r.structuredContent as { root: string; claims: Record<string, unknown>[] };
    assert.equal(sc.root, repo);
    assert.deepEqual(sc.claims.map((c) => [c.path, c.holder, c.reason]), [
      ["src/a.ts", "claude", "fixing the parser"],
    ]);
    assert.equal((await place.run("bob", ["register", "bob"])).code, 0);
    let c = await place.run("bob", ["claim", "../src/**"], { cwd: join(repo, "docs") });
    assert.equal(c.code, 1);
    assert.match(c.stderr, /"src\/a\.ts" is claimed by claude \("fixing the parser"\) until/);

    // And the other way round: the tool reports the CLI agent's claim as an error.
    c = await place.run("bob", ["claim", "guide.md", "--reason", "docs pass"], {
      cwd: join(repo, "docs"),
    });
    assert.equal(c.code, 0, c.stderr);
    r = await call("claim_files", { paths: ["../docs/*.md"] });
    assert.equal(r.isError, true);
    assert.match(text(r), /"docs\/guide\.md" is claimed by bob \("docs pass"\) until/);
    r = await call("claim_files", { paths: ["../../outside"] });
    assert.equal(r.isError, true);
    assert.match(text(r), /outside the repository root/);
    r = await call("list_claims");
    assert.match(text(r), /- docs\/guide\.md: bob, exclusive, "docs pass"/);
    assert.match(text(r), /- src\/a\.ts: claude \(you\), exclusive, "fixing the parser"/);

    // The broker dies: the MCP server re-elects and hosts; the claims are all still there.
    broker.kill("SIGKILL");
    await broker.status;
    children.splice(children.indexOf(broker), 1);
    await until(async () => {
      const w = text(await call("whoami"));
      return /this process hosts the broker/.test(w) ? true : undefined;
    });
    r = await call("list_claims");
    assert.match(text(r), /- src\/a\.ts: claude \(you\)/);
    assert.match(text(r), /- docs\/guide\.md: bob/);
    c = await place.run("bob", ["claims", "--json"], { cwd: repo });
    assert.equal(c.code, 0, c.stderr);
    const held = (jsonOf(c).claims as Record<string, unknown>[]).map((x) =>
      `${x.holder}:${x.path}`
    );
    assert.deepEqual(held.sort(), ["bob:docs/guide.md", "claude:src/a.ts"]);
    c = await place.run("bob", ["claim", "../src/a.ts"], { cwd: join(repo, "docs") });
    assert.equal(c.code, 1, "the claim survived the failover and still blocks");

    // Release through the tool, after the failover: the shell agent can have it.
    r = await call("release_files", {});
    assert.match(text(r), /Released 1 claim:\n- .*src\/a\.ts: claude \(you\)/);
    c = await place.run("bob", ["claim", "../src/a.ts"], { cwd: join(repo, "docs") });
    assert.equal(c.code, 0, c.stderr);
  } catch (e) {
    console.error(await Deno.readTextFile(join(dir, "mcp.log")).catch(() => ""));
    throw e;
  } finally {
    await client?.close().catch(() => {});
    for (const ch of children) {
      ch.kill("SIGTERM");
      await ch.status;
    }
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

const sdk = { sanitizeOps: false, sanitizeResources: false }; // the SDK's stdio client leaves pipes

Deno.test({
  name: "claims e2e (SQLite): MCP and CLI agents, across a broker failover",
  ...sdk,
  fn: () => scenario("sqlite"),
});

Deno.test({
  name: "claims e2e (NATS): MCP and CLI agents on two brokers, across a failover",
  ...sdk,
  ignore: NATS_SKIP_REASON !== null,
  fn: () => scenario("nats"),
});
