/**
 * End-to-end conversations between real CLI processes: ask and reply, the
 * thread, receipts for the sender only, urgent first, an ask that times out
 * without swallowing the later reply, and ask and receipts across a SIGKILL
 * of the broker process (the CLI starts the replacement).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { brokerProcess, freePort, testBroker } from "../_helpers.ts";
import { CliPlace, jsonOf, type Result } from "./_cli.ts";

/** True when the broker's SQLite file holds a delivery time for message `id`. */
function deliveredInFile(dataDir: string, id: string): boolean {
  using db = new DatabaseSync(join(dataDir, "agent-ipc.db"), { readOnly: true });
  const row = db.prepare("SELECT delivered_at FROM messages WHERE id = ?").get(id) as
    | { delivered_at: number | null }
    | undefined;
  return typeof row?.delivered_at === "number";
}

async function until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function ok(r: Result, what: string): Result {
  assert.equal(r.code, 0, `${what}: exit ${r.code}, stderr: ${r.stderr}`);
  return r;
}

/** The first message a `wait --json` returns for `who`. */
async function nextMessage(place: CliPlace, who: string): Promise<Record<string, unknown>> {
  const r = ok(await place.run(who, ["wait", "--timeout", "20", "--json"]), `wait ${who}`);
  const msgs = jsonOf(r).messages as Record<string, unknown>[];
  assert.ok(msgs.length > 0, `no message for ${who}`);
  return msgs[0];
}

