/**
 * README and docs/ tell the truth: README stays a page (<= 250 lines) and
 * links every file of docs/, every relative link and anchor resolves, the
 * quick-start commands run as written (in an isolated HOME, port and data
 * dir), every `deno task` they name exists, every command of the CLI
 * reference is one the program knows, and their defaults and figures are
 * those of the one table (`lib/defaults.ts`).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { freePort, realDenoDir, startBanner } from "./_helpers.ts";
import { quickStartLines, stopWalkBroker, walkQuickStart } from "./quickstart/walk.ts";
import {
  DEFAULT_HOST,
  LIMITS,
  type NumericSetting,
  SETTINGS,
  TIMEOUTS,
  TTLS,
} from "../lib/defaults.ts";

const root = new URL("../", import.meta.url).pathname;
const readme = await Deno.readTextFile(join(root, "README.md"));
/** docs/*.md by name (`cli.md`), read once. */
const docs: Record<string, string> = {};
for await (const e of Deno.readDir(join(root, "docs"))) {
  if (e.isFile && e.name.endsWith(".md")) {
    docs[e.name] = await Deno.readTextFile(join(root, "docs", e.name));
  }
}
/** README and every doc, for facts that may live in either. */
const allText = [readme, ...Object.keys(docs).sort().map((n) => docs[n])].join("\n");
const denoJson = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));

/** The cells of the Configuration table's row that names `env`, or undefined. */
export function configRow(text: string, env: string): string[] | undefined {
  const table = text.slice(text.indexOf("# Configuration"));
  for (const line of table.split("\n")) {
    if (!line.startsWith("|")) continue;
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells[1]?.split(/,\s*/).includes(`\`${env}\``)) return cells;
  }
  return undefined;
}

/** What is wrong with README's Configuration table, measured against `settings`. */
export function configProblems(text: string, settings: Record<string, NumericSetting>): string[] {
  const problems: string[] = [];
  for (const s of Object.values(settings)) {
    const row = configRow(text, s.env);
    if (!row) {
      problems.push(`${s.env}: no row in the Configuration table`);
      continue;
    }
    if (!row[0].split(/,\s*/).includes(`\`--${s.flag}\``)) {
      problems.push(`${s.env}: flag cell "${row[0]}", want \`--${s.flag}\``);
    }
    if (row[2] !== `\`${s.default}\``) {
      problems.push(`${s.env}: default cell "${row[2]}", want \`${s.default}\``);
    }
  }
  return problems;
}

/** The GitHub anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
export function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}_\- ]/gu, "").replaceAll(" ", "-");
}

/** The anchors of a markdown text's headings (outside code blocks). */
export function anchors(text: string): Set<string> {
  const out = new Set<string>();
  let code = false;
  for (const line of text.split("\n")) {
    if (line.startsWith("```")) code = !code;
    const m = !code && /^#+ (.*)$/.exec(line);
    if (m) out.add(slug(m[1]));
  }
  return out;
}

/**
 * What is wrong with the relative links of `files` (path from the root to
 * text): a target file that does not exist, or an anchor it lacks.
 */
export function linkProblems(files: Record<string, string>): string[] {
  const problems: string[] = [];
  for (const [path, text] of Object.entries(files)) {
    const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/") + 1) : "";
    let code = false;
    for (const line of text.split("\n")) {
      if (line.startsWith("```")) code = !code;
      if (code) continue;
      for (const m of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        const link = m[1];
        if (/^[a-z]+:/.test(link)) continue; // https:, mailto:
        const [file, anchor] = link.split("#");
        const target = file ? join(dir, file).replaceAll("\\", "/") : path;
        if (!(target in files)) {
          if (!existsSync(join(root, target))) problems.push(`${path}: ${link}: no such file`);
          continue;
        }
        if (anchor && !anchors(files[target]).has(anchor)) {
          problems.push(`${path}: ${link}: no heading #${anchor} in ${target}`);
        }
      }
    }
  }
  return problems;
}

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const pages: Record<string, string> = {
  "README.md": readme,
  ...Object.fromEntries(Object.entries(docs).map(([n, t]) => [`docs/${n}`, t])),
};

