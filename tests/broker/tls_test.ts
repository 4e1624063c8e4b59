/**
 * Network mode: a TLS broker with a self-signed certificate made in the test.
 * A client with the CA connects; one without it is refused; plain TCP to the
 * TLS broker fails cleanly; plain TCP on a non-loopback address is refused.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { checkNetworkMode } from "../../lib/broker/server.ts";
import { runBrokerCommand } from "../../lib/app/broker_command.ts";
import { AgentClient } from "../../lib/client/agent_client.ts";
import { FramedClient } from "../../lib/client/framed_client.ts";
import { testCa, testCert } from "../_certs.ts";
import { RawClient, testBroker } from "../_helpers.ts";
import { PERMISSION_FLAGS } from "../../lib/permissions.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

/** A CA and a server certificate for 127.0.0.1 / localhost signed by it. */
async function makeCerts(dir: string) {
  await testCa(dir);
  await testCert(dir, "server", "IP:127.0.0.1,DNS:localhost");
  return {
    ca: await Deno.readTextFile(join(dir, "ca.pem")),
    cert: await Deno.readTextFile(join(dir, "server.pem")),
    key: await Deno.readTextFile(join(dir, "server-key.pem")),
  };
}

Deno.test("TLS broker: trusted client works, untrusted and plain clients are refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { ca, cert, key } = await makeCerts(dir);
    await using tb = await testBroker({ tls: { cert, key }, secret: "network-secret" });
    const common = {
      host: "127.0.0.1",
      port: tb.port,
      dataDir: tb.dataDir,
      role: "none" as const,
      secret: "network-secret",
      tls: { caCerts: [ca] },
    };
    await using a = await AgentClient.connect(common);
    await using b = await AgentClient.connect(common);
    await a.register("laptop");
    await b.register("devbox");
    await a.send("devbox", "over TLS");
    const { messages } = await b.check({ ack: true });
    assert.equal(messages[0].message.content, "over TLS");

    // Without the CA: the handshake fails, nothing is exchanged.
    await assert.rejects(async () => {
      const c = await FramedClient.connect({ host: "127.0.0.1", port: tb.port, tls: true });
      try {
        await c.request({ action: "ping" });
      } finally {
        c.close();
        await c.closed;
      }
    });

    // Plain TCP to a TLS broker: no reply, the connection closes, the broker lives on.
    {
      await using raw = await RawClient.connect(tb.port);
      await raw.send({ action: "ping" });
      assert.equal(await raw.next(3000), null);
    }
    assert.equal((await a.whoami()).name, "laptop");

    // The CLI reaches a TLS broker with --tls-ca.
    await Deno.writeTextFile(join(dir, "ca.pem"), ca);
    const cli = (...args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          ...PERMISSION_FLAGS,
          main,
          ...args,
          "--port",
          String(tb.port),
          "--tls-ca",
          join(dir, "ca.pem"),
          "--session-file",
          join(dir, "s.json"),
          "--json",
        ],
        env: { IPC_SHARED_SECRET: "network-secret", IPC_DATA_DIR: tb.dataDir },
        stdout: "piped",
        stderr: "piped",
      }).output();
    const reg = await cli("register", "cli-user");
    assert.equal(reg.code, 0, new TextDecoder().decode(reg.stderr));
    const sent = await cli("send", "laptop", "hello over TLS from the CLI");
    assert.equal(sent.code, 0, new TextDecoder().decode(sent.stderr));
    const got = await a.check({ ack: true });
    assert.equal(got.messages[0].message.content, "hello over TLS from the CLI");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("plain TCP on a non-loopback address is refused with a clear error", async () => {
  assert.doesNotThrow(() => checkNetworkMode("127.0.0.1", false, false));
  assert.doesNotThrow(() => checkNetworkMode("localhost", false, false));
  assert.throws(() => checkNetworkMode("0.0.0.0", false, true), /Refusing plain TCP.*--tls-cert/);
  assert.throws(() => checkNetworkMode("192.0.2.10", true, false), /IPC_SHARED_SECRET/);
  assert.doesNotThrow(() => checkNetworkMode("0.0.0.0", true, true));

  const dataDir = await Deno.makeTempDir();
  const err: string[] = [];
  const code = await runBrokerCommand(
    ["--host", "0.0.0.0", "--port", "0", "--data-dir", dataDir, "--no-http"],
    { stdout: () => {}, stderr: (s) => err.push(s) },
  );
  assert.equal(code, 1);
  assert.match(err.join("\n"), /Refusing plain TCP on non-loopback address "0.0.0.0"/);
  await Deno.remove(dataDir, { recursive: true });
});
