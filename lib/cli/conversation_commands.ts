/**
 * The CLI commands of conversations: `ask` (send and wait for the answer),
 * `reply`, `thread` and `receipt`. Messages are named by the short id every
 * view shows (`#k3x9a0q`; the `#` is optional) or by their full id.
 *
 * @module
 */

import { selfName } from "../self_command.ts";
import { IpcError } from "../protocol/errors.ts";
import { NAME_PATTERN } from "../protocol/validate.ts";
import type { WireMessage } from "../protocol/messages.ts";
import {
  type ClientCommand,
  COMMON_HELP,
  connectWithSession,
  dataFlag,
  intFlag,
  messageText,
  UsageError,
} from "./_common.ts";
import { usageLine } from "../command_table.ts";
import { formatMessage, formatReceipt, plural } from "./format.ts";

/** Default `ask` timeout, seconds. */
export const DEFAULT_ASK_SECONDS = 60;

/** A message reference from the command line: `#k3x9a0q`, `k3x9a0q` or a full id. */
function messageRef(raw: string): string {
  const ref = raw.startsWith("#") ? raw.slice(1) : raw;
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(ref)) {
    throw new UsageError(
      `Invalid message id ${JSON.stringify(raw.slice(0, 40))}: use the short id shown with ` +
        `the message (e.g. "#k3x9a0q") or its full id`,
    );
  }
  return ref;
}

function seconds(value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 86_400) {
    throw new UsageError(`Invalid --timeout "${value}": expected seconds, 0 to 86400`);
  }
  return n;
}

/** Acknowledges a printed message; failure only warns (it will be shown again by check). */
async function ackShown(
  name: string,
  io: { stderr: (s: string) => void },
  ack: () => Promise<unknown>,
): Promise<number> {
  try {
    await ack();
    return 0;
  } catch (e) {
    io.stderr(
      `agent-ipc ${name}: the reply above was printed but could not be acknowledged ` +
        `(${(e as Error).message}): "${selfName()} check" will show it again\n`,
    );
    return 1;
  }
}

const ASK_FLAGS = {
  timeout: { type: "string" },
  urgent: { type: "boolean" },
  data: { type: "string" },
} as const;

/** `ask TO MESSAGE...`. */
export const ASK: ClientCommand<typeof ASK_FLAGS> = {
  name: "ask",
  flags: ASK_FLAGS,
  positionals: { min: 2, max: Infinity, usage: "TO MESSAGE..." },
  help: `${usageLine("ask")}

Sends a question to TO and waits for its reply ("agent-ipc reply ID ..."
on the other side), then prints the reply and acknowledges it. Other
messages that arrive meanwhile stay queued for "check". On timeout it exits 1
with a clear message; the question stays queued for TO, and a reply that
comes later is delivered like any message. Survives a broker failover.

Options:
  --timeout SECONDS     how long to wait for the reply (default ${DEFAULT_ASK_SECONDS})
  --urgent              shown first in TO's check, flagged everywhere
  --data JSON           attach a JSON object to the question
${COMMON_HELP}

Example:
  agent-ipc ask bob "can I merge #42?" --timeout 300
`,
  async run(ctx) {
    const to = ctx.positionals[0];
    if (!NAME_PATTERN.test(to) || to === "all" || to === "system") {
      throw new UsageError(
        `Invalid recipient ${JSON.stringify(to.slice(0, 40))}: ask one instance by name`,
      );
    }
    const timeoutS = seconds(ctx.values.timeout, DEFAULT_ASK_SECONDS);
    const data = dataFlag(ctx.values.data);
    const content = await messageText(ctx.positionals.slice(1), ctx.io);
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const question = await client.send(to, content, undefined, {
      data,
      urgent: ctx.values.urgent === true,
    });
    const reply = await client.waitReply(question.messageId, Math.round(timeoutS * 1000));
    const q = { message_id: question.messageId, short_id: question.shortId, to: question.to };
    if (!reply) {
      throw new IpcError(
        "E_TIMEOUT",
        `No reply from ${question.to} within ${timeoutS} s: the question #${question.shortId} ` +
          `stays queued for ${question.to}, and a later reply arrives with "${selfName()} check"`,
        { question: q },
      );
    }
    ctx.print(formatMessage(reply), { question: q, reply });
    return await ackShown(ctx.name, ctx.io, () => client.ack([reply.id]));
  },
};

