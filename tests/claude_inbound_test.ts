import assert from "node:assert/strict";
import {
  claudeInbound,
  describeInbound,
  effectiveInbound,
  type InboundLayer,
} from "../lib/claude_inbound.ts";

const layer = (source: InboundLayer["source"], value: unknown): InboundLayer => ({
  source,
  path: `/${source}.json`,
  value,
});

Deno.test("effectiveInbound: unset is accept; managed wins over the user; a repository only tightens", () => {
  assert.deepEqual(effectiveInbound([]), { value: "accept", source: "default" });
  assert.deepEqual(effectiveInbound([layer("user", undefined)]), {
    value: "accept",
    source: "default",
  });
  assert.equal(effectiveInbound([layer("user", "hold")]).value, "hold");
  // Managed settings come first, even when less strict than the user's.
  assert.deepEqual(effectiveInbound([layer("managed", "accept"), layer("user", "refuse")]), {
    value: "accept",
    source: "managed",
    path: "/managed.json",
  });
  // A repository tightens the person's setting, and cannot loosen it.
  assert.deepEqual(effectiveInbound([layer("user", "accept"), layer("project", "hold")]), {
    value: "hold",
    source: "project",
    path: "/project.json",
  });
  assert.equal(
    effectiveInbound([layer("user", "refuse"), layer("project", "accept")]).value,
    "refuse",
  );
  assert.equal(
    effectiveInbound([layer("managed", "hold"), layer("local", "refuse")]).source,
    "local",
  );
  assert.equal(
    effectiveInbound([layer("user", "hold"), layer("local", "hold"), layer("project", "hold")])
      .source,
    "user",
  );
});

Deno.test("effectiveInbound: an unknown value anywhere holds, unless something refuses", () => {
  assert.deepEqual(effectiveInbound([layer("user", "Hold")]), {
    value: "hold",
    source: "invalid",
    path: "/user.json",
  });
  assert.equal(effectiveInbound([layer("managed", "accept"), layer("project", 1)]).value, "hold");
  assert.equal(
    effectiveInbound([layer("user", "refuse"), layer("project", "nope")]).value,
    "refuse",
  );
});

Deno.test("claudeInbound: reads managed (and its drop-ins), user (CLAUDE_CONFIG_DIR) and project files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const write = async (rel: string, value: unknown) => {
      const path = `${dir}/${rel}`;
      await Deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
      await Deno.writeTextFile(path, typeof value === "string" ? value : JSON.stringify(value));
    };
    const places = {
      env: {},
      home: `${dir}/home`,
      project: `${dir}/project`,
      managedDir: `${dir}/managed`,
    };
    assert.deepEqual(await claudeInbound(places), { value: "accept", source: "default" });
    await write("home/.claude/settings.json", { crossSessionInbound: "hold", model: "x" });
    assert.equal(
      describeInbound(await claudeInbound(places)),
      `crossSessionInbound "hold" (user settings ${dir}/home/.claude/settings.json)`,
    );
    // CLAUDE_CONFIG_DIR moves the user's settings.
    await write("config/settings.json", { crossSessionInbound: "refuse" });
    assert.equal(
      (await claudeInbound({ ...places, env: { CLAUDE_CONFIG_DIR: `${dir}/config` } })).value,
      "refuse",
    );
    await write("project/.claude/settings.local.json", { crossSessionInbound: "refuse" });
    assert.deepEqual(await claudeInbound(places), {
      value: "refuse",
      source: "local",
      path: `${dir}/project/.claude/settings.local.json`,
    });
    // Managed: the base file, then drop-ins in name order (the last that sets it wins).
    await write("project/.claude/settings.local.json", "{ not json");
    await write("managed/managed-settings.json", { crossSessionInbound: "hold" });
    await write("managed/managed-settings.d/20-b.json", { crossSessionInbound: "accept" });
    await write("managed/managed-settings.d/10-a.json", { crossSessionInbound: "refuse" });
    assert.deepEqual(await claudeInbound(places), {
      value: "accept",
      source: "managed",
      path: `${dir}/managed/managed-settings.d/20-b.json`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
