import assert from "node:assert/strict";
import { main, parseOptions, table } from "../../bench/bench.ts";
import { Samples } from "../../bench/_stats.ts";
import { content } from "../../bench/_scenario.ts";
import { BrokerProcess, childEnv, dirBytes, storeKind } from "../../bench/_processes.ts";
import { NatsServer, natsServerVersion } from "../../bench/_nats.ts";

/** Why the NATS bench tests are skipped (null when `nats-server` is installed). */
const NO_NATS: string | null = await natsServerVersion().then(() => null, (e) => e.message);
if (NO_NATS) console.error(`NATS bench tests skipped: ${NO_NATS}`);

Deno.test("Samples gives nearest-rank percentiles", () => {
  const s = new Samples();
  assert.deepEqual(s.summary(), { count: 0, p50: null, p99: null, max: null });
  for (let i = 1000; i >= 1; i--) s.add(i); // also exercises growth past 1024
  for (let i = 1001; i <= 2000; i++) s.add(i);
  const sum = s.summary();
  assert.equal(sum.count, 2000);
  assert.equal(sum.p50, 1000);
  assert.equal(sum.p99, 1980);
  assert.equal(sum.max, 2000);
  assert.equal(s.percentile(100), 2000);
});

Deno.test("parseOptions: defaults, quick mode and misuse", () => {
  const full = parseOptions([]);
  assert.equal(full.agents, 20);
  assert.equal(full.queued, 1_000_000);
  assert.equal(full.durationS, 10);
  const quick = parseOptions(["--quick", "--agents", "4", "--only", "latency,legacy"]);
  assert.equal(quick.quick, true);
  assert.equal(quick.queued, 50_000);
  assert.equal(quick.durationS, 3);
  assert.equal(quick.agents, 4);
  assert.deepEqual(quick.only, ["latency", "legacy"]);
  assert.throws(() => parseOptions(["--agents", "x"]), RangeError);
  assert.throws(() => parseOptions(["--only", "nope"]), /Unknown scenario "nope"/);
  assert.throws(() => parseOptions(["--bogus"]), TypeError);
});

Deno.test("parseOptions: --store picks the store and a bounded NATS backlog", () => {
  assert.equal(parseOptions([]).store, "sqlite");
  assert.equal(parseOptions(["--store", "sqlite"]).queued, 1_000_000);
  const nats = parseOptions(["--store", "nats"]);
  assert.equal(nats.store, "nats");
  assert.equal(nats.queued, 100_000);
  assert.equal(parseOptions(["--store", "nats", "--quick"]).queued, 10_000);
  assert.equal(parseOptions(["--store", "nats", "--queued", "5000"]).queued, 5_000);
  assert.throws(() => parseOptions(["--store", "postgres"]), /Invalid --store "postgres"/);
  assert.equal(storeKind(undefined), "sqlite");
  assert.equal(storeKind("nats://127.0.0.1:4222"), "nats");
  assert.equal(storeKind("tls://nats.lan:4222"), "nats");
});

Deno.test("table aligns columns and marks targets", () => {
  assert.ok(table([], "nats").startsWith("| Scenario (store: nats) | Metric"));
  const out = table([
    { scenario: "s", metric: "rate", value: 25_000, unit: "msg/s", target: "≥ 20000", met: true },
    { scenario: "", metric: "p99", value: 1.5, unit: "ms", target: "< 1", met: false },
    { scenario: "", metric: "x", value: null, unit: "" },
  ]).split("\n");
  assert.equal(out.length, 5);
  assert.ok(out[2].includes("25,000") && out[2].endsWith("| yes |"));
  assert.ok(out[3].includes("| NO  |"));
  assert.ok(out[4].includes("n/a"));
  assert.equal(new Set(out.map((l) => l.length)).size, 1);
});

Deno.test("content has the requested size and tag; childEnv drops IPC_ settings", () => {
  assert.equal(content("tag", 128).length, 128);
  assert.ok(content("tag", 128).startsWith("tag "));
  Deno.env.set("IPC_PORT", "1");
  try {
    const env = childEnv({ IPC_NO_HTTP: "1" });
    assert.equal(env.IPC_PORT, undefined);
    assert.equal(env.IPC_NO_HTTP, "1");
  } finally {
    Deno.env.delete("IPC_PORT");
  }
});

Deno.test({
  name: "NatsServer: a broker started with its URL runs the NATS store; reset empties it",
  ignore: NO_NATS !== null,
}, async () => {
  await using nats = await NatsServer.start();
  assert.match(nats.version, /^nats-server: v\d/);
  assert.equal(nats.url, `nats://127.0.0.1:${nats.port}`);
  {
    await using broker = await BrokerProcess.start({ store: nats.url });
    assert.equal(broker.store, "nats"); // checked against the broker's status reply
  }
  assert.ok(await dirBytes(nats.storeDir) > 0, "the broker created its streams");
  const pid = nats.pid;
  await nats.reset();
  assert.ok(nats.pid !== null && nats.pid !== pid);
  assert.equal(await dirBytes(nats.storeDir), 0);
  await nats.close();
  assert.equal(nats.pid, null);
  await assert.rejects(Deno.stat(nats.storeDir), Deno.errors.NotFound);
});

Deno.test({
  name:
    "bench --store nats: latency and failover (replacement broker on NATS) run, figures say nats",
  ignore: NO_NATS !== null,
}, async () => {
  const dir = await Deno.makeTempDir({ prefix: "agent-ipc-bench-test-" });
  try {
    const json = `${dir}/results.json`;
    const code = await main([
      "--quick",
      "--store",
      "nats",
      "--only",
      "latency,failover",
      "--samples",
      "20",
      "--failover-agents",
      "1",
      "--json",
      json,
    ]);
    const report = JSON.parse(await Deno.readTextFile(json));
    const failed = report.rows.filter((r: { metric: string }) => r.metric === "failed");
    assert.deepEqual(failed, []);
    assert.equal(code, 0);
    assert.equal(report.store, "nats");
    assert.match(report.store_server, /^nats-server: v/);
    assert.equal(report.options.store, "nats");
    assert.equal(report.results.failover.new_broker_store, "nats");
    assert.equal(report.results.failover.lost, 0);
    assert.equal(report.results.latency.wait_ack_ms.count, 20);
    assert.equal(report.results.latency.ask_ms.count, 20, "ask round trips on NATS too");
    assert.equal(report.results.latency.ask_ms.over_1s, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
