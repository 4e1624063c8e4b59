/**
 * Test helper: a small private network of Linux network namespaces, one per
 * member (a NATS node, an agent-ipc host), each with an `eth0` joined by a
 * veth pair to one bridge that lives in a namespace of its own. Addresses are
 * 10.213.0.N/24 inside those namespaces only: the machine's own interfaces,
 * addresses and routes are never touched, and nothing can leave the machine
 * (the bridge has no uplink). A member's link can be cut and restored
 * (`ip link set eth0 down|up` in its namespace), a real network partition.
 *
 * Needs root and `ip netns`: {@linkcode NETNS_SKIP_REASON} says why a test
 * that needs it is skipped. Namespace names carry the test's pid, so runs in
 * parallel never meet, and a run that died before cleaning up is cleaned up
 * by the next one (only namespaces whose pid is gone).
 *
 * @module
 */

const PREFIX = "aipc-nl-";

/** Why namespace tests are skipped (null when they can run). */
export const NETNS_SKIP_REASON: string | null = await probe();

if (NETNS_SKIP_REASON !== null) {
  console.error(`network namespace tests skipped: ${NETNS_SKIP_REASON}`);
}

async function ip(...args: string[]): Promise<{ ok: boolean; out: string; err: string }> {
  try {
    const o = await new Deno.Command("ip", { args, stdout: "piped", stderr: "piped" }).output();
    const d = new TextDecoder();
    return { ok: o.success, out: d.decode(o.stdout), err: d.decode(o.stderr).trim() };
  } catch (e) {
    return { ok: false, out: "", err: (e as Error).message };
  }
}

async function mustIp(...args: string[]): Promise<string> {
  const r = await ip(...args);
  if (!r.ok) throw new Error(`ip ${args.join(" ")}: ${r.err}`);
  return r.out;
}

async function probe(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "network namespaces need Linux";
  if (Deno.uid() !== 0) return "network namespaces need root (ip netns add)";
  const name = `${PREFIX}probe-${Deno.pid}`;
  const added = await ip("netns", "add", name);
  if (!added.ok) return `\`ip netns add\` failed: ${added.err}`;
  await ip("netns", "del", name);
  const unshare = await new Deno.Command("unshare", { args: ["--version"], stdout: "null" })
    .output().then((o) => o.success, () => false);
  return unshare ? null : "`unshare` (util-linux) is not installed";
}

/**
 * Deletes namespaces of earlier runs whose process is gone, and only those
 * made more than {@linkcode STALE_MS} ago (a namespace's file in /run/netns):
 * a run that is still going is never touched, whatever its pid says.
 */
async function removeStale(): Promise<void> {
  for (const line of (await ip("netns", "list")).out.split("\n")) {
    const m = new RegExp(`^(${PREFIX}(\\d+)-\\S+)`).exec(line);
    if (!m) continue;
    try {
      Deno.statSync(`/proc/${m[2]}`);
      continue; // its run is alive
    } catch { /* gone */ }
    const made = Deno.statSync(`/run/netns/${m[1]}`).mtime?.getTime();
    if (made !== undefined && Date.now() - made > STALE_MS) await ip("netns", "del", m[1]);
  }
}

/** A namespace younger than this is never taken for a leftover. */
const STALE_MS = 10 * 60_000;

/** A private network of namespaces (see the module doc). */
export interface NetLab extends AsyncDisposable {
  /** The members, in the order given. */
  readonly members: readonly string[];
  /** The namespace of `member`. */
  ns(member: string): string;
  /** The IPv4 address of `member` (10.213.0.N, N its 1-based position). */
  address(member: string): string;
  /**
   * Starts `program` in `member`'s namespace, with its own UTS namespace
   * whose host name is `member` (so a broker there reports that host).
   * The lab kills it (SIGKILL) on dispose if it still runs.
   */
  spawn(
    member: string,
    program: string,
    args: string[],
    options?: Deno.CommandOptions,
  ): Deno.ChildProcess;
  /** Runs `program` in `member`'s namespace to the end (see `spawn`). */
  run(
    member: string,
    program: string,
    args: string[],
    options?: Deno.CommandOptions,
  ): Promise<Deno.CommandOutput>;
  /** Cuts (`down`) or restores (`up`) `member`'s only link. */
  link(member: string, state: "up" | "down"): Promise<void>;
  /** Kills what runs in the lab and deletes its namespaces now (for `unload` handlers). */
  removeSync(): void;
}

