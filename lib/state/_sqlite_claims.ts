/**
 * The SQL of file claims in the SQLite store (table `claims`, migration 3):
 * prepared statements and the mapping of rows to {@linkcode ClaimRecord}s.
 * The store runs them inside its group-commit transactions.
 *
 * @module
 */

import type { DatabaseSync, SQLOutputValue } from "node:sqlite";
import type { ClaimRecord, ClaimsChange } from "./store.ts";

const COLUMNS = "root, path, holder, shared, reason, created_at, expires_at";

/** Prepares the claim statements of `db`. */
export function prepareClaimStatements(db: DatabaseSync) {
  return {
    ofRoot: db.prepare(`SELECT ${COLUMNS} FROM claims WHERE root = ? ORDER BY path, holder`),
    all: db.prepare(`SELECT ${COLUMNS} FROM claims ORDER BY root, path, holder`),
    deleteRoot: db.prepare("DELETE FROM claims WHERE root = ?"),
    insert: db.prepare(`INSERT INTO claims (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)`),
  };
}

/** The claim statements. */
export type ClaimStatements = ReturnType<typeof prepareClaimStatements>;

function toClaim(row: Record<string, SQLOutputValue>): ClaimRecord {
  const c: ClaimRecord = {
    root: row.root as string,
    path: row.path as string,
    holder: row.holder as string,
    shared: row.shared === 1,
    createdAt: row.created_at as number,
    expiresAt: row.expires_at as number,
  };
  if (row.reason !== null) c.reason = row.reason as string;
  return c;
}

/** Reads the claims of `root` (or all), in a stable order. */
export function readClaims(s: ClaimStatements, root?: string): ClaimRecord[] {
  const rows = root === undefined ? s.all.all() : s.ofRoot.all(root);
  return (rows as Record<string, SQLOutputValue>[]).map(toClaim);
}

/** Runs `change` on the claims of `root` and writes what it returns (call inside a transaction). */
export function updateClaimsIn<T>(
  s: ClaimStatements,
  root: string,
  change: (claims: ClaimRecord[]) => ClaimsChange<T>,
): T {
  const { next, result } = change(readClaims(s, root));
  if (next !== null) {
    s.deleteRoot.run(root);
    for (const c of next) {
      s.insert.run(
        root,
        c.path,
        c.holder,
        c.shared ? 1 : 0,
        c.reason ?? null,
        c.createdAt,
        c.expiresAt,
      );
    }
  }
  return result;
}
