/**
 * The parts of the smoke suite: a static server that publishes the program's
 * sources (as a release on a web host would), `deno bundle` into one file, and
 * the checks run against either form — `--help`, the MCP handshake, messaging
 * through a broker started from the same entry, and a broker the CLI starts in
 * the background by itself.
 *
 * Every child runs in a temp directory with no `deno.json`, so nothing can
 * come from the repository's config, and with its own data dir, free port and
 * session files, so it never touches 9876 or the real home.
 *
 * @module
 */

import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { Client, StdioClientTransport } from "../_deps.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";
import { VERSION } from "../../lib/version.ts";
import { TOOL_SPECS } from "../../lib/mcp/tool_specs.ts";

/** The repository root (the directory holding main.ts). */
export const ROOT: string = fileURLToPath(new URL("../..", import.meta.url));

/** The tools the MCP server must list: every tool it declares, sorted by name. */
export const MCP_TOOLS: readonly string[] = Object.keys(TOOL_SPECS).sort();

/** The longest any one child may run before it is killed. */
const CHILD_TIMEOUT_MS = 30_000;

/**
 * Maps a request path to the file to serve, relative to the root, or null when
 * it must be refused: only `main.ts`, `lib/**\/*.ts` and the console page's files
 * (`lib/web/page/*`, text imports) are published, and a path that leaves them
 * (`..`, encoded slashes, backslashes) is refused.
 *
 * @example
 * ```ts
 * servedPath("/lib/cli/run.ts"); // "lib/cli/run.ts"
 * servedPath("/lib/../deno.json"); // null
 * ```
 */
export function servedPath(pathname: string): string | null {
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathname);
  } catch {
    return null;
  }
  if (!decoded.startsWith("/") || /[\\\0]/.test(decoded)) return null;
  const rel = decoded.slice(1);
  if (rel.split("/").some((part) => part === ".." || part === "." || part === "")) return null;
  if (posix.normalize(rel) !== rel) return null;
  if (rel === "main.ts") return rel;
  if (/^lib\/web\/page\/[A-Za-z0-9_-]+\.(html|css|js|svg)$/.test(rel)) return rel;
  return /^lib\/[A-Za-z0-9_./-]+\.ts$/.test(rel) ? rel : null;
}

const CONTENT_TYPES: Record<string, string> = {
  ts: "application/typescript; charset=utf-8",
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  svg: "image/svg+xml",
};

/** A static file server publishing the repository's sources on loopback. */
export interface SourceServer extends AsyncDisposable {
  /** Base URL, ending with `/`. */
  url: string;
  /** Paths served (200). */
  served: Set<string>;
  /** Paths refused or missing (403/404), in request order. */
  refused: string[];
}

/** Serves `main.ts` and `lib/**` of `root` on 127.0.0.1, on a free port. */
export async function serveSources(root: string = ROOT): Promise<SourceServer> {
  const realRoot = await Deno.realPath(root);
  const served = new Set<string>();
  const refused: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const pathname = new URL(req.url).pathname;
    const rel = req.method === "GET" || req.method === "HEAD" ? servedPath(pathname) : null;
    if (rel === null) {
      refused.push(pathname);
      return new Response("Forbidden\n", { status: 403 });
    }
    try {
      // A symlink inside lib/ must not publish a file outside the root.
      const real = await Deno.realPath(join(realRoot, rel));
      if (!real.startsWith(realRoot + "/") && !real.startsWith(realRoot + "\\")) {
        throw new Deno.errors.NotFound(rel);
      }
      const body = await Deno.readFile(real);
      served.add(rel);
      return new Response(req.method === "HEAD" ? null : body, {
        headers: { "content-type": CONTENT_TYPES[rel.slice(rel.lastIndexOf(".") + 1)] },
      });
    } catch {
      refused.push(pathname);
      return new Response("Not found\n", { status: 404 });
    }
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/`,
    served,
    refused,
    async [Symbol.asyncDispose]() {
      await server.shutdown();
    },
  };
}

/** What a finished child printed and returned. */
export interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `deno ...args` in `cwd`; killed after {@linkcode CHILD_TIMEOUT_MS}. */
export function deno(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<Output> {
  return run(Deno.execPath(), args, options);
}

/** Runs `command ...args` in `cwd`; killed after {@linkcode CHILD_TIMEOUT_MS}. */
async function run(
  command: string,
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<Output> {
  const out = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(CHILD_TIMEOUT_MS),
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** The error of a child that did not do what was expected, with its output. */
function failed(what: string, out: Output): Error {
  const tail = (s: string) => s.trim().split("\n").slice(-12).join("\n");
  return new Error(
    `${what}: exit ${out.code}\n--- stdout\n${tail(out.stdout)}\n--- stderr\n${tail(out.stderr)}`,
  );
}

/**
 * Bundles the program into the single file `output` with `deno bundle`,
 * without the repository's config (so no import may lean on it), from
 * `main.ts` or from `entry` (a URL: its host needs `--allow-import`, which
 * only covers a few hosts by default). npm packages are bundled in; only
 * `node:` built-ins stay imports.
 */
export async function bundleProgram(
  output: string,
  cwd: string,
  entry: string = join(ROOT, "main.ts"),
): Promise<void> {
  const allow = /^https?:/.test(entry) ? [`--allow-import=${new URL(entry).host}`] : [];
  const out = await deno(
    ["bundle", "--quiet", "--no-config", ...allow, "--platform", "deno", "-o", output, entry],
    { cwd },
  );
  if (out.code !== 0) throw failed("deno bundle", out);
  const text = await Deno.readTextFile(output);
  const outside = bundleImports(text).filter((s) => !s.startsWith("node:"));
  if (outside.length > 0) {
    throw new Error(`the bundle still imports ${outside.join(", ")}: it is not self-contained`);
  }
}

/** `--version` of a bundle run with remote and npm imports off: the version line. */
export async function bundleVersion(output: string, cwd: string): Promise<string> {
  const out = await deno(["run", "--no-remote", "--no-npm", output, "--version"], { cwd });
  if (out.code !== 0) throw failed(`${posix.basename(output)} --version`, out);
  return out.stdout.trim();
}

/**
 * The module specifiers a bundle imports, in order: its top-level `import`
 * and `export … from` statements (esbuild writes them at the start of a
 * line) and its `import("…")` calls, skipping comment lines (bundled
 * libraries document imports in comments).
 */
export function bundleImports(text: string): string[] {
  const found: string[] = [];
  for (const line of text.split("\n")) {
    const code = line.trimStart();
    if (code.startsWith("//") || code.startsWith("*") || code.startsWith("/*")) continue;
    const decl = /^(?:import|export)\b[^"'`]*?["']([^"']+)["'];?\s*$/.exec(line);
    if (decl) found.push(decl[1]);
    for (const m of code.matchAll(/\bimport\(\s*["']([^"']+)["']\s*\)/g)) found.push(m[1]);
  }
  return found;
}

