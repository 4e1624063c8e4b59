/**
 * Walks README's quick start as a new user would (`deno task quickstart`, and
 * tests/readme_test.ts): every line of its first `sh` block, in order, in a
 * fresh HOME (so a fresh data dir, install root and assistant configs), from
 * a project folder outside the checkout for the `agent-ipc` lines, on a free
 * port, and checks what each command prints. `--cold` starts from an empty
 * Deno cache, so the first command downloads from the npm registry for real;
 * otherwise the cache of this machine is used (offline once it is filled).
 *
 * @module
 */

import { join } from "node:path";
import { parseArgs } from "node:util";

const ROOT = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** What one command of the quick start must print (stdout and stderr together). */
const EXPECT: [RegExp, RegExp][] = [
  [/^deno task install$/, /Successfully installed agent-ipc/],
  [/^agent-ipc setup claude$/, /Claude Code: added agent-ipc to .*\.claude\.json/],
  [/^agent-ipc setup codex$/, /Codex: added agent-ipc to .*config\.toml/],
  [/^agent-ipc register alice$/, /Registered alice/],
  [/^agent-ipc send bob "hi bob"$/, /bob/],
  [/register bob$/, /Registered bob/],
  [/agent-ipc check$/, /alice -> bob: hi bob/],
  [/^agent-ipc web$/, /http:\/\/127\.0\.0\.1:\d+\/\?token=/],
];

/** One command of the walk, with what it printed. */
export interface Step {
  line: string;
  code: number;
  seconds: number;
  output: string;
  /** Why it failed its check, or undefined. */
  problem?: string;
}

/** The commands of README's quick start: its first `sh` block after "## Quick start". */
export function quickStartLines(readme: string): string[] {
  const from = readme.indexOf("```sh", readme.indexOf("## Quick start")) + 5;
  return readme.slice(from, readme.indexOf("```", from)).trim().split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim()).filter((l) => l !== "");
}

function shellWords(line: string): string[] {
  const words: string[] = [];
  for (const m of line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)) words.push(m[1] ?? m[2] ?? m[3]);
  return words;
}

/** `name` looked up on `path` as a shell would (Deno looks up its own PATH, not the child's). */
function which(name: string, path: string): string {
  for (const dir of path.split(":")) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
    } catch { /* not here */ }
  }
  return name;
}

/** Options of {@linkcode walkQuickStart}. */
export interface WalkOptions {
  /** Deno's cache for the walk (an empty folder for a cold start). */
  denoDir: string;
  /** The broker port (a free one). */
  port: number;
  /** Called after each step, e.g. to print it. */
  onStep?: (step: Step) => void;
}

/**
 * Runs the quick start in a fresh HOME; resolves with every step (it stops
 * at the first that fails) and the HOME, which the caller removes after
 * {@linkcode stopWalkBroker}.
 */
export async function walkQuickStart(o: WalkOptions): Promise<{ steps: Step[]; home: string }> {
  const lines = quickStartLines(await Deno.readTextFile(join(ROOT, "README.md")));
  const home = await Deno.realPath(await Deno.makeTempDir({ prefix: "ipc-quickstart-" }));
  const project = join(home, "proj");
  await Deno.mkdir(project);
  // Installed assistants, as `setup` finds them.
  await Deno.mkdir(join(home, ".claude"));
  await Deno.mkdir(join(home, ".codex"));
  // This machine's environment (its CA certificates, proxy, locale), without what points at a
  // user's state or settings: a new user's shell.
  const inherited = Object.fromEntries(
    Object.entries(Deno.env.toObject()).filter(([k]) =>
      !/^(IPC_|XDG_|DENO_INSTALL_ROOT$|DENO_DIR$|INIT_CWD$|CLAUDE_|CODEX_HOME$|GEMINI_)/.test(k)
    ),
  );
  const env: Record<string, string> = {
    ...inherited,
    HOME: home,
    PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
    DENO_DIR: o.denoDir,
    IPC_PORT: String(o.port),
    IPC_HTTP_PORT: "0",
    IPC_LOG: "warn",
    DISPLAY: "",
    NO_COLOR: "1",
  };
  const steps: Step[] = [];
  for (const line of lines) {
    const words = shellWords(line);
    if (words[0] === "export") {
      const [k, v] = words[1].replaceAll('"', "").split("=");
      env[k] = v.replaceAll("$HOME", home).replaceAll(`$${k}`, env[k] ?? "");
      continue;
    }
    const lineEnv = { ...env };
    while (/^[A-Z_]+=/.test(words[0])) {
      const [k, v] = words.shift()!.split("=");
      lineEnv[k] = v.replace(/^\/tmp\//, `${home}/`);
    }
    const deno = words[0] === "deno";
    const t0 = performance.now();
    let out: Deno.CommandOutput;
    try {
      out = await new Deno.Command(deno ? Deno.execPath() : which(words[0], lineEnv.PATH), {
        args: words.slice(1),
        cwd: deno ? ROOT : project,
        env: lineEnv,
        clearEnv: true, // only `inherited` and ours
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    } catch (e) {
      steps.push({ line, code: -1, seconds: 0, output: "", problem: (e as Error).message });
      o.onStep?.(steps.at(-1)!);
      break;
    }
    const output = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    const step: Step = { line, code: out.code, seconds: (performance.now() - t0) / 1000, output };
    const expect = EXPECT.find(([cmd]) => cmd.test(line))?.[1];
    if (out.code !== 0) step.problem = `exit ${out.code}`;
    else if (!expect) step.problem = "no expectation for this command in tests/quickstart/walk.ts";
    else if (!expect.test(output)) step.problem = `output does not match ${expect}`;
    steps.push(step);
    o.onStep?.(step);
    if (step.problem) break;
  }
  return { steps, home };
}

/** Stops the background broker a walk started (its pid is in the data dir's lock). */
export async function stopWalkBroker(home: string): Promise<void> {
  const lock = join(home, ".local", "share", "agent-ipc", "broker.lock");
  let pid: number;
  try {
    pid = Number.parseInt(await Deno.readTextFile(lock)); // its first line
  } catch {
    return; // none started
  }
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  for (let i = 0; i < 100; i++) {
    try {
      Deno.kill(pid, "SIGCONT");
    } catch {
      return; // gone
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { cold: { type: "boolean", default: false } } });
  const denoDir = values.cold
    ? await Deno.makeTempDir({ prefix: "ipc-quickstart-deno-" })
    : JSON.parse(
      new TextDecoder().decode(
        (await new Deno.Command(Deno.execPath(), { args: ["info", "--json"], stdout: "piped" })
          .output()).stdout,
      ),
    ).denoDir;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  console.log(
    `README quick start, fresh HOME, ${values.cold ? "empty Deno cache" : "this Deno cache"}:`,
  );
  const t0 = performance.now();
  const { steps, home } = await walkQuickStart({
    denoDir,
    port,
    onStep: (s) => {
      console.log(
        `${s.problem ? "FAIL" : "ok  "} ${s.seconds.toFixed(1).padStart(5)} s  ${s.line}`,
      );
      if (s.problem) console.log(`     ${s.problem}\n${s.output.replace(/^/gm, "     | ")}`);
    },
  });
  await stopWalkBroker(home);
  await Deno.remove(home, { recursive: true }).catch(() => {});
  if (values.cold) await Deno.remove(denoDir, { recursive: true }).catch(() => {});
  const failed = steps.some((s) => s.problem);
  console.log(
    `${failed ? "failed" : "all passed"}: ${steps.length} commands in ` +
      `${((performance.now() - t0) / 1000).toFixed(1)} s`,
  );
  return failed ? 1 : 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
