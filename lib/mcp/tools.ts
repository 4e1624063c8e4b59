/**
 * The MCP tools: register, send, broadcast, check, wait, list_instances,
 * rename, whoami, and `ipc` (the same commands in plain words). Each result
 * is text; a failure is `isError: true` with the broker's message; every
 * result ends with the unread notice when messages wait. Messages handed to
 * the assistant are held against the request and acknowledged only after
 * the response is written (see delivery.ts).
 *
 * @module
 */

import { type CallToolResult, type McpServer, z } from "../deps.ts";
import { IpcError } from "../protocol/errors.ts";
import { MAX_WAIT_MS } from "../protocol/validate.ts";
import type { McpAgent, Unread } from "./agent.ts";
import { formatInstances, formatMessages, unreadNotice } from "./format.ts";
import { IPC_FORMS, type IpcCommand, parseIpcCommand } from "./nl_parser.ts";
import type { RpcId } from "./delivery.ts";
import { claimActions, MAX_CLAIM_REASON, MAX_CLAIM_TTL_S } from "./claim_tools.ts";

/** The default `wait` timeout, seconds. */
export const DEFAULT_WAIT_S = 30;

/** What a tool produced: its text, and the notice when the tool computed it itself. */
interface Outcome {
  text: string;
  /** Set by check/wait, which read the queue anyway ("" for none). */
  notice?: string;
}

/** The request a tool runs for (to hold delivered messages against). */
interface Call {
  requestId: RpcId;
  signal: AbortSignal;
}

/** The text of a tool failure: the broker's message, as is. */
export function errorText(e: unknown): string {
  if (e instanceof IpcError) return e.message;
  return `Internal error: ${(e as Error)?.message ?? String(e)}`;
}

/** Runs one tool body and shapes its result. */
async function result(agent: McpAgent, body: () => Promise<Outcome>): Promise<CallToolResult> {
  let out: Outcome;
  let isError = false;
  try {
    await agent.ready();
    out = await body();
  } catch (e) {
    out = { text: errorText(e) };
    isError = true;
  }
  const notice = out.notice ?? await agent.notice();
  const text = notice ? `${out.text}\n\n${notice}` : out.text;
  return isError ? { content: [{ type: "text", text }], isError } : {
    content: [{ type: "text", text }],
  };
}

/** Hands messages to the assistant: held until the response is written. */
function deliver(agent: McpAgent, call: Call, u: Unread, limit: number): Outcome {
  const shown = u.messages.slice(0, limit);
  const rest = u.messages.slice(limit);
  agent.ledger.hold(call.requestId, shown.map((m) => m.id), call.signal);
  return { text: formatMessages(shown), notice: unreadNotice(u.count - shown.length, rest) };
}

/** The tool bodies, shared by the tools and by `ipc`. */
function toolActions(agent: McpAgent) {
  return {
    async register(name: string): Promise<Outcome> {
      const r = await agent.register(name);
      return { text: `Registered on agent-ipc as ${r.name}.` };
    },
    async send(to: string, content: string, noWake = false): Promise<Outcome> {
      const c = await agent.registered();
      // data.no_wake: the recipient's hooks show it at its next prompt but do not wake it.
      const r = await c.send(to, content, noWake ? { no_wake: true } : undefined);
      let text = r.queuedForFuture || r.to !== to ? `${r.message}.` : `Sent to ${r.to}.`;
      if (r.large) text += ` The text was long: stored at ${r.large.path}.`;
      return { text };
    },
    async broadcast(content: string): Promise<Outcome> {
      const c = await agent.registered();
      const r = await c.broadcast(content);
      const to = r.delivered.length ? `: ${r.delivered.join(", ")}` : "";
      return { text: `${r.message}${to}.` };
    },
    async check(call: Call, limit = 20): Promise<Outcome> {
      return deliver(agent, call, await agent.unread(), limit);
    },
    async wait(call: Call, timeoutS = DEFAULT_WAIT_S): Promise<Outcome> {
      const ms = Math.min(MAX_WAIT_MS, Math.max(0, Math.round(timeoutS * 1000)));
      const u = await agent.waitUnread(ms, call.signal);
      if (u.messages.length === 0) {
        return { text: `No messages arrived within ${ms / 1000} s.`, notice: "" };
      }
      return deliver(agent, call, u, 20);
    },
    async list(): Promise<Outcome> {
      const c = await agent.client();
      return { text: formatInstances(await c.list(), agent.name) };
    },
    async rename(name: string): Promise<Outcome> {
      const c = await agent.registered();
      const r = await c.rename(name);
      return { text: `${r.message}. Messages to the old name forward to ${name} for 2 hours.` };
    },
    async whoami(): Promise<Outcome> {
      const c = await agent.client();
      const role = agent.hosting ? "this process hosts the broker" : "joined as a client";
      if (!c.session) {
        return {
          text: `Not registered on agent-ipc (broker ${agent.address}, ${role}). ` +
            `Use the register tool.`,
        };
      }
      const w = await c.whoami();
      const how = agent.how ? `; name ${agent.how}` : "";
      return { text: `You are ${w.name} on agent-ipc (broker ${agent.address}, ${role}${how}).` };
    },
  };
}

