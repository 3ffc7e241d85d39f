import type { Database } from 'bun:sqlite'

/** What a migration may need beyond the database itself. */
export interface MigrationContext {
  /**
   * The bcrypt hash for the admin user that is seeded when the `users` table is created;
   * `null` when the table already exists.
   */
  adminPasswordHash: string | null
}

/** One numbered schema step. `up` runs inside a transaction that also sets `user_version`. */
export interface Migration {
  /** The `PRAGMA user_version` the database has after this step. */
  version: number
  /** A short line for the upgrade log. */
  description: string
  up(db: Database, context: MigrationContext): void
}
