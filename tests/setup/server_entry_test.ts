import assert from "node:assert/strict";
import { join } from "node:path";
import { RUN_FLAGS } from "../../lib/permissions.ts";
import {
  buildEntry,
  fileUrlToPath,
  findExecutable,
  mergeEntry,
  resolveLaunch,
} from "../../lib/setup/server_entry.ts";

const DENO = "/opt/deno/bin/deno";

Deno.test("resolveLaunch uses the running compiled binary", async () => {
  const launch = await resolveLaunch({
    os: "linux",
    env: { PATH: "" },
    standalone: true,
    execPath: "/opt/agent-ipc/agent-ipc",
    mainModule: "file:///irrelevant/main.ts",
  });
  assert.deepEqual(launch, { command: "/opt/agent-ipc/agent-ipc", args: ["mcp"] });
});

Deno.test("resolveLaunch prefers an executable agent-ipc on PATH", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const empty = join(dir, "empty");
    const bin = join(dir, "bin");
    await Deno.mkdir(empty);
    await Deno.mkdir(bin);
    // A non-executable file of that name is not an installed binary.
    await Deno.writeTextFile(join(empty, "agent-ipc"), "", { mode: 0o644 });
    await Deno.writeTextFile(join(bin, "agent-ipc"), "#!/bin/sh\n", { mode: 0o755 });
    const env = { PATH: `relative/dir:${empty}:${bin}` };
    assert.equal(findExecutable("agent-ipc", "linux", env), join(bin, "agent-ipc"));
    const launch = await resolveLaunch({
      os: "linux",
      env,
      standalone: false,
      execPath: DENO,
      mainModule: "file:///src/agent-ipc/main.ts",
    });
    assert.deepEqual(launch, { command: join(bin, "agent-ipc"), args: ["mcp"] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveLaunch falls back to deno run with the permission flags", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const main = join(dir, "my dir", "main.ts");
    await Deno.mkdir(join(dir, "my dir"));
    await Deno.writeTextFile(main, "");
    const url = new URL(`file://${main}`).href;
    const base = { os: "linux", env: { PATH: "" }, standalone: false, execPath: DENO } as const;
    assert.deepEqual(await resolveLaunch({ ...base, mainModule: url }), {
      command: DENO,
      args: ["run", ...RUN_FLAGS, main, "mcp"],
    });
    // With a deno.json beside the main module, the server uses it wherever it starts.
    await Deno.writeTextFile(join(dir, "my dir", "deno.json"), "{}");
    assert.deepEqual(await resolveLaunch({ ...base, mainModule: url }), {
      command: DENO,
      args: ["run", ...RUN_FLAGS, "--config", join(dir, "my dir", "deno.json"), main, "mcp"],
    });
    const remote = "https://example.invalid/agent-ipc/main.ts";
    assert.deepEqual(await resolveLaunch({ ...base, mainModule: remote }), {
      command: DENO,
      args: ["run", ...RUN_FLAGS, remote, "mcp"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fileUrlToPath converts for each OS", () => {
  assert.equal(fileUrlToPath("file:///home/me/a%20b/main.ts", "linux"), "/home/me/a b/main.ts");
  assert.equal(fileUrlToPath("file:///C:/Users/me/main.ts", "windows"), "C:\\Users\\me\\main.ts");
  assert.equal(
    fileUrlToPath("file://server/share/main.ts", "windows"),
    "\\\\server\\share\\main.ts",
  );
});

Deno.test("buildEntry adds --name and IPC_INSTANCE, and type for Claude Code", () => {
  const launch = { command: "/bin/agent-ipc", args: ["mcp"] };
  assert.deepEqual(buildEntry(launch, undefined, false), {
    command: "/bin/agent-ipc",
    args: ["mcp"],
  });
  assert.deepEqual(buildEntry(launch, "fred", true), {
    type: "stdio",
    command: "/bin/agent-ipc",
    args: ["mcp", "--name", "fred"],
    env: { IPC_INSTANCE: "fred" },
  });
  assert.deepEqual(launch.args, ["mcp"], "the launch is not modified");
});

Deno.test("mergeEntry keeps the user's fields and env, and drops an emptied env", () => {
  const ours = { command: "c", args: ["mcp"] };
  assert.deepEqual(mergeEntry({ timeout: 5, command: "old", env: { IPC_INSTANCE: "x" } }, ours), {
    timeout: 5,
    command: "c",
    args: ["mcp"],
  });
  assert.deepEqual(
    mergeEntry({ env: { A: "1", IPC_INSTANCE: "x" } }, { ...ours, env: { IPC_INSTANCE: "y" } }),
    {
      env: { A: "1", IPC_INSTANCE: "y" },
      command: "c",
      args: ["mcp"],
    },
  );
  assert.deepEqual(mergeEntry(undefined, ours), ours);
});
