/**
 * The smoke suite (`deno task smoke`): proves agent-ipc runs from a URL and as
 * a single `deno bundle` file. The repository's sources are served over a
 * local HTTP server and the program is run from that URL; then `main.ts` is
 * bundled and the bundle, copied to a directory of its own, passes the same
 * checks with remote and npm imports switched off (it works offline).
 *
 * Prints one row per check and exits 1 when any fails.
 *
 * @module
 */

import { join } from "node:path";
import { VERSION } from "../../lib/version.ts";
import { RUN_FLAGS } from "../../lib/permissions.ts";
import {
  bundleProgram,
  bundleVersion,
  checkAutoBroker,
  checkHelp,
  checkMcp,
  checkMessaging,
  deno,
  serveSources,
  type Target,
} from "./_smoke.ts";

/** The result of one check. */
export interface Row {
  target: string;
  check: string;
  ok: boolean;
  ms: number;
  detail: string;
}

const CHECKS: [string, (t: Target) => Promise<string>][] = [
  ["--help", checkHelp],
  ["mcp", checkMcp],
  ["register+send", checkMessaging],
  ["auto broker", checkAutoBroker],
];

async function timed(
  target: string,
  check: string,
  fn: () => Promise<string>,
  print: (row: Row) => void,
): Promise<Row> {
  const start = performance.now();
  let row: Row;
  try {
    const detail = await fn();
    row = { target, check, ok: true, ms: performance.now() - start, detail };
  } catch (e) {
    row = { target, check, ok: false, ms: performance.now() - start, detail: String(e) };
  }
  print(row);
  return row;
}

/** Formats a row: status, target, check, seconds, detail (indented when multi-line). */
export function formatRow(row: Row): string {
  const [first, ...rest] = row.detail.split("\n");
  const head = `${row.ok ? "PASS" : "FAIL"}  ${row.target.padEnd(7)}${row.check.padEnd(15)}` +
    `${(row.ms / 1000).toFixed(1).padStart(5)} s  ${first}`;
  return [head, ...rest.map((l) => `        ${l}`)].join("\n");
}

/** Runs every check against the URL and the bundle; returns the rows. */
export async function runSmoke(print: (row: Row) => void = () => {}): Promise<Row[]> {
  const rows: Row[] = [];
  const scratch = await Deno.makeTempDir({ prefix: "ipc-smoke-bundle-" });
  try {
    {
      await using server = await serveSources();
      const url: Target = { entry: `${server.url}main.ts` };
      for (const [name, fn] of CHECKS) rows.push(await timed("url", name, () => fn(url), print));
      rows.push(
        await timed("url", "deno bundle", async () => {
          const output = join(scratch, "agent-ipc-from-url.js");
          await bundleProgram(output, scratch, url.entry);
          const version = await bundleVersion(output, scratch);
          if (version !== `agent-ipc ${VERSION}`) throw new Error(`--version printed "${version}"`);
          return `bundled from the URL (--allow-import=${new URL(url.entry).host}): ${version}`;
        }, print),
      );
      rows.push(
        await timed("url", "install -g", async () => {
          // docs/install.md's install from a URL, into a root of its own; then the command runs.
          const root = join(scratch, "install-root");
          const install = await deno(
            ["install", "-g", "-f", "-n", "agent-ipc", ...RUN_FLAGS, url.entry],
            { cwd: scratch, env: { ...Deno.env.toObject(), DENO_INSTALL_ROOT: root } },
          );
          if (install.code !== 0) throw new Error(`deno install -g failed:\n${install.stderr}`);
          const out = await new Deno.Command(join(root, "bin", "agent-ipc"), {
            args: ["--version"],
            cwd: scratch,
            stdout: "piped",
            stderr: "piped",
          }).output();
          const version = new TextDecoder().decode(out.stdout).trim();
          if (version !== `agent-ipc ${VERSION}`) {
            throw new Error(`--version: "${version}" ${new TextDecoder().decode(out.stderr)}`);
          }
          return `${join("install-root", "bin", "agent-ipc")} --version: ${version}`;
        }, print),
      );
      rows.push(
        await timed("url", "served files", () => {
          if (server.refused.length > 0) {
            throw new Error(`requests outside main.ts and lib/: ${server.refused.join(", ")}`);
          }
          const page = [...server.served].filter((f) => f.startsWith("lib/web/page/"));
          if (page.length !== 4) throw new Error(`console page files fetched: ${page.join(", ")}`);
          return Promise.resolve(`${server.served.size} files from main.ts and lib/, none else`);
        }, print),
      );
    }
    const output = join(scratch, "agent-ipc.js");
    const bundled = await timed("bundle", "deno bundle", async () => {
      await bundleProgram(output, scratch);
      const size = (await Deno.stat(output)).size;
      return `${(size / 1024 / 1024).toFixed(2)} MB single file, imports only node: built-ins`;
    }, print);
    rows.push(bundled);
    if (bundled.ok) {
      // No remote or npm module may be fetched: everything is in the file.
      const bundle: Target = { entry: output, flags: ["--no-remote", "--no-npm"] };
      for (const [name, fn] of CHECKS) {
        rows.push(await timed("bundle", name, () => fn(bundle), print));
      }
    }
  } finally {
    await Deno.remove(scratch, { recursive: true }).catch(() => {});
  }
  return rows;
}

/** The whole suite must finish within this; a hung child must not hang CI. */
const SUITE_TIMEOUT_MS = 120_000;

async function main(): Promise<number> {
  const start = performance.now();
  const watchdog = setTimeout(() => {
    console.log(`smoke: FAIL: not finished after ${SUITE_TIMEOUT_MS / 1000} s`);
    Deno.exit(1);
  }, SUITE_TIMEOUT_MS);
  const rows = await runSmoke((row) => console.log(formatRow(row)));
  const failed = rows.filter((r) => !r.ok).length;
  const secs = ((performance.now() - start) / 1000).toFixed(1);
  console.log(
    failed === 0
      ? `smoke: all ${rows.length} checks passed in ${secs} s`
      : `smoke: ${failed} of ${rows.length} checks failed (${secs} s)`,
  );
  clearTimeout(watchdog);
  return failed === 0 ? 0 : 1;
}

if (import.meta.main) {
  Deno.exit(await main());
}
