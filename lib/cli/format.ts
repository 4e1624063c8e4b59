/**
 * How the CLI shows things to people: messages clearly attributed
 * (`[2026-11-21 10:00:00Z] fred -> bob: text`), instance tables and broker
 * status. Pure functions from wire data to text; `--json` output does not
 * come through here.
 *
 * @module
 */

import { selfName } from "../self_command.ts";
import type { WireClaim, WireInstance, WireMessage, WireReceipt } from "../protocol/messages.ts";
import { peerLines, quoted, visible } from "../protocol/peer_text.ts";
import { shortId, shortIdOf } from "../protocol/short_id.ts";
import type { StoreHealth } from "../state/store.ts";

/** An ISO 8601 time as `2026-11-21 10:00:00Z` (UTC, whole seconds). */
export function formatTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

/** A duration in seconds as `3d 4h`, `2h 5m`, `4m 10s` or `9s`. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86_400), h = Math.floor(s / 3600) % 24;
  const m = Math.floor(s / 60) % 60, sec = s % 60;
  if (d > 0) return `${d}d ${h}h`;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${sec}s`;
  return `${sec}s`;
}

/** `1 message`, `2 messages`. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

/** A byte count as `512 bytes`, `10.5 KB`, `1.2 MB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * One message, attributed, ending in a newline: its short id (`#k3x9a0q`,
 * what `reply`, `thread` and `receipt` take), `URGENT` when sent so, and for
 * a reply the short id and start of what it answers. Continuation lines of
 * the content (after any Unicode line break) are indented; control
 * characters are shown as escapes (`\x1b`), so a peer cannot move the
 * cursor or redraw a line; data follows as JSON; a large message names its
 * file.
 *
 * @example
 * ```ts
 * formatMessage({ id: "1", from: "fred", to: "bob", timestamp: "2026-11-21T10:00:00.000Z",
 *   message: { content: "hi" }, short_id: "k3x9a0q" });
 * // "[2026-11-21 10:00:00Z] #k3x9a0q fred -> bob: hi\n"
 * ```
 */
export function formatMessage(m: WireMessage): string {
  const content = peerLines(m.message.content).join("\n  ");
  const flag = m.urgent ? "URGENT " : "";
  const re = m.reply_to === undefined
    ? ""
    : ` (re #${m.reply_to_short ?? shortId(m.reply_to)}${m.quote ? ` ${quoted(m.quote)}` : ""})`;
  let out = `[${formatTime(m.timestamp)}] #${
    shortIdOf(m)
  } ${flag}${m.from} -> ${m.to}${re}: ${content}\n`;
  if (m.message.data !== undefined) out += `  data: ${visible(JSON.stringify(m.message.data))}\n`;
  if (m.large && !m.message.content.includes(m.large.path)) {
    out += `  (large message, ${formatBytes(m.large.size)}: full content in ${
      visible(m.large.path)
    })\n`;
  }
  return out;
}

/** A receipt: the state, then each step with its time. */
export function formatReceipt(r: WireReceipt): string {
  const rows = [
    ["queued", formatTime(r.queued_at)],
    ["delivered", r.delivered_at ? formatTime(r.delivered_at) : "-"],
    ["read", r.read_at ? formatTime(r.read_at) : "-"],
    [
      "replied",
      r.replied_at ? `${formatTime(r.replied_at)} (#${shortId(r.reply_id ?? "")})` : "-",
    ],
  ];
  return `#${r.short_id} to ${r.to}: ${r.state}\n` +
    table(rows).split("\n").filter(Boolean).map((l) => `  ${l}\n`).join("");
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows
    .map((r) => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i])).join("  "))
    .map((line) => line.trimEnd() + "\n")
    .join("");
}

/** An instance with what its assistant's hooks last said (awake or idle, last wake). */
export type ListedInstance = WireInstance & {
  activity?: {
    state: "awake" | "idle";
    since: string;
    last_wake?: string;
    /** Messages are shown to its model at prompts and tool calls. */
    attention: boolean;
    /** How an idle session is woken (claude-socket, codex-queue, asyncRewake, ...). */
    wake: string;
    last_wake_via?: string;
  };
};

