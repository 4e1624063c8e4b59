/**
 * Test helper: a throwaway certificate authority and certificates signed by
 * it, made with the machine's `openssl` (EC P-256, valid one day), for the
 * TLS tests of the broker and of the NATS store.
 *
 * @module
 */

import { join } from "node:path";

/** Why TLS tests that need `openssl` are skipped (null when it runs). */
export const OPENSSL_SKIP_REASON: string | null = await new Deno.Command("openssl", {
  args: ["version"],
  stdout: "null",
  stderr: "null",
}).output().then((o) => o.success ? null : "openssl fails", () => "openssl is not installed");

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

async function openssl(cwd: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd, stdout: "null", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]}: ${new TextDecoder().decode(out.stderr)}`);
}

/** A CA in `dir`: `ca.pem` and `ca-key.pem`. */
export async function testCa(dir: string, commonName = "agent-ipc test CA"): Promise<void> {
  await openssl(
    dir,
    "req",
    "-x509",
    ...EC_KEY,
    "-keyout",
    "ca-key.pem",
    "-out",
    "ca.pem",
    "-days",
    "1",
    "-subj",
    `/CN=${commonName}`,
  );
}

/**
 * A certificate `name.pem` (key `name-key.pem`) signed by the CA in `dir`,
 * for `san` (a subjectAltName value: `IP:127.0.0.1,DNS:localhost`).
 */
export async function testCert(dir: string, name: string, san: string): Promise<void> {
  await Deno.writeTextFile(
    join(dir, `${name}.ext`),
    `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`,
  );
  await openssl(
    dir,
    "req",
    ...EC_KEY,
    "-keyout",
    `${name}-key.pem`,
    "-out",
    `${name}.csr`,
    "-subj",
    `/CN=${name}`,
  );
  await openssl(
    dir,
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    "ca.pem",
    "-CAkey",
    "ca-key.pem",
    "-CAcreateserial",
    "-out",
    `${name}.pem`,
    "-days",
    "1",
    "-extfile",
    `${name}.ext`,
  );
}
