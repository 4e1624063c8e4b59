/**
 * End to end between an MCP server (the real `main.ts mcp` under the SDK's
 * stdio client) and the CLI (the real program): ask and reply both ways,
 * urgent first, message_status and thread, an ask that times out.
 *
 * The SDK's client spawns through node:child_process and leaves timers and
 * pipes to the event loop after close, so the op and resource sanitizers
 * are off (as in mcp_e2e_test.ts).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type { CallToolResult } from "../../lib/deps.ts";
import { Client, StdioClientTransport } from "../_deps.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { testBroker } from "../_helpers.ts";
import { CliPlace, jsonOf } from "../cli/_cli.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

async function spawnMcp(port: number, dataDir: string, dir: string, name: string) {
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: ["run", ...PERMISSION_FLAGS, MAIN, "mcp", "--name", name],
    env: {
      ...Deno.env.toObject(),
      IPC_PORT: String(port),
      IPC_DATA_DIR: dataDir,
      IPC_SESSION_FILE: join(dir, `session-mcp-${name}`),
      IPC_NO_HTTP: "1",
      IPC_LOG: "warn",
    },
    stderr: "ignore",
  });
  const client = new Client({ name: `test-${name}`, version: "1.0.0" });
  await client.connect(transport);
  const call = async (tool: string, args: Record<string, unknown> = {}) => {
    const r = (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
    const text = r.content.map((c) => (c.type === "text" ? c.text : "")).join("\n");
    return { text, isError: r.isError === true };
  };
  return { client, call };
}

Deno.test({
  name: "mcp <-> cli: ask and reply both ways, urgent, message_status, thread, ask timeout",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using b = await testBroker();
    await using place = await CliPlace.create(b.port, b.dataDir);
    const mia = await spawnMcp(b.port, b.dataDir, place.dir, "mia");
    try {
      assert.match((await mia.call("whoami")).text, /You are mia/);
      const reg = await place.run("carl", ["register", "carl"]);
      assert.equal(reg.code, 0, reg.stderr);

      // MCP asks, the CLI answers.
      const asking = mia.call("ask", { to: "carl", message: "ok to deploy?", timeout_s: 30 });
      const w = await place.run("carl", ["wait", "--timeout", "20", "--json"]);
      const [q] = jsonOf(w).messages as { id: string; short_id: string }[];
      const rep = await place.run("carl", ["reply", `#${q.short_id}`, "go ahead"]);
      assert.equal(rep.code, 0, rep.stderr);
      const asked = await asking;
      assert.equal(asked.isError, false, asked.text);
      assert.match(asked.text, new RegExp(`^Reply to #${q.short_id} from carl`));
      assert.match(
        asked.text,
        new RegExp(
          `From carl at .* \\(#[0-9a-z]{7}, reply to #${q.short_id} "ok to deploy\\?"\\):\\n> go ahead`,
        ),
      );
      // The reply was acknowledged once the ask's result was written.
      assert.match((await mia.call("check")).text, /^No new messages\./);
      const status = await mia.call("message_status", { message_id: `#${q.short_id}` });
      assert.match(status.text, new RegExp(`^Message #${q.short_id} to carl: replied \\(queued `));
      const thread = await mia.call("thread", { message_id: q.short_id });
      assert.match(thread.text, /^Thread #[0-9a-z]{7}, 2 messages/);
      assert.match(thread.text, /> ok to deploy\?[\s\S]*> go ahead/);

      // The CLI asks, MCP answers by the id it was shown; urgent comes first.
      const sentPlain = await place.run("carl", ["send", "mia", "lunch?"]);
      assert.equal(sentPlain.code, 0, sentPlain.stderr);
      const cliAsk = place.start("carl", [
        "ask",
        "mia",
        "--urgent",
        "is main green?",
        "--timeout",
        "30",
      ]);
      // "lunch?" may come first (check), the question with it or after (wait).
      let checked = (await mia.call("check")).text;
      for (let i = 0; i < 10 && !/is main green/.test(checked); i++) {
        checked = (await mia.call("wait", { timeout_s: 20 })).text;
      }
      const urgent = /URGENT from carl at .* \(#([0-9a-z]{7})\):\n> is main green\?/.exec(checked);
      assert.ok(urgent, checked);
      const r = await mia.call("reply", { message_id: `#${urgent[1]}`, message: "green" });
      assert.match(
        r.text,
        new RegExp(`^Reply #[0-9a-z]{7} sent to carl \\(re #${urgent[1]}\\)\\.`),
      );
      const done = await cliAsk.done();
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, /mia -> carl \(re #[0-9a-z]{7} "is main green\?"\): green\n$/);
      // carl sees the receipt of his question; mia may not.
      const carlQ = /\(re #([0-9a-z]{7})/.exec(done.stdout)![1];
      const rc = await place.run("carl", ["receipt", carlQ]);
      assert.match(rc.stdout, /: replied\n/);
      assert.equal((await mia.call("message_status", { message_id: carlQ })).isError, true);

      // An ask nobody answers is an error result; the question stays queued.
      const t = await mia.call("ask", { to: "carl", message: "anyone?", timeout_s: 0.2 });
      assert.equal(t.isError, true);
      assert.match(
        t.text,
        /^No reply from carl within 0\.2 s\. The question #[0-9a-z]{7} stays queued/,
      );
      const left = await place.run("carl", ["check"]);
      assert.match(left.stdout, /mia -> carl: anyone\?\n/);

      // Urgent is shown first and flagged, whatever the order it came in.
      for (const args of [["calm"], ["--urgent", "hot"]]) {
        const sent = await place.run("carl", ["send", "mia", ...args]);
        assert.equal(sent.code, 0, sent.stderr);
      }
      const both = (await mia.call("check")).text;
      assert.match(both, /URGENT from carl at [^\n]*\n> hot\n\nFrom carl at [^\n]*\n> calm/);
    } finally {
      await mia.client.close();
    }
  },
});
