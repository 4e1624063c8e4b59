/**
 * Which process owns a loopback TCP socket, and what state a process is in,
 * read from Linux's `/proc` (`/proc/net/tcp{,6}` maps a port to a socket
 * inode, `/proc/PID/fd` maps the inode to its process). The broker uses it to
 * tell peers apart on loopback, where every client is `127.0.0.1`; the client
 * uses it to name a broker that does not answer. Elsewhere (or without access)
 * every answer is `undefined` and callers fall back to coarser rules.
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

/** Parses `/proc/net/tcp` (or `tcp6`) text. */
export function parseProcNetTcp(text: string): TcpRow[] {
  const rows: TcpRow[] = [];
  const lines = text.split("\n");
  for (let i = 1; i < lines.length; i++) {
    const f = lines[i].trim().split(/\s+/);
    if (f.length < 10) continue;
    const local = f[1].split(":");
    const remote = f[2].split(":");
    rows.push({
      localPort: parseInt(local[1], 16),
      remotePort: parseInt(remote[1], 16),
      state: f[3],
      inode: f[9],
    });
  }
  return rows;
}

function tcpRows(): TcpRow[] {
  const rows: TcpRow[] = [];
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    try {
      rows.push(...parseProcNetTcp(Deno.readTextFileSync(file)));
    } catch { /* not Linux, or no tcp6 */ }
  }
  return rows;
}

/**
 * Owners of socket inodes: one pass over `/proc/PID/fd` for every process we
 * may read (our own user's; others' fail fast and are skipped).
 */
function ownersOf(inodes: Set<string>): Map<string, number> {
  const found = new Map<string, number>();
  if (inodes.size === 0) return found;
  let procs: Iterable<Deno.DirEntry>;
  try {
    procs = Deno.readDirSync("/proc");
  } catch {
    return found;
  }
  for (const p of procs) {
    const c = p.name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    let fds: Iterable<Deno.DirEntry>;
    try {
      fds = Deno.readDirSync(`/proc/${p.name}/fd`);
    } catch {
      continue;
    }
    try {
      for (const fd of fds) {
        let target: string;
        try {
          target = Deno.readLinkSync(`/proc/${p.name}/fd/${fd.name}`);
        } catch {
          continue;
        }
        if (!target.startsWith("socket:[")) continue;
        const inode = target.slice(8, -1);
        if (inodes.has(inode)) {
          found.set(inode, Number(p.name));
          if (found.size === inodes.size) return found;
        }
      }
    } catch { /* the process exited meanwhile */ }
  }
  return found;
}

/**
 * The pids owning the client ends of loopback connections to `serverPort`,
 * by the clients' ports. Ports whose owner cannot be found are absent.
 */
export function clientOwners(
  serverPort: number,
  clientPorts: Iterable<number>,
): Map<number, number> {
  const wanted = new Set(clientPorts);
  const inodeOfPort = new Map<string, number>();
  for (const r of tcpRows()) {
    if (r.remotePort === serverPort && wanted.has(r.localPort) && r.inode !== "0") {
      inodeOfPort.set(r.inode, r.localPort);
    }
  }
  const out = new Map<number, number>();
  for (const [inode, pid] of ownersOf(new Set(inodeOfPort.keys()))) {
    out.set(inodeOfPort.get(inode)!, pid);
  }
  return out;
}

/** The pid of the process listening on TCP `port`, if it can be found. */
export function listenerPid(port: number): number | undefined {
  const inodes = new Set(
    tcpRows().filter((r) => r.state === "0A" && r.localPort === port && r.inode !== "0")
      .map((r) => r.inode),
  );
  for (const pid of ownersOf(inodes).values()) return pid;
  return undefined;
}

/** True when process `pid` is stopped (SIGSTOP, or a debugger); undefined when unknown. */
export function processStopped(pid: number): boolean | undefined {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // "PID (comm) S …": the state follows the last ")" (comm may hold spaces).
    const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
    return state === "T" || state === "t";
  } catch {
    return undefined;
  }
}
