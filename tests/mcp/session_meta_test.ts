import assert from "node:assert/strict";
import { onSessionMeta, sessionIdOfMeta } from "../../lib/mcp/session_meta.ts";
import type { JSONRPCMessage } from "../../lib/deps.ts";

// What Codex 0.171.0 sent a traced MCP server with a tool call (trimmed).
const CODEX_CALL = {
  jsonrpc: "2.0",
  id: 2,
  method: "tools/call",
  params: {
    _meta: {
      callId: "call_fake_0",
      "x-codex-turn-metadata": {
        session_id: "01a24ee0-2b53-7851-887c-16feee2d37a8",
        thread_id: "01a24ee0-2b53-7851-887c-16feee2d37a8",
        turn_trigger: "queue",
      },
      threadId: "01a24ee0-2b53-7851-887c-16feee2d37a8",
      sessionId: "01a24ee0-2b53-7851-887c-16feee2d37a8",
    },
    name: "trace",
    arguments: {},
  },
};

Deno.test("sessionIdOfMeta: Codex's thread id from a tool call; nothing from others", () => {
  assert.equal(sessionIdOfMeta(CODEX_CALL), "01a24ee0-2b53-7851-887c-16feee2d37a8");
  assert.equal(
    sessionIdOfMeta({ method: "tools/list", params: { _meta: { progressToken: 0 } } }),
    undefined,
  );
  assert.equal(sessionIdOfMeta({ method: "initialize", params: {} }), undefined);
  assert.equal(
    sessionIdOfMeta({ params: { _meta: { threadId: "bad id with spaces" } } }),
    undefined,
  );
  assert.equal(sessionIdOfMeta(null), undefined);
});

Deno.test("onSessionMeta: learns before the server handles the request, and passes every message on", () => {
  const seen: string[] = [];
  const learnt: string[] = [];
  const transport: { onmessage?: (m: JSONRPCMessage) => void } = {
    onmessage: (m) => seen.push((m as { method?: string }).method ?? "?"),
  };
  onSessionMeta(transport, (id) => {
    learnt.push(id);
    assert.equal(seen.length, 0);
  });
  transport.onmessage!(CODEX_CALL as JSONRPCMessage);
  transport.onmessage!({ jsonrpc: "2.0", method: "notifications/initialized" } as JSONRPCMessage);
  assert.deepEqual(learnt, ["01a24ee0-2b53-7851-887c-16feee2d37a8"]);
  assert.deepEqual(seen, ["tools/call", "notifications/initialized"]);
});
