/**
 * The SQLite schema of the embedded store and its migrations, in one place.
 * `PRAGMA user_version` holds the number of migrations applied; opening a
 * file applies the missing ones, each in its own transaction.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

/**
 * Migration `i` takes a database from version `i` to `i + 1`. Append only:
 * never edit a migration that has shipped.
 */
export const MIGRATIONS: readonly string[] = [
  // 1: the initial schema.
  `
  CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    created_at INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    last_rename_at INTEGER,
    host TEXT
  ) WITHOUT ROWID;

  CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX sessions_by_name ON sessions (name);

  -- seq orders every queue (FIFO) and history (newest first). Acknowledged
  -- messages stay, with acked_at set, as history until purged. No foreign key
  -- to instances: messages may wait for a name that never registered.
  CREATE TABLE messages (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    time INTEGER NOT NULL,
    content TEXT NOT NULL,
    data TEXT,
    large_path TEXT,
    large_size INTEGER,
    acked_at INTEGER
  );
  -- The queues: only unacknowledged rows, so peek never walks history.
  CREATE INDEX messages_queue ON messages (recipient, seq) WHERE acked_at IS NULL;
  -- History expiry without a scan of the whole table.
  CREATE INDEX messages_acked ON messages (acked_at) WHERE acked_at IS NOT NULL;

  CREATE TABLE forwards (
    from_name TEXT PRIMARY KEY,
    to_name TEXT NOT NULL,
    until INTEGER NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  -- Highest messages.seq already in messages_fts (indexed lazily by history()).
  INSERT INTO meta (key, value) VALUES ('fts_seq', 0);

  -- Contentless: the text lives in messages only; rows can still be deleted.
  CREATE VIRTUAL TABLE messages_fts USING fts5 (content, content = '', contentless_delete = 1);
  `,
  // 2: idempotent sends. One row per (sender, client_id, recipient) of a
  // message sent with a client_id, naming the message first stored under it;
  // kept apart from messages so purging history never forgets a key early
  // and keys expire on their own clock (time: Unix ms of the first send).
  `
  CREATE TABLE dedupe (
    sender TEXT NOT NULL,
    client_id TEXT NOT NULL,
    recipient TEXT NOT NULL,
    message_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    -- client_id first: the CLI's and MCP's keys grow with time, so inserts
    -- append at the end of the index (sender first made them land in 20
    -- places at once and cost 3 times as much per send).
    PRIMARY KEY (client_id, sender, recipient)
  ) WITHOUT ROWID;
  CREATE INDEX dedupe_by_time ON dedupe (time);
  `,
  // 3: file claims (advisory leases), one row per (root, path, holder).
  `
  CREATE TABLE claims (
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    holder TEXT NOT NULL,
    shared INTEGER NOT NULL,
    reason TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (root, path, holder)
  ) WITHOUT ROWID;
  `,
  // 4: conversations and receipts: urgency, what a message answers, its
  // thread, the quote shown with a reply, and the times it was delivered and
  // first replied to (acked_at is the read time). The partial indexes cost
  // nothing for a plain message: only replies enter messages_thread and
  // messages_reply, only urgent messages messages_urgent. Short ids need no
  // column: they name the second of the id (see short_id.ts).
  // (Edited before any release: its first form also stored a short-id
  // column with an index, which migration 5 drops where it was applied.)
  `
  ALTER TABLE messages ADD COLUMN urgent INTEGER;
  ALTER TABLE messages ADD COLUMN reply_to TEXT;
  ALTER TABLE messages ADD COLUMN thread_id TEXT;
  ALTER TABLE messages ADD COLUMN quote TEXT;
  ALTER TABLE messages ADD COLUMN delivered_at INTEGER;
  ALTER TABLE messages ADD COLUMN replied_at INTEGER;
  ALTER TABLE messages ADD COLUMN reply_id TEXT;
  CREATE INDEX messages_thread ON messages (thread_id) WHERE thread_id IS NOT NULL;
  CREATE INDEX messages_reply ON messages (recipient, reply_to)
    WHERE reply_to IS NOT NULL AND acked_at IS NULL;
  CREATE INDEX messages_urgent ON messages (recipient, seq) WHERE urgent = 1 AND acked_at IS NULL;
  `,
  // 5: the short-id index of migration 4's first form: a random key per
  // message dirtied a page of it per insert (half the store's throughput).
  `
  DROP INDEX IF EXISTS messages_short;
  `,
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** The store file was written by a newer agent-ipc (its schema version is higher). */
export class SchemaTooNewError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SchemaTooNewError";
  }
}

/**
 * Brings `db` up to {@linkcode SCHEMA_VERSION}. Throws
 * {@linkcode SchemaTooNewError} when the file was written by a newer version
 * (the caller adds the path).
 */
export function migrate(db: DatabaseSync): void {
  const row = db.prepare("PRAGMA user_version").get() as { user_version: number } | undefined;
  const version = row?.user_version ?? 0;
  if (version > SCHEMA_VERSION) {
    throw new SchemaTooNewError(
      `schema version ${version} is newer than this agent-ipc knows (${SCHEMA_VERSION}): upgrade agent-ipc`,
    );
  }
  for (let v = version; v < SCHEMA_VERSION; v++) {
    db.exec("BEGIN IMMEDIATE");
    try {
      db.exec(MIGRATIONS[v]);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec("COMMIT");
    } catch (e) {
      if (db.isTransaction) db.exec("ROLLBACK");
      throw e;
    }
  }
}