Deno.test("README fits on a page and links every file of docs/", () => {
  const lines = readme.split("\n").length;
  assert.ok(lines <= 250, `README.md has ${lines} lines; move reference material to docs/`);
  assert.ok(Object.keys(docs).length >= 10, `docs/: ${Object.keys(docs)}`);
  const unlinked = Object.keys(docs).filter((n) => !readme.includes(`](docs/${n}`));
  assert.deepEqual(unlinked, [], "docs not linked from README");
});

Deno.test("every relative link and anchor in README and docs/ resolves", () => {
  assert.deepEqual(linkProblems(pages), []);
  // The check can fail: a broken file, a broken anchor and a broken local anchor.
  assert.deepEqual(
    linkProblems({
      "README.md": "[a](docs/nope.md) [b](docs/x.md#nowhere) [c](#here) [d](#gone)\n# Here",
      "docs/x.md": "# X\n[up](../README.md#here) [e](https://example.com/#z)",
    }),
    [
      "README.md: docs/nope.md: no such file",
      "README.md: docs/x.md#nowhere: no heading #nowhere in docs/x.md",
      "README.md: #gone: no heading #gone in README.md",
    ],
  );
});

Deno.test("every `deno task` named in README or docs/ exists in deno.json", () => {
  const named = new Set(
    [...allText.matchAll(/deno(?:@[\d.]+)? task ([a-z][a-z0-9-]*)/g)].map((m) => m[1]),
  );
  assert.ok(named.size >= 5);
  for (const task of named) assert.ok(task in denoJson.tasks, `deno task ${task} is missing`);
});

Deno.test("every command of the CLI reference is known to `help`", async () => {
  const section = docs["cli.md"];
  const commands = [...section.matchAll(/^\| `([a-z]+)[ `]/gm)].map((m) => m[1]);
  assert.ok(commands.length >= 14, `found ${commands}`);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "ipc", "help"],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const help = new TextDecoder().decode(out.stdout);
  for (const c of commands) assert.match(help, new RegExp(`\\b${c}\\b`), `help lacks ${c}`);
});

Deno.test("the quick start runs as written, in a fresh HOME, and each command prints what it should", async () => {
  // tests/quickstart/walk.ts: `deno task quickstart --cold` does the same from an empty cache.
  const { steps, home } = await walkQuickStart({ denoDir: await realDenoDir(), port: freePort() });
  try {
    const failed = steps.filter((s) => s.problem);
    assert.deepEqual(
      failed.map((s) => `${s.line}: ${s.problem}\n${s.output}`),
      [],
      "a quick-start command failed",
    );
    assert.equal(
      steps.length,
      quickStartLines(readme).filter((l) => !l.startsWith("export")).length,
    );
    assert.ok(steps.length >= 7, `walked ${steps.map((s) => s.line)}`);
    assert.ok(steps.some((s) => /agent-ipc setup claude/.test(s.line)));
    // setup wrote the command deno task install put into the fresh HOME.
    const claude = JSON.parse(await Deno.readTextFile(join(home, ".claude.json")));
    const entry = claude.mcpServers["agent-ipc"];
    assert.equal(entry.command, join(home, ".deno", "bin", "agent-ipc"));
    assert.deepEqual(entry.args, ["mcp", "--name", "claude"]);
  } finally {
    await stopWalkBroker(home);
    await Deno.remove(home, { recursive: true });
  }
});

