/**
 * `deno task chaos`: the fault, load and hostile-input suite. Runs each
 * scenario against real broker processes (`main.ts broker` on free ports in
 * temp data dirs), prints one row per scenario as a Markdown table row (what
 * was done, how much, messages sent / acknowledged / delivered / lost, errors
 * seen, broker alive, notes), then the failures, if any.
 *
 * Exits 1 on any loss, crash, hang or unauthorised success; 2 on bad usage.
 *
 * Usage:
 *   deno task chaos [--quick] [--seed N] [--only NAME[,NAME]] [--list]
 *
 * `--quick` runs smaller counts (about a minute on 2 cores; what CI runs on
 * every push); the full run takes about 3 minutes. The seed (printed) makes
 * the fuzz run and the kill times reproducible.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { setLogLevel } from "../../lib/log.ts";
import type { Row, Scenario, ScenarioOptions } from "./_common.ts";
import { crash } from "./scenarios/crash.ts";
import { graceful } from "./scenarios/graceful.ts";
import { connections, idle, queueCap, slowReader } from "./scenarios/overload.ts";
import { frames, fuzz, http } from "./scenarios/hostile.ts";
import { identity } from "./scenarios/identity.ts";
import { files } from "./scenarios/files.ts";
import { cluster } from "./scenarios/cluster.ts";
import {
  consoleFlood,
  frozen,
  preauthMemory,
  registerFlood,
  slots,
} from "./scenarios/hardening.ts";
import { askFlood } from "./scenarios/ask_flood.ts";
import { claimsAttack } from "./scenarios/claims_attack.ts";

/** Every scenario, in the order of the issue. */
export const SCENARIOS: Scenario[] = [
  { name: "crash", run: crash },
  { name: "graceful", run: graceful },
  { name: "connections", run: connections },
  { name: "idle", run: idle },
  { name: "slow-reader", run: slowReader },
  { name: "queue-cap", run: queueCap },
  { name: "fuzz", run: fuzz },
  { name: "http", run: http },
  { name: "frames", run: frames },
  { name: "identity", run: identity },
  { name: "files", run: files },
  { name: "console-flood", run: consoleFlood },
  { name: "register-flood", run: registerFlood },
  { name: "frozen", run: frozen },
  { name: "preauth-memory", run: preauthMemory },
  { name: "slots", run: slots },
  { name: "ask-flood", run: askFlood },
  { name: "claims-attack", run: claimsAttack },
  { name: "cluster", run: cluster },
];

const DEFAULT_SEED = 20261121;

const n = (x: number | undefined) => x === undefined ? "-" : String(x);
const cell = (s: string) => s.replaceAll("|", "\\|");

/** One Markdown table row. */
export function formatRow(r: Row): string {
  const ok = r.failures.length === 0;
  return `| ${r.scenario} | ${cell(r.action)} | ${n(r.sent)} | ${n(r.acked)} | ${
    n(r.delivered)
  } | ` +
    `${n(r.lost)} | ${cell(r.errors)} | ${r.alive ? "yes" : "NO"} | ${
      (r.ms / 1000).toFixed(1)
    } s | ` +
    `${ok ? "pass" : "FAIL"} | ${cell(r.notes)} |`;
}

/** The table header. */
export const HEADER = "| scenario | done | sent | acked | delivered | lost | errors seen | " +
  "broker alive | time | result | notes |\n|---|---|---|---|---|---|---|---|---|---|---|";

/** Runs the suite; returns the exit status. */
export async function runChaos(
  args: string[],
  print: (line: string) => void = (l) => console.log(l),
): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        quick: { type: "boolean" },
        seed: { type: "string" },
        only: { type: "string" },
        list: { type: "boolean" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    console.error(`chaos: ${(e as Error).message}`);
    return 2;
  }
  if (values.help) {
    print("Usage: deno task chaos [--quick] [--seed N] [--only NAME[,NAME]] [--list]");
    return 0;
  }
  if (values.list) {
    for (const s of SCENARIOS) print(s.name);
    return 0;
  }
  const seed = values.seed === undefined ? DEFAULT_SEED : Number(values.seed);
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 32 - 1) {
    console.error(`chaos: invalid --seed "${values.seed}": expected a whole number`);
    return 2;
  }
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((o) => !SCENARIOS.some((s) => s.name === o)) ?? [];
  if (unknown.length) {
    console.error(`chaos: unknown scenario ${unknown.join(", ")}: see --list`);
    return 2;
  }
  const opts: ScenarioOptions = { quick: values.quick === true, seed };
  setLogLevel("error"); // the suite's own clients: their retries are expected noise
  const t0 = Date.now();
  print(
    `agent-ipc chaos suite, ${opts.quick ? "quick" : "full"} run, seed ${seed} ` +
      `(deno ${Deno.version.deno}, ${Deno.build.os}/${Deno.build.arch}, ${navigator.hardwareConcurrency} cores)`,
  );
  print("");
  print(HEADER);
  const failed: Row[] = [];
  for (const s of SCENARIOS.filter((s) => !only || only.includes(s.name))) {
    let r: Row;
    try {
      r = await s.run(opts);
    } catch (e) {
      r = {
        scenario: s.name,
        action: "(did not finish)",
        errors: (e as Error).message.slice(0, 200),
        alive: false,
        notes: "",
        ms: 0,
        failures: [`threw: ${(e as Error).stack ?? e}`],
      };
    }
    if (!r.alive && !r.failures.some((f) => /alive|answer|no broker/.test(f))) {
      r.failures.push("no broker answered at the end (crashed?)");
    }
    print(formatRow(r));
    if (r.failures.length) failed.push(r);
  }
  print("");
  print(`total ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  for (const r of failed) {
    print(`FAILED ${r.scenario}:`);
    for (const f of r.failures) print(`  - ${f}`);
  }
  return failed.length ? 1 : 0;
}

if (import.meta.main) {
  Deno.exit(await runChaos(Deno.args));
}
