import assert from "node:assert/strict";
import { join } from "node:path";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { detectWsl } from "../../lib/setup/deno_io.ts";

const MAIN = new URL("./_setup_main.ts", import.meta.url).pathname;

/** This Deno's cache, so the child (with a temp HOME) finds the npm packages offline. */
async function denoDir(): Promise<string> {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
  })
    .output();
  return JSON.parse(new TextDecoder().decode(info.stdout)).denoDir;
}

async function setup(args: string[], env: Record<string, string>, cwd: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, MAIN, ...args],
    env: { NO_COLOR: "1", DENO_DIR: await denoDir(), ...env },
    clearEnv: true,
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}

Deno.test("setup in a real process: HOME, PATH, cwd and exit codes come from the environment", async () => {
  const home = await Deno.makeTempDir();
  try {
    const bin = join(home, "bin");
    await Deno.mkdir(bin);
    await Deno.writeTextFile(join(bin, "agent-ipc"), "#!/bin/sh\n", { mode: 0o755 });
    await Deno.mkdir(join(home, "proj"));
    const env = { HOME: home, PATH: bin };

    const added = await setup(["cursor", "--name", "fred"], env, home);
    assert.equal(added.code, 0, added.stderr);
    assert.match(
      added.stdout,
      new RegExp(`^MCP server command: ${join(bin, "agent-ipc")} mcp --name fred\\n`),
    );
    const config = JSON.parse(await Deno.readTextFile(join(home, ".cursor", "mcp.json")));
    assert.deepEqual(config.mcpServers["agent-ipc"], {
      command: join(bin, "agent-ipc"),
      args: ["mcp", "--name", "fred"],
      env: { IPC_INSTANCE: "fred" },
    });

    const again = await setup(["cursor", "--name", "fred"], env, home);
    assert.equal(again.code, 0);
    assert.match(again.stdout, /Cursor: already configured in /);

    // --project is resolved against the working directory.
    const project = await setup(["claude", "--project", "proj"], env, home);
    assert.equal(project.code, 0, project.stderr);
    assert.ok((await Deno.stat(join(home, "proj", ".mcp.json"))).isFile);

    const usage = await setup(["emacs"], env, home);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /Unknown assistant "emacs"/);
    assert.equal(usage.stdout, "");

    const noHome = await setup(["cursor"], { PATH: bin }, home);
    assert.equal(noHome.code, 1);
    assert.match(noHome.stderr, /cannot find the home directory \(set HOME\)/);
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("detectWsl reads the WSL variables and the kernel release", async () => {
  assert.equal(detectWsl({ WSL_DISTRO_NAME: "Ubuntu" }, "/nonexistent"), true);
  assert.equal(detectWsl({ WSL_INTEROP: "/run/WSL/1_interop" }, "/nonexistent"), true);
  assert.equal(detectWsl({}, "/nonexistent"), false);
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(dir, "wsl"), "5.15.153.1-microsoft-standard-WSL2\n");
    await Deno.writeTextFile(join(dir, "linux"), "6.1.0-18-amd64\n");
    assert.equal(detectWsl({}, join(dir, "wsl")), true);
    assert.equal(detectWsl({}, join(dir, "linux")), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
