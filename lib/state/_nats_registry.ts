/**
 * The registry half of the NATS store, in KV buckets: instance records
 * (with the hashes of their live sessions), sessions, last-seen times and
 * forwards. Every change to a record is a compare-and-set on its revision,
 * retried on conflict, so brokers sharing the buckets never lose each
 * other's writes.
 *
 * @module
 */

import type { JetStreamManager, KV } from "../deps.ts";
import { IpcError } from "../protocol/errors.ts";
import type { ForwardRecord } from "./store.ts";
import { type NatsLink, scanStream } from "./_nats_conn.ts";
import { checkName } from "./_nats_queues.ts";
import { isWrongSequence } from "./_nats_errors.ts";

/** An instance record as stored under its name. */
export interface InstanceDoc {
  createdAt: number;
  lastSeen: number;
  lastRenameAt?: number;
  host?: string;
  /** Session keys (token hashes) of the live sessions. */
  sessions: string[];
}
interface SessionDoc {
  name: string;
  createdAt: number;
}
interface ForwardDoc {
  to: string;
  until: number;
}

/** The buckets, by role. */
export interface RegistryBuckets {
  instances: KV;
  sessions: KV;
  seen: KV;
  forwards: KV;
}

const KV_KEY_RE = /^[-_=A-Za-z0-9]{1,200}$/;
const CAS_ATTEMPTS = 64;
const TOUCH_FLUSH_MS = 500;
const enc = new TextEncoder();
const dec = new TextDecoder();

