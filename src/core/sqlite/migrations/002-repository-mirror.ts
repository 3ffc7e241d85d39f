import type { Database } from 'bun:sqlite'

import type { Migration } from './migration.ts'

// NOTE: the DDL here is frozen as of schema version 2. A later change is a new migration,
// never an edit of these strings: databases already at version 2 must stay valid.

/**
 * New mirror columns, appended after the legacy ones so that the legacy column order (which old
 * clients read with `SELECT *`) stays as it was. Legacy rows get the defaults: an unknown media
 * type, no platforms and no blobs; the next sync refreshes them.
 */
const REPOSITORY_COLUMNS = [
  "ALTER TABLE repositories ADD COLUMN media_type TEXT NOT NULL DEFAULT ''",
  "ALTER TABLE repositories ADD COLUMN platforms TEXT NOT NULL DEFAULT '[]'",
  "ALTER TABLE repositories ADD COLUMN blobs TEXT NOT NULL DEFAULT '[]'",
  'ALTER TABLE repositories ADD COLUMN created_at INTEGER',
]

/** Ids of registry notification events already handled, to drop redeliveries. */
const PROCESSED_EVENTS_DDL = `CREATE TABLE processed_events (
  id TEXT PRIMARY KEY,
  received_at INTEGER NOT NULL
)`

const INDEXES = [
  // Delete by digest and pulls by digest; the UNIQUE (repository_name, tag) index serves the rest.
  'CREATE INDEX repositories_by_name_digest ON repositories (repository_name, digest)',
  'CREATE INDEX processed_events_by_received_at ON processed_events (received_at)',
]

/**
 * Version 2: the mirror records media types, index platforms and blob lists, and the
 * notification handler remembers event ids.
 */
export const repositoryMirror: Migration = {
  version: 2,
  description: 'mirror media types, platforms and blobs; processed event ids',
  up(db: Database): void {
    for (const ddl of [...REPOSITORY_COLUMNS, PROCESSED_EVENTS_DDL, ...INDEXES]) {
      db.run(ddl)
    }
  },
}
