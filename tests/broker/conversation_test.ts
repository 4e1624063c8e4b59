/**
 * Conversations over raw frames against an in-process broker on port 0:
 * short ids, urgent first, reply and its thread, wait_reply (answered, timed
 * out, the reply not swallowed), receipts for the sender only, and the
 * legacy wire with the new fields.
 */
import assert from "node:assert/strict";
import { legacyRequest, RawClient, testBroker } from "../_helpers.ts";
import { shortId } from "../../lib/protocol/short_id.ts";

const opts = { sanitizeOps: true, sanitizeResources: true };
type Msg = Record<string, unknown> & { id: string; short_id: string };

async function registered(port: number, auth: (n: string) => string, name: string) {
  const c = await RawClient.connect(port);
  const r = await c.request({ action: "register", instance_id: name, auth_token: auth(name) });
  assert.equal(r.status, "ok", JSON.stringify(r));
  return c;
}

Deno.test("short ids, urgent first, reply, thread and receipts over frames", opts, async () => {
  await using tb = await testBroker();
  await using ann = await registered(tb.port, tb.auth, "ann");
  await using ben = await registered(tb.port, tb.auth, "ben");
  await using eve = await registered(tb.port, tb.auth, "eve");

  const q = await ann.request({ action: "send", to_id: "ben", message: { content: "review?" } });
  assert.equal(q.status, "ok");
  assert.equal(q.short_id, shortId(q.message_id as string));
  const later = await ann.request({ action: "send", to_id: "ben", message: { content: "fyi" } });
  const urgent = await ann.request({
    action: "send",
    to_id: "ben",
    urgent: true,
    message: { content: "prod is down" },
  });

  // Receipt: queued.
  let rc = await ann.request({ action: "receipt", message_id: q.short_id });
  assert.equal((rc.receipt as Record<string, unknown>).state, "queued");
  assert.equal((rc.receipt as Record<string, unknown>).to, "ben");

  // Urgent first, every message with its short id.
  const checked = await ben.request({ action: "check" });
  const msgs = checked.messages as Msg[];
  assert.deepEqual(msgs.map((m) => m.id), [urgent.message_id, q.message_id, later.message_id]);
  assert.equal(msgs[0].urgent, true);
  assert.equal(msgs[1].urgent, undefined);
  for (const m of msgs) assert.equal(m.short_id, shortId(m.id));

  // Handed to the client: delivered (stamped once the reply was written).
  rc = await ann.request({ action: "receipt", message_id: q.short_id });
  assert.equal((rc.receipt as Record<string, unknown>).state, "delivered");
  await ben.request({ action: "ack", ids: msgs.map((m) => m.id) });
  rc = await ann.request({ action: "receipt", message_id: q.message_id });
  const read = rc.receipt as Record<string, string>;
  assert.equal(read.state, "read");
  assert.ok(read.delivered_at <= read.read_at);

  // Only the sender sees a receipt; the recipient and others get E_NOT_FOUND.
  for (const c of [ben, eve]) {
    const r = await c.request({ action: "receipt", message_id: q.short_id });
    assert.equal(r.code, "E_NOT_FOUND");
  }
  // Only a recipient replies.
  assert.equal(
    (await eve.request({ action: "reply", message_id: q.short_id, message: { content: "x" } }))
      .code,
    "E_NOT_FOUND",
  );

  // Reply by short id: to the sender, with reply_to, the thread and the quote.
  const rep = await ben.request({
    action: "reply",
    message_id: q.short_id,
    message: { content: "looks good" },
  });
  assert.equal(rep.status, "ok", JSON.stringify(rep));
  assert.equal(rep.to_id, "ann");
  assert.equal(rep.reply_to, q.message_id);
  assert.equal(rep.thread_id, q.message_id);
  const got = (await ann.request({ action: "check", ack: true })).messages as Msg[];
  assert.equal(got.length, 1);
  assert.equal(got[0].reply_to, q.message_id);
  assert.equal(got[0].reply_to_short, q.short_id);
  assert.equal(got[0].thread_id, q.message_id);
  assert.equal(got[0].quote, "review?");
  rc = await ann.request({ action: "receipt", message_id: q.short_id });
  assert.equal((rc.receipt as Record<string, unknown>).state, "replied");
  assert.equal((rc.receipt as Record<string, unknown>).reply_id, rep.message_id);

  // A reply to the reply stays in the thread; thread shows it all in order.
  const rep2 = await ann.request({
    action: "reply",
    message_id: got[0].short_id,
    message: { content: "merging" },
  });
  assert.equal(rep2.thread_id, q.message_id);
  for (const c of [ann, ben]) {
    const t = await c.request({ action: "thread", message_id: rep2.short_id });
    assert.equal(t.thread_id, q.message_id);
    assert.deepEqual(
      (t.messages as Msg[]).map((m) => m.id),
      [q.message_id, rep.message_id, rep2.message_id],
    );
  }
  assert.equal(
    (await eve.request({ action: "thread", message_id: q.short_id })).code,
    "E_NOT_FOUND",
  );
  assert.equal(
    (await ann.request({ action: "receipt", message_id: "not a ref!" })).code,
    "E_BAD_FIELD",
  );
});

