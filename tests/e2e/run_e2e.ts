/**
 * `deno task e2e`: installs the pinned assistant CLIs when missing (npm, into
 * the cache dir), then runs the e2e tests. Where the OS allows it (Linux with
 * `unshare` and `ip`), the tests run in a network namespace of their own that
 * has only the loopback interface, so nothing the CLIs do can leave the
 * machine; elsewhere they rely on the CLIs' settings (base URLs on
 * 127.0.0.1, telemetry and update checks off).
 *
 * Usage: deno task e2e [--install-only] [--filter PATTERN] [FILE...]
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { type CliId, ensureCli, PINNED } from "./_harness.ts";

const HERE = fileURLToPath(new URL(".", import.meta.url));

async function works(cmd: string[]): Promise<boolean> {
  try {
    const out = await new Deno.Command(cmd[0], {
      args: cmd.slice(1),
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** The command prefix that runs a program with loopback only, or [] when unavailable. */
export async function isolation(): Promise<string[]> {
  if (Deno.build.os !== "linux" || Deno.env.get("AGENT_IPC_E2E_NO_NETNS")) return [];
  const root = Deno.uid() === 0;
  const unshare = root ? ["unshare", "--net"] : ["unshare", "--net", "--map-root-user"];
  const probe = [...unshare, "sh", "-c", "ip link set lo up"];
  if (!await works(probe)) return [];
  return [...unshare, "sh", "-c", 'ip link set lo up && exec "$@"', "e2e"];
}

/** Installs the CLIs, then runs the e2e test files; returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const t0 = Date.now();
  for (const id of Object.keys(PINNED) as CliId[]) {
    const bin = await ensureCli(id);
    console.log(`e2e: ${PINNED[id].pkg}@${PINNED[id].version} at ${bin}`);
  }
  console.log(`e2e: CLIs ready in ${Date.now() - t0} ms`);
  if (args.includes("--install-only")) return 0;
  const files = args.filter((a) => a.endsWith(".ts"));
  const rest = args.filter((a) => !a.endsWith(".ts"));
  if (files.length === 0) {
    for await (const e of Deno.readDir(HERE)) {
      if (e.name.endsWith("_e2e.ts")) files.push(HERE + e.name);
    }
    files.sort();
  }
  const prefix = await isolation();
  console.log(prefix.length ? "e2e: loopback-only network namespace" : "e2e: no network namespace");
  const cmd = [
    ...prefix,
    Deno.execPath(),
    "test",
    "--allow-all",
    "--no-check",
    // Two files at a time: the tests mostly wait for the assistants and the fake models (a serial
    // run was 6.5 min with about 30% of one core busy), and each has its own HOME, broker and ports.
    ...(files.length > 1 ? ["--parallel"] : []),
    ...rest,
    ...files,
  ];
  const out = await new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    stdin: "null",
    env: { DENO_JOBS: Deno.env.get("DENO_JOBS") || "2" },
  }).spawn().status;
  console.log(`e2e: finished in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return out.code;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
