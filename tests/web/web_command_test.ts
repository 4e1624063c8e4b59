import assert from "node:assert/strict";
import { browserCommand, runWebCommand, WEB_HELP } from "../../lib/web/web_command.ts";
import { testBroker } from "../_helpers.ts";
import { rawHttp } from "./_http.ts";

/** Captured output, and a browser opener that only records. */
function fakeIo(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const opened: string[] = [];
  return {
    out,
    err,
    opened,
    io: {
      stdout: (s: string) => void out.push(s),
      stderr: (s: string) => void err.push(s),
      env,
      openUrl: (url: string) => {
        opened.push(url);
        return Promise.resolve(true);
      },
    },
  };
}

Deno.test("web: prints the login address from the broker's status and the data dir's token", async () => {
  await using tb = await testBroker({ console: { port: 0 } });
  // `status` names the broker's data dir only to a session: the token is read
  // from the command's own data dir (the broker's, as everywhere by default).
  const f = fakeIo({ IPC_DATA_DIR: tb.dataDir });
  const code = await runWebCommand(["--port", String(tb.port)], f.io);
  assert.equal(code, 0, f.err.join(""));
  const url = f.out.join("").trim();
  assert.equal(url, `${tb.broker.consoleUrl}?token=${tb.broker.consoleToken}`);
  assert.deepEqual(f.opened, [url]);
  // The address works: it logs the browser in.
  const u = new URL(url);
  const r = await rawHttp(Number(u.port), { path: u.pathname + u.search });
  assert.equal(r.status, 303);
  assert.match(r.headers.get("set-cookie")!, /HttpOnly; SameSite=Strict; Path=\//);
});

Deno.test("web: --no-open only prints; --json prints one document", async () => {
  await using tb = await testBroker({ console: { port: 0 } });
  const f = fakeIo({ IPC_DATA_DIR: tb.dataDir });
  assert.equal(
    await runWebCommand(["--no-open", "--json", "--port", String(tb.port)], f.io),
    0,
  );
  assert.deepEqual(f.opened, []);
  const doc = JSON.parse(f.out.join(""));
  assert.deepEqual(doc, {
    ok: true,
    url: tb.broker.consoleUrl,
    login_url: `${tb.broker.consoleUrl}?token=${tb.broker.consoleToken}`,
    opened: false,
  });
});

Deno.test("web: a broker without a console says so and how to fix it", async () => {
  await using tb = await testBroker();
  const f = fakeIo();
  assert.equal(await runWebCommand(["--port", String(tb.port), "--json"], f.io), 1);
  assert.match(f.err.join(""), /serves no web console: .*--no-http/);
  assert.equal(JSON.parse(f.out.join("")).code, "E_UNAVAILABLE");
  assert.deepEqual(f.opened, []);
});

Deno.test("web: a token the user cannot read is reported", async () => {
  await using tb = await testBroker({ console: { port: 0 } });
  await Deno.remove(`${tb.dataDir}/console-token`);
  const f = fakeIo({ IPC_DATA_DIR: tb.dataDir });
  assert.equal(await runWebCommand(["--port", String(tb.port)], f.io), 1);
  assert.match(f.err.join(""), /Cannot read the console's login token/);
});

Deno.test("web: help and usage errors", async () => {
  const help = fakeIo();
  assert.equal(await runWebCommand(["--help"], help.io), 0);
  assert.equal(help.out.join(""), WEB_HELP);
  for (const args of [["--bogus"], ["extra"], ["--port", "x"], ["--port", "70000"]]) {
    const f = fakeIo();
    assert.equal(await runWebCommand(args, f.io), 2, args.join(" "));
    assert.match(f.err.join(""), /agent-ipc web: .*\nRun "agent-ipc web --help" for usage/s);
  }
  const remote = fakeIo();
  assert.equal(await runWebCommand(["--host", "192.0.2.1"], remote.io), 1);
  assert.match(remote.err.join(""), /on the broker's machine only/);
});

Deno.test("web: the browser opener per OS", () => {
  const url = "http://127.0.0.1:9877/?token=abc";
  assert.deepEqual(browserCommand(url, "darwin", {}), { cmd: "open", args: [url] });
  assert.deepEqual(browserCommand(url, "windows", {}), {
    cmd: "rundll32",
    args: ["url.dll,FileProtocolHandler", url],
  });
  assert.deepEqual(browserCommand(url, "linux", { DISPLAY: ":0" }), {
    cmd: "xdg-open",
    args: [url],
  });
  assert.deepEqual(browserCommand(url, "linux", { WAYLAND_DISPLAY: "wayland-0" })?.cmd, "xdg-open");
  assert.deepEqual(browserCommand(url, "linux", { WSL_DISTRO_NAME: "Ubuntu" })?.cmd, "wslview");
  // A server without a display: nothing to open, the address is printed.
  assert.equal(browserCommand(url, "linux", {}), null);
});
