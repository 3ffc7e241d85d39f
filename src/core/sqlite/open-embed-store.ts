import { Database } from 'bun:sqlite'

import type { Store } from '../store.ts'
import { createPrivateFile, findLooseFiles, writePrivateFile } from './file-modes.ts'
import {
  LATEST_SCHEMA_VERSION,
  hasTable,
  readSchemaVersion,
  runMigrations,
} from './migrations/index.ts'
import { isBusy, StoreProblem } from './sqlite-errors.ts'
import { SqliteStore } from './sqlite-store.ts'

/** The two log levels the opener uses; a pino logger fits. */
export interface EmbedStoreLog {
  warn(obj: object, msg: string): void
  info(obj: object, msg: string): void
}

export interface EmbedStoreOptions {
  /** The database file, or `:memory:`. A missing parent folder is created with mode 0700. */
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
const JOURNAL_RETRY_MS = 10

/**
 * Opens (creating if needed) the embedded SQLite store, including a `data.db` written by the
 * Go registry-admin, and upgrades its schema to `LATEST_SCHEMA_VERSION`.
 *
 * A new file is created with mode 0600 (its `-wal` and `-shm` files get the same) and missing
 * parent folders with mode 0700. An existing file that group or others may read or write is
 * left as it is, with a warning that says to `chmod 600` it.
 *
 * Before the first migration of an existing file with data, the file is copied to
 * `<path>.backup-<fromVersion>` (with `.1`, `.2`… appended if that name is taken), mode 0600.
 *
 * Several processes may open one file at once: the version is read, the backup made and the
 * migrations run in one write transaction, so exactly one of them creates or upgrades the
 * store and the others find it done.
 *
 * @throws Error naming the path when the file cannot be opened, is not a database, was written
 * by a newer version of this program, stays locked by another process for more than 5 seconds,
 * or a migration fails (then the whole upgrade is rolled back). Its message carries the reason;
 * `cause` is set only to an error raised by SQLite or the file system.
 */
export async function openEmbedStore(options: EmbedStoreOptions): Promise<OpenedEmbedStore> {
  const { path, log } = options
  if (path === '') {
    throw new Error('the store path is empty')
  }

  const inMemory = path === MEMORY_PATH
  let db: Database | undefined
  try {
    if (!inMemory && !createPrivateFile(path)) {
      warnLooseFiles(log, path)
    }
    db = new Database(path, { create: true, strict: true })
    db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`)

    // Hash before taking the write lock, never while holding it: the lock would keep other
    // processes waiting, and another opener in this process, busy-waiting for the lock, would
    // keep the hash from ever finishing.
    const adminPasswordHash = hasTable(db, 'users') ? null : await hashAdminPassword(options)
    const upgrade = upgradeInWriteLock(db, path, adminPasswordHash)
    db.run('PRAGMA foreign_keys = ON')
    // Only after a successful upgrade, so that a failed one leaves the journal mode as it was.
    if (!inMemory) {
      await useWal(db, path, log)
    }

    if (upgrade.created) {
      warnIfDefaultPassword(options)
    }
    logOutcome(log, { path, ...upgrade })

    return { store: new SqliteStore(db), created: upgrade.created }
  } catch (error) {
    db?.close()
    throw openError(path, error)
  }
}

interface Upgrade {
  created: boolean
  fromVersion: number
  applied: string[]
  backup: string | null
}

/**
 * Reads the version, backs up and migrates under one `BEGIN IMMEDIATE`, so that a second
 * process waits (up to the busy timeout) and then reads the version the first one left.
 */
function upgradeInWriteLock(db: Database, path: string, adminPasswordHash: string | null): Upgrade {
  // A table rebuild must not cascade; the pragma does nothing inside a transaction.
  db.run('PRAGMA foreign_keys = OFF')

  return db.transaction(() => upgradeLocked(db, path, adminPasswordHash)).immediate()
}

function upgradeLocked(db: Database, path: string, adminPasswordHash: string | null): Upgrade {
  const fromVersion = readSchemaVersion(db)
  checkKnownVersion(fromVersion)
  if (fromVersion === LATEST_SCHEMA_VERSION) {
    return { created: false, fromVersion, applied: [], backup: null }
  }

  const created = !hasTable(db, 'users')
  const backup = path !== MEMORY_PATH && hasAnyTable(db) ? backUpFile(db, path, fromVersion) : null
  const applied = runMigrations(db, fromVersion, { adminPasswordHash })

  return { created, fromVersion, applied, backup }
}

function checkKnownVersion(version: number): void {
  if (version > LATEST_SCHEMA_VERSION) {
    throw new StoreProblem(
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
 * Writes the database aside, never over an older copy, into a new file of mode 0600. Runs in
 * the write transaction before any change, so the copy is the file as it was, commits still in
 * a write-ahead log included.
 *
 * The image is read through SQLite (`serialize`), not by copying the file: closing any other
 * descriptor of the database file would drop this process's locks on it, and another process
 * could then write during the upgrade.
 * KNOWN LIMIT: the whole database is held in memory once while the backup is written.
 */
function backUpFile(db: Database, path: string, fromVersion: number): string {
  const image = db.serialize()
  const base = `${path}.backup-${fromVersion}`
  for (let n = 0; ; n++) {
    const target = n === 0 ? base : `${base}.${n}`
    if (writePrivateFile(target, image)) {
      return target
    }
  }
}

async function useWal(db: Database, path: string, log: EmbedStoreLog): Promise<void> {
  const mode = await switchToWal(db)
  if (mode !== 'wal') {
    log.warn({ path, journalMode: mode }, 'store cannot use write-ahead logging')
  }
  db.run('PRAGMA synchronous = NORMAL')
}

/**
 * Switches the file to write-ahead logging and returns the journal mode it is in. The switch
 * needs the file to itself, and SQLite refuses it at once, without the busy timeout, while
 * another connection reads it (as a second process opening the store at the same moment
 * does), so it is retried for up to the busy timeout. A file already in that mode needs no
 * switch.
 */
async function switchToWal(db: Database): Promise<string> {
  const deadline = Date.now() + BUSY_TIMEOUT_MS
  for (;;) {
    const pragma = db.prepare<{ journal_mode: string }, []>('PRAGMA journal_mode = WAL')
    try {
      return pragma.get()?.journal_mode ?? ''
    } catch (error) {
      if (!isBusy(error) || Date.now() >= deadline) {
        throw error
      }
    } finally {
      pragma.finalize()
    }
    await Bun.sleep(JOURNAL_RETRY_MS)
  }
}

function warnLooseFiles(log: EmbedStoreLog, path: string): void {
  const loose = findLooseFiles(path)
  if (loose.length === 0) {
    return
  }

  const files = Object.fromEntries(loose.map((file) => [file.path, file.mode]))
  const names = loose.map((file) => shellWord(file.path))
  log.warn(
    { files },
    `other users may read or write ${names.join(', ')}, which hold password hashes and the ` +
      `session secret; run chmod 600 ${names.join(' ')}`,
  )
}

/** Quotes a path for a shell command line when it needs it. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replaceAll("'", `'\\''`)}'`
}

/** The error `openEmbedStore` throws: the reason in the message, a foreign error as `cause`. */
function openError(path: string, error: unknown): Error {
  const reason = isBusy(error)
    ? `another process has held the database locked for more than ${BUSY_TIMEOUT_MS / 1000} seconds`
    : error instanceof Error
      ? error.message
      : String(error)
  const message = `cannot open the store '${path}': ${reason}`

  return error instanceof StoreProblem ? new Error(message) : new Error(message, { cause: error })
}

function adminPassword(options: EmbedStoreOptions): string {
  return options.adminPassword === '' ? DEFAULT_ADMIN_PASSWORD : options.adminPassword
}

async function hashAdminPassword(options: EmbedStoreOptions): Promise<string> {
  const hash = options.hashPassword ?? defaultHash

  return await hash(adminPassword(options))
}

function warnIfDefaultPassword(options: EmbedStoreOptions): void {
  if (adminPassword(options) === DEFAULT_ADMIN_PASSWORD) {
    options.log.warn(
      { login: 'admin' },
      'the default admin password is in use; change it before exposing the server',
    )
  }
}

function defaultHash(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: 'bcrypt', cost: 10 })
}

interface Outcome extends Upgrade {
  path: string
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
