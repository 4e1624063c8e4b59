/**
 * setup remembers the settings it was run with (issue 23, item 1): a port,
 * data dir, store, TLS files and the secret's file go into every MCP entry's
 * env and every hook command, never a secret's value; `--remove` takes out
 * exactly what was written; and a server started from a written entry with
 * none of the shell's variables (a desktop launcher) meets the broker on the
 * remembered port.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { runSetup, type SetupIo } from "../../lib/setup/setup_command.ts";
import { rememberedSettings } from "../../lib/setup/remembered_settings.ts";
import { parseToml } from "../../lib/setup/toml_document.ts";
import { runHook } from "../../lib/hooks/hook_command.ts";
import { mcpInitialize, realDenoDir, testBroker } from "../_helpers.ts";
import { waitFor } from "../_wait.ts";
import { filesUnder, FIXTURE_FILES } from "./_fixtures.ts";

const BINARY = "/opt/agent-ipc/bin/agent-ipc";

class Home implements Disposable {
  readonly dir = Deno.makeTempDirSync({ prefix: "agent-ipc-remember-" });
  out = "";
  err = "";
  at(...parts: string[]): string {
    return join(this.dir, ...parts);
  }
  read(rel: string): string {
    return Deno.readTextFileSync(this.at(rel));
  }
  json(rel: string) {
    return JSON.parse(this.read(rel));
  }
  install(): void {
    for (const [rel, text] of Object.values(FIXTURE_FILES)) {
      Deno.mkdirSync(join(this.at(rel), ".."), { recursive: true });
      Deno.writeTextFileSync(this.at(rel), text);
    }
  }
  /** Every file under HOME but the backups, with its content. */
  snapshot(): Record<string, string> {
    return filesUnder(this.dir, (name) => !name.endsWith(".bak"));
  }
  io(env: Record<string, string>, program?: SetupIo["program"]): SetupIo {
    return {
      stdout: (s) => this.out += s,
      stderr: (s) => this.err += s,
      env: { PATH: "", HOME: this.dir, ...env },
      home: this.dir,
      os: "linux",
      isWsl: false,
      cwd: this.dir,
      program: program ?? { standalone: true, execPath: BINARY, mainModule: "file:///x/main.ts" },
    };
  }
  async run(env: Record<string, string>, ...args: string[]): Promise<number> {
    this.out = "";
    this.err = "";
    return await runSetup(args, this.io(env));
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.dir, { recursive: true });
  }
}

/** Every hook command of agent-ipc in a hooks JSON (any layout). */
function hookCommands(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (typeof v === "object" && v !== null) {
      for (const [k, x] of Object.entries(v)) {
        if (k === "command" && typeof x === "string" && / hook /.test(x)) out.push(x);
        else walk(x);
      }
    }
  };
  walk(value);
  return out;
}

Deno.test("rememberedSettings: flags over variables, only what is not the default, paths absolute", () => {
  const env = { HOME: "/home/me", IPC_PORT: "43876", IPC_HOST: "127.0.0.1", IPC_QUEUE_CAP: "10" };
  const r = rememberedSettings(
    env,
    { "data-dir": "state", "tls-ca": "/etc/ca.pem" },
    "/w",
    "linux",
  );
  assert.deepEqual(r.settings, [
    { env: "IPC_PORT", value: "43876", hookFlag: "port" },
    { env: "IPC_DATA_DIR", value: "/w/state", hookFlag: "data-dir" },
    { env: "IPC_TLS_CA", value: "/etc/ca.pem", hookFlag: "tls-ca" },
    { env: "IPC_QUEUE_CAP", value: "10", hookFlag: undefined },
  ]);
  assert.deepEqual(r.warnings, []);
  // The defaults, spelled out, are not written; the default data dir neither.
  const defaults = rememberedSettings(
    { HOME: "/home/me", IPC_PORT: "9876", IPC_DATA_DIR: "/home/me/.local/share/agent-ipc" },
    { store: "sqlite" },
    "/w",
    "linux",
  );
  assert.deepEqual(defaults.settings, []);
  assert.throws(() => rememberedSettings({}, { port: "70000" }, "/w", "linux"), RangeError);
  // A secret's value is never remembered: a warning says how to pass it by reference.
  const secret = rememberedSettings(
    { IPC_SHARED_SECRET: "s3cret", IPC_NATS_TOKEN: "t" },
    {},
    "/",
    "linux",
  );
  assert.deepEqual(secret.settings, []);
  assert.equal(secret.warnings.length, 2);
  assert.match(secret.warnings[0], /--secret-file FILE/);
  assert.match(secret.warnings[1], /--nats-creds FILE/);
});

