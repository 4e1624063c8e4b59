/**
 * Claude Code's `crossSessionInbound` setting as Claude Code itself settles
 * it, read from its settings files: what the person allows other sessions
 * (and agent-ipc's wake nudge on its inbox socket) to do to an idle session.
 *
 * - `"accept"` (or unset): a message on the socket starts a turn;
 * - `"hold"`: Claude Code parks it and shows the person a "Held peer message"
 *   to review; no turn starts until the person approves it;
 * - `"refuse"`: Claude Code drops it (only its debug log says so).
 *
 * The socket answers nothing in any of the three cases (Claude Code 2.1.328),
 * so the wake hook reads the setting rather than the socket. The order is
 * Claude Code's own (2.1.328): the first of managed settings, then user
 * settings that sets it; then a repository's `.claude/settings.local.json`
 * and `.claude/settings.json` may only tighten it; a value it does not know
 * holds messages unless something stricter refuses them. Not seen here: a
 * `--settings` file and `--setting-sources` on Claude Code's command line.
 *
 * @module
 */

import { join } from "node:path";

/** The values Claude Code knows, least strict first. */
export const INBOUND_VALUES = ["accept", "hold", "refuse"] as const;

/** A `crossSessionInbound` value. */
export type InboundValue = typeof INBOUND_VALUES[number];

/** One settings file and what it says (undefined: it does not set it, or is absent). */
export interface InboundLayer {
  source: "managed" | "user" | "local" | "project";
  path: string;
  value: unknown;
}

/** The effective setting and the file that decided it. */
export interface InboundSetting {
  value: InboundValue;
  /** "default" when nothing sets it; "invalid" when an unknown value holds messages. */
  source: InboundLayer["source"] | "default" | "invalid";
  path?: string;
}

const RANK: Readonly<Record<InboundValue, number>> = { accept: 0, hold: 1, refuse: 2 };

function known(value: unknown): value is InboundValue {
  return typeof value === "string" && (INBOUND_VALUES as readonly string[]).includes(value);
}

/**
 * The effective value of `layers` (managed and user first, then the
 * repository's), as Claude Code 2.1.328 settles it.
 *
 * @example
 * ```ts
 * effectiveInbound([
 *   { source: "user", path: "~/.claude/settings.json", value: "accept" },
 *   { source: "project", path: ".claude/settings.json", value: "hold" },
 * ]);
 * // { value: "hold", source: "project", path: ".claude/settings.json" }
 * ```
 */
export function effectiveInbound(layers: readonly InboundLayer[]): InboundSetting {
  let found: InboundSetting | undefined;
  for (const l of layers) {
    if ((l.source === "managed" || l.source === "user") && !found && known(l.value)) {
      found = { value: l.value, source: l.source, path: l.path };
    }
  }
  for (const l of layers) {
    if ((l.source === "local" || l.source === "project") && known(l.value)) {
      if (RANK[l.value] > RANK[found?.value ?? "accept"]) {
        found = { value: l.value, source: l.source, path: l.path };
      }
    }
  }
  const invalid = layers.find((l) => l.value !== undefined && !known(l.value));
  if (invalid && RANK[found?.value ?? "accept"] < RANK.hold) {
    return { value: "hold", source: "invalid", path: invalid.path };
  }
  return found ?? { value: "accept", source: "default" };
}

/** Where Claude Code looks for managed settings on `os`. */
export function managedSettingsDir(os: typeof Deno.build.os): string {
  if (os === "darwin") return "/Library/Application Support/ClaudeCode";
  if (os === "windows") return "C:\\Program Files\\ClaudeCode";
  return "/etc/claude-code";
}

async function settingOf(path: string): Promise<unknown> {
  try {
    const parsed = JSON.parse(await Deno.readTextFile(path));
    return parsed && typeof parsed === "object" ? parsed.crossSessionInbound : undefined;
  } catch {
    return undefined; // absent or unreadable: Claude Code skips it too
  }
}

/** Where to look: the person's home and environment, the project folder, the managed folder. */
export interface InboundPlaces {
  env: Readonly<Record<string, string | undefined>>;
  home: string;
  /** The project folder (Claude Code gives its hooks `CLAUDE_PROJECT_DIR`). */
  project?: string;
  /** Defaults to {@linkcode managedSettingsDir} of this OS. */
  managedDir?: string;
}

/** The settings files that can set `crossSessionInbound`, in Claude Code's order. */
export async function inboundLayers(places: InboundPlaces): Promise<InboundLayer[]> {
  const managed = places.managedDir ?? managedSettingsDir(Deno.build.os);
  const managedPaths = [join(managed, "managed-settings.json")];
  try {
    const dropIns: string[] = [];
    for await (const e of Deno.readDir(join(managed, "managed-settings.d"))) {
      if (e.name.endsWith(".json")) dropIns.push(e.name);
    }
    managedPaths.push(...dropIns.sort().map((n) => join(managed, "managed-settings.d", n)));
  } catch { /* no drop-in folder */ }
  const layers: InboundLayer[] = [];
  // Drop-ins merge over the base file in name order: the last one that sets it wins.
  let policy: InboundLayer | undefined;
  for (const path of managedPaths) {
    const value = await settingOf(path);
    if (value !== undefined) policy = { source: "managed", path, value };
  }
  if (policy) layers.push(policy);
  const config = places.env.CLAUDE_CONFIG_DIR || join(places.home, ".claude");
  const user = join(config, "settings.json");
  layers.push({ source: "user", path: user, value: await settingOf(user) });
  if (places.project) {
    for (const [source, file] of [["local", "settings.local.json"], ["project", "settings.json"]]) {
      const path = join(places.project, ".claude", file);
      layers.push({ source: source as "local" | "project", path, value: await settingOf(path) });
    }
  }
  return layers;
}

/** The effective `crossSessionInbound` for a session started in `places.project`. */
export async function claudeInbound(places: InboundPlaces): Promise<InboundSetting> {
  return effectiveInbound(await inboundLayers(places));
}

/** One line for people: `crossSessionInbound "hold" (user settings PATH)`. */
export function describeInbound(s: InboundSetting): string {
  const where = s.source === "default"
    ? "not set"
    : s.source === "invalid"
    ? `an unknown value in ${s.path}`
    : `${s.source} settings ${s.path}`;
  return `crossSessionInbound "${s.value}" (${where})`;
}
