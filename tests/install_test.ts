/**
 * The global command: `deno task install` puts an `agent-ipc` command (with
 * the permission and V8 flags of lib/permissions.ts) into `DENO_INSTALL_ROOT`;
 * run from another directory it works on that directory's repository (a
 * claim names it, not the checkout), `setup` writes it into an assistant's
 * config, and `deno task --config CHECKOUT/deno.json ipc` from that directory
 * claims there too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RUN_FLAGS } from "../lib/permissions.ts";
import { freePort, realDenoDir, shellEnv } from "./_helpers.ts";
import { waitFor } from "./_wait.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

async function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
): Promise<{ code: number; out: string }> {
  // A person's shell: no INIT_CWD of the suite's own `deno task test` (see shellEnv).
  const o = await new Deno.Command(cmd, {
    args,
    cwd,
    env: shellEnv(env),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

async function stopBroker(dataDir: string) {
  try {
    const pid = Number.parseInt(await Deno.readTextFile(join(dataDir, "broker.lock")));
    Deno.kill(pid, "SIGTERM");
    await waitFor(() => {
      try {
        Deno.kill(pid, "SIGCONT");
        return false;
      } catch {
        return true;
      }
    }, { timeout: 5_000, what: "the background broker to exit" }).catch(() => {});
  } catch { /* none started */ }
}

Deno.test("deno task install: a global agent-ipc that works from any directory", async () => {
  const tmp = await Deno.realPath(await Deno.makeTempDir({ prefix: "ipc-install-" }));
  const installRoot = join(tmp, "deno-root");
  const project = join(tmp, "proj");
  const src = join(project, "src");
  const home = join(tmp, "home");
  await Deno.mkdir(src, { recursive: true });
  await Deno.mkdir(join(home, ".claude"), { recursive: true });
  const git = await run("git", ["init", "-q", project], tmp, { PATH: Deno.env.get("PATH")! });
  assert.equal(git.code, 0, git.out);
  const base: Record<string, string> = {
    PATH: `${join(installRoot, "bin")}:${Deno.env.get("PATH")}`,
    HOME: home,
    DENO_DIR: await realDenoDir(), // the temporary HOME would move Deno's cache
    NO_COLOR: "1",
  };
  const env = {
    ...base,
    IPC_PORT: String(freePort()),
    IPC_HTTP_PORT: "0",
    IPC_DATA_DIR: join(tmp, "data"),
    IPC_SESSION_FILE: join(tmp, "session"),
    IPC_LOG: "warn",
  };
  try {
    const install = await run(Deno.execPath(), ["task", "-q", "install"], ROOT, {
      ...base,
      DENO_INSTALL_ROOT: installRoot,
    });
    assert.equal(install.code, 0, install.out);
    const bin = join(installRoot, "bin", "agent-ipc");
    const shim = await Deno.readTextFile(bin);
    for (const flag of RUN_FLAGS) assert.ok(shim.includes(flag), `the command lacks ${flag}`);

    const version = await run(bin, ["--version"], src, env);
    assert.equal(version.code, 0, version.out);
    assert.match(version.out, /^agent-ipc \d+\.\d+\.\d+/);

    // From a subfolder of another repository: the claim is that repository's.
    assert.equal((await run("agent-ipc", ["register", "alice"], src, env)).code, 0);
    const claim = await run("agent-ipc", ["claim", "a.ts", "--json"], src, env);
    assert.equal(claim.code, 0, claim.out);
    const claimed = JSON.parse(claim.out.slice(claim.out.indexOf("{")));
    assert.deepEqual(claimed.claims.map((c: { path: string }) => c.path), ["src/a.ts"]);
    assert.ok(!claim.out.includes(ROOT), `claimed in the checkout: ${claim.out}`);

    // `deno task ipc` with the checkout's config, from the same folder: the same repository.
    const viaTask = await run(
      Deno.execPath(),
      ["task", "-q", "--config", join(ROOT, "deno.json"), "ipc", "claim", "b.ts", "--json"],
      src,
      env,
    );
    assert.equal(viaTask.code, 0, viaTask.out);
    const viaTaskDoc = JSON.parse(viaTask.out.slice(viaTask.out.indexOf("{")));
    assert.deepEqual(viaTaskDoc.claims.map((c: { path: string }) => c.path), ["src/b.ts"]);
    assert.equal(viaTaskDoc.root, claimed.root);

    // setup writes the installed command into the assistant's config.
    const setup = await run("agent-ipc", ["setup", "claude", "--name", "claude"], src, env);
    assert.equal(setup.code, 0, setup.out);
    const config = JSON.parse(await Deno.readTextFile(join(home, ".claude.json")));
    const entry = config.mcpServers["agent-ipc"];
    assert.equal(entry.command, bin);
    assert.equal(entry.args[0], "mcp");
  } finally {
    await stopBroker(env.IPC_DATA_DIR);
    await Deno.remove(tmp, { recursive: true });
  }
});