Deno.test("`deno task start` serves, prints how to connect, and stops on SIGTERM", async () => {
  const dataDir = await Deno.makeTempDir();
  const port = freePort();
  await startBanner(
    { IPC_PORT: String(port), IPC_DATA_DIR: dataDir, IPC_HTTP_PORT: "0", IPC_LOG: "warn" },
    async (out) => {
      assert.match(out, new RegExp(`serving on 127\\.0\\.0\\.1:${port}, web console http://`));
      // The banner names the settings setup must remember (the port and data dir are not the defaults).
      assert.match(
        out,
        new RegExp(
          `IPC_PORT=${port} IPC_DATA_DIR=${
            dataDir.replaceAll("/", "\\/")
          } (agent-ipc|deno task ipc) setup all\n`,
        ),
      );
      assert.match(
        out,
        new RegExp(
          `"IPC_PORT=${port} IPC_DATA_DIR=.* (agent-ipc|deno task ipc) stop" stops the broker`,
        ),
      );
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
    },
  );
  await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
  await Deno.remove(dataDir, { recursive: true });
});

Deno.test("docs/configuration.md shows the defaults of lib/defaults.ts", () => {
  const config = docs["configuration.md"];
  assert.deepEqual(configProblems(config, SETTINGS), []);
  assert.equal(configRow(config, "IPC_HOST")?.[2], `\`${DEFAULT_HOST}\``);
  // The check can fail: a table that disagrees is caught, row by row.
  const wrong = config.replace("| `IPC_QUEUE_CAP`", "| `IPC_QUEUE_CAPS`")
    .replace(/(\| `IPC_PORT` +\| )`\d+`/, "$1`1234`");
  assert.deepEqual(configProblems(wrong, SETTINGS), [
    'IPC_PORT: default cell "`1234`", want `9876`',
    "IPC_QUEUE_CAP: no row in the Configuration table",
  ]);
});

Deno.test("the numbers in README's and docs' prose and the protocol reference come from the table", () => {
  const hours = (ms: number) => ms / 3_600_000;
  const n = (x: number) => x.toLocaleString("en-US");
  const phrases = [
    `\`IPC_PORT\` (default ${SETTINGS.port.default})`,
    `\`timeout_ms?\` (default ${LIMITS.defaultWaitMs}, max ${LIMITS.maxWaitMs})`,
    `\`limit?\` (default ${LIMITS.defaultCheckLimit})`,
    `(default ${LIMITS.defaultWaitMs / 1000} s, at most ${LIMITS.maxWaitMs / 1000})`,
    `forwards for ${hours(TTLS.forwardMs)} hours`,
    `dropped after ${TTLS.unclaimedQueueMs / 86_400_000} days`,
    `for ${hours(TTLS.dedupeMs)} hours a repeat`,
    `Over ${LIMITS.largeMessageBytes / 1024} KB: stored as a file`,
    `Content over ${LIMITS.largeMessageBytes / 1024} KB is written`,
    `the recipient has ${n(SETTINGS.queueCap.default)} unread messages`,
    `its frames may be at most ${LIMITS.preAuthMaxFrameBytes / 1024} KiB`,
    `capped at ${LIMITS.preAuthBufferBytes / 1024 / 1024} MiB: over it, \`E_BUSY\``,
    `may nest at most ${LIMITS.maxDataDepth} levels`,
    `${LIMITS.authFailuresPerConnection} failures end a connection's tries`,
    `one process may make ${LIMITS.authFailuresPerPeer} failed registrations a second`,
    `once failures pass ${LIMITS.authFailuresHot} a second`,
    `at most ${LIMITS.consoleMaxConnections} console connections at once`,
    `hears nothing for ${TIMEOUTS.brokerQuietMs / 1000} s pings the broker`,
    `whose \`ping\` is not answered within ${TIMEOUTS.pingMs / 1000} s`,
    `at most ${LIMITS.peerConnectionShare === 4 ? "a quarter" : "?"} of them`,
    `one batched scan at most every ${TIMEOUTS.peerScanMs} ms`,
  ];
  assert.equal(hours(TTLS.renameCooldownMs), 1, "README says renames are once per hour");
  const flat = allText.replace(/\s+/g, " ");
  const missing = phrases.filter((p) => !flat.includes(p));
  assert.deepEqual(missing, [], "README or docs/ disagree with lib/defaults.ts");
});
