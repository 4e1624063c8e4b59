import assert from "node:assert/strict";
import { parseOptions, table } from "../../bench/bench.ts";
import { Samples } from "../../bench/_stats.ts";
import { content } from "../../bench/_scenario.ts";
import { childEnv } from "../../bench/_processes.ts";

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

Deno.test("table aligns columns and marks targets", () => {
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
