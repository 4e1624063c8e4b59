/**
 * Scripted model behaviours the e2e tests share: "call agent-ipc's send",
 * the way each assistant offers it (Claude Code behind ToolSearch, Codex in a
 * namespace, Gemini with a prefix), and "just answer".
 *
 * @module
 */

import type { ModelCall, Reply, Script } from "./fake_models/_fake_model.ts";

/** Claude Code's name for an agent-ipc tool. */
export const CLAUDE_TOOL = (tool: string) => `mcp__agent-ipc__${tool}`;
/** Codex's namespace for agent-ipc's tools. */
export const CODEX_NAMESPACE = "mcp__agent_ipc";
/** Gemini CLI's name for an agent-ipc tool. */
export const GEMINI_TOOL = (tool: string) => `mcp_agent-ipc_${tool}`;

/** Answers every turn with `text` and never calls a tool. */
export function answer(text = "noted"): Script {
  return () => ({ text });
}

/**
 * Claude Code: on the user's turn, load the deferred send tool with
 * ToolSearch (unless already loaded), call it, then say "done".
 */
export function claudeSends(to: string | (() => string), message: string): Script {
  const send = (): Reply => ({
    tool: CLAUDE_TOOL("send"),
    input: { to: typeof to === "string" ? to : to(), message },
  });
  return (c) => {
    if (c.last.kind === "user") {
      return c.tools.includes(CLAUDE_TOOL("send")) ? send() : {
        tool: "ToolSearch",
        input: { query: `select:${CLAUDE_TOOL("send")}`, max_results: 1 },
      };
    }
    if (c.last.kind === "tool_result" && c.last.tool === "ToolSearch") return send();
    return { text: "done" };
  };
}

/** A marker unlikely to appear by chance, for "was the model shown this" checks. */
export function marker(label: string): string {
  return `${label}-${crypto.randomUUID().slice(0, 8)}`;
}

/** The short ids of agent-ipc messages a model was shown with their text (`[k3x9a0q]` before `> text`). */
export function shownIds(raw: string, text: string): string[] {
  // The raw body is JSON: newlines and quotes inside it are escaped.
  const plain = raw.replaceAll("\\n", "\n").replaceAll('\\"', '"');
  const out: string[] = [];
  // Gemini CLI shows a hook's context HTML-escaped ("&gt; ").
  for (
    const m of plain.matchAll(/\[([0-9a-z]{5,12})\][^\n]*:\n(?:[^\n]*\n)?(?:>|&gt;) ([^\n]*)/g)
  ) {
    if (m[2].includes(text)) out.push(m[1]);
  }
  return out;
}

/**
 * Codex: answers each agent-ipc message it is shown whose text has `tag`
 * with agent-ipc's `reply` (once per message), else "noted".
 */
export function codexReplies(tag: string, answerOf: (id: string) => string): Script {
  const answered = new Set<string>();
  return (c) => {
    if (c.last.kind === "user") {
      const id = shownIds(c.raw, tag).find((i) => !answered.has(i));
      if (id) {
        answered.add(id);
        return {
          tool: "reply",
          namespace: CODEX_NAMESPACE,
          input: { message_id: id, message: answerOf(id) },
        };
      }
    }
    return { text: "noted" };
  };
}

/**
 * Claude Code: on the user's turn, load agent-ipc's `tool` with ToolSearch
 * (unless loaded) and call it with `input`; then say "done".
 */
export function claudeCalls(tool: string, input: Record<string, unknown>): Script {
  const name = CLAUDE_TOOL(tool);
  const call = (): Reply => ({ tool: name, input });
  return (c) => {
    if (c.last.kind === "user") {
      return c.tools.includes(name) ? call() : {
        tool: "ToolSearch",
        input: { query: `select:${name}`, max_results: 1 },
      };
    }
    if (c.last.kind === "tool_result" && c.last.tool === "ToolSearch") return call();
    return { text: "done" };
  };
}

/**
 * Claude Code: answers each agent-ipc message it is shown whose text has
 * `tag` with agent-ipc's `reply` (loading it with ToolSearch first), once per
 * message; else "noted".
 */
export function claudeReplies(tag: string, answerOf: (id: string) => string): Script {
  const name = CLAUDE_TOOL("reply");
  const answered = new Set<string>();
  let pending: string | undefined;
  return (c) => {
    const id = shownIds(c.raw, tag).find((i) => !answered.has(i));
    if (id && c.last.kind === "user") {
      answered.add(id);
      pending = id;
    }
    if (
      pending &&
      (c.last.kind === "user" || c.last.kind === "tool_result" && c.last.tool === "ToolSearch")
    ) {
      if (!c.tools.includes(name)) {
        return { tool: "ToolSearch", input: { query: `select:${name}`, max_results: 1 } };
      }
      const message_id = pending;
      pending = undefined;
      return { tool: name, input: { message_id, message: answerOf(message_id) } };
    }
    return { text: "noted" };
  };
}

/** Codex: on the user's turn call agent-ipc's `tool` with `input`, then say "done". */
export function codexCalls(tool: string, input: Record<string, unknown>): Script {
  return (c) =>
    c.last.kind === "user" ? { tool, namespace: CODEX_NAMESPACE, input } : { text: "done" };
}

/** The results of agent-ipc's `tool` the model was shown (any vendor). */
export function toolResults(calls: ModelCall[], tool: string): string[] {
  return calls.flatMap((c) =>
    c.last.kind === "tool_result" && c.last.tool.endsWith(tool) ? [c.last.text] : []
  );
}
