/**
 * Identity attacks against the real program as a broker process: a wrong
 * secret, a replayed auth token for another name, forged `from_id`,
 * `instance_id` and `old_id` (framed and legacy), a second register of a
 * connected name and 20 racing registers of one free name, a session token
 * from before a secret change, and guessing (registration proofs across many
 * connections, session tokens). Every attempt must be refused with a clear
 * code; the row counts attempts and unauthorised successes (must be 0).
 *
 * @module
 */

import { authToken, newSessionToken } from "../../../lib/protocol/auth.ts";
import { FramedClient } from "../../../lib/client/framed_client.ts";
import {
  BrokerProcess,
  brokerStatus,
  bump,
  formatCounts,
  freePort,
  removeDir,
  type Row,
  row,
  type ScenarioOptions,
  tempDir,
} from "../_common.ts";

async function legacy(
  port: number,
  req: Record<string, unknown>,
): Promise<Record<string, unknown>> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(new TextEncoder().encode(JSON.stringify(req)));
    const parts: number[] = [];
    const buf = new Uint8Array(65536);
    for (;;) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      parts.push(...buf.subarray(0, n));
    }
    return JSON.parse(new TextDecoder().decode(Uint8Array.from(parts)));
  } finally {
    try {
      conn.close();
    } catch { /* closed */ }
  }
}

