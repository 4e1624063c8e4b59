/**
 * `agent-ipc stop` on real processes: it stops the `broker` command's broker
 * of the data dir gracefully (exit 0, lock released), says so when none runs,
 * leaves a broker hosted by an assistant's MCP server alone (exit 1), and
 * says when an MCP server takes over (failover) instead of leaving the user
 * to find a broker still running.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { lockHolder } from "../../lib/state/data_dir.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { brokerProcess, freePort, MAIN } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };

async function stop(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, MAIN, "stop", ...args],
    env: { NO_COLOR: "1", IPC_PORT: "", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** `main.ts mcp` as an assistant runs it, stdin kept open; its log collected. */
function mcpServer(port: number, dataDir: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, MAIN, "mcp", "--name", "claude"],
    env: { IPC_PORT: String(port), IPC_DATA_DIR: dataDir, IPC_NO_HTTP: "1", IPC_LOG: "info" },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const reading = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log += chunk;
  })();
  return {
    child,
    log: () => log,
    async close() {
      await child.stdin.close().catch(() => {});
      await child.status;
      await reading;
    },
  };
}

Deno.test("stop: the broker of the data dir stops gracefully; then none runs", opts, async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipc-stop-" });
  const dataDir = join(dir, "data");
  const port = freePort();
  const broker = await brokerProcess(port, dataDir);
  try {
    // The broker records its address right after it binds (a connect may come first).
    await waitFor(async () => (await lockHolder(dataDir))?.hostedBy === "broker", {
      what: "the broker's address in broker.lock",
    });
    // Another port asked for: not this broker, and it says which one is.
    const other = await stop({ IPC_DATA_DIR: dataDir }, "--port", String(freePort()));
    assert.equal(other.code, 1);
    assert.match(
      other.stderr,
      new RegExp(`runs on 127\\.0\\.0\\.1:${port} \\(pid ${broker.pid}\\)`),
    );
    const r = await stop({ IPC_DATA_DIR: dataDir }, "--json");
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), {
      ok: true,
      stopped: true,
      pid: broker.pid,
      host: "127.0.0.1",
      port,
    });
    const status = await broker.status;
    assert.equal(status.code, 0, "a graceful exit (SIGTERM handled), not a kill");
    assert.equal(await lockHolder(dataDir), undefined, "the data dir is free");
    const again = await stop({ IPC_DATA_DIR: dataDir });
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^No broker is running for the data dir /);
  } finally {
    try {
      broker.kill("SIGKILL");
    } catch { /* stopped */ }
    await broker.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test(
  "stop: a broker an MCP server hosts is left alone; an MCP server's takeover is reported",
  opts,
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ipc-stop-mcp-" });
    const dataDir = join(dir, "data");
    const port = freePort();
    // 1. The MCP server finds no broker and hosts it: stop refuses.
    const mcp = mcpServer(port, dataDir);
    try {
      const holder = await waitFor(async () => {
        const h = await lockHolder(dataDir);
        return h?.hostedBy === "mcp" && h;
      }, { timeout: 20_000, what: "the MCP server to host the broker" });
      assert.equal(holder.pid, mcp.child.pid);
      const r = await stop({ IPC_DATA_DIR: dataDir });
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(`runs inside an assistant's MCP server \\(pid ${mcp.child.pid}\\)`),
      );
      assert.equal((await lockHolder(dataDir))?.pid, mcp.child.pid, "still running");
    } finally {
      await mcp.close();
    }
    // 2. A broker of the `broker` command with an MCP server connected: stopped, and the
    //    MCP server takes over (failover), which stop reports.
    const broker = await brokerProcess(port, dataDir);
    const joined = mcpServer(port, dataDir);
    try {
      await waitFor(() => joined.log().includes("registered as claude"), {
        timeout: 20_000,
        what: "the MCP server to join the broker",
      });
      const r = await stop({ IPC_DATA_DIR: dataDir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(
        r.stdout,
        new RegExp(`^Stopped the broker on 127\\.0\\.0\\.1:${port} \\(pid ${broker.pid}\\)`),
      );
      assert.match(
        r.stdout,
        new RegExp(
          `An assistant's MCP server \\(pid ${joined.child.pid}\\) took over as the broker on 127\\.0\\.0\\.1:${port}`,
        ),
      );
      assert.equal((await broker.status).code, 0);
    } finally {
      try {
        broker.kill("SIGKILL");
      } catch { /* stopped */ }
      await broker.status;
      await joined.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
