/**
 * The rules of file claims (advisory leases on paths in a repository): who
 * conflicts with whom, renewals, expiry, release, and what happens to a
 * holder's claims when it unregisters or renames. The data lives in the
 * {@linkcode Store} (`updateClaims` is atomic per root, across brokers);
 * whether two paths can name a common file is `protocol/globs.ts`.
 *
 * Conflicts: a requested path conflicts with a live claim of another holder
 * when the two overlap and either is exclusive. A claim is live until its
 * `expiresAt` and while its holder has a session: claims of a dead agent
 * stop blocking when their lease runs out, and those of an unregistered
 * one at once. Expired and dead claims are dropped by the next write of
 * their root.
 *
 * @module
 */

import { quoted } from "../protocol/peer_text.ts";
import { IpcError } from "../protocol/errors.ts";
import { claimsOverlap, GlobBudget } from "../protocol/globs.ts";
import type {
  ClaimRequest,
  ClaimsRequest,
  ReleaseRequest,
  WireClaim,
} from "../protocol/messages.ts";
import { DEFAULT_CLAIM_TTL_MS } from "../protocol/validate.ts";
import type { ClaimRecord, Store } from "../state/store.ts";
import type { HandlerResult } from "./peer.ts";

/** Most conflicting claims one refusal names (the rest are counted): 10,000 made 2.6 MB. */
export const MAX_LISTED_CONFLICTS = 20;

/** A claim as the wire shows it. */
export function wireClaim(c: ClaimRecord): WireClaim {
  const w: WireClaim = {
    root: c.root,
    path: c.path,
    holder: c.holder,
    shared: c.shared,
    claimed_at: new Date(c.createdAt).toISOString(),
    expires_at: new Date(c.expiresAt).toISOString(),
  };
  if (c.reason) w.reason = c.reason;
  return w;
}

/**
 * One line naming a conflicting claim: holder, reason and expiry. The path
 * and reason are the holder's words, quoted so they stay on this line.
 */
export function describeClaim(c: ClaimRecord): string {
  const until = new Date(c.expiresAt).toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
  const why = c.reason ? ` (${quoted(c.reason)})` : "";
  return `${quoted(c.path)} is claimed${
    c.shared ? " (shared)" : ""
  } by ${c.holder}${why} until ${until}`;
}

/**
 * Removes expired claims from the store (the broker's hourly upkeep), so
 * repositories nobody claims in again do not keep them. Returns how many.
 */
export async function dropExpiredClaims(store: Store, now: number): Promise<number> {
  const roots = new Set(
    (await store.claims()).filter((c) => c.expiresAt <= now).map((c) => c.root),
  );
  let dropped = 0;
  for (const root of roots) {
    dropped += await store.updateClaims(root, (current) => {
      const live = current.filter((c) => c.expiresAt > now);
      return live.length === current.length
        ? { next: null, result: 0 }
        : { next: live, result: current.length - live.length };
    });
  }
  return dropped;
}

/** The claim rules, over a store. */
export class ClaimDesk {
  readonly #store: Store;
  readonly #now: () => number;
  /**
   * The holders of each repository as of its last write here, so a claim
   * need not read all of its repository's claims twice (10,000 claims: two
   * reads of 20-50 ms). A holder not in it (claimed since, maybe through
   * another broker) counts as live: the safe side.
   */
  readonly #holders = new Map<string, string[]>();

  constructor(store: Store, now: () => number) {
    this.#store = store;
    this.#now = now;
  }

