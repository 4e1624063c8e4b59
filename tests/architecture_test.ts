/**
 * The layers of `lib/` point one way. Every import in `lib/` (static,
 * `export … from`, and dynamic `import("…")`) is read from the source, and
 * the test fails when a lower layer imports a higher one, when two front ends
 * import each other, or when modules import each other in a cycle.
 *
 * Layers, lowest first (a module may import its own layer and any lower one):
 *
 * | rank | folders                          | owns                                         |
 * | ---- | -------------------------------- | -------------------------------------------- |
 * | 0    | `lib/*.ts`                       | shared basics: log, config, defaults, deps   |
 * | 1    | `protocol/`                      | wire types, framing, validation, auth proofs |
 * | 2    | `state/`                         | the store and the data dir                   |
 * | 3    | `broker/`                        | the broker                                   |
 * | 4    | `client/`                        | clients and the election                     |
 * | 5    | `cli/`, `mcp/`, `web/`, `setup/` | front ends (peers: none imports another)     |
 * | 6    | `app/`, `release/`               | commands that compose the parts              |
 *
 * And the client does not import the broker although it sits above it: it
 * speaks to the broker over the wire only, and is given a way to host one
 * (`HostBroker`) by the command layer.
 */

import assert from "node:assert/strict";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const LIB = fileURLToPath(new URL("../lib/", import.meta.url));

/** Rank of each top-level folder of `lib/` ("" is a file directly in `lib/`). */
export const LAYERS: Record<string, number> = {
  "": 0,
  protocol: 1,
  state: 2,
  broker: 3,
  client: 4,
  cli: 5,
  mcp: 5,
  web: 5,
  setup: 5,
  hooks: 5,
  app: 6,
  release: 6,
};

/** Pairs of layers where the first may not import the second, whatever their ranks. */
export const APART: [string, string][] = [["client", "broker"]];

/** One import: from a module to a module, both relative to `lib/`. */
export interface Edge {
  from: string;
  to: string;
}

/** The layer of a module path relative to `lib/` ("broker/server.ts" → "broker"). */
export function layerOf(path: string): string {
  const slash = path.indexOf("/");
  return slash < 0 ? "" : path.slice(0, slash);
}

// `import x from "…"`, `import "…"`, `export … from "…"`, `import("…")`, over several lines.
const IMPORT =
  /(?:^|[;\s])(?:import|export)\s(?:[^;"'`]*?\sfrom\s*)?["']([^"']+)["']|\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

/** The relative specifiers a module's source imports (comments removed first). */
export function importsOf(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (const m of code.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith(".")) out.push(spec);
  }
  return out;
}

/** Every problem with `edges`: layer violations, front ends importing each other, cycles. */
export function violations(edges: Edge[]): string[] {
  const problems: string[] = [];
  for (const { from, to } of edges) {
    const a = layerOf(from);
    const b = layerOf(to);
    if (!(a in LAYERS)) problems.push(`${from}: folder "${a}" has no layer (add it to LAYERS)`);
    if (!(b in LAYERS)) continue;
    if (a === b || !(a in LAYERS)) continue;
    if (APART.some(([x, y]) => x === a && y === b)) {
      problems.push(
        `${from} imports ${to}: ${a} may not import ${b} (it speaks to it over the wire)`,
      );
    } else if (LAYERS[b] > LAYERS[a]) {
      problems.push(`${from} imports ${to}: layer ${a || "lib"} may not import ${b}, a higher one`);
    } else if (LAYERS[b] === LAYERS[a]) {
      problems.push(`${from} imports ${to}: ${a} and ${b} are peers and may not import each other`);
    }
  }
  for (const cycle of cycles(edges)) problems.push(`import cycle: ${cycle.join(" → ")}`);
  return problems;
}

