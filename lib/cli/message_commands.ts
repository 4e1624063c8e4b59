/**
 * The CLI commands that move messages: `send`, `broadcast`, `check` and
 * `wait`. Reading commands print first and acknowledge after, so a message
 * leaves the queue only once it has been shown.
 *
 * @module
 */

import { selfName } from "../self_command.ts";
import { IpcError } from "../protocol/errors.ts";
import { MAX_WAIT_MS, NAME_PATTERN } from "../protocol/validate.ts";
import type { WireMessage } from "../protocol/messages.ts";
import type { AgentClient } from "../client/agent_client.ts";
import type { Settings } from "../config.ts";
import { TTLS } from "../defaults.ts";
import { nearest } from "../suggest.ts";
import {
  type ClientCommand,
  type CommandContext,
  COMMON_HELP,
  connectWithSession,
  dataFlag,
  intFlag,
  messageText,
  UsageError,
} from "./_common.ts";
import { usageLine } from "../command_table.ts";
import { formatBytes, formatMessage, plural } from "./format.ts";

const encoder = new TextEncoder();

/** Requests bigger than this are not retried on a lost connection (they may be the cause). */
const RETRY_LIMIT_BYTES = 64 * 1024;

function tooLarge(bytes: number, cap: number): IpcError {
  return new IpcError(
    "E_TOO_LARGE",
    `The message is ${formatBytes(bytes)} (${bytes} bytes with its request), over the broker's ` +
      `limit of ${formatBytes(cap)} (${cap} bytes; "broker --max-frame" / IPC_MAX_FRAME). ` +
      "Messages over 10 KB are stored as files for the recipient, but each must still fit in " +
      "one request: save the content to a file and send its path instead",
  );
}

/** Sends one request-sized body, explaining a frame over the cap. */
async function sendChecked<T>(
  s: Settings,
  body: Record<string, unknown>,
  act: (client: AgentClient) => Promise<T>,
): Promise<T> {
  // Session token (43) and request id are not in `body` yet: leave room for them.
  const bytes = encoder.encode(JSON.stringify(body)).length + 100;
  if (bytes > s.maxFrame) throw tooLarge(bytes, s.maxFrame);
  const big = bytes > RETRY_LIMIT_BYTES;
  const { client } = await connectWithSession(s, big ? { retries: 0 } : {});
  await using _ = client;
  try {
    return await act(client);
  } catch (e) {
    // The broker's frame cap is lower than ours: it said so (max_frame) and closed.
    const max = e instanceof IpcError ? e.details?.max_frame : undefined;
    if (typeof max === "number") throw tooLarge(bytes, max);
    throw e;
  }
}

function checkRecipient(to: string): string {
  if (to === "all" || to === "*") return to;
  if (!NAME_PATTERN.test(to)) {
    throw new UsageError(
      `Invalid recipient ${JSON.stringify(to.slice(0, 40))}: use 1 to 32 of A-Z a-z 0-9 _ -`,
    );
  }
  if (to === "system") throw new UsageError(`Cannot send to "system"`);
  return to;
}

const SEND_FLAGS = { data: { type: "string" }, "no-wake": { type: "boolean" } } as const;
const SEND_ONE_FLAGS = { ...SEND_FLAGS, urgent: { type: "boolean" } } as const;

/** `--data` with `--no-wake` folded in (`data.no_wake`: the recipient's hooks do not wake it for this). */
function messageData(values: { data?: string; "no-wake"?: boolean }) {
  const data = dataFlag(values.data);
  return values["no-wake"] ? { ...data, no_wake: true } : data;
}

