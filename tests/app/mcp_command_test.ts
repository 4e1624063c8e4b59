import assert from "node:assert/strict";
import { agentOptions, MCP_HELP, runMcpCommand } from "../../lib/app/mcp_command.ts";
import { settingsFromEnv } from "../../lib/config.ts";

function io(env: Record<string, string> = {}) {
  const out = { stdout: "", stderr: "" };
  return {
    out,
    io: {
      stdout: (s: string) => void (out.stdout += s),
      stderr: (s: string) => void (out.stderr += s),
      env: (k: string) => env[k],
    },
  };
}

Deno.test("mcp command: --help prints to stdout and exits 0", async () => {
  const { out, io: i } = io();
  assert.equal(await runMcpCommand(["--help"], i), 0);
  assert.equal(out.stdout, MCP_HELP);
  assert.match(out.stdout, /--name NAME/);
  assert.equal(out.stderr, "");
});

Deno.test("mcp command: misuse exits 2 with the reason on stderr", async () => {
  for (
    const [args, env, want] of [
      [["--bogus"], {}, /Unknown option '--bogus'/],
      [["extra"], {}, /positional/i],
      [["--port", "99999"], {}, /Invalid --port "99999"/],
      [["--name", "no spaces"], {}, /invalid name "no spaces"/],
      [[], { IPC_INSTANCE: "system" }, /invalid name "system"/],
    ] as [string[], Record<string, string>, RegExp][]
  ) {
    const { out, io: i } = io(env);
    assert.equal(await runMcpCommand(args, i), 2, args.join(" "));
    assert.match(out.stderr, want);
    assert.equal(out.stdout, "", "nothing but protocol on stdout");
  }
});

Deno.test("mcp command: settings become client and hosted-broker options", async () => {
  const s = settingsFromEnv((k) =>
    ({ IPC_PORT: "7001", IPC_DATA_DIR: "/tmp/x", IPC_QUEUE_CAP: "5", IPC_HTTP_PORT: "0" })[k]
  );
  const o = await agentOptions(s);
  assert.equal(o.client.port, 7001);
  assert.equal(o.client.dataDir, "/tmp/x");
  assert.equal(typeof o.client.hostBroker, "function", "the MCP server may host the broker");
  assert.equal(o.broker.queueCap, 5);
  assert.deepEqual(o.broker.console, { port: 0 });
  const quiet = await agentOptions({ ...s, noHttp: true });
  assert.equal(quiet.broker.console, undefined);
});
