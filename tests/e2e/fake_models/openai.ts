/**
 * A fake OpenAI Responses API (`POST /v1/responses`, streamed as SSE) for
 * Codex: configure a model provider whose `base_url` is `url + "/v1"` with
 * `wire_api = "responses"` and `supports_websockets = false`.
 *
 * @example
 * ```ts
 * await using model = startFakeOpenAI(() => ({ text: "hi" }));
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

/** Tool names, with Codex's namespaced MCP tools as `namespace/name`. */
function toolNames(tools: Json[]): string[] {
  const out: string[] = [];
  for (const t of tools ?? []) {
    if (t?.type === "namespace") {
      for (const f of t.tools ?? []) out.push(`${t.name}/${f.name}`);
    } else if (t?.name) out.push(t.name);
    else if (t?.type) out.push(t.type);
  }
  return out;
}

function lastTurn(input: Json[]): LastTurn {
  for (let i = (input ?? []).length - 1; i >= 0; i--) {
    const item = input[i];
    if (item?.type === "function_call_output" || item?.type === "custom_tool_call_output") {
      const call = input.find((c: Json) =>
        (c?.type === "function_call" || c?.type === "custom_tool_call") &&
        c.call_id === item.call_id
      );
      return { kind: "tool_result", tool: call?.name ?? "", text: textOf(item.output) };
    }
    if (item?.type === "message" && item.role === "user") {
      return { kind: "user", text: textOf(item.content) };
    }
  }
  return { kind: "none" };
}

/** Starts a fake Responses endpoint; `script` answers Codex's turns. */
export function startFakeOpenAI(script: Script): FakeModel {
  return startFakeModel({
    vendor: "openai",
    describe(path, body: Json) {
      if (!path.endsWith("/responses")) return undefined;
      const tools = toolNames(body?.tools);
      return { tools, main: tools.length > 0, last: lastTurn(body?.input) };
    },
    sideReply: () => ({ text: "ok" }),
    other(path) {
      if (path.endsWith("/models")) return Response.json({ object: "list", data: [], models: [] });
      return undefined;
    },
    respond(_call, reply: Reply, seq) {
      const id = `resp_fake_${seq}`;
      const item: Json = "tool" in reply
        ? {
          type: "function_call",
          id: `fc_fake_${seq}`,
          call_id: `call_fake_${seq}`,
          name: reply.tool,
          ...(reply.namespace ? { namespace: reply.namespace } : {}),
          arguments: JSON.stringify(reply.input),
          status: "completed",
        }
        : {
          type: "message",
          role: "assistant",
          id: `msg_fake_${seq}`,
          status: "completed",
          content: [{ type: "output_text", text: reply.text, annotations: [] }],
        };
      return sse([
        ["response.created", { type: "response.created", response: { id, status: "in_progress" } }],
        ["response.output_item.added", {
          type: "response.output_item.added",
          output_index: 0,
          item,
        }],
        ["response.output_item.done", { type: "response.output_item.done", output_index: 0, item }],
        ["response.completed", {
          type: "response.completed",
          response: {
            id,
            status: "completed",
            output: [item],
            usage: {
              input_tokens: 1,
              input_tokens_details: { cached_tokens: 0 },
              output_tokens: 1,
              output_tokens_details: { reasoning_tokens: 0 },
              total_tokens: 2,
            },
          },
        }],
      ]);
    },
  }, script);
}