/** `send TO MESSAGE...`. */
export const SEND: ClientCommand<typeof SEND_ONE_FLAGS> = {
  name: "send",
  flags: SEND_ONE_FLAGS,
  positionals: { min: 2, max: Infinity, usage: "TO MESSAGE..." },
  help: `${usageLine("send")}

Sends a message to the instance TO. The words of MESSAGE are joined with
spaces; a lone "-" reads the message from standard input (one trailing
newline dropped). TO may be a name that has not registered yet: the message
waits for it. "all" sends to everyone (like broadcast). Messages over 10 KB
are stored as files and the recipient gets a summary and the file's path; a
message must fit in one request (1 MB by default, IPC_MAX_FRAME).
Put "--" before a message that starts with "-".

The reply names the message by its short id ("#k3x9a0q"): follow it with
"agent-ipc receipt", or wait for the answer with "agent-ipc ask" instead.

Options:
  --data JSON           attach a JSON object to the message
  --urgent              shown first in the recipient's check, flagged everywhere
  --no-wake             do not wake an idle recipient for this (data.no_wake);
                        it is shown at its next prompt
${COMMON_HELP}

Example:
  agent-ipc send bob "the build is green"
  agent-ipc send bob --urgent "prod is down"
  git diff | agent-ipc send bob -
  agent-ipc send bob review done --data '{"pr": 42}'
`,
  async run(ctx) {
    const to = checkRecipient(ctx.positionals[0]);
    const data = messageData(ctx.values);
    const content = await messageText(ctx.positionals.slice(1), ctx.io);
    const urgent = ctx.values.urgent === true;
    if (to === "all" || to === "*") {
      if (urgent) throw new UsageError("--urgent is for one recipient, not a broadcast");
      return await broadcastBody(ctx, content, data);
    }
    const message = data === undefined ? { content } : { content, data };
    const { sent, near } = await sendChecked(
      ctx.settings,
      { action: "send", to_id: to, message },
      async (client) => {
        const sent = await client.send(to, content, undefined, { data, urgent });
        // A name never seen is most often a typo: find the names it is near.
        const near = sent.queuedForFuture
          ? await client.list().then((l) => nearest(to, l.map((i) => i.id)), () => [])
          : [];
        return { sent, near };
      },
    );
    if (sent.queuedForFuture && !ctx.json) {
      const days = Math.round(TTLS.unclaimedQueueMs / 86_400_000);
      ctx.io.stderr(
        `warning: no instance named "${sent.to}" has registered yet: the message waits for it ` +
          `up to ${days} days` +
          (near.length ? ` (did you mean ${near.join(" or ")}?)` : "") + "\n",
      );
    }
    const large = sent.large;
    const text = sent.message === "Message sent" ? `Message sent to ${sent.to}` : sent.message;
    ctx.print(
      `${text} (#${sent.shortId}${urgent ? ", urgent" : ""})\n` +
        (large ? `Stored as a large message (${formatBytes(large.size)}): ${large.path}\n` : ""),
      {
        message: sent.message,
        message_id: sent.messageId,
        short_id: sent.shortId,
        to: sent.to,
        ...(urgent ? { urgent: true } : {}),
        queued_for_future: sent.queuedForFuture,
        ...(sent.queuedForFuture ? { near_names: near } : {}),
        ...(large ? { large } : {}),
      },
    );
  },
};

async function broadcastBody(
  ctx: CommandContext<typeof SEND_FLAGS> | CommandContext<typeof SEND_ONE_FLAGS>,
  content: string,
  data: Record<string, unknown> | undefined,
): Promise<void> {
  const message = data === undefined ? { content } : { content, data };
  const r = await sendChecked(
    ctx.settings,
    { action: "broadcast", message },
    (client) => client.broadcast(content, data),
  );
  const { delivered, missed } = r;
  ctx.print(
    `Broadcast to ${plural(delivered.length, "instance")}${
      delivered.length ? ": " + delivered.join(", ") : ""
    }\n` + (missed.length ? `Missed (queue full): ${missed.join(", ")}\n` : ""),
    { message: r.message, delivered, missed },
  );
}

/** `broadcast MESSAGE...`. */
export const BROADCAST: ClientCommand<typeof SEND_FLAGS> = {
  name: "broadcast",
  flags: SEND_FLAGS,
  positionals: { min: 1, max: Infinity, usage: "MESSAGE..." },
  help: `${usageLine("broadcast")}

Sends a message to every other registered instance. A lone "-" reads the
message from standard input. Recipients whose queue is full are listed as
missed (the command still succeeds).

Options:
  --data JSON           attach a JSON object to the message
  --no-wake             do not wake idle recipients for this (data.no_wake)
${COMMON_HELP}

Example:
  agent-ipc broadcast "deploying in 5 minutes: hold your merges"
`,
  async run(ctx) {
    const data = messageData(ctx.values);
    const content = await messageText(ctx.positionals, ctx.io);
    await broadcastBody(ctx, content, data);
  },
};

const CHECK_FLAGS = { peek: { type: "boolean" }, limit: { type: "string" } } as const;

/** `check`. */
export const CHECK: ClientCommand<typeof CHECK_FLAGS> = {
  name: "check",
  flags: CHECK_FLAGS,
  positionals: { min: 0, max: 0, usage: "" },
  help: `${usageLine("check")}

Prints your queued messages, urgent ones first, then oldest first, and then
acknowledges them (they leave the queue only after they were printed). Each
shows its short id ("#k3x9a0q"): "agent-ipc reply ID ..." answers it.

Options:
  --peek                print without acknowledging: they stay queued
  --limit N             at most N messages (1 to 10000, default 100)
${COMMON_HELP}

Example:
  agent-ipc check
  agent-ipc check --peek --json
`,
  async run(ctx) {
    const peek = ctx.values.peek === true;
    const limit = intFlag(ctx.values.limit, "limit", 1, 10_000);
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const r = await client.check({ ack: false, limit });
    const n = r.messages.length;
    const remaining = peek ? r.remaining : Math.max(0, r.remaining - n);
    let human = n ? r.messages.map(formatMessage).join("") : "No new messages\n";
    if (peek && n) human += `(peek: ${plural(n, "message")} left in the queue)\n`;
    if (remaining > (peek ? n : 0)) {
      human += `(${remaining - (peek ? n : 0)} more queued: run "${selfName()} check" again)\n`;
    }
    ctx.print(human, { messages: r.messages, acked: !peek && n > 0, remaining });
    if (!peek && n) return await ackPrinted(ctx, client, r.messages);
  },
};

