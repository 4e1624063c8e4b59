/**
 * A frozen broker (issue 16): the process hosting it gets a real SIGSTOP. The
 * port stays bound and the kernel still accepts, but nothing answers. Clients
 * and MCP tools must say so (E_NOT_RESPONDING, with the pid) within 5 s, never
 * hang, never start more brokers, and work again by themselves after SIGCONT.
 */

import assert from "node:assert/strict";
import type { CallToolResult } from "../../lib/deps.ts";
import { Client, InMemoryTransport } from "../_deps.ts";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { IpcError } from "../../lib/protocol/errors.ts";
import { McpAgent } from "../../lib/mcp/agent.ts";
import { createIpcMcpServer } from "../../lib/mcp/server.ts";
import { setLogLevel } from "../../lib/log.ts";
import { brokerProcess, freePort } from "../_helpers.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };

async function rejection(p: Promise<unknown>): Promise<IpcError> {
  const e = await p.then(() => null, (e) => e);
  assert.ok(e instanceof IpcError, `expected an IpcError, got ${e}`);
  return e;
}

Deno.test(
  "a stopped broker is reported, not waited for; SIGCONT brings everything back",
  opts,
  async () => {
    setLogLevel("error");
    const dataDir = await Deno.makeTempDir({ prefix: "ipc-frozen-" });
    const port = freePort();
    const broker = await brokerProcess(port, dataDir);
    const base = { host: "127.0.0.1", port, dataDir };
    const alice = await AgentClient.connect({ ...base, role: "none", autoReregister: true });
    const agent = new McpAgent({ client: base, name: "mcpbob" });
    const app = createIpcMcpServer(agent, { pollMs: 50 });
    const mcp = new Client({ name: "test", version: "1.0.0" });
    const call = async (name: string, args: Record<string, unknown>) =>
      (await mcp.callTool({ name, arguments: args })) as CallToolResult;
    let stopped = false;
    try {
      await alice.register("alice");
      await agent.start();
      const [clientSide, serverSide] = InMemoryTransport.createLinkedPair();
      await app.connect(serverSide);
      await mcp.connect(clientSide);
      assert.equal((await call("send", { to: "alice", message: "before" })).isError, undefined);

      broker.kill("SIGSTOP");
      stopped = true;

      // A request on a live connection.
      let t0 = Date.now();
      const e = await rejection(alice.send("mcpbob", "while frozen"));
      const took = Date.now() - t0;
      assert.equal(e.code, "E_NOT_RESPONDING", e.message);
      assert.match(
        e.message,
        new RegExp(
          `the broker \\(pid ${broker.pid}\\) on 127\\.0\\.0\\.1:${port} is not responding`,
          "i",
        ),
      );
      assert.match(e.message, /stopped/);
      assert.ok(took < 5_000, `reported after ${took} ms`);

      // A new client (the CLI's election): the same report, and no broker started.
      t0 = Date.now();
      const fresh = await rejection(
        AgentClient.connect({ ...base, role: "spawn", timeoutMs: 15_000 }),
      );
      assert.equal(fresh.code, "E_NOT_RESPONDING", fresh.message);
      assert.ok(Date.now() - t0 < 5_000, `election reported after ${Date.now() - t0} ms`);
      const spawned = await Deno.stat(`${dataDir}/broker.log`).then(() => true, () => false);
      assert.equal(spawned, false, "no background broker was started");

      // An MCP tool returns an error, in time, rather than hang.
      t0 = Date.now();
      const r = await call("send", { to: "alice", message: "tool while frozen" });
      assert.equal(r.isError, true, JSON.stringify(r));
      assert.match((r.content[0] as { text: string }).text, /not responding/);
      assert.ok(Date.now() - t0 < 6_000, `tool answered after ${Date.now() - t0} ms`);

      broker.kill("SIGCONT");
      stopped = false;

      // Everything resumes by itself: the same client objects, no restart.
      const deadline = Date.now() + 10_000;
      for (;;) {
        try {
          await alice.send("mcpbob", "after");
          break;
        } catch (err) {
          if (Date.now() > deadline) throw err;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
      let ok: CallToolResult | undefined;
      while (Date.now() < deadline) {
        ok = await call("send", { to: "alice", message: "tool after" });
        if (!ok.isError) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      assert.equal(ok?.isError, undefined, JSON.stringify(ok));
      const got = await alice.check({ ack: true });
      const texts = got.messages.map((m) => m.message.content);
      assert.ok(texts.includes("before") && texts.includes("tool after"), texts.join());
    } finally {
      if (stopped) broker.kill("SIGCONT");
      await mcp.close().catch(() => {});
      await app.close().catch(() => {});
      await agent.close();
      await app.resources.watcher.close();
      await alice.close();
      broker.kill("SIGTERM");
      await broker.status;
      await Deno.remove(dataDir, { recursive: true });
    }
  },
);