Deno.test("setup writes the settings it was run with into every entry and hook, and shows them", async () => {
  using home = new Home();
  home.install();
  const before = home.snapshot();
  const secretFile = home.at("secret.txt");
  Deno.writeTextFileSync(secretFile, "s3cret-value\n");
  const env = {
    IPC_PORT: "43876",
    IPC_STORE: "nats://127.0.0.1:4222",
    IPC_SHARED_SECRET: "s3cret-value",
  };
  const args = [
    "all",
    "--data-dir",
    "state",
    "--secret-file",
    "secret.txt",
    "--tls-cert",
    "/etc/agent-ipc/cert.pem",
    "--tls-key",
    "/etc/agent-ipc/key.pem",
  ];
  const code = await home.run(env, ...args);
  assert.equal(code, 0, home.err);
  const dataDir = home.at("state");
  const expectedEnv = {
    IPC_PORT: "43876",
    IPC_DATA_DIR: dataDir,
    IPC_STORE: "nats://127.0.0.1:4222",
    IPC_TLS_CERT: "/etc/agent-ipc/cert.pem",
    IPC_TLS_KEY: "/etc/agent-ipc/key.pem",
    IPC_SHARED_SECRET_FILE: secretFile,
  };
  assert.match(
    home.out,
    new RegExp(
      `\\nSettings written into each MCP entry \\(env\\) and hook \\(flags\\): IPC_PORT=43876 ` +
        `IPC_DATA_DIR=${dataDir} IPC_STORE=nats://127.0.0.1:4222 `,
    ),
  );
  assert.doesNotMatch(home.out, /warning/, "the secret is given by reference");
  const hookArgs = `--port 43876 --data-dir ${dataDir} --secret-file ${secretFile}`;
  for (
    const [rel, key] of [[".claude.json", "claude"], [".gemini/settings.json", "gemini"], [
      ".cursor/mcp.json",
      "cursor",
    ], [".codeium/windsurf/mcp_config.json", "windsurf"]]
  ) {
    const entry = home.json(rel).mcpServers["agent-ipc"];
    assert.deepEqual(entry.env, { ...expectedEnv, IPC_INSTANCE: key }, rel);
  }
  const codex = parseToml(home.read(".codex/config.toml")).value as {
    mcp_servers: Record<string, { env: Record<string, string> }>;
  };
  assert.deepEqual(codex.mcp_servers["agent-ipc"].env, { ...expectedEnv, IPC_INSTANCE: "codex" });
  // Every hook of every assistant carries the settings a hook needs, as flags.
  const hookFiles = [
    ".claude/settings.json",
    ".gemini/settings.json",
    ".codex/hooks.json",
    ".cursor/hooks.json",
    ".codeium/windsurf/hooks.json",
  ];
  let hooks = 0;
  for (const rel of hookFiles) {
    const commands = hookCommands(home.json(rel));
    assert.ok(commands.length > 0, rel);
    for (const command of commands) {
      assert.ok(command.includes(hookArgs), `${rel}: ${command}`);
      hooks++;
    }
  }
  assert.ok(hooks >= 14, `${hooks} hooks`);
  // No file holds the secret's value.
  for (const [path, text] of Object.entries(home.snapshot())) {
    if (path !== secretFile) assert.ok(!text.includes("s3cret-value"), path);
  }
  // Running again with the same settings changes nothing.
  const written = home.snapshot();
  assert.equal(
    await home.run(env, ...args),
    0,
  );
  assert.deepEqual(home.snapshot(), written);
  // A run without them takes them out again (they are setup's, not the user's).
  assert.equal(await home.run({}, "cursor"), 0, home.err);
  assert.deepEqual(home.json(".cursor/mcp.json").mcpServers["agent-ipc"].env, {
    IPC_INSTANCE: "cursor",
  });
  assert.match(home.out, /\nSettings: the defaults/);
  // --remove takes out exactly what was written: the user's files as they were.
  assert.equal(await home.run({}, "all", "--remove"), 0, home.err);
  const after = home.snapshot();
  delete after[secretFile];
  // Exactly: the files setup created (the hook files) are gone again.
  assert.deepEqual(after, before);
});

