/**
 * Several hosts, one team: two brokers ("host A" and "host B", own data
 * dirs, ports and host names) share one registry through a 3-node NATS
 * JetStream cluster (R3). Everything that works on one machine works across
 * them: list with hosts, send and wait (woken across hosts), ask and reply,
 * receipts, threads, broadcast, renames with forwarding, large messages.
 */

import assert from "node:assert/strict";
import { registeredClient, testBroker } from "../_helpers.ts";
import { NATS_SKIP_REASON, startNatsCluster } from "../_nats_cluster.ts";

const ignore = NATS_SKIP_REASON !== null;

Deno.test(
  { name: "cross-host: two brokers on one NATS cluster are one team", ignore },
  async () => {
    await using nats = await startNatsCluster();
    await using a = await testBroker({ store: nats.url, hostName: "host-a" });
    await using b = await testBroker({ store: nats.url, hostName: "host-b" });
    await using alice = await registeredClient(a, "alice");
    await using bob = await registeredClient(b, "bob");
    await using carol = await registeredClient(b, "carol");

    // One registry: each host lists the others' agents with their host.
    const hosts = Object.fromEntries((await alice.list()).map((i) => [i.id, i.host]));
    assert.deepEqual(hosts, { alice: "host-a", bob: "host-b", carol: "host-b" });

    // Host B's console (its broker's events) sees messages sent through host A live, once.
    const liveOnB: string[] = [];
    const off = b.broker.service.events.on((e) => {
      if (e.type === "message") liveOnB.push(`${e.message.from}: ${e.message.message.content}`);
    });

    // A wait on host B is woken by a send on host A (not by polling).
    const waiting = bob.wait({ timeoutMs: 10_000, ack: true });
    const t0 = Date.now();
    await alice.send("bob", "hello from A");
    const woke = await waiting;
    assert.deepEqual(woke.messages.map((m) => [m.from, m.message.content]), [[
      "alice",
      "hello from A",
    ]]);
    assert.ok(Date.now() - t0 < 2_000, `woken in ${Date.now() - t0} ms`);

    assert.deepEqual(liveOnB, ["alice: hello from A"]);

    // Ask on A, reply on B; receipts and the thread read the same from both hosts.
    const asking = alice.ask("bob", "what time is it?", 10_000);
    asking.catch(() => {}); // awaited below; a failure before that must not hide behind it
    const q = (await bob.wait({ timeoutMs: 10_000, ack: true })).messages[0];
    assert.equal(q.message.content, "what time is it?");
    await bob.reply(q.id, "tea time");
    const { question, reply } = await asking;
    assert.equal(reply?.message.content, "tea time");
    const receipt = await alice.receipt(question.messageId);
    assert.ok(
      receipt.delivered_at && receipt.read_at && receipt.replied_at,
      JSON.stringify(receipt),
    );
    for (const c of [alice, bob]) {
      const t = await c.thread(question.messageId);
      assert.deepEqual(t.messages.map((m) => m.message.content), ["what time is it?", "tea time"]);
    }

    // Broadcast from B reaches A.
    const sent = await carol.broadcast("all hands");
    assert.deepEqual(sent.delivered.sort(), ["alice", "bob"]);
    const got = await alice.wait({ timeoutMs: 10_000, ack: true });
    assert.ok(got.messages.some((m) => m.message.content === "all hands"));
    await bob.check({ ack: true });
    // B's own messages once (its mailbox), A's once (through NATS): never twice.
    assert.deepEqual(liveOnB.filter((l) => l.endsWith("all hands")), [
      "carol: all hands",
      "carol: all hands",
    ]);
    assert.deepEqual(new Set(liveOnB).size, liveOnB.length - 1, liveOnB.join("\n"));
    off();

    // A rename on B forwards a send from A; a large message from A reads whole on B.
    await carol.rename("carol2");
    await alice.send("carol", "to the old name");
    const big = "x".repeat(200_000) + "end";
    const large = await alice.send("carol2", big);
    assert.ok(large.large, "stored as a large message");
    const toCarol = (await carol.wait({ timeoutMs: 10_000, limit: 10, ack: true })).messages;
    const all = toCarol.length >= 2 ? toCarol : [
      ...toCarol,
      ...(await carol.wait({ timeoutMs: 10_000, ack: true })).messages,
    ];
    assert.deepEqual(all.map((m) => m.from), ["alice", "alice"]);
    assert.equal(all[0].message.content, "to the old name");
    // The large body is in the NATS object store: host B's broker reads what host A stored.
    assert.match(all[1].large?.path ?? "", /^nats-obj:\/\//);
    const body = await b.broker.service.largeText(all[1]);
    assert.ok("text" in body && body.text === big, "the whole body");
  },
);
