import { Database } from 'bun:sqlite'
import { constants, copyFileSync, existsSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

import type { Store } from '../store.ts'
import {
  LATEST_SCHEMA_VERSION,
  hasTable,
  readSchemaVersion,
  runMigrations,
} from './migrations/index.ts'
import { SqliteStore } from './sqlite-store.ts'

/** The two log levels the opener uses; a pino logger fits. */
export interface EmbedStoreLog {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface EmbedStoreOptions {
  /** The database file, or `:memory:`. A missing parent folder is created. */
  path: string
  /**
   * The admin user's password, used only when the store is created.
   * An empty string means `admin`, as in the Go tool.
   */
  adminPassword: string
  log: EmbedStoreLog
  /**
   * Hashes the admin password on creation.
   * @default bcrypt with cost 10 through `Bun.password.hash`
   */
  hashPassword?: (password: string) => Promise<string> | string
}

export interface OpenedEmbedStore {
  store: Store
  /** True only when this call created the store (there was no `users` table). */
  created: boolean
}

const MEMORY_PATH = ':memory:'
const DEFAULT_ADMIN_PASSWORD = 'admin'
const BUSY_TIMEOUT_MS = 5000

/**
 * Opens (creating if needed) the embedded SQLite store, including a `data.db` written by the
 * Go registry-admin, and upgrades its schema to `LATEST_SCHEMA_VERSION`.
 *
 * Before the first migration of an existing file with data, the file is copied to
 * `<path>.backup-<fromVersion>` (with `.1`, `.2`… appended if that name is taken).
 *
 * @throws Error naming the path when the file cannot be opened, is not a database, was written
 * by a newer version of this program, or a migration fails (that migration is rolled back).
 */
export async function openEmbedStore(options: EmbedStoreOptions): Promise<OpenedEmbedStore> {
  const { path, log } = options
  if (path === '') {
    throw new Error('the store path is empty')
  }

  const inMemory = path === MEMORY_PATH
  let db: Database | undefined
  try {
    if (!inMemory) {
      mkdirSync(dirname(path), { recursive: true })
    }
    const existed = !inMemory && existsSync(path)
    db = new Database(path, { create: true, strict: true })
    db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)

    const fromVersion = readSchemaVersion(db)
    checkKnownVersion(fromVersion)
    const created = !hasTable(db, 'users')
    const backup =
      existed && fromVersion < LATEST_SCHEMA_VERSION && hasAnyTable(db)
        ? backUpFile(db, path, fromVersion)
        : null

    const adminPasswordHash = created ? await hashAdminPassword(options) : null
    const applied = runMigrations(db, fromVersion, { adminPasswordHash })
    db.run('PRAGMA foreign_keys = ON')
    // Only after a successful upgrade, so that a failed one leaves the journal mode as it was.
    if (!inMemory) {
      useWal(db, path, log)
    }

    logOutcome(log, { path, created, fromVersion, applied, backup })

    return { store: new SqliteStore(db), created }
  } catch (error) {
    db?.close()
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(`cannot open the store '${path}': ${reason}`, { cause: error })
  }
}

function checkKnownVersion(version: number): void {
  if (version > LATEST_SCHEMA_VERSION) {
    throw new Error(
      `its schema version is ${version} but this program knows versions up to ` +
        `${LATEST_SCHEMA_VERSION}: a newer registry-admin wrote it; run that version or ` +
        'restore a backup',
    )
  }
}

function hasAnyTable(db: Database): boolean {
  const row = db
    .query<{ n: number }, []>("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'")
    .get()

  return (row?.n ?? 0) > 0
}

/**
 * Copies the database file aside, never over an older copy. The WAL is checkpointed first and
 * a write lock is held during the copy, so the copy is complete and consistent.
 */
function backUpFile(db: Database, path: string, fromVersion: number): string {
  const checkpoint = db.query<{ busy: number }, []>('PRAGMA wal_checkpoint(TRUNCATE)').get()
  if (checkpoint?.busy) {
    throw new Error('another process holds the database; cannot back it up before upgrading')
  }

  db.run('BEGIN IMMEDIATE')
  try {
    const base = `${path}.backup-${fromVersion}`
    for (let n = 0; ; n++) {
      const target = n === 0 ? base : `${base}.${n}`
      try {
        copyFileSync(path, target, constants.COPYFILE_EXCL)
        return target
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw error
        }
      }
    }
  } finally {
    db.run('ROLLBACK')
  }
}

function useWal(db: Database, path: string, log: EmbedStoreLog): void {
  const mode = db.query<{ journal_mode: string }, []>('PRAGMA journal_mode = WAL').get()
  if (mode?.journal_mode !== 'wal') {
    log.warn({ path, journalMode: mode?.journal_mode }, 'store cannot use write-ahead logging')
  }
  db.run('PRAGMA synchronous = NORMAL')
}

async function hashAdminPassword(options: EmbedStoreOptions): Promise<string> {
  const password = options.adminPassword === '' ? DEFAULT_ADMIN_PASSWORD : options.adminPassword
  if (password === DEFAULT_ADMIN_PASSWORD) {
    options.log.warn(
      { login: 'admin' },
      'the default admin password is in use; change it before exposing the server',
    )
  }

  const hash = options.hashPassword ?? defaultHash

  return await hash(password)
}

function defaultHash(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: 'bcrypt', cost: 10 })
}

interface Outcome {
  path: string
  created: boolean
  fromVersion: number
  applied: string[]
  backup: string | null
}

function logOutcome(log: EmbedStoreLog, outcome: Outcome): void {
  const { path, created, fromVersion, applied, backup } = outcome
  if (created) {
    log.info({ path, schemaVersion: LATEST_SCHEMA_VERSION }, 'store created')
    return
  }
  if (applied.length > 0) {
    log.info(
      { path, fromVersion, toVersion: LATEST_SCHEMA_VERSION, migrations: applied, backup },
      'store schema upgraded',
    )
  }
}