/**
 * Creates one namespace per member and a bridge namespace joining them.
 *
 * @example
 * ```ts
 * await using lab = await createNetLab(["n1", "host-a"]);
 * const out = await lab.run("host-a", "ip", ["-br", "addr"]);
 * await lab.link("n1", "down");
 * ```
 */
export async function createNetLab(members: string[]): Promise<NetLab> {
  if (NETNS_SKIP_REASON !== null) throw new Error(NETNS_SKIP_REASON);
  await removeStale();
  const id = `${PREFIX}${Deno.pid}-${crypto.randomUUID().slice(0, 6)}`;
  const bridge = `${id}-br`;
  const nsOf = (m: string) => {
    if (!members.includes(m)) throw new Error(`no member "${m}" in the lab`);
    return `${id}-${m}`;
  };
  const made: string[] = [];
  const children = new Set<Deno.ChildProcess>();
  let removed = false;

  const killAll = () => {
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch { /* exited */ }
    }
  };
  const removeSync = () => {
    killAll();
    if (removed) return;
    removed = true;
    for (const ns of made) {
      try {
        new Deno.Command("ip", { args: ["netns", "del", ns], stdout: "null", stderr: "null" })
          .outputSync();
      } catch { /* gone */ }
    }
  };
  addEventListener("unload", removeSync);

  const command = (member: string, program: string, args: string[], options = {}) =>
    new Deno.Command("ip", {
      // A UTS namespace of its own, named after the member, then exec: the
      // child's pid is the program's.
      args: [
        "netns",
        "exec",
        nsOf(member),
        "unshare",
        "--uts",
        "--",
        "sh",
        "-c",
        'hostname "$0" && exec "$@"',
        member,
        program,
        ...args,
      ],
      ...options,
    });

  try {
    for (const ns of [bridge, ...members.map(nsOf)]) {
      await mustIp("netns", "add", ns);
      made.push(ns);
      await mustIp("-n", ns, "link", "set", "lo", "up");
    }
    await mustIp("-n", bridge, "link", "add", "br0", "type", "bridge");
    await mustIp("-n", bridge, "link", "set", "br0", "up");
    for (const [i, m] of members.entries()) {
      const v = `v${i + 1}`;
      await mustIp(
        "-n",
        bridge,
        "link",
        "add",
        v,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        nsOf(m),
      );
      await mustIp("-n", bridge, "link", "set", v, "master", "br0", "up");
      await mustIp("-n", nsOf(m), "addr", "add", `10.213.0.${i + 1}/24`, "dev", "eth0");
      await mustIp("-n", nsOf(m), "link", "set", "eth0", "up");
    }
  } catch (e) {
    removeSync();
    removeEventListener("unload", removeSync);
    throw e;
  }

  return {
    members,
    ns: nsOf,
    address(member) {
      nsOf(member);
      return `10.213.0.${members.indexOf(member) + 1}`;
    },
    spawn(member, program, args, options = {}) {
      const child = command(member, program, args, options).spawn();
      children.add(child);
      child.status.then(() => children.delete(child));
      return child;
    },
    run(member, program, args, options = {}) {
      return command(member, program, args, { stdout: "piped", stderr: "piped", ...options })
        .output();
    },
    async link(member, state) {
      await mustIp("-n", nsOf(member), "link", "set", "eth0", state).catch(async (e) => {
        // A namespace gone under a running test: say which of the lab's remain.
        const left = (await ip("netns", "list")).out.split("\n").filter((l) => l.startsWith(id));
        throw new Error(`${e.message} (the lab's namespaces now: ${left.join(", ") || "none"})`);
      });
    },
    removeSync,
    async [Symbol.asyncDispose]() {
      killAll();
      await Promise.all([...children].map((c) => c.status));
      removeSync();
      removeEventListener("unload", removeSync);
    },
  };
}
