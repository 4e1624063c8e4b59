/**
 * What the benchmark driver, its scenarios and the load process share: the
 * options of a run, the rows of the report, the connection settings handed to
 * a load process, and the helpers every load uses.
 *
 * @module
 */

import { AgentClient } from "../lib/client/agent_client.ts";
import type { ElectionRole } from "../lib/client/election.ts";

/** The options of one benchmark run (see `bench.ts --help`). */
export interface BenchOptions {
  quick: boolean;
  /** Agents of the throughput scenario. */
  agents: number;
  /** Measured seconds of the throughput and legacy scenarios. */
  durationS: number;
  /** Message content size, bytes. */
  size: number;
  /** In-flight sends per agent in the throughput scenario. */
  window: number;
  /** Agents of the legacy scenario. */
  legacyAgents: number;
  /** Messages queued in the backlog scenario, and their recipients. */
  queued: number;
  recipients: number;
  /** Sends measured one at a time (latency scenarios). */
  samples: number;
  /** Senders (and as many receivers) of the failover scenario. */
  failoverAgents: number;
  /** Scenarios to run (all when empty). */
  only: string[];
  /** The broker's store: its SQLite file (default) or a NATS server the driver starts. */
  store: "sqlite" | "nats";
  /** The NATS server of this scenario (set by the driver with `store: "nats"`). */
  nats?: NatsInfo;
}

/** The NATS server the driver runs for `--store nats` (restarted empty for each scenario). */
export interface NatsInfo {
  /** `nats://127.0.0.1:PORT`: the `--store` of every broker. */
  url: string;
  /** Its process id (for CPU and RSS figures). */
  pid: number;
  /** Its JetStream store directory. */
  storeDir: string;
}

/** One line of the report. */
export interface Row {
  scenario: string;
  metric: string;
  value: number | string | null;
  unit: string;
  /** The target, in words ("≥ 20000"), if any. */
  target?: string;
  /** Whether the target is met; null when not measured. */
  met?: boolean | null;
}

/** The result of one scenario: its rows, and every figure it measured. */
export interface ScenarioResult {
  rows: Row[];
  figures: Record<string, unknown>;
}

/** Where a load process finds the broker. */
export interface Target {
  host: string;
  port: number;
  dataDir: string;
  /** `--store` of a broker an agent starts (role "spawn"); SQLite when absent. */
  store?: string;
}

/** What a load process can ask of the driver. */
export interface LoadIo {
  /** Tells the driver a point was reached, and waits until it has sampled the broker. */
  mark(name: string): Promise<void>;
  /** Progress to stderr. */
  log(message: string): void;
}

/** Connects an agent to the broker and registers `name`. */
export async function connectAgent(
  target: Target,
  name: string,
  role: ElectionRole = "none",
): Promise<AgentClient> {
  const client = await AgentClient.connect({
    host: target.host,
    port: target.port,
    dataDir: target.dataDir,
    role,
    autoReregister: true,
    timeoutMs: 15_000,
    spawnArgs: target.store === undefined ? undefined : ["--store", target.store],
  });
  await client.register(name);
  return client;
}

/** Message content of `size` bytes (ASCII), starting with `tag`. */
export function content(tag: string, size: number): string {
  return tag.length >= size ? tag : tag + " " + "x".repeat(size - tag.length - 1);
}