/** The import cycles among modules (each as a path that returns to its start). */
export function cycles(edges: Edge[]): string[][] {
  const next = new Map<string, string[]>();
  for (const { from, to } of edges) next.set(from, [...(next.get(from) ?? []), to]);
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (node: string) => {
    state.set(node, "open");
    stack.push(node);
    for (const to of next.get(node) ?? []) {
      if (state.get(to) === "open") found.push([...stack.slice(stack.indexOf(to)), to]);
      else if (!state.has(to)) visit(to);
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...next.keys()].sort()) if (!state.has(node)) visit(node);
  return found;
}

/** Every import between modules of `lib/`, read from the files. */
export async function libEdges(root = LIB): Promise<Edge[]> {
  const edges: Edge[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && /\.(ts|js)$/.test(entry.name)) {
        for (const spec of importsOf(await Deno.readTextFile(path))) {
          const target = resolve(dirname(path), spec);
          const to = relative(root, target);
          if (to.startsWith("..")) {
            edges.push({ from: relative(root, path), to: `(outside lib) ${spec}` });
          } else edges.push({ from: relative(root, path), to });
        }
      }
    }
  };
  await walk(root);
  return edges;
}

Deno.test("architecture: import parsing sees static, re-export, multi-line and dynamic imports", () => {
  const source = `
    import { a } from "./a.ts";
    import type {
      B,
      C,
    } from "../broker/b.ts";
    export { d } from "../protocol/d.ts";
    export * from "./e.ts";
    import "./side_effect.ts";
    // import { gone } from "../web/commented.ts";
    /* import { gone } from "../web/block.ts"; */
    const m = await import("../web/lazy.ts");
    import { parseArgs } from "node:util";
    const s = "import x from './quoted.ts'"; // in a string, after a quote: not an import
  `;
  assert.deepEqual(importsOf(source), [
    "./a.ts",
    "../broker/b.ts",
    "../protocol/d.ts",
    "./e.ts",
    "./side_effect.ts",
    "../web/lazy.ts",
  ]);
});

Deno.test("architecture: the checker catches an upward import, peers, a cycle and an unknown folder", () => {
  const bad: Edge[] = [
    { from: "broker/server.ts", to: "web/console_server.ts" }, // up
    { from: "client/election.ts", to: "state/data_dir.ts" }, // down: fine
    { from: "client/election.ts", to: "broker/server.ts" }, // down, but kept apart
    { from: "mcp/mcp_command.ts", to: "cli/broker_command.ts" }, // peers
    { from: "state/_a.ts", to: "state/_b.ts" }, // a cycle inside one layer
    { from: "state/_b.ts", to: "state/_a.ts" },
    { from: "log.ts", to: "client/agent_client.ts" }, // base reaching up
    { from: "extras/x.ts", to: "log.ts" }, // a folder nobody placed
  ];
  assert.deepEqual(violations(bad), [
    "broker/server.ts imports web/console_server.ts: layer broker may not import web, a higher one",
    "client/election.ts imports broker/server.ts: client may not import broker (it speaks to it over the wire)",
    "mcp/mcp_command.ts imports cli/broker_command.ts: mcp and cli are peers and may not import each other",
    "log.ts imports client/agent_client.ts: layer lib may not import client, a higher one",
    'extras/x.ts: folder "extras" has no layer (add it to LAYERS)',
    "import cycle: state/_a.ts → state/_b.ts → state/_a.ts",
  ]);
  assert.deepEqual(violations(bad.filter((e) => e.to === "state/data_dir.ts")), []);
});

Deno.test("architecture: lib/ imports point down the layers, without cycles", async () => {
  const edges = await libEdges();
  assert.ok(edges.length > 100, `read ${edges.length} imports: the parser found too few`);
  assert.ok(
    edges.some((e) => e.from === "app/run.ts" && layerOf(e.to) === "web"),
    "the command dispatcher's dynamic imports are read",
  );
  assert.deepEqual(violations(edges), []);
});

