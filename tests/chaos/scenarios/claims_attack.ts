/**
 * `claims-attack` (issue 24, item 2): claim requests built to make the
 * broker's glob matching explode, against a real broker process, while
 * another client pings it. 3 globs of 120 `**` against 10 stored ones froze
 * the broker for 5-16 s; long star chains were searched pair by pair to a
 * cap each; a 32-alternative glob was accepted and then failed every later
 * claim in its repository; a refusal listed 10,000 conflicts (2.6 MB).
 * Now: `**` runs are folded, limits are checked when claimed, one request's
 * matching is budgeted (E_BAD_FIELD past it), a refusal names 20 conflicts.
 * The figure: the longest a ping waited during the attack (the longest stall
 * of the broker's event loop as other clients feel it).
 *
 * @module
 */

import { AgentClient } from "../../../lib/client/agent_client.ts";
import { FramedClient } from "../../../lib/client/framed_client.ts";
import { MAX_LISTED_CONFLICTS } from "../../../lib/broker/claims.ts";
import { IpcError } from "../../../lib/protocol/errors.ts";
import {
  BrokerProcess,
  brokerStatus,
  bump,
  formatCounts,
  percentile,
  removeDir,
  type Row,
  row,
  type ScenarioOptions,
  tempDir,
} from "../_common.ts";

/** A ping may wait this long during the attack (the machine is shared: 2 cores, ~7 users). */
const MAX_PING_MS = 250;

const globstars = (tail: string) => "**/".repeat(120) + tail;
const stars = (n: number, last: string) => "*a".repeat(n) + "*" + last;
const alternatives = "{a,b}/{c,d}/{e,f}/{g,h}/{i,j}";

export async function claimsAttack(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const rounds = o.quick ? 2 : 6;
  const crowd = o.quick ? 2_000 : 10_000;
  const dir = await tempDir("claims-attack");
  const broker = await BrokerProcess.start(dir);
  const failures: string[] = [];
  const codes: Record<string, number> = {};
  const base = { host: "127.0.0.1", port: broker.port, dataDir: dir, role: "none" as const };
  const mallory = await AgentClient.connect(base);
  const eve = await AgentClient.connect(base);
  const pinger = await FramedClient.connect({ host: "127.0.0.1", port: broker.port });
  // Ping round trips during the glob attack, then while the crowd of claims grows.
  const globPings: number[] = [];
  const crowdPings: number[] = [];
  let pings = globPings;
  let pinging = true;
  let attackRequests = 0;
  let refusalBytes = NaN;
  const expect = async (what: string, p: Promise<unknown>, want: string) => {
    attackRequests++;
    const got = await p.then(() => "ok", (e) => e instanceof IpcError ? e.code : String(e));
    bump(codes, got);
    if (got !== want) failures.push(`${what}: ${got}, not ${want}`);
  };
  try {
    await mallory.register("mallory");
    await eve.register("eve");
    const pingLoop = (async () => {
      while (pinging) {
        const t = performance.now();
        await pinger.request({ action: "ping" });
        pings.push(performance.now() - t);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();

    for (let r = 0; r < rounds; r++) {
      const root = `/attacked/${r}`;
      await expect(
        "10 stored globs of 120 **",
        mallory.claim(root, Array.from({ length: 10 }, (_, i) => globstars(`x${i}.ts`))),
        "ok",
      );
      await expect(
        "a star chain of 241 wildcards",
        mallory.claim(root, [stars(240, "c")]),
        "E_BAD_FIELD",
      );
      await expect(
        "10 stored star chains (31 wildcards, within the limit)",
        mallory.claim(root, Array.from({ length: 10 }, (_, i) => stars(30 - i, "c"))),
        "ok",
      );
      await expect(
        "3 globs of 120 ** against them",
        eve.claim(root, ["a.js", "b.js", "c.js"].map(globstars)),
        "ok",
      );
      await expect(
        "3 star chains against them (past the budget)",
        eve.claim(root, [stars(30, "b"), stars(29, "b"), stars(28, "b")]),
        "E_BAD_FIELD",
      );
      await expect("32 alternatives", eve.claim(root, [alternatives]), "E_BAD_FIELD");
      await expect("an ordinary claim", eve.claim(root, ["src/[a].ts"]), "ok");
    }

    // A crowded repository: the refusal names 20 claims and counts the rest.
    pings = crowdPings;
    const root = "/crowded";
    for (let i = 0; i < crowd; i += 100) {
      const paths = Array.from({ length: 100 }, (_, j) => `src/f${i + j}.ts`);
      await expect("100 more claims", mallory.claim(root, paths), "ok");
    }
    attackRequests++;
    try {
      await eve.claim(root, ["src"]);
      failures.push(`a claim of src over ${crowd} claims was granted`);
    } catch (e) {
      const err = e as IpcError;
      bump(codes, err.code);
      const details = err.details as { conflicts?: unknown[]; more_conflicts?: number };
      refusalBytes = JSON.stringify({ message: err.message, ...details }).length;
      if (details.conflicts?.length !== MAX_LISTED_CONFLICTS) {
        failures.push(`the refusal listed ${details.conflicts?.length} conflicts`);
      }
      if (details.more_conflicts !== crowd - MAX_LISTED_CONFLICTS) {
        failures.push(`the refusal counted ${details.more_conflicts} more`);
      }
    }
    pinging = false;
    await pingLoop;
  } catch (e) {
    failures.push(`attack: ${(e as Error).message}`);
  } finally {
    pinging = false;
    for (const c of [mallory, eve, pinger]) await c[Symbol.asyncDispose]().catch(() => {});
  }
  const worst = Math.max(...globPings);
  if (!(worst < MAX_PING_MS)) {
    failures.push(`a ping waited ${worst.toFixed(0)} ms (at most ${MAX_PING_MS})`);
  }
  const figures = (xs: number[]) =>
    `longest ${Math.max(...xs).toFixed(1)} ms, p99 ${percentile(xs, 99).toFixed(1)} ms, p50 ${
      percentile(xs, 50).toFixed(1)
    } ms`;
  const alive = (await brokerStatus(broker.port)) !== null;
  await broker.stop();
  await removeDir(dir);
  return row("claims-attack", t0, {
    action: `${rounds} rounds of pathological claims (120 "**", star chains, 32 alternatives, ` +
      `241 wildcards), ` +
      `then ${crowd} claims and a claim over them all`,
    sent: attackRequests,
    errors: formatCounts(codes),
    alive,
    notes: `${globPings.length} pings during the glob attack: ${figures(globPings)}; ` +
      `${crowdPings.length} while ${crowd} claims were made (each request reads its repository's ` +
      `claims): ${figures(crowdPings)}; refusal over ${crowd} claims ${refusalBytes} bytes`,
    failures,
  });
}
