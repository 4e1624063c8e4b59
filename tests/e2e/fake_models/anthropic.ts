/**
 * A fake Anthropic Messages API (`POST /v1/messages`, streamed as SSE or
 * plain JSON) for Claude Code: point `ANTHROPIC_BASE_URL` at its `url`.
 *
 * @example
 * ```ts
 * await using model = startFakeAnthropic(() => ({ text: "hi" }));
 * // ANTHROPIC_BASE_URL=model.url claude -p "hello"
 * ```
 *
 * @module
 */

import {
  type FakeModel,
  type LastTurn,
  type Reply,
  type Script,
  sse,
  startFakeModel,
  textOf,
} from "./_fake_model.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** The latest user turn: a prompt, or tool results (named from the assistant's tool_use). */
function lastTurn(messages: Json[]): LastTurn {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m?.role !== "user") continue;
    const content = typeof m.content === "string" ? [{ type: "text", text: m.content }] : m.content;
    const results = (content ?? []).filter((b: Json) => b?.type === "tool_result");
    if (results.length > 0) {
      const r = results[results.length - 1];
      let tool = "";
      for (const b of messages[i - 1]?.content ?? []) {
        if (b?.type === "tool_use" && b.id === r.tool_use_id) tool = b.name;
      }
      return { kind: "tool_result", tool, text: textOf(r.content) };
    }
    const texts = (content ?? []).filter((b: Json) => b?.type === "text").map((b: Json) => b.text);
    return { kind: "user", text: texts.join("\n") };
  }
  return { kind: "none" };
}

function message(id: string, model: string, content: Json[], stop: string): Json {
  return {
    id,
    type: "message",
    role: "assistant",
    model,
    content,
    stop_reason: stop,
    stop_sequence: null,
    usage: { input_tokens: 1, output_tokens: 1 },
  };
}

/** Starts a fake Anthropic Messages endpoint; `script` answers Claude Code's main loop. */
export function startFakeAnthropic(script: Script): FakeModel {
  return startFakeModel({
    vendor: "anthropic",
    describe(path, body: Json) {
      if (!path.endsWith("/v1/messages")) return undefined;
      const tools: string[] = (body?.tools ?? []).map((t: Json) => t?.name).filter(Boolean);
      return { tools, main: tools.length > 0, last: lastTurn(body?.messages ?? []) };
    },
    sideReply: () => ({ text: "ok" }),
    other(path) {
      if (path.endsWith("/v1/messages/count_tokens")) return Response.json({ input_tokens: 1 });
      return undefined;
    },
    respond(call, reply: Reply, seq) {
      const model = call.body?.model ?? "claude";
      const id = `msg_fake_${seq}`;
      const block: Json = "tool" in reply
        ? { type: "tool_use", id: `toolu_fake_${seq}`, name: reply.tool, input: reply.input }
        : { type: "text", text: reply.text };
      const stop = "tool" in reply ? "tool_use" : "end_turn";
      if (!call.body?.stream) return Response.json(message(id, model, [block], stop));
      const start = "tool" in reply ? { ...block, input: {} } : { type: "text", text: "" };
      const delta = "tool" in reply
        ? { type: "input_json_delta", partial_json: JSON.stringify(reply.input) }
        : { type: "text_delta", text: reply.text };
      return sse([
        ["message_start", { type: "message_start", message: message(id, model, [], null!) }],
        ["content_block_start", { type: "content_block_start", index: 0, content_block: start }],
        ["content_block_delta", { type: "content_block_delta", index: 0, delta }],
        ["content_block_stop", { type: "content_block_stop", index: 0 }],
        ["message_delta", {
          type: "message_delta",
          delta: { stop_reason: stop, stop_sequence: null },
          usage: { output_tokens: 1 },
        }],
        ["message_stop", { type: "message_stop" }],
      ]);
    },
  }, script);
}
