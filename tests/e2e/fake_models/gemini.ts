/**
 * A fake Gemini API (`models/M:streamGenerateContent?alt=sse` for turns,
 * `models/M:generateContent` for the CLI's JSON side calls such as routing
 * and next-speaker checks, `countTokens`) for Gemini CLI: point
 * `GOOGLE_GEMINI_BASE_URL` at its `url`.
 *
 * @example
 * ```ts
 * await using model = startFakeGemini(() => ({ text: "hi" }));
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

function lastTurn(contents: Json[]): LastTurn {
  for (let i = (contents ?? []).length - 1; i >= 0; i--) {
    const c = contents[i];
    if (c?.role !== "user") continue;
    const parts: Json[] = c.parts ?? [];
    const results = parts.filter((p) => p?.functionResponse);
    if (results.length > 0) {
      const r = results[results.length - 1].functionResponse;
      return { kind: "tool_result", tool: r.name ?? "", text: textOf(r.response) };
    }
    return { kind: "user", text: parts.map((p) => p?.text ?? "").join("\n") };
  }
  return { kind: "none" };
}

/** A value that satisfies a (Gemini-style, upper-case types) JSON schema: the first enum value,
 * "x", 1, false; what the CLI's routing and next-speaker side calls need to move on. */
function fromSchema(schema: Json): unknown {
  if (!schema || typeof schema !== "object") return null;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) return schema.enum[0];
  switch (String(schema.type ?? "").toLowerCase()) {
    case "object": {
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(schema.properties ?? {})) out[k] = fromSchema(v);
      return out;
    }
    case "array":
      return [];
    case "integer":
    case "number":
      return 1;
    case "boolean":
      return false;
    default:
      return "x";
  }
}

function candidate(parts: Json[]): Json {
  return {
    candidates: [{ content: { role: "model", parts }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 1, candidatesTokenCount: 1, totalTokenCount: 2 },
  };
}

/** Starts a fake Gemini endpoint; `script` answers the CLI's turns. */
export function startFakeGemini(script: Script): FakeModel {
  return startFakeModel({
    vendor: "gemini",
    describe(path, body: Json) {
      if (!path.includes(":streamGenerateContent") && !path.includes(":generateContent")) {
        return undefined;
      }
      const tools: string[] = (body?.tools ?? []).flatMap((t: Json) =>
        (t?.functionDeclarations ?? []).map((f: Json) => f?.name)
      );
      const jsonSide = body?.generationConfig?.responseJsonSchema ??
        body?.generationConfig?.responseSchema;
      return {
        tools,
        main: path.includes(":streamGenerateContent") && !jsonSide && tools.length > 0,
        last: lastTurn(body?.contents),
      };
    },
    sideReply(call) {
      const schema = call.body?.generationConfig?.responseJsonSchema ??
        call.body?.generationConfig?.responseSchema;
      return { text: schema ? JSON.stringify(fromSchema(schema)) : "ok" };
    },
    other(path) {
      if (path.includes(":countTokens")) return Response.json({ totalTokens: 1 });
      return undefined;
    },
    respond(call, reply: Reply) {
      const parts = "tool" in reply
        ? [{ functionCall: { name: reply.tool, args: reply.input } }]
        : [{ text: reply.text }];
      if (call.path.includes(":streamGenerateContent")) return sse([[null, candidate(parts)]]);
      return Response.json(candidate(parts));
    },
  }, script);
}
