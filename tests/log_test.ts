import assert from "node:assert/strict";
import {
  fileSink,
  formatJson,
  formatText,
  logger,
  type LogRecord,
  parseJsonLines,
  setLogLevel,
  setLogSink,
  stderrText,
  throttle,
} from "../lib/log.ts";
import { IpcError } from "../lib/protocol/errors.ts";
import { ManualClock } from "./_wait.ts";

Deno.test("throttle lets one report through per interval and counts the rest", () => {
  const clock = new ManualClock();
  const gate = throttle(50, clock.now);
  const reports: number[] = [];
  for (let i = 0; i < 100; i++) gate((n) => reports.push(n));
  assert.deepEqual(reports, [0]);
  clock.advance(49);
  gate((n) => reports.push(n));
  assert.deepEqual(reports, [0], "still inside the interval");
  clock.advance(1);
  gate((n) => reports.push(n));
  assert.deepEqual(reports, [0, 100]);
});

Deno.test("a record is readable text for a terminal and one JSON object for a file", () => {
  const time = Date.UTC(2026, 0, 2, 3, 4, 5, 678);
  const r = {
    time,
    level: "warn" as const,
    scope: "broker",
    message: "purge failed: disk full",
    fields: { event: "purge_failed", error: new IpcError("E_STORE", "disk full"), n: 3 },
  };
  assert.equal(formatText(r), "2026-01-02T03:04:05.678Z WARN  [broker] purge failed: disk full");
  assert.deepEqual(JSON.parse(formatJson(r)), {
    time: "2026-01-02T03:04:05.678Z",
    level: "warn",
    scope: "broker",
    msg: "purge failed: disk full",
    event: "purge_failed",
    error: { name: "IpcError", message: "disk full", code: "E_STORE" },
    n: 3,
  });
  // Fields never overwrite the record's own keys; a field JSON cannot hold keeps the event.
  const odd = { ...r, fields: { msg: "forged", big: 1n } };
  assert.deepEqual(JSON.parse(formatJson(odd)), {
    time: "2026-01-02T03:04:05.678Z",
    level: "warn",
    scope: "broker",
    msg: "purge failed: disk full",
  });
});

Deno.test("parseJsonLines reads records back and skips text and torn lines", () => {
  const a = formatJson({ time: 0, level: "info", scope: "broker", message: "listening on x" });
  const b = formatJson({
    time: 1,
    level: "error",
    scope: "broker",
    message: "cannot start: y",
    fields: { event: "start_failed", transient: true },
  });
  const text = `2026-01-01T00:00:00.000Z INFO  [broker] an old text line\n${a}\n${b}\n{"time":"20`;
  const records = parseJsonLines(text);
  assert.deepEqual(records.map((r) => r.msg), ["listening on x", "cannot start: y"]);
  assert.equal(records[1].event, "start_failed");
  assert.equal(records[1].transient, true);
});

Deno.test("loggers hand records with fields to the sink, above the level only", () => {
  const got: LogRecord[] = [];
  setLogSink((r) => got.push(r));
  try {
    setLogLevel("warn");
    const log = logger("test");
    log.info("hidden", { n: 1 });
    log.warn("shown", { n: 2 });
    assert.equal(got.length, 1);
    assert.equal(got[0].scope, "test");
    assert.equal(got[0].level, "warn");
    assert.equal(got[0].message, "shown");
    assert.deepEqual(got[0].fields, { n: 2 });
  } finally {
    setLogLevel("info");
    setLogSink(stderrText);
  }
});

Deno.test("fileSink appends JSON lines", async () => {
  const path = await Deno.makeTempFile();
  try {
    {
      using file = await Deno.open(path, { append: true });
      const sink = fileSink(file);
      sink({ time: 0, level: "info", scope: "s", message: "one" });
      sink({ time: 1, level: "info", scope: "s", message: "two", fields: { k: "v" } });
    }
    const records = parseJsonLines(await Deno.readTextFile(path));
    assert.deepEqual(records.map((r) => [r.msg, r.k]), [["one", undefined], ["two", "v"]]);
  } finally {
    await Deno.remove(path);
  }
});
