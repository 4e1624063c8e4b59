/**
 * The fake model endpoints on their own (no assistant CLI): each answers a
 * request shaped like its CLI's with the scripted text or tool call, in the
 * vendor's streaming format, and records what it was shown. Part of
 * `deno task test`.
 */

import assert from "node:assert/strict";
import { startFakeAnthropic } from "./anthropic.ts";
import { startFakeOpenAI } from "./openai.ts";
import { startFakeGemini } from "./gemini.ts";

/** The `data:` payloads of an SSE body, parsed. */
async function events(res: Response): Promise<Record<string, unknown>[]> {
  const text = await res.text();
  return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
}

function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
}

Deno.test("fake Anthropic: tool_use after a prompt, names tool results, streams SSE", async () => {
  await using model = startFakeAnthropic((c) =>
    c.last.kind === "user"
      ? { tool: "ToolSearch", input: { query: "select:mcp__agent-ipc__send" } }
      : { text: `after ${c.last.kind === "tool_result" ? c.last.tool : "?"}` }
  );
  const tools = [{ name: "ToolSearch", input_schema: {} }];
  const first = await events(
    await post(`${model.url}/v1/messages?beta=true`, {
      model: "m",
      stream: true,
      tools,
      messages: [{ role: "user", content: [{ type: "text", text: "hello there" }] }],
    }),
  );
  assert.deepEqual(first.map((e) => e.type), [
    "message_start",
    "content_block_start",
    "content_block_delta",
    "content_block_stop",
    "message_delta",
    "message_stop",
  ]);
  const block = first[1].content_block as Record<string, unknown>;
  assert.equal(block.type, "tool_use");
  assert.equal(block.name, "ToolSearch");
  const delta = first[2].delta as Record<string, string>;
  assert.deepEqual(JSON.parse(delta.partial_json), { query: "select:mcp__agent-ipc__send" });
  assert.equal((first[4].delta as Record<string, unknown>).stop_reason, "tool_use");

  const second = await (await post(`${model.url}/v1/messages`, {
    model: "m",
    tools,
    messages: [
      { role: "user", content: "hello there" },
      {
        role: "assistant",
        content: [{ type: "tool_use", id: "t1", name: "ToolSearch", input: {} }],
      },
      { role: "user", content: [{ type: "tool_result", tool_use_id: "t1", content: "found" }] },
    ],
  })).json();
  assert.equal(second.content[0].text, "after ToolSearch");
  assert.equal(model.calls.length, 2);
  assert.deepEqual(model.calls[1].last, { kind: "tool_result", tool: "ToolSearch", text: "found" });
  assert.equal(model.shown("hello there").length, 2);
  const waited = await model.waitFor((c) => c.seq === 1, 100);
  assert.equal(waited.seq, 1);
  await assert.rejects(model.waitFor((c) => c.seq === 5, 50), /no matching request/);
});

Deno.test("fake Anthropic: requests without tools are side requests, answered without the script", async () => {
  await using model = startFakeAnthropic(() => {
    throw new Error("the script must not run");
  });
  const r = await (await post(`${model.url}/v1/messages`, {
    model: "m",
    messages: [{ role: "user", content: "title this" }],
  })).json();
  assert.equal(r.content[0].text, "ok");
  assert.equal(model.calls[0].main, false);
  const count = await (await post(`${model.url}/v1/messages/count_tokens`, {})).json();
  assert.equal(count.input_tokens, 1);
});

Deno.test("fake OpenAI Responses: namespaced function call, then text after its output", async () => {
  await using model = startFakeOpenAI((c) =>
    c.last.kind === "user"
      ? { tool: "send", namespace: "mcp__agent_ipc", input: { to: "bob", message: "hi" } }
      : { text: `got ${c.last.kind === "tool_result" ? c.last.text : ""}` }
  );
  const tools = [{
    type: "namespace",
    name: "mcp__agent_ipc",
    tools: [{ type: "function", name: "send" }],
  }];
  const first = await events(
    await post(`${model.url}/v1/responses`, {
      model: "m",
      stream: true,
      tools,
      input: [{ type: "message", role: "user", content: [{ type: "input_text", text: "go" }] }],
    }),
  );
  assert.deepEqual(model.calls[0].tools, ["mcp__agent_ipc/send"]);
  const done = first.find((e) => e.type === "response.output_item.done")!;
  const item = done.item as Record<string, string>;
  assert.equal(item.type, "function_call");
  assert.equal(item.namespace, "mcp__agent_ipc");
  assert.equal(item.name, "send");
  assert.deepEqual(JSON.parse(item.arguments), { to: "bob", message: "hi" });
  assert.equal(first.at(-1)!.type, "response.completed");

  const second = await events(
    await post(`${model.url}/v1/responses`, {
      model: "m",
      stream: true,
      tools,
      input: [
        { type: "function_call", call_id: item.call_id, name: "send", arguments: "{}" },
        { type: "function_call_output", call_id: item.call_id, output: "Sent to bob." },
      ],
    }),
  );
  const msg = second.find((e) => e.type === "response.output_item.done")!.item as {
    content: { text: string }[];
  };
  assert.equal(msg.content[0].text, "got Sent to bob.");
  assert.deepEqual(model.calls[1].last, {
    kind: "tool_result",
    tool: "send",
    text: "Sent to bob.",
  });
});

Deno.test("fake Gemini: function call on a turn, schema-valid JSON on side calls", async () => {
  await using model = startFakeGemini((c) =>
    c.last.kind === "user"
      ? { tool: "mcp_agent-ipc_send", input: { to: "bob", message: "hi" } }
      : { text: "done" }
  );
  const turn = await events(
    await post(`${model.url}/v1beta/models/g:streamGenerateContent?alt=sse`, {
      contents: [{ role: "user", parts: [{ text: "go" }] }],
      tools: [{ functionDeclarations: [{ name: "mcp_agent-ipc_send" }] }],
    }),
  );
  const candidates = turn[0].candidates as { content: { parts: unknown[] } }[];
  assert.deepEqual(candidates[0].content.parts, [
    { functionCall: { name: "mcp_agent-ipc_send", args: { to: "bob", message: "hi" } } },
  ]);
  const side = await (await post(`${model.url}/v1beta/models/lite:generateContent`, {
    contents: [{ role: "user", parts: [{ text: "route this" }] }],
    generationConfig: {
      responseJsonSchema: {
        type: "OBJECT",
        properties: {
          reasoning: { type: "STRING" },
          score: { type: "INTEGER" },
          next: { type: "STRING", enum: ["user", "model"] },
        },
      },
    },
  })).json();
  assert.deepEqual(JSON.parse(side.candidates[0].content.parts[0].text), {
    reasoning: "x",
    score: 1,
    next: "user",
  });
  assert.equal(model.calls[1].main, false);
  const count = await (await post(`${model.url}/v1beta/models/g:countTokens`, {})).json();
  assert.equal(count.totalTokens, 1);
});
