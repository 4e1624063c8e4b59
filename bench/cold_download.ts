/**
 * What a new user's first run costs (`deno task bench-cold`): `deno run main.ts`
 * with the permission flags of `deno task start`, from this checkout, with an
 * empty Deno cache (a fresh `DENO_DIR`), against the real npm registry. Deno's
 * requests go through a CONNECT proxy on loopback that counts the bytes, so
 * the figure is what crossed the network (TLS included), not what the cache
 * holds after unpacking, which is reported beside it. Then `deno compile` of
 * main.ts from that cache, as `deno task compile` runs it, reports its embedded files (the payload a binary
 * carries beside the runtime); `DENORT_BIN` is set to this `deno`, as the
 * real runtime cannot be downloaded here, so the binary itself is thrown away.
 *
 * Exits 1 when a figure is over its ceiling (`--max-mb`, `--max-s`,
 * `--max-compile-mb`): the guard against test packages creeping back into
 * the runtime's lock. `--json PATH` writes the figures.
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";
import { RUN_FLAGS } from "../lib/permissions.ts";
import { excludeFlags } from "../lib/release/compile.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/** The hosts the proxy lets Deno reach: the npm registry only. */
const ALLOWED = /^registry\.npmjs\.org:443$/;

/** A loopback CONNECT proxy that counts the bytes it relays. */
function countingProxy() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const totals = { down: 0, up: 0, tunnels: 0, refused: [] as string[] };
  const pipe = async (
    from: Deno.Conn,
    to: Deno.Conn,
    count: (n: number) => void,
  ) => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (;;) {
        const n = await from.read(buf);
        if (n === null) break;
        count(n);
        let off = 0;
        while (off < n) off += await to.write(buf.subarray(off, n));
      }
    } catch { /* a side closed */ }
    try {
      to.closeWrite();
    } catch { /* already closed */ }
  };
  const serve = async (client: Deno.Conn) => {
    let head = "";
    const buf = new Uint8Array(4096);
    while (!head.includes("\r\n\r\n")) {
      const n = await client.read(buf);
      if (n === null) return client.close();
      head += new TextDecoder().decode(buf.subarray(0, n));
    }
    const target = /^CONNECT (\S+) HTTP/.exec(head)?.[1] ?? "";
    if (!ALLOWED.test(target)) {
      totals.refused.push(target);
      await client.write(new TextEncoder().encode("HTTP/1.1 403 Forbidden\r\n\r\n"));
      return client.close();
    }
    const [hostname, port] = target.split(":");
    const upstream = await Deno.connect({ hostname, port: Number(port) });
    totals.tunnels++;
    await client.write(new TextEncoder().encode("HTTP/1.1 200 Connection Established\r\n\r\n"));
    await Promise.all([
      pipe(client, upstream, (n) => totals.up += n),
      pipe(upstream, client, (n) => totals.down += n),
    ]);
    client.close();
    upstream.close();
  };
  (async () => {
    for await (const c of listener) serve(c).catch(() => c.close());
  })().catch(() => {});
  return { port: (listener.addr as Deno.NetAddr).port, totals, close: () => listener.close() };
}

/** Bytes under a directory, and how many npm packages it holds. */
async function cacheSize(dir: string): Promise<{ bytes: number; packages: number }> {
  let bytes = 0;
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(d)) {
      const p = join(d, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) bytes += (await Deno.lstat(p)).size;
    }
  };
  await walk(dir);
  let packages = 0;
  const registry = join(dir, "npm", "registry.npmjs.org");
  const count = async (d: string, depth: number): Promise<void> => {
    for await (const e of Deno.readDir(d)) {
      if (!e.isDirectory) continue;
      if (e.name.startsWith("@") && depth === 0) await count(join(d, e.name), 1);
      else {
        for await (const v of Deno.readDir(join(d, e.name))) if (v.isDirectory) packages++;
      }
    }
  };
  await count(registry, 0).catch(() => {});
  return { bytes, packages };
}

const MB = 1_000_000;

/**
 * Runs `deno task start` until it prints that it serves (then SIGTERM); false
 * when it exits or takes over 120 s first.
 */
async function taskStart(env: Record<string, string>, dir: string): Promise<boolean> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "start"],
    cwd: ROOT,
    env: {
      ...env,
      IPC_PORT: String(port),
      IPC_HTTP_PORT: "0",
      IPC_DATA_DIR: join(dir, "data"),
      IPC_LOG: "warn",
    },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => child.kill("SIGTERM"), 120_000);
  let out = "";
  let served = false;
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    out += chunk;
    if (out.includes("serving on")) {
      served = true;
      break;
    }
  }
  clearTimeout(timer);
  try {
    child.kill("SIGTERM");
  } catch { /* exited */ }
  await child.status;
  return served;
}

