import assert from "node:assert/strict";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { RUN_FLAGS } from "../../lib/permissions.ts";
import {
  COMPILE_TARGETS,
  npmCacheDir,
  PAYLOAD_EXCLUDES,
  runCompile,
} from "../../lib/release/compile.ts";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
const FLAGS = RUN_FLAGS.join(" ");

/** The npm cache the unit tests pretend to use. */
const CACHE = "/cache/npm";

function expectedCommands(deno: string, cache = CACHE): string[] {
  const ex = `--exclude ${cache}/registry.npmjs.org/zod/4.6.7/src ${FLAGS}`;
  return [
    `${deno} compile --target x86_64-unknown-linux-gnu --output dist/agent-ipc-x86_64-unknown-linux-gnu ${ex} main.ts`,
    `${deno} compile --target aarch64-unknown-linux-gnu --output dist/agent-ipc-aarch64-unknown-linux-gnu ${ex} main.ts`,
    `${deno} compile --target x86_64-apple-darwin --output dist/agent-ipc-x86_64-apple-darwin ${ex} main.ts`,
    `${deno} compile --target aarch64-apple-darwin --output dist/agent-ipc-aarch64-apple-darwin ${ex} main.ts`,
    `${deno} compile --target x86_64-pc-windows-msvc --output dist/agent-ipc-x86_64-pc-windows-msvc.exe ${ex} main.ts`,
  ];
}

function capture() {
  const io = { out: "", err: "" };
  return {
    io,
    stdout: (s: string) => io.out += s,
    stderr: (s: string) => io.err += s,
  };
}

Deno.test("compile --dry-run prints the exact commands and builds nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = capture();
    let ran = 0;
    const code = await runCompile(["--dry-run"], {
      ...c,
      root: dir,
      deno: "deno",
      npmCache: CACHE,
      run: () => Promise.resolve(++ran),
    });
    assert.equal(code, 0);
    assert.equal(ran, 0);
    assert.equal(
      c.io.out,
      [
        `# in ${dir}`,
        "mkdir -p dist",
        ...expectedCommands("deno"),
        "# then write dist/SHA256SUMS (sha256sum format) for the 5 binaries",
        "",
      ].join("\n"),
    );
    assert.deepEqual([...Deno.readDirSync(dir)], [], "nothing written");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile builds each target in turn and writes SHA256SUMS", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = capture();
    const seen: string[][] = [];
    // Stands in for `deno compile` (which needs a runtime download): writes the output file.
    const run = async (command: string[], cwd: string) => {
      seen.push(command);
      assert.equal(cwd, dir);
      await Deno.writeTextFile(join(cwd, command[5]), `binary for ${command[3]}\n`);
      return 0;
    };
    assert.equal(
      await runCompile([], { ...c, root: dir, deno: "deno", npmCache: CACHE, run }),
      0,
      c.io.err,
    );
    assert.deepEqual(seen.map((cmd) => cmd.join(" ")), expectedCommands("deno"));
    const sums = await Deno.readTextFile(join(dir, "dist", "SHA256SUMS"));
    assert.equal(sums.trimEnd().split("\n").length, COMPILE_TARGETS.length);
    assert.match(sums, /^[0-9a-f]{64} {2}agent-ipc-aarch64-apple-darwin\n/);
    // The real tool agrees with every line.
    const check = await new Deno.Command("sha256sum", {
      args: ["-c", "SHA256SUMS"],
      cwd: join(dir, "dist"),
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(check.code, 0, new TextDecoder().decode(check.stderr));
    assert.equal(new TextDecoder().decode(check.stdout).match(/: OK$/gm)?.length, 5);
    assert.match(c.io.out, /wrote dist\/SHA256SUMS\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile stops at the first failing target, without SHA256SUMS", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const c = capture();
    let calls = 0;
    const run = () => Promise.resolve(++calls === 2 ? 1 : 0);
    assert.equal(await runCompile([], { ...c, root: dir, deno: "deno", npmCache: CACHE, run }), 1);
    assert.equal(calls, 2);
    assert.match(c.io.err, /compile: aarch64-unknown-linux-gnu failed with exit code 1/);
    await assert.rejects(Deno.stat(join(dir, "dist", "SHA256SUMS")), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("compile takes a subset of targets and rejects unknown ones", async () => {
  const c = capture();
  assert.equal(
    await runCompile(["--dry-run", "--target", "x86_64-apple-darwin", "--out", "out/"], {
      ...c,
      root: "/repo",
      deno: "deno",
      npmCache: CACHE,
    }),
    0,
  );
  assert.match(
    c.io.out,
    /^deno compile --target x86_64-apple-darwin --output out\/agent-ipc-x86_64-apple-darwin /m,
  );
  assert.equal(c.io.out.match(/ compile /g)?.length, 1);
  assert.equal(await runCompile(["--target", "riscv"], { ...c, root: "/repo" }), 2);
  assert.match(c.io.err, /Unknown target "riscv"/);
  assert.equal(await runCompile(["--bogus"], { ...c, root: "/repo" }), 2);
});

Deno.test("deno task compile --dry-run runs the script for real", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["task", "--config", join(ROOT, "deno.json"), "compile", "--dry-run"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
  assert.ok(stdout.startsWith(`# in ${ROOT}\nmkdir -p dist\n`), stdout);
  for (const command of expectedCommands(Deno.execPath(), await npmCacheDir())) {
    assert.ok(stdout.includes(command + "\n"), command);
  }
});

Deno.test("the console page's files are in main.ts's module graph, which deno compile embeds", async () => {
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(info.code, 0);
  const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
    modules: { specifier: string }[];
  };
  const page = graph.modules
    .map((m) => m.specifier)
    .filter((s) => s.includes("/lib/web/page/"))
    .map((s) => s.slice(s.lastIndexOf("/") + 1))
    .sort();
  assert.deepEqual(page, ["app.css", "app.js", "favicon.svg", "index.html"]);
});

Deno.test("the files left out of the binaries are none that Deno loads", async () => {
  // Each excluded folder is reached through its package's exports only under a
  // condition Deno never sets, and no built file of the package imports it.
  const DENO_CONDITIONS = new Set(["deno", "node", "import", "require", "default", "types"]);
  const cache = join(await npmCacheDir(), "registry.npmjs.org");
  for (const excluded of PAYLOAD_EXCLUDES) {
    const [pkgDir, sub] = excluded.split(/\/(?=[^/]+$)/);
    const pkg = JSON.parse(await Deno.readTextFile(join(cache, pkgDir, "package.json")));
    const reach: string[] = [];
    const walk = (node: unknown, conditions: string[]) => {
      if (typeof node === "string") {
        if (node.replace(/^\.\//, "").startsWith(sub + "/")) reach.push(conditions.join(">"));
      } else if (node && typeof node === "object") {
        for (const [k, v] of Object.entries(node)) {
          walk(v, k.startsWith(".") ? conditions : [...conditions, k]);
        }
      }
    };
    walk(pkg.exports, []);
    assert.ok(reach.length > 0, `${excluded}: expected exports under a special condition`);
    for (const path of reach) {
      assert.ok(
        path.split(">").some((c) => !DENO_CONDITIONS.has(c)),
        `${excluded} is exported under ${path}, which Deno may load`,
      );
    }
    assert.ok(!`${pkg.main ?? ""}${pkg.module ?? ""}`.includes(`${sub}/`), `${excluded}: main`);
  }
});
