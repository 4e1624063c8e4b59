/**
 * The browser half of `console_browser_test.ts`, run as its own process with
 * `deno run -A`: playwright-core reads files (e.g. /proc/sys/fs/binfmt_misc)
 * that Deno lets only --allow-all code touch, and the suite runs with the
 * project's narrower permission flags.
 *
 * Given a console (login URL) and a broker (IPC_* variables for the CLI), it
 * drives headless chromium through the scenario, asserting as it goes, runs
 * the real program for the CLI steps, saves screenshots, and prints one JSON
 * line `{"word": …, "reply": …}` on success (exit 0); any failure exits 1.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { chromium } from "npm:playwright-core@1.65.1";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";

/** Where chromium is (Debian's package). */
export const CHROMIUM = "/usr/bin/chromium";
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Runs the real program with the test's broker and session file. */
async function cli(env: Record<string, string>, ...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSION_FLAGS, MAIN, ...args],
    env,
    stdin: "null",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** What the scenario needs. */
export interface ScenarioOptions {
  consoleUrl: string;
  token: string;
  /** IPC_PORT, IPC_DATA_DIR, IPC_SESSION_FILE … for the CLI steps. */
  cliEnv: Record<string, string>;
  artifacts: string;
}

/** The scenario; throws on the first failed expectation. */
export async function runScenario(o: ScenarioOptions): Promise<{ word: string; reply: string }> {
  const profile = await Deno.makeTempDir({ prefix: "ipc-chromium-" });
  const args = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ];
  if (Deno.uid() === 0) args.push("--no-sandbox");
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args,
    viewport: { width: 1200, height: 820 },
    colorScheme: "light",
  });
  const problems: string[] = [];
  try {
    const page = context.pages()[0] ?? await context.newPage();
    page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
    page.on("console", (m) => {
      if (m.type() === "error") problems.push(`console: ${m.text()}`);
    });

    // Log in with the token; it leaves the address bar and becomes a strict cookie.
    await page.goto(`${o.consoleUrl}?token=${o.token}`);
    assert.equal(page.url(), o.consoleUrl);
    await page.waitForSelector('#conn[data-state="live"]', { timeout: 10_000 });
    // The file claims beside the feed (read-only): the test's "claude" holds one.
    const claim = page.locator("#side-claims li", { hasText: "lib/state/**" });
    await claim.waitFor({ timeout: 10_000 });
    assert.equal(await claim.locator(".badge").textContent(), "claude");
    const cookie = (await context.cookies()).find((x) => x.name.startsWith("agent_ipc_console_"));
    assert.ok(cookie, "login cookie set");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");

    // A message sent from the command line appears live, at the top, as text.
    const word = `zebra${Date.now().toString(36)}`;
    const content = `Deploy ${word} finished <b>not bold</b> & <img src=x>`;
    let r = await cli(o.cliEnv, "register", "alice");
    assert.equal(r.code, 0, r.stderr);
    r = await cli(o.cliEnv, "send", "bob", content);
    assert.equal(r.code, 0, r.stderr);
    const card = page.locator("#feed > li").first();
    await card.locator(".body", { hasText: word }).waitFor({ timeout: 10_000 });
    assert.equal(await card.locator(".body").textContent(), content);
    assert.equal(await page.locator("#feed b, #feed img").count(), 0, "no HTML from content");
    assert.deepEqual(await card.locator(".msg-head .name").allTextContents(), ["alice", "bob"]);

    // Another agent's control characters and bidi controls are shown, not obeyed.
    const hostile = `ok ctl${Date.now().toString(36)}\x1b[2K\u202eevil\u2028next`;
    r = await cli(o.cliEnv, "send", "bob", hostile);
    assert.equal(r.code, 0, r.stderr);
    const odd = page.locator("#feed > li").first().locator(".body", { hasText: "evil" });
    await odd.waitFor({ timeout: 10_000 });
    const seen = hostile.replace("\x1b", "\\x1b").replace("\u202e", "\\u202e");
    assert.equal(await odd.textContent(), seen.replace("\u2028", "\n"));

    // Search finds it, with the word marked.
    await page.click('a[data-view="search"]');
    await page.fill("#search-q", word);
    await page.press("#search-q", "Enter");
    const hit = page.locator("#search-results > li").first();
    await hit.locator(".body", { hasText: word }).waitFor({ timeout: 10_000 });
    assert.equal(await hit.locator("mark").first().textContent(), word);
    assert.match((await page.textContent("#search-summary"))!, /^1 message/);

    // A reply composed in the page lands in alice's queue (read by the CLI).
    await page.click('a[data-view="live"]');
    await page.selectOption("#compose-to", "alice");
    const reply = `Thanks alice, ${word} looks good`;
    await page.fill("#compose-text", reply);
    await page.click("#compose-send");
    await page.locator("#compose-status", { hasText: /sent/i }).waitFor({ timeout: 10_000 });
    await page.locator("#feed > li").first().locator(".body", { hasText: "Thanks alice" })
      .waitFor({ timeout: 10_000 });
    r = await cli(o.cliEnv, "check", "--json");
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as {
      messages: { from: string; message: { content: string } }[];
    };
    const got = doc.messages.find((m) => m.message.content === reply);
    assert.ok(got, `reply not in alice's queue: ${r.stdout}`);
    assert.equal(got.from, "human");

    // The instances and conversation views show both sides.
    await page.click('a[data-view="instances"]');
    await page.locator("#instances .instance-title", { hasText: "alice" }).waitFor();
    await page.goto(`${o.consoleUrl}#/conversation/alice/human`);
    await page.locator("#conv .bubble.mine", { hasText: "Thanks alice" }).waitFor();

    await page.goto(`${o.consoleUrl}#/live`);
    await page.locator("#feed > li").nth(1).waitFor();
    // alice has read the reply: her queue shows empty once the ack event is in.
    await page.locator("#side-instances li", { hasText: "alice" }).locator(".badge", {
      hasText: /^0$/,
    })
      .waitFor({ timeout: 10_000 });
    await Deno.mkdir(o.artifacts, { recursive: true });
    await page.mouse.move(0, 400);
    const shot = { animations: "disabled" as const };
    await page.screenshot({ ...shot, path: join(o.artifacts, "console.png") });
    await page.emulateMedia({ colorScheme: "dark" });
    await page.screenshot({ ...shot, path: join(o.artifacts, "console-dark.png") });
    assert.deepEqual(problems, [], "no page errors or CSP violations");
    return { word, reply };
  } catch (e) {
    // What the page showed when it failed, and what it complained about.
    await Deno.mkdir(o.artifacts, { recursive: true });
    await context.pages()[0]?.screenshot({ path: join(o.artifacts, "console-failure.png") })
      .catch(() => {});
    if (problems.length) (e as Error).message += `\npage problems:\n${problems.join("\n")}`;
    throw e;
  } finally {
    await context.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const env = Deno.env.toObject();
  try {
    const result = await runScenario({
      consoleUrl: env.CONSOLE_URL,
      token: env.CONSOLE_TOKEN,
      artifacts: env.ARTIFACTS,
      cliEnv: {
        IPC_PORT: env.IPC_PORT,
        IPC_DATA_DIR: env.IPC_DATA_DIR,
        IPC_SESSION_FILE: env.IPC_SESSION_FILE,
        IPC_NO_HTTP: "1",
        IPC_LOG: "warn",
      },
    });
    console.log(JSON.stringify(result));
    Deno.exit(0);
  } catch (e) {
    console.error((e as Error).stack ?? String(e));
    Deno.exit(1);
  }
}