/** Measures, prints a table, and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      "max-mb": { type: "string", default: "25" },
      "max-s": { type: "string", default: "" },
      "no-task": { type: "boolean", default: false },
      "max-compile-mb": { type: "string", default: "20" },
      "no-compile": { type: "boolean", default: false },
      json: { type: "string" },
    },
  });
  const denoDir = await Deno.makeTempDir({ prefix: "agent-ipc-cold-" });
  const proxy = countingProxy();
  const env = {
    DENO_DIR: denoDir,
    HTTPS_PROXY: `http://127.0.0.1:${proxy.port}`,
    NO_PROXY: "",
    NO_COLOR: "1",
    DENO_NO_UPDATE_CHECK: "1",
  };
  try {
    const t0 = performance.now();
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...RUN_FLAGS, "main.ts", "--version"],
      cwd: ROOT,
      env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const seconds = (performance.now() - t0) / 1000;
    const stderr = new TextDecoder().decode(run.stderr);
    if (run.code !== 0) {
      console.error(`deno run main.ts --version failed:\n${stderr}`);
      return 1;
    }
    const cache = await cacheSize(denoDir);
    const figures: Record<string, number | string | boolean> = {
      download_mb: +(proxy.totals.down / MB).toFixed(1),
      upload_mb: +(proxy.totals.up / MB).toFixed(2),
      tls_connections: proxy.totals.tunnels,
      seconds: +seconds.toFixed(1),
      cache_mb: +(cache.bytes / MB).toFixed(1),
      npm_packages: cache.packages,
      build_scripts_warning: /Ignored build scripts/i.test(stderr),
    };
    if (proxy.totals.refused.length) figures.refused = proxy.totals.refused.join(" ");
    // `deno task start` on another empty cache: `deno task` caches every package of the lock
    // before it runs the task, its own way (measured slower than `deno run`'s).
    const taskDir = values["no-task"]
      ? ""
      : await Deno.makeTempDir({ prefix: "agent-ipc-cold-task-" });
    const down0 = proxy.totals.down;
    if (taskDir) {
      try {
        const t1 = performance.now();
        const served = await taskStart({ ...env, DENO_DIR: taskDir }, taskDir);
        figures.task_start_seconds = +((performance.now() - t1) / 1000).toFixed(1);
        figures.task_start_download_mb = +((proxy.totals.down - down0) / MB).toFixed(1);
        if (!served) {
          console.error("deno task start did not print its banner within 120 s");
          return 1;
        }
      } finally {
        if (taskDir) await Deno.remove(taskDir, { recursive: true }).catch(() => {});
      }
    }
    if (!values["no-compile"]) {
      const out = join(denoDir, "agent-ipc-payload-probe");
      const compile = await new Deno.Command(Deno.execPath(), {
        // As `deno task compile` builds the release binaries.
        args: [
          "compile",
          "--output",
          out,
          ...excludeFlags(join(denoDir, "npm")),
          ...RUN_FLAGS,
          "main.ts",
        ],
        cwd: ROOT,
        env: { ...env, DENORT_BIN: Deno.execPath() },
        stdout: "piped",
        stderr: "piped",
      }).output();
      const text = new TextDecoder().decode(compile.stdout) +
        new TextDecoder().decode(compile.stderr);
      const files = /Files:\s*([\d.]+)\s*(KB|MB|GB)/.exec(text);
      if (compile.code !== 0 || !files) {
        console.error(`deno compile failed:\n${text.slice(-2000)}`);
        return 1;
      }
      const scale = { KB: 1e-3, MB: 1, GB: 1e3 }[files[2] as "KB" | "MB" | "GB"];
      figures.compile_payload_mb = +(Number(files[1]) * scale).toFixed(2);
    }
    const deno = Deno.version.deno;
    console.log(`First run on an empty Deno cache (deno ${deno}, npm registry over the network):`);
    for (const [k, v] of Object.entries(figures)) console.log(`  ${k.padEnd(22)} ${v}`);
    if (values.json) {
      await Deno.writeTextFile(
        values.json,
        JSON.stringify({ date: new Date().toISOString(), deno, ...figures }, null, 2) + "\n",
      );
    }
    const over: string[] = [];
    if (+figures.download_mb > Number(values["max-mb"])) {
      over.push(`download ${figures.download_mb} MB > ${values["max-mb"]} MB`);
    }
    if (values["max-s"] && +figures.seconds > Number(values["max-s"])) {
      over.push(`${figures.seconds} s > ${values["max-s"]} s`);
    }
    if (
      figures.compile_payload_mb !== undefined &&
      +figures.compile_payload_mb > Number(values["max-compile-mb"])
    ) {
      over.push(
        `compile payload ${figures.compile_payload_mb} MB > ${values["max-compile-mb"]} MB`,
      );
    }
    if (figures.build_scripts_warning) over.push(`"Ignored build scripts" warning`);
    for (const o of over) console.error(`over the ceiling: ${o}`);
    return over.length ? 1 : 0;
  } finally {
    proxy.close();
    await Deno.remove(denoDir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
