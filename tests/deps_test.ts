/**
 * The runtime's download stays lean: `deno run main.ts` (and `deno task start`,
 * `deno install -g`, `deno compile`) fetches every npm package its lockfile
 * names, so `deno.lock` must name exactly what `lib/deps.ts` imports and what
 * those packages depend on, nothing a test or the bench uses, and no package
 * with install scripts (Deno warns "Ignored build scripts" about those, which a
 * user cannot act on). Test-only packages live in `tests/deno.lock`, which
 * must agree with the runtime's lock on every package they share.
 */
import assert from "node:assert/strict";
import { join } from "node:path";

const root = new URL("../", import.meta.url).pathname;

/** A Deno lockfile (version 5), the parts read here. */
interface Lock {
  version: string;
  specifiers: Record<string, string>;
  npm: Record<string, {
    integrity: string;
    dependencies?: string[];
    optionalDependencies?: string[];
    scripts?: boolean;
  }>;
}

async function readLock(path: string): Promise<Lock> {
  return JSON.parse(await Deno.readTextFile(join(root, path)));
}

/** The `npm:name@version` specifiers a module's text names (imports and `@ts-types`). */
export function npmSpecifiers(text: string): Set<string> {
  return new Set(
    [...text.matchAll(/npm:((?:@[\w.-]+\/)?[\w.-]+@\d[\w.-]*)/g)].map((m) => `npm:${m[1]}`),
  );
}

/**
 * The lock keys of the packages `specifiers` need: the packages they resolve
 * to and, transitively, their dependencies.
 */
export function closure(lock: Lock, specifiers: Iterable<string>): Set<string> {
  const byName = (dep: string): string => {
    if (dep in lock.npm) return dep;
    const found = Object.keys(lock.npm).filter((k) =>
      k.split("_")[0].replace(/@[^@]+$/, "") === dep
    );
    if (found.length !== 1) throw new Error(`dependency ${dep}: ${found.length} lock entries`);
    return found[0];
  };
  const todo: string[] = [];
  for (const s of specifiers) {
    const version = lock.specifiers[s];
    if (!version) throw new Error(`${s} is not in the lockfile`);
    todo.push(`${s.slice(4).replace(/@[^@]+$/, "")}@${version}`);
  }
  const seen = new Set<string>();
  while (todo.length) {
    const key = todo.pop()!;
    if (seen.has(key)) continue;
    seen.add(key);
    const entry = lock.npm[key];
    if (!entry) throw new Error(`${key} is not in the lockfile`);
    for (const d of [...entry.dependencies ?? [], ...entry.optionalDependencies ?? []]) {
      todo.push(byName(d));
    }
  }
  return seen;
}

/** Every npm specifier named by the modules under `dir` (recursively). */
async function specifiersUnder(dir: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  const walk = async (d: string) => {
    for await (const e of Deno.readDir(join(root, d))) {
      const path = `${d}/${e.name}`;
      if (e.isDirectory) await walk(path);
      else if (/\.(ts|js)$/.test(e.name)) {
        for (const s of npmSpecifiers(await Deno.readTextFile(join(root, path)))) {
          found.set(s, path);
        }
      }
    }
  };
  await walk(dir);
  return found;
}

Deno.test("lib/ takes every npm package through lib/deps.ts", async () => {
  const elsewhere = [...await specifiersUnder("lib")].filter(([, path]) => path !== "lib/deps.ts");
  assert.deepEqual(elsewhere, []);
});

Deno.test("deno.lock names exactly lib/deps.ts's packages and their dependencies", async () => {
  const lock = await readLock("deno.lock");
  const runtime = npmSpecifiers(await Deno.readTextFile(join(root, "lib/deps.ts")));
  assert.ok(runtime.size >= 5, `lib/deps.ts: ${[...runtime]}`);
  assert.deepEqual(new Set(Object.keys(lock.specifiers)), runtime);
  const needed = closure(lock, runtime);
  const extra = Object.keys(lock.npm).filter((k) => !needed.has(k));
  assert.deepEqual(extra, [], "packages in deno.lock that main.ts does not need");
  const withScripts = Object.keys(lock.npm).filter((k) => lock.npm[k].scripts);
  assert.deepEqual(withScripts, [], "packages whose install scripts Deno would warn about");
});

Deno.test("tests/deno.lock holds the runtime's packages unchanged, and the test-only ones", async () => {
  const lock = await readLock("deno.lock");
  const tests = await readLock("tests/deno.lock");
  for (const [s, v] of Object.entries(lock.specifiers)) assert.equal(tests.specifiers[s], v, s);
  for (const [k, entry] of Object.entries(lock.npm)) assert.deepEqual(tests.npm[k], entry, k);
  // Every npm package a test or the bench names is pinned there (but the made-up
  // ones of the bundle test and of this file).
  const named = [...await specifiersUnder("tests"), ...await specifiersUnder("bench")]
    .filter(([s, path]) => !tests.specifiers[s] && !/(bundle|deps)_test\.ts$/.test(path));
  assert.deepEqual(named, [], "npm packages of tests/ and bench/ missing from tests/deno.lock");
  const testOnly = Object.keys(tests.specifiers).filter((s) => !(s in lock.specifiers));
  assert.ok(testOnly.includes("npm:playwright-core@1.65.1"), `${testOnly}`);
});

Deno.test("closure() follows dependencies and fails on a missing one", () => {
  const lock: Lock = {
    version: "5",
    specifiers: { "npm:a@1.0.0": "1.0.0" },
    npm: {
      "a@1.0.0": { integrity: "x", dependencies: ["b"] },
      "b@2.0.0_c@3.0.0": { integrity: "y", dependencies: ["c"] },
      "c@3.0.0": { integrity: "z" },
      "d@4.0.0": { integrity: "w" },
    },
  };
  assert.deepEqual(
    closure(lock, ["npm:a@1.0.0"]),
    new Set(["a@1.0.0", "b@2.0.0_c@3.0.0", "c@3.0.0"]),
  );
  assert.throws(() => closure(lock, ["npm:e@1.0.0"]), /not in the lockfile/);
});