/** One way to run the program: an entry (a URL or a file) and extra `deno run` flags. */
export interface Target {
  entry: string;
  /** Flags after the permission flags (e.g. `--no-remote --no-npm` for the bundle). */
  flags?: string[];
}

/** A scratch place for one check: a temp dir (the cwd), a free port and a data dir. */
class Place implements AsyncDisposable {
  readonly dir: string;
  readonly port: number;
  readonly dataDir: string;

  private constructor(dir: string, port: number) {
    this.dir = dir;
    this.port = port;
    this.dataDir = join(dir, "data");
  }

  static async create(): Promise<Place> {
    return new Place(await Deno.makeTempDir({ prefix: "ipc-smoke-" }), freePort());
  }

  env(who: string): Record<string, string> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(Deno.env.toObject())) {
      if (!k.startsWith("IPC_")) env[k] = v;
    }
    return {
      ...env,
      IPC_PORT: String(this.port),
      IPC_DATA_DIR: this.dataDir,
      IPC_SESSION_FILE: join(this.dir, `session-${who}`),
      IPC_NO_HTTP: "1",
    };
  }

  async [Symbol.asyncDispose]() {
    // A broker may still be closing its store: retry briefly.
    for (let i = 0; i < 20; i++) {
      try {
        await Deno.remove(this.dir, { recursive: true });
        return;
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) return;
        await sleep(100);
      }
    }
  }
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether process `pid` still exists (a signal that changes nothing reaches it). */
function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

