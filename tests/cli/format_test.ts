/** The human output of the CLI: attributed messages, times, tables, status. */

import assert from "node:assert/strict";
import {
  formatBytes,
  formatDuration,
  formatInstances,
  formatMessage,
  formatReceipt,
  formatStatus,
  formatStoreHealth,
  formatTime,
  plural,
} from "../../lib/cli/format.ts";
import { shortId } from "../../lib/protocol/short_id.ts";

Deno.test("times, durations, sizes and plurals", () => {
  assert.equal(formatTime("2026-11-21T10:00:00.123Z"), "2026-11-21 10:00:00Z");
  assert.equal(formatTime("2026-11-21T11:00:00+01:00"), "2026-11-21 10:00:00Z");
  assert.equal(formatTime("garbage"), "garbage");
  assert.equal(formatDuration(9), "9s");
  assert.equal(formatDuration(250), "4m 10s");
  assert.equal(formatDuration(7500), "2h 5m");
  assert.equal(formatDuration(3 * 86_400 + 4 * 3600 + 5), "3d 4h");
  assert.equal(formatBytes(512), "512 bytes");
  assert.equal(formatBytes(10_752), "10.5 KB");
  assert.equal(formatBytes(1_258_291), "1.2 MB");
  assert.equal(plural(1, "message"), "1 message");
  assert.equal(plural(0, "message"), "0 messages");
});

Deno.test("a message is attributed, indented, with data and its large file", () => {
  const base = {
    id: "1",
    from: "fred",
    to: "bob",
    timestamp: "2026-11-21T10:00:00.000Z",
    message: { content: "hi" },
    short_id: "k3x9a0q",
  };
  assert.equal(formatMessage(base), "[2026-11-21 10:00:00Z] #k3x9a0q fred -> bob: hi\n");
  assert.equal(
    formatMessage({ ...base, message: { content: "a\nb\r\nc", data: { k: [1] } } }),
    '[2026-11-21 10:00:00Z] #k3x9a0q fred -> bob: a\n  b\n  c\n  data: {"k":[1]}\n',
  );
  // The broker's inline summary already names the file: not repeated.
  const inline = "start…\n[Large message: 20000 bytes. Full content: /d/large/x.md]";
  assert.equal(
    formatMessage({
      ...base,
      message: { content: inline },
      large: { path: "/d/large/x.md", size: 20000 },
    }),
    "[2026-11-21 10:00:00Z] #k3x9a0q fred -> bob: start…\n  [Large message: 20000 bytes. Full content: /d/large/x.md]\n",
  );
  assert.equal(
    formatMessage({ ...base, large: { path: "/d/large/y.md", size: 20000 } }),
    "[2026-11-21 10:00:00Z] #k3x9a0q fred -> bob: hi\n  (large message, 19.5 KB: full content in /d/large/y.md)\n",
  );
});

Deno.test("urgent and replies are flagged; a message without short_id gets one computed", () => {
  const m = {
    id: "r1",
    from: "ben",
    to: "ann",
    timestamp: "2026-11-21T10:00:00.000Z",
    message: { content: "yes" },
  };
  assert.equal(
    formatMessage({ ...m, urgent: true, reply_to: "q1", reply_to_short: "abcdefg", quote: "ok?" }),
    "[2026-11-21 10:00:00Z] #" + shortId("r1") + ' URGENT ben -> ann (re #abcdefg "ok?"): yes\n',
  );
  assert.equal(formatMessage(m), `[2026-11-21 10:00:00Z] #${shortId("r1")} ben -> ann: yes\n`);
});

Deno.test("a receipt lists each step with its time", () => {
  const text = formatReceipt({
    message_id: "q1",
    short_id: "abcdefg",
    to: "ben",
    state: "read",
    queued_at: "2026-11-21T10:00:00.000Z",
    delivered_at: "2026-11-21T10:00:01.000Z",
    read_at: "2026-11-21T10:00:02.000Z",
  });
  assert.equal(
    text,
    "#abcdefg to ben: read\n" +
      "  queued     2026-11-21 10:00:00Z\n" +
      "  delivered  2026-11-21 10:00:01Z\n" +
      "  read       2026-11-21 10:00:02Z\n" +
      "  replied    -\n",
  );
});

Deno.test("instances table and status", () => {
  const instances = [
    { id: "fred", last_seen: "2026-11-21T10:00:00Z", online: true, queued: 0, host: "box" },
    { id: "bob-longer", last_seen: "2026-11-21T09:00:00Z", online: false, queued: 12 },
  ];
  assert.equal(
    formatInstances(instances, "fred"),
    "NAME        STATUS   QUEUED  LAST SEEN             HOST\n" +
      "fred (you)  online   0       2026-11-21 10:00:00Z  box\n" +
      "bob-longer  offline  12      2026-11-21 09:00:00Z\n",
  );
  assert.equal(formatInstances([]), "No registered instances\n");
  const broker = {
    host: "127.0.0.1",
    port: 9876,
    pid: 42,
    version: "0.1.0",
    uptime_s: 250,
    data_dir: "/d",
    store: "sqlite",
    store_location: "/d/agent-ipc.db",
    connections: 3,
    waiting: 1,
  };
  const text = formatStatus(broker, "fred", instances, "/home/me/.ipc-session");
  assert.match(
    text,
    /^Broker: +127\.0\.0\.1:9876 \(agent-ipc 0\.1\.0, pid 42\)\nUptime: +4m 10s\n/,
  );
  assert.match(text, /\nStore: +sqlite \(\/d\/agent-ipc\.db\)\nConnections: +3 \(1 waiting\)\n/);
  assert.match(
    text,
    /\nYou: +fred \(session in \/home\/me\/\.ipc-session\)\n\n2 instances, 12 messages queued\nNAME/,
  );
  const anonymous = formatStatus(
    { ...broker, console_url: "http://127.0.0.1:9877/" },
    undefined,
    undefined,
    "/s",
  );
  assert.match(
    anonymous,
    /\nConsole: +http:\/\/127\.0\.0\.1:9877\/ \("agent-ipc web" to log in\)\n/,
  );
  assert.match(
    anonymous,
    /\nYou: +not registered\n\nRegister \("agent-ipc register NAME"\) to see instances/,
  );
});

Deno.test("status of a NATS store: replicas, servers seen, leaders and lagging replicas", () => {
  const rows = formatStoreHealth({
    replicas: 3,
    cluster: "prod",
    servers: ["n1", "n2", "n3"],
    connectedTo: "n2",
    streams: [
      { name: "IPC_QUEUE", replicas: 3, leader: "n1", lagging: [] },
      {
        name: "IPC_HISTORY",
        replicas: 3,
        leader: "n2",
        lagging: [{ server: "n1", lag: 0, offline: true }, {
          server: "n3",
          lag: 12,
          offline: false,
        }],
      },
      { name: "KV_ipc_seen", replicas: 1, lagging: [] },
    ],
  });
  assert.deepEqual(rows, [
    ["Replicas:", "3"],
    ["Cluster:", "prod: 3 servers seen (n1, n2, n3), connected to n2"],
    ["  IPC_QUEUE:", "R3, leader n1"],
    ["  IPC_HISTORY:", "R3, leader n2; lagging: n1 offline, n3 12 ops behind"],
    ["  KV_ipc_seen:", "R1, leader none"],
  ]);
  assert.deepEqual(formatStoreHealth({ error: "timeout" }), [[
    "Cluster:",
    "health unknown: timeout",
  ]]);
});
