/**
 * Which process owns a loopback TCP socket, and whether a process is stopped,
 * read from Linux's `/proc` (`/proc/net/tcp{,6}` maps a port to a socket
 * inode, `/proc/PID/fd` maps the inode to its process). The broker uses it to
 * tell peers apart on loopback, where every client is `127.0.0.1`; the client
 * uses it to name a broker that does not answer.
 *
 * Deno lets a program read `/proc` only with `--allow-all`, which agent-ipc
 * does not ask for; so one `sh` (allowed by `--allow-run`) reads it, once per
 * question. Elsewhere (not Linux, no `sh`) every answer is empty and callers
 * fall back to coarser rules.
 *
 * @module
 */

/** One row of `/proc/net/tcp`: local and remote ports, state (hex), inode. */
export interface TcpRow {
  localPort: number;
  remotePort: number;
  /** Kernel state: "0A" listening, "01" established. */
  state: string;
  inode: string;
}

/** Parses `/proc/net/tcp` (or `tcp6`) text; header lines are skipped. */
export function parseProcNetTcp(text: string): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !f[0].endsWith(":")) continue;
    const local = f[1].split(":");
    const remote = f[2].split(":");
    if (local.length !== 2 || remote.length !== 2) continue;
    rows.push({
      localPort: parseInt(local[1], 16),
      remotePort: parseInt(remote[1], 16),
      state: f[3],
      inode: f[9],
    });
  }
  return rows;
}

/**
 * Socket inodes by owner, from `ls -l /proc/[0-9]*\/fd` output: a
 * `/proc/PID/fd:` line names the process of the `-> socket:[INODE]` lines
 * that follow.
 */
export function parseFdListing(text: string): Map<string, number> {
  const owners = new Map<string, number>();
  let pid = 0;
  for (const line of text.split("\n")) {
    const dir = /^\/proc\/(\d+)\/fd:$/.exec(line);
    if (dir) {
      pid = Number(dir[1]);
      continue;
    }
    const at = line.indexOf("-> socket:[");
    if (at >= 0 && pid) owners.set(line.slice(at + 11, line.indexOf("]", at)), pid);
  }
  return owners;
}

const FDS = "@@agent-ipc-fds@@";
const STAT = "@@agent-ipc-stat@@";

/** Reads the TCP tables, every readable process's fds, and optionally one process's stat. */
async function snapshot(statPid?: number): Promise<{ tcp: string; fds: string; stat: string }> {
  if (Deno.build.os !== "linux") return { tcp: "", fds: "", stat: "" };
  const script = `cat /proc/net/tcp /proc/net/tcp6 2>/dev/null; echo ${FDS}; ` +
    `ls -l /proc/[0-9]*/fd 2>/dev/null; echo ${STAT}; ` +
    (statPid ? `cat /proc/${statPid}/stat 2>/dev/null` : "true");
  try {
    const out = await new Deno.Command("/bin/sh", {
      args: ["-c", script],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    const a = text.indexOf(FDS);
    const b = text.indexOf(STAT);
    if (a < 0 || b < 0) return { tcp: "", fds: "", stat: "" };
    return { tcp: text.slice(0, a), fds: text.slice(a, b), stat: text.slice(b + STAT.length) };
  } catch {
    return { tcp: "", fds: "", stat: "" };
  }
}

/**
 * The pids owning the client ends of loopback connections to `serverPort`,
 * by the clients' ports. Ports whose owner cannot be found are absent.
 */
export async function clientOwners(
  serverPort: number,
  clientPorts: Iterable<number>,
): Promise<Map<number, number>> {
  const wanted = new Set(clientPorts);
  const out = new Map<number, number>();
  if (wanted.size === 0) return out;
  const { tcp, fds } = await snapshot();
  const owners = parseFdListing(fds);
  for (const r of parseProcNetTcp(tcp)) {
    if (r.remotePort !== serverPort || !wanted.has(r.localPort)) continue;
    const pid = owners.get(r.inode);
    if (pid !== undefined) out.set(r.localPort, pid);
  }
  return out;
}

/**
 * The process listening on TCP `port`, if it can be found, and whether it is
 * stopped (SIGSTOP, or held by a debugger).
 */
export async function listenerOf(
  port: number,
): Promise<{ pid: number; stopped: boolean } | undefined> {
  const { tcp, fds } = await snapshot();
  const owners = parseFdListing(fds);
  let pid: number | undefined;
  for (const r of parseProcNetTcp(tcp)) {
    if (r.state === "0A" && r.localPort === port && owners.has(r.inode)) {
      pid = owners.get(r.inode);
      break;
    }
  }
  if (pid === undefined) return undefined;
  const { stat } = await snapshot(pid);
  // "PID (comm) S …": the state follows the last ")" (comm may hold spaces).
  const close = stat.lastIndexOf(")");
  const state = close < 0 ? "" : stat.slice(close + 2, close + 3);
  return { pid, stopped: state === "T" || state === "t" };
}
