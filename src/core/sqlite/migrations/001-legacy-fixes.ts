import type { Database } from 'bun:sqlite'

import { StoreProblem } from '../sqlite-errors.ts'
import type { Migration, MigrationContext } from './migration.ts'

// NOTE: the DDL here is frozen as of schema version 1. A later change to a table is a new
// migration, never an edit of these strings: databases already at version 1 must stay valid.

/** `users` exactly as the Go tool created it; the old tool reads it with `SELECT *`. */
const USERS_DDL = `CREATE TABLE users (
  id INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE,
  login TEXT UNIQUE,
  name TEXT,
  password TEXT,
  role TEXT,
  user_group INTEGER,
  disabled INTEGER,
  description TEXT
)`

/** `groups` exactly as the Go tool created it. */
const GROUPS_DDL = `CREATE TABLE "groups" (
  id INTEGER PRIMARY KEY AUTOINCREMENT UNIQUE,
  name TEXT UNIQUE,
  description TEXT
)`

/**
 * `access` with the legacy columns in the legacy order. Unlike the Go tool's table, a user and
 * a group with the same id are different owners, and the two flags are never NULL.
 */
function accessDdl(table: string): string {
  return `CREATE TABLE ${table} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  owner_id INTEGER NOT NULL,
  is_group INTEGER NOT NULL DEFAULT 0,
  name TEXT,
  resource_type TEXT,
  resource_name TEXT,
  action TEXT,
  disabled INTEGER NOT NULL DEFAULT 0,
  UNIQUE (owner_id, is_group, resource_type, resource_name, action)
)`
}

/**
 * `repositories` with the legacy columns in the legacy order. Unlike the Go tool's table, the
 * name has TEXT affinity (it was declared INTEGER) and `config_digest` may be NULL, as it is
 * for an image index.
 */
function repositoriesDdl(table: string): string {
  return `CREATE TABLE ${table} (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  repository_name TEXT NOT NULL CHECK (repository_name != ''),
  tag TEXT NOT NULL CHECK (tag != ''),
  digest TEXT NOT NULL CHECK (digest != ''),
  config_digest TEXT CHECK (config_digest != ''),
  size INTEGER,
  pull_counter INTEGER,
  timestamp INTEGER,
  raw TEXT,
  UNIQUE (repository_name, tag)
)`
}

const REFRESH_TOKENS_DDL = `CREATE TABLE refresh_tokens (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  service TEXT NOT NULL,
  client_id TEXT NOT NULL,
  token_hash TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  last_used_at INTEGER
)`

const SETTINGS_DDL = `CREATE TABLE settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
)`

const INDEXES = [
  'CREATE INDEX access_by_type_owner ON access (resource_type, owner_id, is_group)',
  'CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id)',
]

const ACCESS_COLUMNS =
  'id, owner_id, is_group, name, resource_type, resource_name, action, disabled'
const ACCESS_COPY =
  'id, owner_id, COALESCE(is_group, 0), name, resource_type, resource_name, action, COALESCE(disabled, 0)'

const REPOSITORY_COLUMNS =
  'id, repository_name, tag, digest, config_digest, size, pull_counter, timestamp, raw'
// NOTE: names that the INTEGER affinity already turned into numbers (such as `007` → 7) cannot
// be restored; the next mirror sync writes them again from the registry.
const REPOSITORY_COPY =
  'id, CAST(repository_name AS TEXT), tag, digest, config_digest, size, pull_counter, timestamp, raw'

/**
 * Version 1: creates the four legacy tables when missing (seeding the admin user and the
 * default group, as the Go tool did), rebuilds `access` and `repositories` with their fixed
 * constraints, and adds `refresh_tokens`, `settings` and lookup indexes.
 */
export const legacyFixes: Migration = {
  version: 1,
  description: 'legacy tables with fixed access uniqueness and repository types',
  up(db: Database, context: MigrationContext): void {
    createUsers(db, context)
    createGroups(db)
    createOrRebuild(db, 'access', accessDdl, ACCESS_COLUMNS, ACCESS_COPY)
    createOrRebuild(db, 'repositories', repositoriesDdl, REPOSITORY_COLUMNS, REPOSITORY_COPY)
    db.run(REFRESH_TOKENS_DDL)
    db.run(SETTINGS_DDL)
    for (const ddl of INDEXES) {
      db.run(ddl)
    }
  },
}

function createUsers(db: Database, context: MigrationContext): void {
  if (hasTable(db, 'users')) {
    return
  }
  if (context.adminPasswordHash === null) {
    throw new StoreProblem('the users table is missing and no admin password hash was prepared')
  }

  db.run(USERS_DDL)
  db.run(
    `INSERT INTO users (id, login, name, password, role, user_group, disabled, description)
     VALUES (1, 'admin', 'admin', ?, 'admin', 1, 0, 'Default user with administration role')`,
    [context.adminPasswordHash],
  )
}

function createGroups(db: Database): void {
  if (hasTable(db, 'groups')) {
    return
  }

  db.run(GROUPS_DDL)
  db.run(
    `INSERT INTO "groups" (id, name, description) VALUES (1, 'default', 'Default administration group')`,
  )
}

/** Creates `table`, or copies its rows into a new table of the fixed shape and swaps them. */
function createOrRebuild(
  db: Database,
  table: string,
  ddl: (name: string) => string,
  columns: string,
  copy: string,
): void {
  if (!hasTable(db, table)) {
    db.run(ddl(table))
    return
  }

  const next = `${table}_v1`
  const sequence = readSequence(db, table)
  db.run(ddl(next))
  db.run(`INSERT INTO ${next} (${columns}) SELECT ${copy} FROM ${table}`)
  db.run(`DROP TABLE ${table}`)
  db.run(`ALTER TABLE ${next} RENAME TO ${table}`)
  keepSequence(db, table, sequence)
}

/** True when the table exists. Shared with the opener, which must know before migrating. */
export function hasTable(db: Database, name: string): boolean {
  const row = db
    .query<{ n: number }, [string]>(
      "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = ? COLLATE NOCASE",
    )
    .get(name)

  return (row?.n ?? 0) > 0
}

function readSequence(db: Database, table: string): number {
  if (!hasTable(db, 'sqlite_sequence')) {
    return 0
  }

  const row = db
    .query<{ seq: number }, [string]>('SELECT seq FROM sqlite_sequence WHERE name = ?')
    .get(table)

  return row?.seq ?? 0
}

/** AUTOINCREMENT promises never to reuse an id, even of deleted rows: keep the old high mark. */
function keepSequence(db: Database, table: string, sequence: number): void {
  if (sequence === 0) {
    return
  }

  db.run('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?', [sequence, table])
  db.run(
    'INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)',
    [table, sequence, table],
  )
}