/** Runs the identity attacks. */
export async function identity(o: ScenarioOptions): Promise<Row> {
  const t0 = Date.now();
  const dir = await tempDir("identity");
  const port = freePort();
  const secret1 = "first-secret-" + o.seed;
  let broker = await BrokerProcess.start(dir, { port, env: { IPC_SHARED_SECRET: secret1 } });
  const failures: string[] = [];
  const codes: Record<string, number> = {};
  const cs: FramedClient[] = [];
  let attempts = 0;
  let breaches = 0;
  let alive = false;
  const auth = (n: string) => authToken(n, secret1);
  const connect = async () => {
    const c = await FramedClient.connect({ host: "127.0.0.1", port });
    cs.push(c);
    return c;
  };
  /** One attack: `ok` says whether the reply means it worked. */
  const attack = (what: string, reply: Record<string, unknown>, worked: boolean) => {
    attempts++;
    if (worked) {
      breaches++;
      failures.push(`${what}: succeeded (${JSON.stringify(reply).slice(0, 120)})`);
    } else if (reply.status === "error") {
      if (typeof reply.code !== "string" || !reply.message) failures.push(`${what}: unclear error`);
      bump(codes, String(reply.code));
    } else bump(codes, "ignored");
  };
  try {
    const alice = await connect();
    const aliceReg = await alice.request({
      action: "register",
      instance_id: "alice",
      auth_token: auth("alice"),
    });
    const aliceToken = aliceReg.session_token as string;
    const mallory = await connect();
    const mal = await mallory.request({
      action: "register",
      instance_id: "mallory",
      auth_token: auth("mallory"),
    });
    const malToken = mal.session_token as string;

    // Wrong secret, on fresh connections (20 failures end a connection's tries).
    for (let i = 0; i < 40; i++) {
      const c = i % 10 === 0 ? await connect() : cs[cs.length - 1];
      const r = await c.requestRaw({
        action: "register",
        instance_id: "alice2",
        auth_token: authToken("alice2", `guess-${i}`),
      });
      attack("wrong secret", r, r.status === "ok");
    }
    // alice's proof replayed for other names, framed and legacy.
    for (const name of ["bob", "root", "alice_", "mallory"]) {
      const c = await connect();
      const r = await c.requestRaw({
        action: "register",
        instance_id: name,
        auth_token: auth("alice"),
      });
      attack("replayed proof", r, r.status === "ok");
      const l = await legacy(port, {
        action: "register",
        instance_id: name,
        auth_token: auth("alice"),
      });
      attack("replayed proof (legacy)", l, l.status === "ok");
    }
    // Forged from_id: the message arrives as mallory's.
    for (
      const [how, send] of [
        ["framed", () =>
          mallory.requestRaw({
            action: "send",
            from_id: "alice",
            to_id: "alice",
            message: { content: "f" },
          })],
        ["legacy", () =>
          legacy(port, {
            action: "send",
            from_id: "system",
            to_id: "alice",
            message: { content: "l" },
            session_token: malToken,
          })],
      ] as const
    ) {
      await send();
      const r = await alice.request({ action: "check", ack: true });
      const froms = (r.messages as { from: string }[]).map((m) => m.from);
      attack(`forged from_id (${how})`, r, froms.some((f) => f !== "mallory"));
    }
    // Forged instance_id on check: mallory reads only its own queue.
    await alice.request({ action: "send", to_id: "alice", message: { content: "secret note" } });
    const peek = await mallory.requestRaw({ action: "check", instance_id: "alice" });
    attack("forged instance_id", peek, (peek.messages as unknown[] | undefined)?.length !== 0);
    const lpeek = await legacy(port, {
      action: "check",
      instance_id: "alice",
      session_token: malToken,
    });
    attack(
      "forged instance_id (legacy)",
      lpeek,
      (lpeek.messages as unknown[] | undefined)?.length !== 0,
    );
    // Forged old_id on rename.
    const rn = await mallory.requestRaw({ action: "rename", old_id: "alice", new_id: "owned" });
    attack("forged old_id", rn, rn.status === "ok");
    const lrn = await legacy(port, {
      action: "rename",
      old_id: "alice",
      new_id: "owned2",
      session_token: malToken,
    });
    attack("forged old_id (legacy)", lrn, lrn.status === "ok");
    const who = await alice.request({ action: "whoami" });
    if (who.instance_id !== "alice") failures.push(`alice is now ${who.instance_id}`);
    // A second register of a connected name, framed and legacy.
    const again = await (await connect()).requestRaw({
      action: "register",
      instance_id: "alice",
      auth_token: auth("alice"),
    });
    attack("second register", again, again.status === "ok");
    const lagain = await legacy(port, {
      action: "register",
      instance_id: "alice",
      auth_token: auth("alice"),
    });
    attack("second register (legacy)", lagain, lagain.status === "ok");
    // 20 racing registers of one free name: one wins, 19 must not.
    const racers = await Promise.all(Array.from({ length: 20 }, () => connect()));
    const races = await Promise.all(
      racers.map((c) =>
        c.requestRaw({ action: "register", instance_id: "prize", auth_token: auth("prize") })
      ),
    );
    const winners = races.filter((r) => r.status === "ok").length;
    for (const r of races.filter((r) => r.status !== "ok")) attack("racing register", r, false);
    if (winners !== 1) {
      breaches += Math.max(0, winners - 1);
      failures.push(`${winners} racers won one name`);
    }
    // Guessing: registration proofs over 100 connections (the broker-wide limit
    // holds them to 50 failures a second), then session tokens.
    let refusedFast = 0;
    const guessers = await Promise.all(Array.from({ length: 100 }, () => connect()));
    await Promise.all(guessers.map(async (c, i) => {
      for (let k = 0; k < 20; k++) {
        const r = await c.requestRaw({
          action: "register",
          instance_id: "alice9",
          auth_token: (i * 20 + k).toString(16).padStart(64, "0"),
        });
        attack("guessed proof", r, r.status === "ok");
        if (r.code === "E_RATE_LIMITED") refusedFast++;
      }
    }));
    // The right proof, sent while limited, is refused too.
    const during = await guessers[0].requestRaw({
      action: "register",
      instance_id: "alice9",
      auth_token: auth("alice9"),
    });
    attack("right proof while rate-limited", during, during.status === "ok");
    // Session tokens, on fresh connections: 20 wrong ones end a connection's tries.
    const tokenGuessers = await Promise.all(Array.from({ length: 50 }, () => connect()));
    await Promise.all(tokenGuessers.map(async (c) => {
      for (let k = 0; k < 20; k++) {
        const r = await c.requestRaw({ action: "whoami", session_token: newSessionToken() });
        attack("guessed session token", r, r.status === "ok");
      }
    }));
    const lateReal = await tokenGuessers[0].requestRaw({
      action: "whoami",
      session_token: aliceToken,
    });
    attack("real token after 20 wrong ones on a connection", lateReal, lateReal.status === "ok");
    // The secret changes (broker restarted with another): old sessions and proofs are dead.
    for (const c of cs) c.close();
    await Promise.all(cs.map((c) => c.closed));
    cs.length = 0;
    await broker.stop();
    broker = await BrokerProcess.start(dir, { port, env: { IPC_SHARED_SECRET: "second-secret" } });
    for (const tok of [aliceToken, malToken]) {
      const r = await legacy(port, { action: "whoami", session_token: tok });
      attack("token from before the secret change", r, r.status === "ok");
    }
    const oldProof = await legacy(port, {
      action: "register",
      instance_id: "alice",
      auth_token: auth("alice"),
    });
    attack("proof from before the secret change", oldProof, oldProof.status === "ok");
    const fresh = await legacy(port, {
      action: "register",
      instance_id: "alice",
      auth_token: authToken("alice", "second-secret"),
    });
    if (fresh.status !== "ok") failures.push(`the new secret does not work: ${fresh.message}`);
    alive = (await brokerStatus(port)) !== null;
    return row("identity", t0, {
      action:
        `${attempts} attacks: wrong secret, replayed proof, forged from_id/instance_id/old_id, ` +
        "second and racing registers, guessed proofs and tokens, tokens from before a secret change",
      errors: formatCounts(codes),
      alive,
      notes:
        `${breaches} unauthorised successes; ${refusedFast} guesses refused by the rate limit ` +
        "before being judged (the right proof too)",
      failures: failures.slice(0, 6),
    });
  } finally {
    for (const c of cs) c.close();
    await Promise.all(cs.map((c) => c.closed));
    await broker.stop();
    await removeDir(dir);
  }
}