Deno.test("wait_reply returns the reply; a timed-out wait swallows nothing", opts, async () => {
  await using tb = await testBroker();
  await using ann = await registered(tb.port, tb.auth, "ann");
  await using ben = await registered(tb.port, tb.auth, "ben");
  const q = await ann.request({ action: "send", to_id: "ben", message: { content: "q1" } });

  // Blocked until the reply; an unrelated message does not end the wait.
  await ann.send({ id: "w", action: "wait_reply", message_id: q.short_id, timeout_ms: 20_000 });
  const [bq] = (await ben.request({ action: "check", ack: true })).messages as Msg[];
  await ben.request({ action: "send", to_id: "ann", message: { content: "unrelated" } });
  await ben.request({ action: "reply", message_id: bq.short_id, message: { content: "a1" } });
  const answered = await ann.next();
  assert.equal(answered?.id, "w");
  assert.equal(answered?.timed_out, false);
  const [reply] = answered?.messages as Msg[];
  assert.equal(reply.message && (reply.message as { content: string }).content, "a1");
  // Not acknowledged by wait_reply: check shows both, FIFO.
  const queued = (await ann.request({ action: "check", ack: true })).messages as Msg[];
  assert.deepEqual(queued.map((m) => (m.message as { content: string }).content), [
    "unrelated",
    "a1",
  ]);

  // Timeout: nothing consumed; the late reply arrives like any message.
  const q2 = await ann.request({ action: "send", to_id: "ben", message: { content: "q2" } });
  const t = await ann.request({ action: "wait_reply", message_id: q2.short_id, timeout_ms: 50 });
  assert.equal(t.timed_out, true);
  assert.deepEqual(t.messages, []);
  const [bq2] = (await ben.request({ action: "check", ack: true })).messages as Msg[];
  assert.equal(bq2.id, q2.message_id, "the question stayed queued");
  await ben.request({ action: "reply", message_id: bq2.id, message: { content: "late" } });
  const late = (await ann.request({ action: "check" })).messages as Msg[];
  assert.equal(late.length, 1);
  assert.equal(late[0].reply_to, q2.message_id);
  // Only for questions you sent.
  const wrong = await ben.request({ action: "wait_reply", message_id: q2.short_id });
  assert.equal(wrong.code, "E_NOT_FOUND");
});

Deno.test("legacy clients: new fields are optional and harmless", opts, async () => {
  await using tb = await testBroker();
  const reg = async (name: string) =>
    (await legacyRequest(tb.port, {
      action: "register",
      instance_id: name,
      auth_token: tb.auth(name),
    })).session_token as string;
  const ta = await reg("oldann");
  const tbn = await reg("oldben");
  const sent = await legacyRequest(tb.port, {
    action: "send",
    session_token: ta,
    from_id: "oldann",
    to_id: "oldben",
    message: { content: "plain old send" },
  });
  assert.deepEqual([sent.status, sent.message], ["ok", "Message sent"]);
  const checked = await legacyRequest(tb.port, {
    action: "check",
    session_token: tbn,
    instance_id: "oldben",
  });
  const [m] = checked.messages as Msg[];
  assert.deepEqual([m.from, m.to, (m.message as { content: string }).content], [
    "oldann",
    "oldben",
    "plain old send",
  ]);
  assert.equal(m.short_id, shortId(m.id));
  // A legacy client may reply too (the new action works on the legacy framing).
  const r = await legacyRequest(tb.port, {
    action: "reply",
    session_token: tbn,
    message_id: m.short_id,
    message: { content: "old reply" },
  });
  assert.equal(r.status, "ok", JSON.stringify(r));
  assert.equal(r.to_id, "oldann");
});
