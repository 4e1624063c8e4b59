import assert from "node:assert/strict";
import { join } from "node:path";
import { runDoctor } from "../../lib/setup/doctor.ts";
import { runSetup, type SetupIo } from "../../lib/setup/setup_command.ts";

function io(home: string, out: { text: string }): SetupIo {
  return {
    stdout: (s) => out.text += s,
    stderr: (s) => out.text += s,
    env: { PATH: "", HOME: home },
    home,
    os: "linux",
    isWsl: false,
    cwd: home,
    program: { standalone: true, execPath: "/opt/agent-ipc", mainModule: "file:///x/main.ts" },
  };
}

Deno.test("doctor: what setup wrote is all there; a lost trust record or hook is named with its fix; exit 1", async () => {
  const home = await Deno.makeTempDir();
  try {
    const out = { text: "" };
    await Deno.mkdir(join(home, ".codex"));
    await Deno.mkdir(join(home, ".gemini"));
    assert.equal(await runSetup(["codex", "gemini", "--name", "x"], io(home, out)), 0, out.text);
    out.text = "";
    assert.equal(await runDoctor([], io(home, out)), 0, out.text);
    assert.match(out.text, /Codex trusts agent-ipc's 4 hooks/);
    assert.match(out.text, /wake {5}codex-queue/);
    // Gemini's wake is optional: reported, with the command that adds it, not a failure.
    assert.match(out.text, /absent {3}wake \(optional: setup gemini --wake\)/);
    assert.match(out.text, /to add: {2}agent-ipc setup gemini --wake/);
    assert.match(out.text, /Claude Code: not installed/);

    // The user (or another tool) edited hooks.json: Codex no longer trusts our hooks.
    const hooks = join(home, ".codex", "hooks.json");
    const text = await Deno.readTextFile(hooks);
    await Deno.writeTextFile(hooks, text.replaceAll('"timeout": 10', '"timeout": 11'));
    const gem = join(home, ".gemini", "settings.json");
    const g = JSON.parse(await Deno.readTextFile(gem));
    delete g.hooks.AfterAgent;
    await Deno.writeTextFile(gem, JSON.stringify(g));
    out.text = "";
    assert.equal(await runDoctor([], io(home, out)), 1);
    assert.match(
      out.text,
      /MISSING {2}Codex's trust \(hooks.state trusted_hash\) for 4 of agent-ipc's hooks/,
    );
    assert.match(out.text, /MISSING {2}hooks for AfterAgent in /);
    assert.match(out.text, /fix: {5}agent-ipc setup codex/);
    assert.match(out.text, /fix: {5}agent-ipc setup gemini/);
    out.text = "";
    assert.equal(await runDoctor(["--json"], io(home, out)), 1);
    const json = JSON.parse(out.text);
    assert.equal(json.ok, false);
    assert.equal(
      json.assistants.find((a: { id: string }) => a.id === "codex").fix,
      "agent-ipc setup codex",
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
