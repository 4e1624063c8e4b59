/**
 * The command hints print is one a person can copy: the installed
 * `agent-ipc`, the running binary, `deno task ipc` in the checkout (with
 * `--config` from elsewhere), or the exact `deno run` line.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { selfCommand, type SelfContext, shellWord } from "../lib/self_command.ts";
import { RUN_FLAGS } from "../lib/permissions.ts";
import { realDenoDir, shellEnv, startBanner } from "./_helpers.ts";

const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

function ctx(over: Partial<SelfContext>): SelfContext {
  return {
    os: "linux",
    env: { PATH: "/nonexistent" },
    standalone: false,
    execPath: "/usr/bin/deno",
    mainModule: `file://${ROOT}/main.ts`,
    cwd: ROOT,
    ...over,
  };
}

Deno.test("selfCommand: the installed agent-ipc, the binary, the task, or deno run", async () => {
  const bin = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(join(bin, "agent-ipc"), "#!/bin/sh\n", { mode: 0o755 });
    assert.equal(selfCommand(ctx({ env: { PATH: bin } })), "agent-ipc");
    // A compiled binary: its name when PATH finds it, else its path.
    assert.equal(
      selfCommand(ctx({ standalone: true, execPath: join(bin, "agent-ipc") })),
      join(bin, "agent-ipc"),
    );
    assert.equal(
      selfCommand(
        ctx({ standalone: true, execPath: join(bin, "agent-ipc"), env: { PATH: bin } }),
      ),
      "agent-ipc",
    );
  } finally {
    await Deno.remove(bin, { recursive: true });
  }
  assert.equal(selfCommand(ctx({})), "deno task ipc");
  assert.equal(selfCommand(ctx({ cwd: join(ROOT, "lib") })), "deno task ipc");
  assert.equal(
    selfCommand(ctx({ cwd: "/" })),
    `deno task --config ${shellWord(join(ROOT, "deno.json"))} ipc`,
  );
  const url = "https://example.com/agent-ipc/v1.0.0/main.ts";
  assert.equal(
    selfCommand(ctx({ mainModule: url })),
    ["deno", "run", ...RUN_FLAGS, url].join(" "),
  );
  assert.equal(shellWord("/a b/c"), "'/a b/c'");
});

Deno.test("the broker's banner prints the command it was started with", async () => {
  // From the checkout, with no agent-ipc on PATH: `deno task ipc`, copyable as printed.
  const dataDir = await Deno.makeTempDir();
  try {
    await startBanner({
      PATH: "/usr/bin:/bin",
      DENO_DIR: await realDenoDir(),
      IPC_PORT: "0",
      IPC_DATA_DIR: dataDir,
      IPC_HTTP_PORT: "0",
      IPC_LOG: "warn",
    }, (out) => {
      assert.match(out, /deno task ipc setup all/);
      assert.match(out, /deno task ipc register NAME/);
      assert.doesNotMatch(out, /[^-]agent-ipc register/);
    });
  } finally {
    await Deno.remove(dataDir, { recursive: true });
  }
});

Deno.test("the CLI's hints name the command it was run with", async () => {
  const base = {
    PATH: "/usr/bin:/bin", // no agent-ipc installed
    DENO_DIR: await realDenoDir(),
    IPC_SESSION_FILE: "/nonexistent/agent-ipc.session",
    IPC_PORT: "1",
    NO_COLOR: "1",
  };
  const inCheckout = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "ipc", "whoami"],
    cwd: ROOT,
    env: shellEnv(base),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(inCheckout.stderr);
  assert.equal(inCheckout.code, 1, err);
  assert.match(err, /not registered: run "deno task ipc register NAME" first/);
  const elsewhere = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "--config", join(ROOT, "deno.json"), "ipc", "check", "--bogus"],
    cwd: "/",
    env: shellEnv(base),
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(elsewhere.code, 2);
  assert.match(
    new TextDecoder().decode(elsewhere.stderr),
    new RegExp(`Run "deno task --config ${join(ROOT, "deno.json")} ipc check --help" for usage`),
  );
});