Deno.test("a secret only in the shell is not written: setup warns and says how", async () => {
  using home = new Home();
  assert.equal(await home.run({ IPC_SHARED_SECRET: "s3cret-value" }, "cursor"), 0, home.err);
  assert.match(home.out, /warning: IPC_SHARED_SECRET is set in this shell, but setup never writes/);
  assert.ok(!home.read(".cursor/mcp.json").includes("s3cret"));
  assert.ok(!home.read(".cursor/hooks.json").includes("s3cret"));
});

Deno.test("a hook reads the settings setup wrote as flags (over the variables)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-ipc-hookflags-" });
  try {
    const dataDir = join(dir, "state");
    const code = await runHook(["claude", "prompt", "--data-dir", dataDir, "--port", "43876"], {
      stdout: () => {},
      stderr: () => {},
      env: { HOME: dir, IPC_DATA_DIR: join(dir, "other") },
      readStdin: () => Promise.resolve(`{"hook_event_name":"UserPromptSubmit"}`),
      ancestors: () => Promise.resolve([]),
    });
    assert.equal(code, 0);
    // The hook found no session, and wrote why into the data dir of its flag.
    const log = await Deno.readTextFile(join(dataDir, "hooks.log"));
    assert.match(log, /"assistant":"claude"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "an MCP server started from the entry alone (no IPC_* in its environment) joins the broker on the remembered port",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await using broker = await testBroker();
    using home = new Home();
    // setup run from a shell that has the broker's port and data dir.
    const env = { IPC_PORT: String(broker.port), IPC_DATA_DIR: broker.dataDir };
    const io = home.io(env, {
      standalone: false,
      execPath: Deno.execPath(),
      mainModule: new URL("../../main.ts", import.meta.url).href,
    });
    assert.equal(await runSetup(["cursor"], io), 0, home.err);
    const entry = home.json(".cursor/mcp.json").mcpServers["agent-ipc"];
    // The assistant starts it from a desktop launcher: only its own variables and the entry's.
    // (DENO_DIR too: a temporary HOME would otherwise send Deno to download the packages.)
    const launcherEnv = { HOME: home.dir, PATH: "/usr/bin:/bin", DENO_DIR: await realDenoDir() };
    const child = new Deno.Command(entry.command, {
      args: entry.args,
      env: { ...launcherEnv, ...entry.env, IPC_NO_HTTP: "1" },
      clearEnv: true,
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const writer = child.stdin.getWriter();
    try {
      await writer.write(
        new TextEncoder().encode(
          JSON.stringify(mcpInitialize("launcher")) + "\n",
        ),
      );
      const client = await AgentClient.connect({
        host: "127.0.0.1",
        port: broker.port,
        dataDir: broker.dataDir,
        role: "none",
        secret: broker.secret,
      });
      await client.register("probe");
      try {
        const names = await waitFor(async () => {
          const list = await client.list();
          return list.some((i) => i.id === "cursor") && list.map((i) => i.id);
        }, { timeout: 30_000, what: `"cursor" to register on port ${broker.port}` });
        assert.ok(names.includes("cursor"));
      } finally {
        await client.close();
      }
    } finally {
      await writer.close().catch(() => {});
      child.kill("SIGTERM");
      await child.status;
      const err = await stderr;
      if (err) console.error(err);
    }
  },
});
