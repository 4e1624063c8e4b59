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

Deno.test('doctor: Claude Code\'s crossSessionInbound "hold" or "refuse" is named as how an idle session is reached', async () => {
  const home = await Deno.makeTempDir();
  try {
    const out = { text: "" };
    await Deno.mkdir(join(home, ".claude"));
    assert.equal(await runSetup(["claude", "--name", "x"], io(home, out)), 0, out.text);
    const project = join(home, "project");
    await Deno.mkdir(join(project, ".claude"), { recursive: true });
    const doctor = async () => {
      out.text = "";
      assert.equal(await runDoctor([], { ...io(home, out), cwd: project }), 0, out.text);
      return out.text;
    };
    assert.match(await doctor(), /wake {5}claude-socket \(Claude Code's own inbox/);
    const settings = join(home, ".claude", "settings.json");
    const s = JSON.parse(await Deno.readTextFile(settings));
    await Deno.writeTextFile(settings, JSON.stringify({ ...s, crossSessionInbound: "hold" }));
    assert.match(
      await doctor(),
      new RegExp(
        `wake {5}claude-held: the nudge waits for the person's approval \\(crossSessionInbound "hold" \\(user settings ${settings}\\)\\)`,
      ),
    );
    // The project the doctor runs in tightens it.
    const repo = join(project, ".claude", "settings.json");
    await Deno.writeTextFile(repo, JSON.stringify({ crossSessionInbound: "refuse" }));
    assert.match(
      await doctor(),
      new RegExp(`wake {5}none \\(crossSessionInbound "refuse" \\(project settings ${repo}\\)\\)`),
    );
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