/** Whether something accepts connections on 127.0.0.1:port. */
async function listening(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, ok: () => Promise<boolean>, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms: ${what}`);
    await sleep(50);
  }
}

function runArgs(target: Target, args: string[]): string[] {
  return ["run", ...PERMISSION_FLAGS, ...(target.flags ?? []), target.entry, ...args];
}

/** `--help`: exit 0 and the general usage on stdout. */
export async function checkHelp(target: Target): Promise<string> {
  await using place = await Place.create();
  const out = await deno(runArgs(target, ["--help"]), { cwd: place.dir, env: place.env("a") });
  if (
    out.code !== 0 || !out.stdout.includes(`agent-ipc ${VERSION}`) ||
    !out.stdout.includes("Usage: agent-ipc COMMAND")
  ) {
    throw failed("--help", out);
  }
  return `usage of agent-ipc ${VERSION}`;
}

/** `mcp`: the SDK client initializes over stdio and lists the nine tools. */
export async function checkMcp(target: Target): Promise<string> {
  await using place = await Place.create();
  const log = join(place.dir, "mcp.log");
  const transport = new StdioClientTransport({
    command: Deno.execPath(),
    args: runArgs(target, ["mcp", "--log-file", log]),
    env: place.env("mcp"),
    cwd: place.dir,
    stderr: "ignore",
  });
  const client = new Client({ name: "smoke", version: VERSION });
  try {
    await withTimeout(client.connect(transport), "MCP initialize");
    const server = client.getServerVersion();
    if (server?.version !== VERSION) {
      throw new Error(`initialize: server version ${server?.version}, expected ${VERSION}`);
    }
    const { tools } = await withTimeout(client.listTools(), "tools/list");
    const names = tools.map((t) => t.name).sort();
    if (JSON.stringify(names) !== JSON.stringify(MCP_TOOLS)) {
      throw new Error(`tools/list: ${names.join(", ")}; expected ${MCP_TOOLS.join(", ")}`);
    }
    return `${server.name} ${server.version}, ${names.length} tools`;
  } catch (e) {
    const text = await Deno.readTextFile(log).catch(() => "");
    throw new Error(
      `${(e as Error).message}\n--- mcp log\n${text.trim().split("\n").slice(-12).join("\n")}`,
    );
  } finally {
    await client.close();
  }
}

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`${what}: no answer in ${CHILD_TIMEOUT_MS} ms`)),
        CHILD_TIMEOUT_MS,
      );
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * Messaging: a foreground broker started from the target, then `register
 * alice`, `register bob`, `send bob hello` as alice and `check` as bob.
 */
export async function checkMessaging(target: Target): Promise<string> {
  await using place = await Place.create();
  const broker = new Deno.Command(Deno.execPath(), {
    args: runArgs(target, [
      "broker",
      "--port",
      String(place.port),
      "--data-dir",
      place.dataDir,
      "--no-http",
      "--log-file",
      join(place.dir, "broker.log"),
    ]),
    cwd: place.dir,
    env: place.env("broker"),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited = false;
  const status = broker.status.finally(() => exited = true);
  try {
    await until("the broker listens", async () => {
      if (exited) throw new Error(`the broker exited: ${await brokerLog(place.dir)}`);
      return await listening(place.port);
    });
    const run = (who: string, args: string[]) =>
      deno(runArgs(target, args), { cwd: place.dir, env: place.env(who) });
    for (const who of ["alice", "bob"]) {
      const out = await run(who, ["register", who]);
      if (out.code !== 0) throw failed(`register ${who}`, out);
    }
    const sent = await run("alice", ["send", "bob", "hello"]);
    if (sent.code !== 0) throw failed("send bob hello", sent);
    const checked = await run("bob", ["check", "--json"]);
    if (checked.code !== 0 || !/"hello"/.test(checked.stdout) || !/"alice"/.test(checked.stdout)) {
      throw failed("check (bob should have alice's hello)", checked);
    }
    if (exited) throw new Error("the broker stopped during the check");
    return "register alice, bob; send bob hello; bob's check has it";
  } finally {
    try {
      broker.kill("SIGTERM");
    } catch { /* it has exited */ }
    await status;
  }
}

async function brokerLog(dir: string): Promise<string> {
  const text = await Deno.readTextFile(join(dir, "broker.log")).catch(() => "(no log)");
  return text.trim().split("\n").slice(-8).join("\n");
}

/**
 * The background broker: with no broker running, `register carol` starts one
 * detached, from the same entry (a URL, or the bundle itself); `status --json`
 * gives its pid, and it is stopped.
 */
export async function checkAutoBroker(target: Target): Promise<string> {
  await using place = await Place.create();
  let pid: number | undefined;
  try {
    const reg = await deno(runArgs(target, ["register", "carol"]), {
      cwd: place.dir,
      env: place.env("carol"),
    });
    if (reg.code !== 0) {
      throw new Error(
        `${failed("register carol", reg).message}\n--- broker.log\n${await brokerLog(
          place.dataDir,
        )}`,
      );
    }
    const st = await deno(runArgs(target, ["status", "--json"]), {
      cwd: place.dir,
      env: place.env("carol"),
    });
    if (st.code !== 0) throw failed("status --json", st);
    pid = (JSON.parse(st.stdout) as { broker?: { pid?: number } }).broker?.pid;
    if (typeof pid !== "number") throw failed("status --json (no broker.pid)", st);
    let how = `background broker pid ${pid}`;
    if (Deno.build.os !== "windows") {
      const ps = await run("ps", ["-o", "args=", "-p", String(pid)], { cwd: place.dir });
      const entry = target.entry.startsWith("/") ? `file://${target.entry}` : target.entry;
      if (!ps.stdout.split(/\s+/).includes(entry)) {
        throw new Error(`the background broker runs "${ps.stdout.trim()}", not ${entry}`);
      }
      how += `, running ${entry.startsWith("file:") ? posix.basename(entry) : entry}`;
    }
    return how;
  } finally {
    // A failed check may still have started one: its pid is in the data dir's lock file.
    pid ??= Number.parseInt(
      await Deno.readTextFile(join(place.dataDir, "broker.lock")).catch(() => ""),
    ) || undefined;
    if (pid !== undefined) {
      try {
        Deno.kill(pid, "SIGTERM");
      } catch { /* already gone */ }
      // Its store closes after the port: the temp dir goes once the process is gone.
      await until("the background broker exits", () => Promise.resolve(!alive(pid!)))
        .catch(() => {});
    }
  }
}