const REPLY_FLAGS = { urgent: { type: "boolean" }, data: { type: "string" } } as const;

/** `reply ID MESSAGE...`. */
export const REPLY: ClientCommand<typeof REPLY_FLAGS> = {
  name: "reply",
  flags: REPLY_FLAGS,
  positionals: { min: 2, max: Infinity, usage: "ID MESSAGE..." },
  help: `${usageLine("reply")}

Answers the message ID you received (its short id as shown, "#k3x9a0q" or
"k3x9a0q", or its full id). The reply goes to that message's sender, in the
same thread, and is shown with the start of what it answers; an "ask" waiting
for it returns. A lone "-" reads the reply from standard input.

Options:
  --urgent              shown first in the recipient's check, flagged everywhere
  --data JSON           attach a JSON object to the reply
${COMMON_HELP}

Example:
  agent-ipc reply '#k3x9a0q' "yes, merge it"
`,
  async run(ctx) {
    const ref = messageRef(ctx.positionals[0]);
    const data = dataFlag(ctx.values.data);
    const content = await messageText(ctx.positionals.slice(1), ctx.io);
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const r = await client.reply(ref, content, { data, urgent: ctx.values.urgent === true });
    ctx.print(`Reply #${r.shortId} sent to ${r.to}\n`, {
      message: r.message,
      message_id: r.messageId,
      short_id: r.shortId,
      to: r.to,
      reply_to: r.replyTo,
      thread_id: r.threadId,
    });
  },
};

const THREAD_FLAGS = { limit: { type: "string" } } as const;

/** `thread ID`. */
export const THREAD: ClientCommand<typeof THREAD_FLAGS> = {
  name: "thread",
  flags: THREAD_FLAGS,
  positionals: { min: 1, max: 1, usage: "ID" },
  help: `${usageLine("thread")}

Prints the whole conversation the message ID belongs to (its first message
and every reply), oldest first. Reading a thread acknowledges nothing.

Options:
  --limit N             at most N messages (default 200)
${COMMON_HELP}

Example:
  agent-ipc thread '#k3x9a0q'
`,
  async run(ctx) {
    const ref = messageRef(ctx.positionals[0]);
    const limit = intFlag(ctx.values.limit, "limit", 1, 10_000);
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const t = await client.thread(ref, limit);
    const msgs: WireMessage[] = t.messages;
    const head = `Thread #${msgs[0]?.short_id ?? ref}: ${plural(msgs.length, "message")}\n`;
    ctx.print(head + msgs.map(formatMessage).join(""), {
      thread_id: t.threadId,
      messages: msgs,
    });
  },
};

/** `receipt ID`. */
export const RECEIPT: ClientCommand<Record<never, never>> = {
  name: "receipt",
  flags: {},
  positionals: { min: 1, max: 1, usage: "ID" },
  help: `${usageLine("receipt")}

Shows where a message you sent is: queued, delivered (handed to the
recipient's client), read (acknowledged after being shown) or replied, with
the time of each step. Only the sender sees a message's receipt. "send --json"
prints the id to follow.

${COMMON_HELP}

Example:
  agent-ipc receipt '#k3x9a0q'
`,
  async run(ctx) {
    const ref = messageRef(ctx.positionals[0]);
    const { client } = await connectWithSession(ctx.settings);
    await using _ = client;
    const r = await client.receipt(ref);
    ctx.print(formatReceipt(r), { receipt: r });
  },
};
