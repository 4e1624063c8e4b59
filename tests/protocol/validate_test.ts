import assert from "node:assert/strict";
import { IpcError } from "../../lib/protocol/errors.ts";
import { checkName, decodePayload, parseRequest } from "../../lib/protocol/validate.ts";

const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as IpcError).code;
  }
  return "none";
};

Deno.test("names: 1 to 32 of A-Z a-z 0-9 _ -, matched exactly", () => {
  for (const ok of ["a", "A_b-9", "x".repeat(32)]) assert.equal(checkName(ok, "n"), ok);
  for (const bad of ["", "x".repeat(33), "a\n", "a b", "é", "../x", "a/b", "a.b"]) {
    assert.equal(code(() => checkName(bad, "n")), "E_BAD_NAME", JSON.stringify(bad));
  }
  assert.equal(code(() => checkName(5, "n")), "E_BAD_FIELD");
});

Deno.test("decodePayload: UTF-8, JSON, object", () => {
  assert.deepEqual(decodePayload(new TextEncoder().encode('{"a":1}')), { a: 1 });
  assert.equal(code(() => decodePayload(new Uint8Array([0xc3, 0x28]))), "E_BAD_UTF8");
  assert.equal(code(() => decodePayload(new TextEncoder().encode("{"))), "E_BAD_JSON");
  assert.equal(code(() => decodePayload(new TextEncoder().encode('"s"'))), "E_NOT_OBJECT");
});

Deno.test("parseRequest types every action and keeps the id", () => {
  assert.deepEqual(
    parseRequest({ action: "send", id: 3, to_id: "b", message: { content: "c", data: { x: 1 } } }),
    {
      action: "send",
      id: 3,
      session_token: undefined,
      to_id: "b",
      message: { content: "c", data: { x: 1 } },
    },
  );
  assert.equal(parseRequest({ action: "wait", timeout_ms: 0 }).action, "wait");
  assert.equal(parseRequest({ action: "ping", id: { bad: 1 } }).id, undefined);
  assert.equal(code(() => parseRequest({ action: "check", limit: 1.5 })), "E_BAD_FIELD");
  assert.equal(code(() => parseRequest({ action: "__proto__" })), "E_UNKNOWN_ACTION");
  assert.equal(
    code(() => parseRequest({ action: "ack", ids: Array(10_001).fill("x") })),
    "E_BAD_FIELD",
  );
});

Deno.test("send and broadcast take an optional client_id of 8 to 64 safe characters", () => {
  const send = { action: "send", to_id: "b", message: { content: "c" } };
  const id = "a".repeat(8);
  assert.equal((parseRequest({ ...send, client_id: id }) as { client_id?: string }).client_id, id);
  assert.equal(
    (parseRequest({ action: "broadcast", message: "m", client_id: "Z_-9".repeat(16) }) as {
      client_id?: string;
    }).client_id,
    "Z_-9".repeat(16),
  );
  assert.equal("client_id" in parseRequest(send), false, "absent stays absent");
  assert.equal("client_id" in parseRequest({ ...send, client_id: null }), false);
  for (const bad of ["short7x", "x".repeat(65), "has space", "dot.dot1", 12345678, {}]) {
    assert.equal(
      code(() => parseRequest({ ...send, client_id: bad })),
      "E_BAD_FIELD",
      JSON.stringify(bad),
    );
    assert.equal(
      code(() => parseRequest({ action: "broadcast", message: "m", client_id: bad })),
      "E_BAD_FIELD",
    );
  }
});