/** Runs a parsed `ipc` command. */
function runCommand(
  actions: ReturnType<typeof toolActions>,
  agent: McpAgent,
  cmd: IpcCommand,
  call: Call,
): Promise<Outcome> {
  switch (cmd.kind) {
    case "register":
      return actions.register(cmd.name);
    case "send":
      return actions.send(cmd.to, cmd.content);
    case "broadcast":
      return actions.broadcast(cmd.content);
    case "check":
      return actions.check(call);
    case "wait":
      return actions.wait(call, cmd.timeoutS);
    case "list":
      return actions.list();
    case "rename":
      // "change my name to X" before registering means "register as X".
      return agent.name ? actions.rename(cmd.name) : actions.register(cmd.name);
    case "whoami":
      return actions.whoami();
  }
}

const NAME = z.string().describe("1-32 of A-Z a-z 0-9 _ -");

/** Registers every tool on `server`. */
export function registerTools(server: McpServer, agent: McpAgent): void {
  const a = toolActions(agent);
  server.registerTool("register", {
    description: "Join agent-ipc (messaging between AI agents) under a name.",
    inputSchema: { name: NAME },
  }, ({ name }) => result(agent, () => a.register(name)));

  server.registerTool("send", {
    description:
      "Send a message to another AI agent on agent-ipc by name (queued if it is offline).",
    inputSchema: {
      to: NAME,
      message: z.string().min(1),
      no_wake: z.boolean().optional().describe(
        "true: do not wake the recipient if it is idle (it sees the message at its next turn); " +
          "use it for replies that need no answer, to end an exchange",
      ),
    },
  }, ({ to, message, no_wake }) => result(agent, () => a.send(to, message, no_wake)));

  server.registerTool("broadcast", {
    description: "Send a message to every other agent on agent-ipc.",
    inputSchema: { message: z.string().min(1) },
  }, ({ message }) => result(agent, () => a.broadcast(message)));

  server.registerTool("check", {
    description: "Read new agent-ipc messages from other agents (each is shown once).",
    inputSchema: { limit: z.number().int().min(1).max(100).optional().describe("default 20") },
  }, ({ limit }, extra) => result(agent, () => a.check(extra, limit)));

  server.registerTool("wait", {
    description: "Idle until an agent-ipc message arrives (or timeout_s passes), then return it.",
    inputSchema: {
      timeout_s: z.number().min(0).max(MAX_WAIT_MS / 1000).optional().describe(
        `default ${DEFAULT_WAIT_S}`,
      ),
    },
  }, ({ timeout_s }, extra) => result(agent, () => a.wait(extra, timeout_s)));

  server.registerTool("list_instances", {
    description: "List agents on agent-ipc and whether they are online.",
    annotations: { readOnlyHint: true },
  }, () => result(agent, () => a.list()));

  server.registerTool("rename", {
    description: "Change your agent-ipc name; the old name forwards for 2 hours.",
    inputSchema: { name: NAME },
  }, ({ name }) => result(agent, () => a.rename(name)));

  server.registerTool("whoami", {
    description: "Your agent-ipc name and broker.",
    annotations: { readOnlyHint: true },
  }, () => result(agent, () => a.whoami()));

  const claims = claimActions(agent);
  const PATHS = z.array(z.string().min(1)).describe(
    "paths or globs (* ? [a-z] {a,b} **), relative to your working directory or absolute",
  );
  server.registerTool(
    "claim_files",
    {
      description: "Claim files on agent-ipc: tell other agents you are editing them (a lease). " +
        "Exclusive unless shared; fails naming the holder when another agent holds an " +
        "overlapping claim. Claiming again renews. Release when done.",
      inputSchema: {
        paths: PATHS.min(1),
        ttl_s: z.number().min(1).max(MAX_CLAIM_TTL_S).optional().describe("default 1800 (30 min)"),
        shared: z.boolean().optional().describe("coexist with other shared claims"),
        reason: z.string().max(MAX_CLAIM_REASON).optional().describe("shown to other agents"),
      },
    },
    ({ paths, ttl_s, shared, reason }) =>
      result(agent, () => claims.claim(paths, { ttlS: ttl_s, shared, reason })),
  );

  server.registerTool("release_files", {
    description: "Release your agent-ipc file claims (no paths: all of them).",
    inputSchema: { paths: PATHS.optional() },
  }, ({ paths }) => result(agent, () => claims.release(paths)));

  server.registerTool("list_claims", {
    description: "List agent-ipc file claims of every agent here (all: in every repository).",
    inputSchema: { all: z.boolean().optional() },
    annotations: { readOnlyHint: true },
  }, ({ all }) => result(agent, () => claims.list(all)));

  server.registerTool("ipc", {
    description: 'agent-ipc in plain words: "register as kai", "msg fred: hi", ' +
      '"check messages", "who\'s online?", "broadcast: hi", "rename to X".',
    inputSchema: { command: z.string() },
  }, ({ command }, extra) =>
    result(agent, () => {
      const cmd = parseIpcCommand(command);
      if (!cmd) {
        throw new IpcError("E_BAD_FIELD", `Not an ipc command: "${command}"\n${IPC_FORMS}`);
      }
      return runCommand(a, agent, cmd, extra);
    }));
}