/**
 * Source lines of `lib/` that branch on an error's text: a regular expression
 * or `includes` applied to `e.message`, `String(e)` or `(e as Error).message`.
 * Decide by type instead (IpcError codes, error classes, JetStream API codes).
 */
const ERROR_TEXT_TEST =
  /\.(test|exec|match)\(\s*(String\(\s*(e|err|error|e2)\s*\)|\(?(e|err|error|e2)( as Error\))?\)?\.message)|\b(e|err|error|e2)\.message\.(includes|match|startsWith|endsWith)\(|(String\(\s*(e|err|error)\s*\)|\(?(e|err|error)( as Error\))?\)?\.message)\.(includes|match|startsWith|endsWith)\(/;

/**
 * Files allowed to read an error's text, and why: Deno's node:sqlite gives no
 * result code, so advice (never control flow) falls back to SQLite's fixed texts.
 */
const ERROR_TEXT_ALLOWED = new Set(["state/_sqlite_errors.ts"]);

/** The lines of `source` that test an error's text. */
export function errorTextTests(source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  return code.split("\n").filter((line) => ERROR_TEXT_TEST.test(line)).map((l) => l.trim());
}

Deno.test("architecture: the error-text check catches branches on messages", () => {
  const bad = [
    "if (e instanceof IpcError && /another program/.test(e.message)) throw e;",
    "if (!isWrongSequence(e) && !/exists/i.test(String(e))) throw e;",
    "const m = /wrong last sequence: (\\d+)/i.exec(String(e));",
    "return e instanceof Error && /refused/i.test((e as Error).message);",
    'if (err.message.includes("Client closed")) return;',
    'if (String(error).includes("timeout")) retry();',
  ];
  for (const line of bad) assert.deepEqual(errorTextTests(line), [line.trim()], line);
  const fine = [
    'if (e instanceof IpcError && e.code === "E_AUTH") throw e;',
    "log.warn(`purge failed: ${(e as Error).message}`);",
    "if (/^\\d+$/.test(value)) return Number(value);",
    "// e.g. /x/.test(e.message) in a comment",
  ];
  for (const line of fine) assert.deepEqual(errorTextTests(line), [], line);
});

Deno.test("architecture: no branch in lib/ depends on an error's message", async () => {
  const found: string[] = [];
  const walk = async (dir: string) => {
    for await (const entry of Deno.readDir(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) {
        const rel = relative(LIB, path);
        if (ERROR_TEXT_ALLOWED.has(rel)) continue;
        for (const line of errorTextTests(await Deno.readTextFile(path))) {
          found.push(`${rel}: ${line}`);
        }
      }
    }
  };
  await walk(LIB);
  assert.deepEqual(found, []);
});

/** Value imports (not `import type`) of `lib/web/` modules from `state/`: the console reads through the service. */
export function consoleStateImports(file: string, source: string): string[] {
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/^\s*\/\/.*$/gm, "");
  const out: string[] = [];
  for (
    const m of code.matchAll(/(?:^|[;\s])import\s+(type\s)?[^;"'`]*?\sfrom\s*["']([^"']+)["']/g)
  ) {
    if (m[1] === undefined && /(^|\/)state\//.test(m[2])) out.push(`${file} imports ${m[2]}`);
  }
  return out;
}

Deno.test("architecture: the console reads the store and the data dir only through the service", async () => {
  assert.deepEqual(
    consoleStateImports("web/x.ts", 'import { readAllActivity } from "../state/agent_records.ts";'),
    ["web/x.ts imports ../state/agent_records.ts"],
    "the check can fail",
  );
  assert.deepEqual(
    consoleStateImports("web/x.ts", 'import type { HistoryQuery } from "../state/store.ts";'),
    [],
  );
  const found: string[] = [];
  for await (const entry of Deno.readDir(join(LIB, "web"))) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const source = await Deno.readTextFile(join(LIB, "web", entry.name));
    found.push(...consoleStateImports(`web/${entry.name}`, source));
  }
  assert.deepEqual(found, []);
});