  /** Holders among `claims` with no live session (their claims block nobody). */
  async #deadHolders(
    claims: Pick<ClaimRecord, "holder">[],
    except: string,
  ): Promise<Set<string>> {
    const names = [...new Set(claims.map((c) => c.holder))].filter((n) => n !== except);
    const dead = new Set<string>();
    await Promise.all(names.map(async (n) => {
      const rec = await this.#store.instance(n);
      if (!rec || rec.sessions === 0) dead.add(n);
    }));
    return dead;
  }

  /** Live claims of every holder under `root` (or every root). */
  async live(root?: string, self = ""): Promise<ClaimRecord[]> {
    const now = this.#now();
    const all = (await this.#store.claims(root)).filter((c) => c.expiresAt > now);
    const dead = await this.#deadHolders(all, self);
    return all.filter((c) => !dead.has(c.holder));
  }

  /** `claim`: all or nothing; renews what `name` already holds. */
  async claim(req: ClaimRequest, name: string): Promise<HandlerResult> {
    const ttl = req.ttl_ms ?? DEFAULT_CLAIM_TTL_MS;
    const shared = req.shared === true;
    const paths = [...new Set(req.paths)];
    const known = this.#holders.get(req.root);
    const dead = await this.#deadHolders(
      known?.map((holder) => ({ holder })) ?? await this.#store.claims(req.root),
      name,
    );
    const now = this.#now();
    type Outcome = { conflicts: ClaimRecord[]; granted: ClaimRecord[] };
    const outcome = await this.#store.updateClaims<Outcome>(req.root, (current) => {
      // One budget for the whole request (a store may run this again: a fresh one each time).
      const budget = new GlobBudget();
      const kept = current.filter((c) => c.expiresAt > now && !dead.has(c.holder));
      const conflicts = kept.filter((c) =>
        c.holder !== name && (!c.shared || !shared) &&
        paths.some((p) => claimsOverlap(c.path, p, budget))
      );
      if (conflicts.length > 0) return { next: null, result: { conflicts, granted: [] } };
      // By path, not a search per path: 100 paths against 10,000 claims were 2 million compares.
      const requested = new Set(paths);
      const mineByPath = new Map(
        kept.filter((c) => c.holder === name && requested.has(c.path)).map((c) => [c.path, c]),
      );
      const granted = paths.map((path): ClaimRecord => {
        const mine = mineByPath.get(path);
        const c: ClaimRecord = {
          root: req.root,
          path,
          holder: name,
          shared,
          createdAt: mine?.createdAt ?? now,
          expiresAt: now + ttl,
        };
        if (req.reason) c.reason = req.reason;
        return c;
      });
      const next = [
        ...kept.filter((c) => !(c.holder === name && requested.has(c.path))),
        ...granted,
      ];
      if (this.#holders.size >= 1_000) this.#holders.clear();
      this.#holders.set(req.root, [...new Set(next.map((c) => c.holder))]);
      return { next, result: { conflicts: [], granted } };
    });
    if (
      outcome.conflicts.length > 0 && known !== undefined &&
      outcome.conflicts.some((c) => !known.includes(c.holder))
    ) {
      // A holder this broker had not seen blocks: find out whether it is live, then decide.
      this.#holders.delete(req.root);
      return await this.claim(req, name);
    }
    if (outcome.conflicts.length > 0) {
      const listed = outcome.conflicts.slice(0, MAX_LISTED_CONFLICTS);
      const more = outcome.conflicts.length - listed.length;
      throw new IpcError(
        "E_CLAIMED",
        `Not claimed: ${listed.map(describeClaim).join("; ")}` +
          `${more > 0 ? `; and ${more} more` : ""}. Wait for it to be released or to expire, ` +
          `or ask its holder`,
        { conflicts: listed.map(wireClaim), ...(more > 0 ? { more_conflicts: more } : {}) },
      );
    }
    const n = outcome.granted.length;
    return {
      reply: {
        message: `Claimed ${n} path${n === 1 ? "" : "s"} until ${
          new Date(now + ttl).toISOString()
        }`,
        claims: outcome.granted.map(wireClaim),
      },
    };
  }

  /** Drops claims of `name` under `root` (or every root): those in `paths`, or all. */
  async #drop(name: string, root?: string, paths?: string[]): Promise<ClaimRecord[]> {
    const roots = root !== undefined ? [root] : [
      ...new Set(
        (await this.#store.claims()).filter((c) => c.holder === name).map((c) => c.root),
      ),
    ];
    const now = this.#now();
    const out: ClaimRecord[] = [];
    for (const r of roots) {
      const gone = await this.#store.updateClaims(r, (current) => {
        const drop = (c: ClaimRecord) =>
          c.holder === name && (paths === undefined || paths.includes(c.path));
        const dropped = current.filter(drop);
        if (dropped.length === 0) return { next: null, result: [] };
        return { next: current.filter((c) => !drop(c)), result: dropped };
      });
      out.push(...gone.filter((c) => c.expiresAt > now));
    }
    return out;
  }

  /** `release`. */
  async release(req: ReleaseRequest, name: string): Promise<HandlerResult> {
    const gone = await this.#drop(name, req.root, req.paths);
    const n = gone.length;
    return {
      reply: {
        message: n === 0 ? "No claims released" : `Released ${n} claim${n === 1 ? "" : "s"}`,
        released: gone.map(wireClaim),
      },
    };
  }

  /** `claims`. */
  async list(req: ClaimsRequest, name: string): Promise<HandlerResult> {
    let claims = await this.live(req.root, name);
    const paths = req.paths;
    if (paths) {
      const budget = new GlobBudget();
      claims = claims.filter((c) => paths.some((p) => claimsOverlap(c.path, p, budget)));
    }
    const n = claims.length;
    return {
      reply: { message: `${n} claim${n === 1 ? "" : "s"}`, claims: claims.map(wireClaim) },
    };
  }

  /** A holder unregistered: its claims die with its session. */
  async unregistered(name: string): Promise<void> {
    await this.#drop(name);
  }

  /** A holder renamed: its claims move to the new name. */
  async renamed(from: string, to: string): Promise<void> {
    const roots = new Set(
      (await this.#store.claims()).filter((c) => c.holder === from).map((c) => c.root),
    );
    for (const root of roots) {
      await this.#store.updateClaims(root, (current) => ({
        next: current.map((c) => c.holder === from ? { ...c, holder: to } : c),
        result: undefined,
      }));
    }
  }
}
