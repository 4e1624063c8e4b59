/**
 * The NATS permissions a broker needs, as nats-server config text: exactly
 * the subjects of agent-ipc's streams, KV buckets, object store, wake-ups
 * and JetStream API calls on those assets (create, info, scale, delete a
 * message, purge, direct gets, the scan consumers), nothing else. Each host's
 * broker connects as its own user with these permissions (docs/nats.md).
 *
 * @module
 */

import { NatsQueues } from "./_nats_queues.ts";

/** The KV buckets of the store, without the prefix (see `nats_store.ts`). */
export const NATS_BUCKETS = [
  "instances",
  "sessions",
  "seen",
  "forwards",
  "claims",
  "receipts",
  "dedupe",
] as const;

/** Every JetStream stream the store uses under `prefix`: queues, history, buckets, objects. */
export function natsStreams(prefix = "ipc"): string[] {
  const { stream, historyStream } = NatsQueues.streamNames(prefix);
  return [
    stream,
    historyStream,
    ...NATS_BUCKETS.map((b) => `KV_${prefix}_${b}`),
    `OBJ_${prefix}_large`,
  ];
}

/**
 * A nats-server config variable `IPC_PERMISSIONS` holding the publish and
 * subscribe permissions of a broker using `prefix` (default `ipc`): give
 * it to each host's user (`permissions: $IPC_PERMISSIONS`).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("agent-ipc-permissions.conf", natsPermissionsConfig());
 * ```
 */
export function natsPermissionsConfig(prefix = "ipc"): string {
  const subjects = [
    `${prefix}.>`,
    ...NATS_BUCKETS.map((b) => `$KV.${prefix}_${b}.>`),
    `$O.${prefix}_large.>`,
    "$JS.API.INFO",
    ...natsStreams(prefix).flatMap((s) => [
      `$JS.API.STREAM.*.${s}`,
      `$JS.API.STREAM.MSG.*.${s}`,
      `$JS.API.DIRECT.GET.${s}`,
      `$JS.API.DIRECT.GET.${s}.>`,
      `$JS.API.CONSUMER.*.${s}`,
      `$JS.API.CONSUMER.*.${s}.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${s}.*`,
    ]),
  ];
  // Wrapped to 100 columns.
  const lines: string[] = [];
  let line = "";
  for (const subject of subjects.map((x) => `"${x}"`)) {
    if (line && line.length + 2 + subject.length > 93) {
      lines.push(`${line},`);
      line = "";
    }
    line = line ? `${line}, ${subject}` : subject;
  }
  if (line) lines.push(line);
  return [
    `# agent-ipc's subjects under the prefix "${prefix}", nothing else`,
    `# (written by natsPermissionsConfig() in lib/state/nats_permissions.ts).`,
    `IPC_PERMISSIONS = {`,
    `  publish: {`,
    `    allow: [`,
    ...lines.map((l) => `      ${l}`),
    `    ]`,
    `  }`,
    `  subscribe: { allow: ["_INBOX.>", "${prefix}.n.*", "${prefix}.m.*.*"] }`,
    `}`,
    "",
  ].join("\n");
}
