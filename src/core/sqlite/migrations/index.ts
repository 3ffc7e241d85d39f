import type { Database } from 'bun:sqlite'

import { legacyFixes } from './001-legacy-fixes.ts'
import { repositoryMirror } from './002-repository-mirror.ts'
import { StoreProblem } from '../sqlite-errors.ts'
import type { Migration, MigrationContext } from './migration.ts'

export { hasTable } from './001-legacy-fixes.ts'
export type { Migration, MigrationContext } from './migration.ts'

/** Every schema step, in order; version n is at index n - 1. */
export const MIGRATIONS: readonly Migration[] = [legacyFixes, repositoryMirror]

/** The schema version this program writes (`PRAGMA user_version`). */
export const LATEST_SCHEMA_VERSION: number = MIGRATIONS.length

/** Reads `PRAGMA user_version`. */
export function readSchemaVersion(db: Database): number {
  return db.query<{ user_version: number }, []>('PRAGMA user_version').get()?.user_version ?? 0
}

/**
 * Runs every migration above `fromVersion`, each in a savepoint together with the new
 * `user_version`.
 *
 * The caller holds the write transaction (`BEGIN IMMEDIATE`), so that a failed step rolls the
 * whole upgrade back and no other process migrates at the same time, and has turned foreign
 * keys off before it began (a table rebuild must not cascade; the pragma does nothing inside a
 * transaction). Foreign keys are checked after each step; the caller turns them back on.
 *
 * @returns the descriptions of the steps that ran.
 * @throws Error when a step fails or leaves a dangling foreign key.
 */
export function runMigrations(
  db: Database,
  fromVersion: number,
  context: MigrationContext,
): string[] {
  if (!db.inTransaction) {
    throw new StoreProblem('schema migrations must run inside the write transaction')
  }

  const applied: string[] = []
  for (const migration of MIGRATIONS) {
    if (migration.version <= fromVersion) {
      continue
    }

    db.transaction(() => {
      migration.up(db, context)
      checkForeignKeys(db, migration.version)
      // PRAGMA takes no bound parameters; the version is a constant from this file.
      db.run(`PRAGMA user_version = ${Math.trunc(migration.version)}`)
    })()
    applied.push(`${migration.version}: ${migration.description}`)
  }

  return applied
}

function checkForeignKeys(db: Database, version: number): void {
  const broken = db.query('PRAGMA foreign_key_check').all()
  if (broken.length > 0) {
    throw new StoreProblem(
      `schema migration ${version} left ${broken.length} dangling foreign keys`,
    )
  }
}
