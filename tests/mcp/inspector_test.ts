/**
 * Smoke run of the official MCP Inspector CLI against the real `main.ts mcp`:
 * `tools/list` (with `--strict` schema portability checks) and a
 * `tools/call`. It runs offline: the inspector is pinned in tests/deno.lock
 * (`tests/mcp/_inspector_pin.ts` puts it in a module graph, so
 * `deno install --lock=tests/deno.lock --entrypoint` caches it with the rest)
 * and runs with `--frozen --cached-only`, so the test never reaches the
 * registry. It is no part of this module's graph: the runtime's deno.lock
 * does not name it.
 */

import assert from "node:assert/strict";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { freePort, realDenoDir, TEST_LOCK } from "../_helpers.ts";

const INSPECTOR = "npm:@modelcontextprotocol/inspector@2.12.0";
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const ROOT = new URL("../..", import.meta.url).pathname;

async function inspector(
  dir: string,
  port: number,
  method: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = [
    `IPC_PORT=${port}`,
    `IPC_DATA_DIR=${dir}/data`,
    `IPC_SESSION_FILE=${dir}/session`,
    "IPC_NO_HTTP=1",
    "IPC_LOG=warn",
    // The Inspector starts the server with a short list of variables (HOME, PATH, ...): without
    // DENO_DIR the nested `deno run` looks for its packages elsewhere whenever DENO_DIR or
    // XDG_CACHE_HOME moves the cache, and downloads (or, offline, fails).
    `DENO_DIR=${await realDenoDir()}`,
  ].flatMap((kv) => ["-e", kv]);
  const out = await new Deno.Command(Deno.execPath(), {
    // The project's deno.json (cwd) and the tests' lock, nothing fetched.
    args: [
      "run",
      "-A",
      `--lock=${TEST_LOCK}`,
      "--frozen",
      "--cached-only",
      INSPECTOR,
      "--cli",
      ...env,
      Deno.execPath(),
      "run",
      ...PERMISSION_FLAGS,
      MAIN,
      "mcp",
      "--name",
      "inspector",
      ...method,
    ],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("mcp inspector: the official CLI lists the tools and calls one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "ipc-inspector-" });
  try {
    const port = freePort();
    const list = await inspector(dir, port, ["--method", "tools/list", "--strict"]);
    if (
      /Could not find|Failed to fetch|error sending request|failed to resolve/i.test(list.stderr)
    ) {
      throw new Error(
        "The MCP Inspector is not in Deno's cache: run " +
          "`deno install --frozen --lock=tests/deno.lock --entrypoint tests/mcp/_inspector_pin.ts` once " +
          `(.ci/run does):\n${list.stderr.slice(-2000)}`,
      );
    }
    assert.equal(list.code, 0, `tools/list failed:\n${list.stderr.slice(-2000)}`);
    type Listed = {
      name: string;
      title?: string;
      annotations?: Record<string, unknown>;
      outputSchema?: { type: string };
    };
    const tools = JSON.parse(list.stdout).tools as Listed[];
    for (const t of tools) {
      assert.ok(t.title, `${t.name}: title`);
      assert.equal(t.annotations?.openWorldHint, false, `${t.name}: openWorldHint`);
      assert.equal(typeof t.annotations?.readOnlyHint, "boolean", `${t.name}: readOnlyHint`);
      assert.equal(t.outputSchema?.type, "object", `${t.name}: outputSchema`);
    }
    assert.deepEqual(
      tools.map((t) => t.name).sort(),
      [
        "ask",
        "broadcast",
        "check",
        "claim_files",
        "ipc",
        "list_claims",
        "list_instances",
        "message_status",
        "register",
        "release_files",
        "rename",
        "reply",
        "send",
        "thread",
        "wait",
        "whoami",
      ],
    );
    // --strict: exit 6 on error-severity schema problems; warnings show as "Issue:" lines.
    assert.doesNotMatch(list.stderr, /Issue:/);

    const call = await inspector(dir, port, [
      "--method",
      "tools/call",
      "--tool-name",
      "ipc",
      "--tool-arg",
      "command=who's online?",
    ]);
    assert.equal(call.code, 0, `tools/call failed:\n${call.stderr.slice(-2000)}`);
    const result = JSON.parse(call.stdout);
    assert.notEqual(result.isError, true);
    assert.match(result.content[0].text, /- inspector \(you\): online/);
    // The structured result beside the text: the tool it stood for, and that tool's data.
    assert.equal(result.structuredContent.tool, "list_instances");
    assert.deepEqual(
      result.structuredContent.result.instances.map((i: { id: string; you: boolean }) => [
        i.id,
        i.you,
      ]),
      [["inspector", true]],
    );
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
