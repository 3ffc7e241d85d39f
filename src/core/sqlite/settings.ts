import type { Database, Statement } from 'bun:sqlite'

/** The `settings` key/value area. */
export class SettingTable {
  readonly #get: Statement<{ value: string }, [{ key: string }]>
  readonly #set: Statement<unknown, [{ key: string; value: string }]>

  constructor(db: Database) {
    this.#get = db.prepare('SELECT value FROM settings WHERE key = $key')
    this.#set = db.prepare(
      `INSERT INTO settings (key, value) VALUES ($key, $value)
       ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
    )
  }

  get(key: string): string | null {
    return this.#get.get({ key })?.value ?? null
  }

  set(key: string, value: string): void {
    this.#set.run({ key, value })
  }

  finalize(): void {
    this.#get.finalize()
    this.#set.finalize()
  }
}
