/**
 * A TLS store URL that names its NATS servers by IP address checks their
 * certificates against those addresses. nats.js gives TLS no server name for
 * an address and Deno's TLS then checked "localhost": a certificate for
 * 127.0.0.1 alone was refused, and one for "localhost" alone was accepted
 * for any address (found by tests/broker/netns_hosts_test.ts, whose nodes
 * live at 10.213.0.N). Real nats-server with TLS, certificates by openssl.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { NatsLink } from "../../lib/state/_nats_conn.ts";
import { OPENSSL_SKIP_REASON, testCa, testCert } from "../_certs.ts";
import { freePort, NATS_SKIP_REASON, waitServing } from "../_nats_server.ts";

const ignore = NATS_SKIP_REASON !== null || OPENSSL_SKIP_REASON !== null;

/** Connects a NatsLink to a TLS nats-server serving `cert`; the error, or null. */
async function connectWith(dir: string, cert: string): Promise<Error | null> {
  const port = freePort();
  const conf = join(dir, `${cert}.conf`);
  await Deno.writeTextFile(
    conf,
    `listen: "127.0.0.1:${port}"\ntls { cert_file: "${dir}/${cert}.pem", key_file: "${dir}/${cert}-key.pem" }\n`,
  );
  const proc = new Deno.Command("nats-server", {
    args: ["-c", conf],
    stdout: "null",
    stderr: "null",
  })
    .spawn();
  try {
    await waitServing(port, proc, 10_000);
    const link = await NatsLink.connect(`tls://127.0.0.1:${port}?ca=${dir}/ca.pem`, {
      timeoutMs: 3_000,
    }).catch((e: Error) => e);
    if (link instanceof Error) return link;
    await link.close();
    return null;
  } finally {
    proc.kill("SIGKILL");
    await proc.status;
  }
}

Deno.test(
  { name: "NATS TLS: a server given by IP is checked against its IP", ignore },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ipc-nats-tls-" });
    try {
      await testCa(dir, "test CA");
      await testCert(dir, "by-ip", "IP:127.0.0.1");
      await testCert(dir, "by-name", "DNS:localhost");
      await testCert(dir, "elsewhere", "IP:10.9.9.9");

      assert.equal(
        await connectWith(dir, "by-ip"),
        null,
        "a certificate for the address is accepted",
      );
      for (const cert of ["by-name", "elsewhere"]) {
        const e = await connectWith(dir, cert);
        assert.ok(e, `a certificate ${cert} is refused`);
        assert.match(e.message, /E_STORE|certificate|altnames/i, e.message);
      }
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
);
