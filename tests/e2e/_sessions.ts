/**
 * Helpers for tests with interactive sessions: which sessions are online (by
 * the broker's list), when the fake models have gone quiet, what the hooks logged.
 *
 * @module
 */

import { until, type World } from "./_harness.ts";
import type { FakeModel } from "./fake_models/_fake_model.ts";

/** The hooks' log (hooks.log in the data dir), its lines parsed; empty before the first hook ran. */
export async function hookLog(world: World): Promise<Record<string, unknown>[]> {
  const text = await world.read(".local/share/agent-ipc/hooks.log").catch(() => "");
  return text.split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

/** The names online now, other than the test's own agents. */
export async function onlineNames(world: World, except: string[]): Promise<string[]> {
  const r = await world.ipc(["list", "--json"], { as: except[0] });
  if (r.code !== 0) return [];
  const list = JSON.parse(r.stdout).instances as { id: string; online: boolean }[];
  return list.filter((i) => i.online && !except.includes(i.id)).map((i) => i.id).sort();
}

/** Waits until `count` sessions other than `except` are online; returns their names. */
export function sessionsOnline(world: World, count: number, except: string[]): Promise<string[]> {
  return until(
    `${count} session(s) online`,
    async () => {
      const names = await onlineNames(world, except);
      return names.length >= count ? names : undefined;
    },
    45_000,
    250,
  );
}

/** Waits until the model has had no request for `quietMs` (or fails after `timeoutMs`). */
export function quiet(models: FakeModel[], quietMs: number, timeoutMs: number): Promise<number> {
  let last = -1;
  let since = Date.now();
  return until(
    "the sessions to go quiet",
    () => {
      const n = models.reduce((s, m) => s + m.calls.length, 0);
      if (n !== last) {
        last = n;
        since = Date.now();
        return undefined;
      }
      return Date.now() - since >= quietMs ? n : undefined;
    },
    timeoutMs,
    200,
  );
}