/** Acknowledges printed messages; a failure is reported without a second JSON document. */
async function ackPrinted(
  ctx: { name: string; io: CommandContext<Record<never, never>>["io"] },
  client: AgentClient,
  messages: WireMessage[],
): Promise<number> {
  try {
    await client.ack(messages.map((m) => m.id));
    return 0;
  } catch (e) {
    ctx.io.stderr(
      `agent-ipc ${ctx.name}: the messages above were printed but could not be acknowledged ` +
        `(${(e as Error).message}): they will be shown again\n`,
    );
    return 1;
  }
}

const WAIT_FLAGS = {
  timeout: { type: "string" },
  follow: { type: "boolean" },
  count: { type: "string" },
} as const;

/** Default `wait` timeout without `--follow`, seconds. */
export const DEFAULT_WAIT_SECONDS = 30;

function secondsFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 366 * 86_400) {
    throw new UsageError(`Invalid --timeout "${value}": expected seconds, 0 or more`);
  }
  return n;
}

/** Races `p` against `signal`; resolves undefined when aborted first. */
function unlessAborted<T>(p: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  p.catch(() => {}); // abandoned on abort: its rejection (client closed) is expected
  if (signal.aborted) return Promise.resolve(undefined);
  return new Promise((resolve, reject) => {
    const onAbort = () => resolve(undefined);
    signal.addEventListener("abort", onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

/** `wait`. */
export const WAIT: ClientCommand<typeof WAIT_FLAGS> = {
  name: "wait",
  flags: WAIT_FLAGS,
  positionals: { min: 0, max: 0, usage: "" },
  help: `${usageLine("wait")}

Waits for messages and prints them as they arrive, acknowledging each batch
after printing it. Without --follow it returns after the first batch (or
after N messages with --count); if none arrives within the timeout it prints
"No messages within S s" and exits 0 ("timed_out": true with --json).
With --follow it keeps printing until Ctrl-C, --count N messages, or the
--timeout; with --json it prints one JSON document per line, one per batch.

Options:
  --timeout SECONDS     how long to wait (default ${DEFAULT_WAIT_SECONDS}; with --follow: no limit)
  --follow              keep waiting and printing
  --count N             stop after N messages
${COMMON_HELP}

Example:
  agent-ipc wait --timeout 120
  agent-ipc wait --follow
`,
  async run(ctx) {
    const follow = ctx.values.follow === true;
    const count = intFlag(ctx.values.count, "count", 1, 1_000_000);
    const timeoutS = secondsFlag(ctx.values.timeout) ?? (follow ? undefined : DEFAULT_WAIT_SECONDS);
    const deadline = timeoutS === undefined ? Infinity : Date.now() + timeoutS * 1000;
    // One JSON document at the end, unless following (then one per batch).
    const collect = ctx.json && !follow;
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const stop = new AbortController();
    const off = ctx.io.onInterrupt(() => stop.abort());
    const collected: WireMessage[] = [];
    let printed = 0;
    try {
      for (let first = true;; first = false) {
        const left = deadline - Date.now();
        if (stop.signal.aborted || (!first && left <= 0)) break;
        const result = await unlessAborted(
          client.wait({
            timeoutMs: Math.round(Math.min(MAX_WAIT_MS, Math.max(0, left))),
            ack: false,
            limit: count === undefined ? undefined : Math.min(10_000, count - printed),
          }),
          stop.signal,
        );
        if (!result) break;
        const batch = result.messages;
        if (batch.length === 0) continue;
        if (collect) collected.push(...batch);
        else {
          ctx.io.stdout(
            ctx.json
              ? JSON.stringify({ ok: true, messages: batch, acked: true, timed_out: false }) + "\n"
              : batch.map(formatMessage).join(""),
          );
          const code = await ackPrinted(ctx, client, batch);
          if (code !== 0) return code;
        }
        printed += batch.length;
        if (count !== undefined ? printed >= count : !follow) break;
      }
    } finally {
      off();
    }
    const timedOut = !stop.signal.aborted &&
      (count !== undefined ? printed < count : printed === 0);
    if (collect) {
      ctx.print("", { messages: collected, acked: collected.length > 0, timed_out: timedOut });
      if (collected.length) return await ackPrinted(ctx, client, collected);
    } else if (printed === 0 && !follow && !stop.signal.aborted) {
      ctx.io.stdout(`No messages within ${timeoutS} s\n`);
    }
  },
};
