/**
 * File claims in the NATS store: KV bucket `p_claims`, one key per
 * repository root (the hex SHA-256 of the root, as KV keys allow few
 * characters) holding `{root, claims}`. An update is a compare-and-set on
 * the key's revision, retried on conflict, so brokers sharing the server
 * never both grant overlapping exclusive claims.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { KV } from "../deps.ts";
import { IpcError } from "../protocol/errors.ts";
import { isWrongSequence } from "./_nats_errors.ts";
import type { ClaimRecord, ClaimsChange } from "./store.ts";

const CAS_ATTEMPTS = 64;

interface RootDoc {
  root: string;
  claims: ClaimRecord[];
}

function keyOf(root: string): string {
  return createHash("sha256").update(root).digest("hex");
}

/** The claims bucket. */
export class NatsClaims {
  readonly #kv: KV;

  constructor(kv: KV) {
    this.#kv = kv;
  }

  async #read(root: string): Promise<{ doc: RootDoc; rev: number | null }> {
    const e = await this.#kv.get(keyOf(root));
    if (!e || e.operation !== "PUT") return { doc: { root, claims: [] }, rev: null };
    return { doc: e.json<RootDoc>(), rev: e.revision };
  }

  /** See `Store.updateClaims`. */
  async update<T>(root: string, change: (claims: ClaimRecord[]) => ClaimsChange<T>): Promise<T> {
    const key = keyOf(root);
    for (let i = 0; i < CAS_ATTEMPTS; i++) {
      const cur = await this.#read(root);
      const { next, result } = change(cur.doc.claims.map((c) => ({ ...c })));
      if (next === null) return result;
      const value = JSON.stringify({ root, claims: next } satisfies RootDoc);
      try {
        if (cur.rev === null) await this.#kv.create(key, value);
        else await this.#kv.update(key, value, cur.rev);
        return result;
      } catch (e) {
        if (!isWrongSequence(e)) throw e; // kv.create of a key that exists, too (same code)
      }
    }
    throw new IpcError("E_STORE", `NATS store: claims under "${root}" kept conflicting`);
  }

  /** See `Store.claims`. */
  async all(root?: string): Promise<ClaimRecord[]> {
    if (root !== undefined) return (await this.#read(root)).doc.claims;
    const keys: string[] = [];
    for await (const k of await this.#kv.keys()) keys.push(k);
    const docs = await Promise.all(keys.map(async (k) => {
      const e = await this.#kv.get(k);
      return e && e.operation === "PUT" ? e.json<RootDoc>().claims : [];
    }));
    return docs.flat().sort((a, b) =>
      a.root < b.root ? -1 : a.root > b.root ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0
    );
  }
}