Deno.test("CLI: ask, reply, thread, receipt and urgent between processes", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  ok(await place.run("ann", ["register", "ann"]), "register ann");
  ok(await place.run("ben", ["register", "ben"]), "register ben");

  // send --json gives the id to follow; receipt shows it queued.
  const sent = jsonOf(ok(await place.run("ann", ["send", "ben", "fyi", "--json"]), "send"));
  assert.match(String(sent.short_id), /^[0-9a-z]{7}$/);
  let r = ok(await place.run("ann", ["receipt", String(sent.message_id)]), "receipt");
  assert.match(r.stdout, new RegExp(`^#${sent.short_id} to ben: queued\\n`));

  // Urgent comes first in check and is flagged.
  r = ok(await place.run("ann", ["send", "ben", "--urgent", "prod is down"]), "send --urgent");
  assert.match(r.stdout, /^Message sent to ben \(#[0-9a-z]{7}, urgent\)\n$/);
  r = ok(await place.run("ben", ["check"]), "check");
  const lines = r.stdout.trimEnd().split("\n");
  assert.match(lines[0], /#[0-9a-z]{7} URGENT ann -> ben: prod is down$/);
  assert.match(lines[1], new RegExp(`#${sent.short_id} ann -> ben: fyi$`));
  r = ok(await place.run("ann", ["receipt", `#${sent.short_id}`, "--json"]), "receipt --json");
  const receipt = jsonOf(r).receipt as Record<string, string>;
  assert.equal(receipt.state, "read");
  assert.ok(receipt.delivered_at && receipt.read_at);

  // ask blocks until ben replies; ben sees the question with its short id.
  const ask = place.start("ann", ["ask", "ben", "can I merge #42?", "--timeout", "30"]);
  const q = await nextMessage(place, "ben");
  assert.equal((q.message as { content: string }).content, "can I merge #42?");
  r = ok(await place.run("ben", ["reply", `#${q.short_id}`, "yes,", "merge", "it"]), "reply");
  assert.match(r.stdout, /^Reply #[0-9a-z]{7} sent to ann\n$/);
  const asked = await ask.done();
  assert.equal(asked.code, 0, asked.stderr);
  assert.match(
    asked.stdout,
    new RegExp(`ben -> ann \\(re #${q.short_id} "can I merge #42\\?"\\): yes, merge it\\n$`),
  );
  // The reply was acknowledged by ask: nothing left for ann.
  assert.match(ok(await place.run("ann", ["check"]), "check").stdout, /^No new messages\n$/);

  // Receipt: replied, for the sender only.
  r = ok(await place.run("ann", ["receipt", String(q.short_id)]), "receipt replied");
  assert.match(r.stdout, /: replied\n/);
  r = await place.run("ben", ["receipt", String(q.short_id), "--json"]);
  assert.equal(r.code, 1);
  assert.equal(jsonOf(r).code, "E_NOT_FOUND");

  // The thread, from either side, in order.
  r = ok(await place.run("ben", ["thread", String(q.short_id)]), "thread");
  assert.match(r.stdout, /^Thread #[0-9a-z]{7}: 2 messages\n/);
  assert.match(r.stdout, /ann -> ben: can I merge #42\?\n.*ben -> ann \(re #/s);

  // Usage errors exit 2.
  assert.equal((await place.run("ann", ["reply", "not/an id", "x"])).code, 2);
  assert.equal((await place.run("ann", ["ask", "ben", "x", "--timeout", "soon"])).code, 2);
});

Deno.test("CLI: an ask that times out exits 1; the question stays and the late reply is delivered", async () => {
  await using b = await testBroker();
  await using place = await CliPlace.create(b.port, b.dataDir);
  ok(await place.run("ann", ["register", "ann"]), "register ann");
  ok(await place.run("ben", ["register", "ben"]), "register ben");
  const r = await place.run("ann", ["ask", "ben", "anyone?", "--timeout", "0.3"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /No reply from ben within 0\.3 s: the question #[0-9a-z]{7} stays queued/);
  const q = await nextMessage(place, "ben");
  assert.equal((q.message as { content: string }).content, "anyone?");
  ok(await place.run("ben", ["reply", String(q.id), "late answer"]), "reply");
  const late = await nextMessage(place, "ann");
  assert.equal((late.message as { content: string }).content, "late answer");
  assert.equal(late.reply_to, q.id);
});

Deno.test("CLI: ask and receipts survive a SIGKILL of the broker", async () => {
  const port = freePort();
  await using place = await CliPlace.create(port);
  let broker: Deno.ChildProcess | undefined = await brokerProcess(port, place.dataDir);
  let replacement: number | undefined;
  try {
    for (const who of ["ann", "ben", "cy"]) ok(await place.run(who, ["register", who]), who);
    // A message handed to cy's client but not acknowledged: delivered.
    const before = jsonOf(ok(await place.run("ann", ["send", "cy", "first", "--json"]), "send"));
    const peeked = jsonOf(ok(await place.run("cy", ["check", "--peek", "--json"]), "peek"));
    assert.equal((peeked.messages as { id: string }[])[0].id, before.message_id);
    // The stamp reaches the file within a second (it waits in memory for an ack first).
    await until(() => deliveredInFile(place.dataDir, String(before.message_id)));

    const ask = place.start("ann", ["ask", "ben", "still there?", "--timeout", "60"]);
    const q = await nextMessage(place, "ben");
    assert.equal((q.message as { content: string }).content, "still there?");
    broker.kill("SIGKILL");
    await broker.status;
    broker = undefined;

    // ben's reply starts a new broker on the same data dir; ann's ask finds it.
    ok(await place.run("ben", ["reply", String(q.short_id), "yes"]), "reply after the kill");
    const asked = await ask.done();
    assert.equal(asked.code, 0, asked.stderr);
    assert.match(asked.stdout, /ben -> ann \(re #[0-9a-z]{7} "still there\?"\): yes\n$/);

    const status = jsonOf(ok(await place.run("ann", ["status", "--json"]), "status"));
    replacement = (status.broker as { pid: number }).pid;
    const receipt = async (id: unknown) =>
      jsonOf(ok(await place.run("ann", ["receipt", String(id), "--json"]), "receipt"))
        .receipt as Record<string, string>;
    assert.equal((await receipt(q.id)).state, "replied");
    const first = await receipt(before.short_id);
    assert.equal(first.state, "delivered", "the delivery stamp survived the kill");
  } finally {
    broker?.kill("SIGKILL");
    await broker?.status;
    if (replacement !== undefined) Deno.kill(replacement, "SIGTERM");
  }
});
