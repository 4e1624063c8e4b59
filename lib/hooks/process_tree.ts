/**
 * A process's ancestors, to find the assistant a hook runs under: the MCP
 * server records its parent (the assistant), and a hook, started by the same
 * assistant through zero or more shells, walks up its own parents until it
 * meets a recorded pid. Unix-likes ask `ps` once (Deno lets only
 * `--allow-all` read `/proc/<pid>`, so `/proc` is the fallback); on Windows
 * only the direct parent is known.
 *
 * @module
 */

/** How far up a hook looks (assistant -> shell -> launcher -> hook is 3). */
export const MAX_DEPTH = 8;

/** The parent of `pid` from `/proc/<pid>/stat`, or undefined. */
async function procParent(pid: number): Promise<number | undefined> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // The command name (2nd field) may hold spaces and parentheses: read after the last ")".
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const ppid = Number(rest[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** Every pid's parent, from one `ps` run. */
async function psParents(): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  try {
    const out = await new Deno.Command("ps", {
      args: ["-A", "-o", "pid=,ppid="],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).output();
    for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
      const [pid, ppid] = line.trim().split(/\s+/).map(Number);
      if (pid > 0 && ppid > 0) map.set(pid, ppid);
    }
  } catch {
    // No ps: the direct parent only.
  }
  return map;
}

/**
 * The ancestors of this process, nearest first (its parent, that one's
 * parent, ...), at most {@linkcode MAX_DEPTH}; pid 1 and 0 left out.
 *
 * @example
 * ```ts
 * const [parent] = await ancestors();
 * ```
 */
export async function ancestors(
  start: number = Deno.ppid,
  os: typeof Deno.build.os = Deno.build.os,
): Promise<number[]> {
  const out: number[] = [];
  if (!(start > 1)) return out;
  out.push(start);
  if (os === "windows") return out;
  const map = await psParents();
  const parentOf = map.size > 0 ? (pid: number) => Promise.resolve(map.get(pid)) : procParent;
  let pid = start;
  while (out.length < MAX_DEPTH) {
    const next = await parentOf(pid);
    if (next === undefined || next <= 1 || out.includes(next)) break;
    out.push(next);
    pid = next;
  }
  return out;
}

/** The command line of `pid` (`ps -o args=`), or undefined when it cannot be told. */
export async function commandLine(pid: number): Promise<string | undefined> {
  if (Deno.build.os === "windows") return undefined;
  try {
    const out = await new Deno.Command("ps", {
      args: ["-o", "args=", "-p", String(pid)],
      stdout: "piped",
      stderr: "null",
      stdin: "null",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    return out.success && text ? text : undefined;
  } catch {
    return undefined;
  }
}
