/**
 * Files, with the real program: every file the broker writes (secret, lock,
 * store with -wal and -shm, large messages, log) is 0600 in 0700 directories;
 * instance names cannot steer a path out of the data dir; a world-writable,
 * corrupt or read-only data dir ends the broker at once with a clear message
 * (exit 1, no stack trace), and a client that spawns a background broker
 * reports that message instead of retrying into a crash loop.
 *
 * @module
 */

import { join } from "node:path";
import { AgentClient } from "../../../lib/client/agent_client.ts";
import { FramedClient } from "../../../lib/client/framed_client.ts";
import { PERMISSION_FLAGS } from "../../../lib/permissions.ts";
import { START_FAILED } from "../../../lib/client/spawn.ts";
import { brokerLog, countEvents } from "../../_helpers.ts";
import {
  BrokerProcess,
  brokerStatus,
  freePort,
  MAIN,
  prover,
  removeDir,
  type Row,
  row,
  type ScenarioOptions,
  tempDir,
} from "../_common.ts";

async function failedStart(dataDir: string): Promise<{ code: number; stderr: string; ms: number }> {
  const t0 = Date.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...PERMISSION_FLAGS,
      MAIN,
      "broker",
      "--port",
      String(freePort()),
      "--data-dir",
      dataDir,
      "--no-http",
    ],
    env: { IPC_SHARED_SECRET: "" },
    stdout: "null",
    stderr: "piped",
    signal: AbortSignal.timeout(30_000),
  }).output();
  return {
    code: out.code,
    stderr: new TextDecoder().decode(out.stderr).trim(),
    ms: Date.now() - t0,
  };
}

function clear(r: { code: number; stderr: string }, pattern: RegExp): boolean {
  return r.code === 1 && pattern.test(r.stderr) && !/Uncaught|\.ts:\d+:\d+/.test(r.stderr);
}

async function walk(dir: string, out: { path: string; dir: boolean; mode: number }[] = []) {
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    const info = await Deno.lstat(path);
    out.push({ path, dir: info.isDirectory, mode: (info.mode ?? 0) & 0o777 });
    if (info.isDirectory) await walk(path, out);
  }
  return out;
}

/** Runs the files scenario. */
export async function files(_o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const parent = await tempDir("files");
  const failures: string[] = [];
  const checks: string[] = [];
  let passed = 0;
  const check = (what: string, ok: boolean, detail = "") => {
    checks.push(what);
    if (ok) passed++;
    else failures.push(`${what}${detail ? `: ${detail}` : ""}`);
  };
  let alive = false;
  try {
    // 1. Modes, after real use: a large message, and the log in the data dir.
    const dataDir = join(parent, "data");
    const broker = await BrokerProcess.start(dataDir, {
      args: ["--log-file", join(dataDir, "broker.log")],
    });
    const auth = await prover(dataDir);
    const c = await FramedClient.connect({ host: "127.0.0.1", port: broker.port });
    await c.request({ action: "register", instance_id: "writer", auth_token: auth("writer") });
    const big = await c.request({
      action: "send",
      to_id: "writer",
      message: { content: "long ".repeat(5_000) },
    });
    // 2. Names that would escape: all refused before any path is built.
    const evil = ["../x", "..", "a/b", "/etc/passwd", "a\\b", ".", "x\u0000", "~root"];
    let refused = 0;
    for (const name of evil) {
      const r = await c.requestRaw({
        action: "register",
        instance_id: name,
        auth_token: auth(name),
      });
      const s = await c.requestRaw({
        action: "send",
        to_id: name,
        message: { content: "z".repeat(11_000) },
      });
      if (r.code === "E_BAD_NAME" && s.code === "E_BAD_NAME") refused++;
    }
    check(
      "names that would escape are refused",
      refused === evil.length,
      `${refused}/${evil.length}`,
    );
    c.close();
    await c.closed;
    alive = (await brokerStatus(broker.port)) !== null;
    const entries = await walk(dataDir);
    const loose = entries.filter((e) => e.mode !== (e.dir ? 0o700 : 0o600));
    check(
      `${entries.length} files and directories private (0600/0700)`,
      loose.length === 0 && entries.length >= 7,
      loose.map((e) => `${e.path} ${e.mode.toString(8)}`).join(", "),
    );
    const path = (big.large as { path: string } | undefined)?.path ?? "";
    check(
      "large message inside the data dir",
      path.startsWith(join(dataDir, "large-messages") + "/"),
    );
    check("data dir 0700", ((await Deno.stat(dataDir)).mode! & 0o777) === 0o700);
    await broker.stop();

    // 3. A world-writable data dir.
    const open = join(parent, "open");
    await Deno.mkdir(open);
    await Deno.chmod(open, 0o777);
    const ww = await failedStart(open);
    check("world-writable data dir: clear error", clear(ww, /world-writable/), ww.stderr);

    // 4. A corrupt store.
    const corrupt = join(parent, "corrupt");
    await Deno.mkdir(corrupt, { mode: 0o700 });
    await Deno.writeTextFile(join(corrupt, "agent-ipc.db"), "garbage ".repeat(1000));
    const cr = await failedStart(corrupt);
    check("corrupt store: clear error", clear(cr, /Cannot open store .*agent-ipc\.db/), cr.stderr);

    // 5. A read-only data dir (root ignores modes: use the immutable flag there).
    const ro = join(parent, "readonly");
    await Deno.mkdir(ro, { mode: 0o700 });
    let undo: (() => Promise<unknown>) | undefined;
    if (Deno.uid() === 0) {
      const ok = await new Deno.Command("chattr", { args: ["+i", ro], stderr: "null" }).output()
        .then((r) => r.success, () => false);
      if (ok) undo = () => new Deno.Command("chattr", { args: ["-i", ro] }).output();
    } else {
      await Deno.chmod(ro, 0o500);
      undo = () => Deno.chmod(ro, 0o700);
    }
    let roNote = "read-only: skipped (root without chattr)";
    if (undo) {
      const r = await failedStart(ro);
      await undo();
      check("read-only data dir: clear error", clear(r, /cannot start: Cannot/), r.stderr);
      roNote = `read-only: exit ${r.code} in ${r.ms} ms`;
    }

    // 6. A CLI-like client (role spawn) on the corrupt data dir: the reason, at once, once.
    const t = Date.now();
    let spawnError = "";
    try {
      const client = await AgentClient.connect({
        host: "127.0.0.1",
        port: freePort(),
        dataDir: corrupt,
        role: "spawn",
        spawnArgs: ["--no-http"],
        timeoutMs: 15_000,
      });
      await client.close();
    } catch (e) {
      spawnError = (e as Error).message;
    }
    const spawnMs = Date.now() - t;
    await new Promise((r) => setTimeout(r, 500));
    const starts = countEvents(await brokerLog(corrupt), START_FAILED);
    check(
      "spawning client reports the reason at once, no restart loop",
      /could not start: Cannot open store/.test(spawnError) && spawnMs < 10_000 && starts === 1,
      `${spawnMs} ms, ${starts} starts: ${spawnError}`,
    );
    return row("files", t0, {
      action: `${checks.length} checks: modes after real use, ${evil.length} escaping names, ` +
        "world-writable / corrupt / read-only data dirs, a spawning client",
      errors: "none",
      alive,
      notes:
        `${passed}/${checks.length} passed; corrupt store: exit ${cr.code} in ${cr.ms} ms; ${roNote}; ` +
        `spawning client told why in ${spawnMs} ms after 1 start`,
      failures,
    });
  } finally {
    await removeDir(parent);
  }
}
