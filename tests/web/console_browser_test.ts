/**
 * The console in a real browser: headless Debian chromium driven by
 * playwright-core (in `_browser_driver.ts`, a process of its own: see there
 * why). A message sent with the real program (`main.ts send`) appears live,
 * is found by search, and a reply composed in the page lands in the sender's
 * queue (read back with `main.ts check`). Screenshots go to
 * tests/.artifacts/console.png (light) and console-dark.png.
 *
 * Skipped when /usr/bin/chromium is missing (`.ci/run` installs it).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { hostBroker } from "../../lib/app/host_broker.ts";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { TEST_LOCK } from "../_helpers.ts";

/** Debian's chromium, as `_browser_driver.ts` uses it (not imported: it loads playwright). */
const CHROMIUM = "/usr/bin/chromium";
const DRIVER = new URL("./_browser_driver.ts", import.meta.url).pathname;
const ARTIFACTS = new URL("../.artifacts/", import.meta.url).pathname;
const hasChromium = await Deno.stat(CHROMIUM).then((s) => s.isFile, () => false);

Deno.test({
  name: "console in chromium: live feed, search, and a composed reply that lands in a queue",
  ignore: !hasChromium,
  async fn() {
    const dataDir = await Deno.makeTempDir({ prefix: "ipc-web-" });
    try {
      await using broker = await hostBroker({
        host: "127.0.0.1",
        port: 0,
        dataDir,
        console: { port: 0 },
      });
      // Two assistants at work, online while the browser looks (and in the screenshot).
      const agent = async (name: string) => {
        const c = await AgentClient.connect({
          host: "127.0.0.1",
          port: broker.port,
          dataDir,
          role: "none",
        });
        await c.register(name);
        return c;
      };
      await using claude = await agent("claude");
      await using gemini = await agent("gemini");
      await claude.send(
        "gemini",
        "Can you review the schema change in lib/state/_sqlite_schema.ts? The FTS table is contentless now.",
      );
      await gemini.send(
        "claude",
        "Reviewed. contentless_delete needs SQLite 3.43 or newer; Deno ships 3.49, so we're fine.\nOne nit: name the index after what it serves.",
      );
      await gemini.check({ ack: true });
      await claude.claim("/home/me/agent-ipc", ["lib/state/**"], { reason: "schema change" });
      const started = Date.now();
      const out = await new Deno.Command(Deno.execPath(), {
        // playwright-core is pinned in the tests' lock, not the runtime's.
        args: ["run", `--lock=${TEST_LOCK}`, "-A", DRIVER],
        env: {
          CONSOLE_URL: broker.consoleUrl!,
          CONSOLE_TOKEN: broker.consoleToken!,
          ARTIFACTS,
          IPC_PORT: String(broker.port),
          IPC_DATA_DIR: dataDir,
          IPC_SESSION_FILE: join(dataDir, "alice-session.json"),
        },
        stdin: "null",
        signal: AbortSignal.timeout(120_000),
      }).output();
      const stderr = new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 0, stderr);
      const { word, reply } = JSON.parse(new TextDecoder().decode(out.stdout).trim());

      // The broker saw it all: the CLI's message, and the human's reply, now acknowledged.
      const history = await broker.service.history({ text: word });
      const pairs = history.map((m) => `${m.from}>${m.to}:${m.content.slice(0, 12)}`).sort();
      assert.deepEqual(pairs, ["alice>bob:Deploy " + word.slice(0, 5), "human>alice:Thanks alice"]);
      assert.ok(history.some((m) => m.content === reply));
      assert.equal(await broker.store.depth("alice"), 0, "alice read the reply");
      for (const name of ["console.png", "console-dark.png"]) {
        const png = await Deno.readFile(join(ARTIFACTS, name));
        assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47], `${name} is a PNG`);
        assert.ok((await Deno.stat(join(ARTIFACTS, name))).mtime!.getTime() >= started - 1000);
      }
    } finally {
      await Deno.remove(dataDir, { recursive: true }).catch(() => {});
    }
  },
});