/** The instances as a table; `me` is marked. */
export function formatInstances(instances: ListedInstance[], me?: string): string {
  if (instances.length === 0) return "No registered instances\n";
  const withHooks = instances.some((i) => i.activity);
  const rows = [[
    "NAME",
    "STATUS",
    "QUEUED",
    ...(withHooks ? ["ATTENTION", "WAKE", "ASSISTANT", "LAST WAKE"] : []),
    "LAST SEEN",
    "HOST",
  ]];
  for (const i of instances) {
    const a = i.activity;
    rows.push([
      i.id === me ? `${i.id} (you)` : i.id,
      i.online ? "online" : "offline",
      String(i.queued),
      ...(withHooks
        ? [
          a ? (a.attention ? "yes" : "no") : "-",
          a ? a.wake : "-",
          a ? a.state : "-",
          a?.last_wake ? formatTime(a.last_wake) : "-",
        ]
        : []),
      formatTime(i.last_seen),
      i.host ?? "",
    ]);
  }
  return table(rows);
}

/**
 * File claims as a table (`root` given: paths relative to it, else every
 * root is shown); `me` is marked; expiry as time left from `now`.
 */
export function formatClaims(
  claims: WireClaim[],
  opts: { me?: string; root?: string; now?: number } = {},
): string {
  if (claims.length === 0) return "No claims\n";
  const now = opts.now ?? Date.now();
  const rows = [[opts.root ? "PATH" : "ROOT / PATH", "HOLDER", "KIND", "EXPIRES IN", "REASON"]];
  for (const c of claims) {
    rows.push([
      visible(opts.root === c.root ? c.path : `${c.root}/${c.path}`),
      c.holder === opts.me ? `${c.holder} (you)` : c.holder,
      c.shared ? "shared" : "exclusive",
      formatDuration((Date.parse(c.expires_at) - now) / 1000),
      visible(c.reason ?? ""),
    ]);
  }
  return table(rows);
}

/** The `broker` object of a status reply. */
export interface BrokerStatus {
  /** `host`, `pid`, `data_dir`, `store_location`, `host_name`, `console_url`: only to a session. */
  host?: string;
  port: number;
  pid?: number;
  version: string;
  uptime_s: number;
  data_dir?: string;
  store: string;
  store_location?: string;
  connections: number;
  waiting: number;
  host_name?: string;
  /** The web console's address, when it runs. */
  console_url?: string;
  /** NATS store: replicas and cluster health (see `StoreHealth`), or why it could not be read. */
  store_health?: StoreHealth | { error: string };
}

/** The replica and cluster lines of `status` for a NATS store. */
export function formatStoreHealth(h: StoreHealth | { error: string }): string[][] {
  if ("error" in h) return [["Cluster:", `health unknown: ${h.error}`]];
  const rows: string[][] = [
    ["Replicas:", String(h.replicas)],
    [
      "Cluster:",
      `${h.cluster ?? "single server"}: ${plural(h.servers.length, "server")} seen (${
        h.servers.join(", ")
      })${h.connectedTo ? `, connected to ${h.connectedTo}` : ""}`,
    ],
  ];
  for (const s of h.streams) {
    const lag = s.lagging.map((l) =>
      l.offline ? `${l.server} offline` : `${l.server} ${plural(l.lag, "op")} behind`
    );
    rows.push([
      `  ${s.name}:`,
      `R${s.replicas}, leader ${s.leader ?? "none"}${
        lag.length ? `; lagging: ${lag.join(", ")}` : ""
      }`,
    ]);
  }
  return rows;
}

/** A status reply as text. */
export function formatStatus(
  broker: BrokerStatus,
  me: string | undefined,
  instances: WireInstance[] | undefined,
  sessionFile: string,
): string {
  let out = table([
    [
      "Broker:",
      broker.pid === undefined
        ? `port ${broker.port} (agent-ipc ${broker.version})`
        : `${broker.host}:${broker.port} (agent-ipc ${broker.version}, pid ${broker.pid})`,
    ],
    ["Uptime:", formatDuration(broker.uptime_s)],
    ...(broker.data_dir ? [["Data dir:", broker.data_dir]] : []),
    ["Store:", broker.store + (broker.store_location ? ` (${broker.store_location})` : "")],
    ...(broker.store_health ? formatStoreHealth(broker.store_health) : []),
    ["Connections:", `${broker.connections} (${broker.waiting} waiting)`],
    ...(broker.console_url
      ? [["Console:", `${broker.console_url} ("${selfName()} web" to log in)`]]
      : []),
    ["You:", me ? `${me} (session in ${sessionFile})` : "not registered"],
  ]);
  if (instances) {
    const queued = instances.reduce((n, i) => n + i.queued, 0);
    out += `\n${plural(instances.length, "instance")}, ${plural(queued, "message")} queued\n`;
    if (instances.length) out += formatInstances(instances, me);
  } else {
    out += `\nRegister ("${selfName()} register NAME") to see instances and queue depths\n`;
  }
  return out;
}
