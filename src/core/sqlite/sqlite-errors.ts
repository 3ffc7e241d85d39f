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
