import { SQLiteError } from 'bun:sqlite'

/** True when `error` is SQLite refusing a write that breaks a UNIQUE or PRIMARY KEY rule. */
export function isUniqueViolation(error: unknown): boolean {
  return (
    error instanceof SQLiteError &&
    (error.code === 'SQLITE_CONSTRAINT_UNIQUE' || error.code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
  )
}

/** True when `error` is SQLite refusing a row whose foreign key points at nothing. */
export function isForeignKeyViolation(error: unknown): boolean {
  return error instanceof SQLiteError && error.code === 'SQLITE_CONSTRAINT_FOREIGNKEY'
}

/** True when `error` is SQLite giving up on a lock another connection holds (`database is locked`). */
export function isBusy(error: unknown): boolean {
  return error instanceof SQLiteError && (error.code ?? '').startsWith('SQLITE_BUSY')
}

/**
 * A reason this package finds itself, as opposed to an error raised by SQLite or the file
 * system. The opener copies its message into its own and adds no `cause`, which would only
 * repeat it.
 */
export class StoreProblem extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'StoreProblem'
  }
}
