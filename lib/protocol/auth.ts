/**
 * Secrets and tokens as the protocol defines them: the registration proof
 * (`auth_token`), the broker's proof of the shared secret (`ping` nonce),
 * session tokens (256-bit random, stored only as hashes) and constant-time
 * comparison. Pure functions: the broker computes them, clients check them.
 *
 * @module
 */

import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * The registration proof for `name`: lower-case hex SHA-256 of `name:secret`,
 * exactly as the original computes it.
 *
 * @example
 * ```ts
 * authToken("fred", "s3cret"); // "5e88…"
 * ```
 */
export function authToken(name: string, secret: string): string {
  return createHash("sha256").update(`${name}:${secret}`, "utf8").digest("hex");
}

/** A new session token: 256 random bits, URL-safe base64 (43 characters). */
export function newSessionToken(): string {
  return randomBytes(32).toString("base64url");
}

/** A new shared secret: 256 random bits as 64 hex characters. */
export function newSecret(): string {
  return randomBytes(32).toString("hex");
}

/**
 * What the broker stores of a session token: HMAC-SHA256 of the token keyed by
 * the shared secret, hex. Keyed so that changing the secret (and restarting
 * the broker) invalidates every session issued under the old one.
 *
 * @example
 * ```ts
 * sessionHash(newSessionToken(), "s3cret"); // 64 hex characters
 * ```
 */
export function sessionHash(token: string, secret: string): string {
  return createHmac("sha256", secret).update(token, "utf8").digest("hex");
}

/** Compares two strings in time that depends only on their lengths. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ab = new TextEncoder().encode(a);
  const bb = new TextEncoder().encode(b);
  if (ab.length !== bb.length) {
    // Still spend the time of a comparison so lengths alone leak nothing more.
    timingSafeEqual(ab, ab);
    return false;
  }
  return timingSafeEqual(ab, bb);
}

/**
 * The broker's answer to a client's `ping` nonce: hex HMAC-SHA256 of the
 * nonce under the shared secret. Only a program that knows the secret can
 * compute it, so a client verifies it before trusting the port.
 *
 * @example
 * ```ts
 * brokerProof("s3cret", "0123456789abcdef"); // 64 hex characters
 * ```
 */
export function brokerProof(secret: string, nonce: string): string {
  return createHmac("sha256", secret).update(`agent-ipc broker proof:${nonce}`, "utf8").digest(
    "hex",
  );
}