/** KV keys allow `[-/_=.A-Za-z0-9]`: other token hashes are hex-encoded. */
function sessionKey(tokenHash: string): string {
  if (KV_KEY_RE.test(tokenHash)) return tokenHash;
  return "x" + [...enc.encode(tokenHash)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Sessions, instances, last-seen and forwards in NATS KV. */
export class NatsRegistry {
  readonly #link: NatsLink;
  readonly #jsm: JetStreamManager;
  readonly #kv: RegistryBuckets;
  readonly #host?: string;
  /** Touches not yet written (reads here see them at once). */
  readonly #pendingTouch = new Map<string, number>();
  #touchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(link: NatsLink, jsm: JetStreamManager, kv: RegistryBuckets, host?: string) {
    this.#link = link;
    this.#jsm = jsm;
    this.#kv = kv;
    this.#host = host;
  }

  async #read<T>(kv: KV, key: string): Promise<{ doc: T; rev: number } | null> {
    const e = await kv.get(key);
    if (!e || e.operation !== "PUT") return null;
    return { doc: e.json<T>(), rev: e.revision };
  }

  /** Writes `doc` if the key is still at `rev` (null: absent). False on conflict. */
  async #cas(kv: KV, key: string, doc: unknown, rev: number | null): Promise<boolean> {
    try {
      if (rev === null) await kv.create(key, JSON.stringify(doc));
      else await kv.update(key, JSON.stringify(doc), rev);
      return true;
    } catch (e) {
      if (isWrongSequence(e)) return false; // kv.create of a key that exists, too
      throw e;
    }
  }

  /** Every live entry of a bucket: one pull of the last value per key. */
  async #all<T>(kv: KV): Promise<Map<string, T>> {
    const bucket = (await kv.status()).bucket;
    const lead = `$KV.${bucket}.`;
    const out = new Map<string, T>();
    const msgs = await scanStream(this.#link, this.#jsm, `KV_${bucket}`, `${lead}>`, {
      lastPerSubject: true,
    });
    for (const m of msgs) {
      if (m.kvOp === "DEL" || m.kvOp === "PURGE") continue;
      out.set(m.subject.slice(lead.length), JSON.parse(dec.decode(m.data)) as T);
    }
    return out;
  }

  // --- sessions ---------------------------------------------------------

  /** {@link Store.register} without the queue count. */
  async register(
    name: string,
    tokenHash: string,
    now: number,
    opts: { revokeOthers: boolean; host?: string },
  ): Promise<void> {
    checkName(name);
    const key = sessionKey(tokenHash);
    // The session exists before the record lists it: a concurrent revoker
    // that sees it in the record can then always delete it.
    await this.#kv.sessions.put(key, JSON.stringify({ name, createdAt: now }));
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const cur = await this.#read<InstanceDoc>(this.#kv.instances, name);
      const old = cur?.doc.sessions ?? [];
      if (opts.revokeOthers) {
        await Promise.all(old.filter((h) => h !== key).map((h) => this.#kv.sessions.delete(h)));
      }
      const doc: InstanceDoc = {
        createdAt: cur?.doc.createdAt ?? now,
        lastSeen: Math.max(cur?.doc.lastSeen ?? 0, now),
        sessions: opts.revokeOthers ? [key] : [...old.filter((h) => h !== key), key],
      };
      if (cur?.doc.lastRenameAt !== undefined) doc.lastRenameAt = cur.doc.lastRenameAt;
      const host = opts.host ?? this.#host ?? cur?.doc.host;
      if (host !== undefined) doc.host = host;
      if (await this.#cas(this.#kv.instances, name, doc, cur?.rev ?? null)) return;
    }
    throw new IpcError("E_STORE", `NATS store: register of "${name}" kept conflicting`);
  }

  /** {@link Store.sessionName} */
  async sessionName(tokenHash: string): Promise<string | null> {
    const s = await this.#read<SessionDoc>(this.#kv.sessions, sessionKey(tokenHash));
    return s?.doc.name ?? null;
  }

  /** {@link Store.removeSession} */
  async removeSession(tokenHash: string): Promise<boolean> {
    const key = sessionKey(tokenHash);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const s = await this.#read<SessionDoc>(this.#kv.sessions, key);
      if (!s) return false;
      try {
        await this.#kv.sessions.delete(key, { previousSeq: s.rev });
      } catch (e) {
        if (isWrongSequence(e)) continue; // moved by a rename meanwhile: again
        throw e;
      }
      await this.#update(s.doc.name, (d) => {
        d.sessions = d.sessions.filter((h) => h !== key);
      });
      return true;
    }
    throw new IpcError("E_STORE", `NATS store: removing a session kept conflicting`);
  }

  /** Compare-and-set loop on one instance record; no-op when it is absent. */
  async #update(name: string, change: (d: InstanceDoc) => void): Promise<void> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const cur = await this.#read<InstanceDoc>(this.#kv.instances, name);
      if (!cur) return;
      change(cur.doc);
      if (await this.#cas(this.#kv.instances, name, cur.doc, cur.rev)) return;
    }
    throw new IpcError("E_STORE", `NATS store: update of "${name}" kept conflicting`);
  }

  /** Coalesced: written at most every 500 ms; reads through this store see it at once. */
  touch(name: string, now: number): void {
    checkName(name);
    this.#pendingTouch.set(name, Math.max(this.#pendingTouch.get(name) ?? 0, now));
    if (this.#touchTimer === undefined) {
      this.#touchTimer = setTimeout(() => {
        this.#touchTimer = undefined;
        this.flushTouches().catch(() => {});
      }, TOUCH_FLUSH_MS);
    }
  }

  /** Writes pending touches now. */
  async flushTouches(): Promise<void> {
    clearTimeout(this.#touchTimer);
    this.#touchTimer = undefined;
    const batch = [...this.#pendingTouch];
    this.#pendingTouch.clear();
    await Promise.all(batch.map(([name, t]) => this.#kv.seen.put(name, String(t))));
  }

  /** True while touches wait to be written. */
  get touchesPending(): boolean {
    return this.#pendingTouch.size > 0;
  }

  /** The latest activity known for `name`, given the stored values. */
  lastSeen(name: string, ...stored: number[]): number {
    return Math.max(...stored, this.#pendingTouch.get(name) ?? 0);
  }

  // --- instances --------------------------------------------------------

  /** One record and its stored last-seen (0 when none). */
  async instance(name: string): Promise<{ doc: InstanceDoc; seen: number } | null> {
    checkName(name);
    const [cur, seen] = await Promise.all([
      this.#read<InstanceDoc>(this.#kv.instances, name),
      this.#kv.seen.get(name),
    ]);
    if (!cur) return null;
    return { doc: cur.doc, seen: seen?.operation === "PUT" ? Number(seen.string()) : 0 };
  }

  /** Every record and every stored last-seen. */
  async instances(): Promise<{ docs: Map<string, InstanceDoc>; seen: Map<string, number> }> {
    const [docs, seen] = await Promise.all([
      this.#all<InstanceDoc>(this.#kv.instances),
      this.#all<number>(this.#kv.seen),
    ]);
    return { docs, seen };
  }

  // --- renames ----------------------------------------------------------

  /**
   * Moves the record and the sessions of `from` to `to` and sets up the
   * forward; the queue is moved by the caller. Forwards that pointed at
   * `from` now point at `to`, and a forward from `to` itself is dropped
   * (as in the SQLite store).
   */
  async rename(from: string, to: string, now: number, forwardUntil: number): Promise<void> {
    checkName(from);
    checkName(to);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const [src, dst, seen] = await Promise.all([
        this.#read<InstanceDoc>(this.#kv.instances, from),
        this.#read<InstanceDoc>(this.#kv.instances, to),
        this.#kv.seen.get(from),
      ]);
      if (dst && dst.doc.sessions.length > 0) {
        throw new IpcError("E_NAME_TAKEN", `Name "${to}" is held by a live session`);
      }
      if (from === to) throw new IpcError("E_BAD_FIELD", `Cannot rename "${from}" to itself`);
      if (!src) throw new IpcError("E_NOT_FOUND", `Instance "${from}" is not registered`);
      const doc: InstanceDoc = {
        ...src.doc,
        lastSeen: this.lastSeen(
          from,
          src.doc.lastSeen,
          seen?.operation === "PUT" ? Number(seen.string()) : 0,
        ),
        lastRenameAt: now,
      };
      // The new record first (CAS: a concurrent claim of `to` makes us re-check).
      if (!(await this.#cas(this.#kv.instances, to, doc, dst?.rev ?? null))) continue;
      await this.#moveSessions(from, to, src, [...doc.sessions]);
      this.#pendingTouch.delete(from);
      await Promise.all([
        this.#kv.seen.delete(from),
        this.#kv.forwards.put(from, JSON.stringify({ to, until: forwardUntil })),
        this.#kv.forwards.delete(to),
      ]);
      const repoint = [...await this.#all<ForwardDoc>(this.#kv.forwards)]
        .filter(([k, f]) => f.to === from && k !== from);
      await Promise.all(
        repoint.map(([k, f]) => this.#kv.forwards.put(k, JSON.stringify({ ...f, to }))),
      );
      return;
    }
    throw new IpcError("E_STORE", `NATS store: rename of "${from}" kept conflicting`);
  }

  /**
   * Points the sessions at `to`, then deletes `from`'s record if unchanged;
   * a session added to `from` meanwhile is carried over on the next turn.
   * Each session moves by compare-and-set, so one removed meanwhile stays
   * removed (and leaves `to`'s record).
   */
  async #moveSessions(
    from: string,
    to: string,
    src: { doc: InstanceDoc; rev: number },
    carried: string[],
  ): Promise<void> {
    let cur = src;
    for (let j = 0; j < CAS_ATTEMPTS; j++) {
      const gone = (await Promise.all(cur.doc.sessions.map((h) => this.#moveSession(h, from, to))))
        .flatMap((ok, i) => ok ? [] : [cur.doc.sessions[i]]);
      if (gone.length) {
        await this.#update(to, (d) => {
          d.sessions = d.sessions.filter((h) => !gone.includes(h));
        });
      }
      try {
        await this.#kv.instances.delete(from, { previousSeq: cur.rev });
        return;
      } catch (e) {
        if (!isWrongSequence(e)) throw e;
      }
      const again = await this.#read<InstanceDoc>(this.#kv.instances, from);
      if (!again) return;
      cur = again;
      const extra = cur.doc.sessions.filter((h) => !carried.includes(h));
      carried.push(...extra);
      await this.#update(to, (d) => {
        d.sessions = [...d.sessions, ...extra.filter((h) => !d.sessions.includes(h))];
      });
    }
    throw new IpcError("E_STORE", `NATS store: rename of "${from}" kept conflicting`);
  }

  /** Moves one session from `from` to `to`; false when it no longer exists. */
  async #moveSession(key: string, from: string, to: string): Promise<boolean> {
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const s = await this.#read<SessionDoc>(this.#kv.sessions, key);
      if (!s) return false;
      if (s.doc.name !== from) return s.doc.name === to;
      if (await this.#cas(this.#kv.sessions, key, { ...s.doc, name: to }, s.rev)) return true;
    }
    throw new IpcError("E_STORE", `NATS store: moving a session kept conflicting`);
  }

  /** {@link Store.forward}: holds while `now <= until`. */
  async forward(name: string, now: number): Promise<string | null> {
    const f = await this.#read<ForwardDoc>(this.#kv.forwards, checkName(name));
    return f && f.doc.until >= now ? f.doc.to : null;
  }

  /** Every forward still stored (expired ones until the next purge), by name. */
  async forwards(): Promise<ForwardRecord[]> {
    return [...await this.#all<ForwardDoc>(this.#kv.forwards)]
      .map(([from, f]) => ({ from, to: f.to, until: f.until }))
      .sort((a, b) => a.from < b.from ? -1 : a.from > b.from ? 1 : 0);
  }

  /** Deletes forwards with `until < now`; returns how many. */
  async purgeForwards(now: number): Promise<number> {
    const expired = (await this.forwards()).filter((f) => f.until < now);
    await Promise.all(expired.map((f) => this.#kv.forwards.delete(f.from)));
    return expired.length;
  }

  /** Stops the touch timer; call {@linkcode flushTouches} first to keep them. */
  stop(): void {
    clearTimeout(this.#touchTimer);
    this.#touchTimer = undefined;
  }
}
