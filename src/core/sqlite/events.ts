import type { Database, Statement } from 'bun:sqlite'

import { ValidationError } from '../../errors.ts'

/** Old ids are dropped at most this often (in the callers' clock, unix seconds)… */
const PRUNE_INTERVAL_SECONDS = 60
/** …or after this many new ids, whichever comes first. */
const PRUNE_EVERY_INSERTS = 1000
/** Distribution's event ids are UUIDs; anything much longer is not an event id. */
const MAX_EVENT_ID_LENGTH = 512

/**
 * The `processed_events` table: ids of registry notification events already handled, so that a
 * redelivered event is recognised and skipped.
 */
export class ProcessedEventTable {
  readonly #insert: Statement<unknown, [{ id: string; now: number }]>
  readonly #prune: Statement<unknown, [{ before: number }]>
  #lastPruneAt = Number.NEGATIVE_INFINITY
  #insertsSincePrune = 0

  constructor(db: Database) {
    this.#insert = db.prepare(
      'INSERT OR IGNORE INTO processed_events (id, received_at) VALUES ($id, $now)',
    )
    this.#prune = db.prepare('DELETE FROM processed_events WHERE received_at < $before')
  }

  /**
   * Records `eventId`; `false` when it was already recorded. Ids received before
   * `forgetBefore` are dropped now and then (the first call, then at most once a minute or
   * every thousand new ids), always before the new id is looked up.
   *
   * @throws ValidationError for an empty or overlong id, or times that are not integers.
   */
  record(eventId: string, now: number, forgetBefore: number): boolean {
    if (typeof eventId !== 'string' || eventId === '' || eventId.length > MAX_EVENT_ID_LENGTH) {
      throw new ValidationError(
        `an event id must be a non-empty string of at most ${MAX_EVENT_ID_LENGTH} characters`,
      )
    }
    if (!Number.isSafeInteger(now) || !Number.isSafeInteger(forgetBefore)) {
      throw new ValidationError('event times must be integers (unix seconds)')
    }

    this.#pruneNowAndThen(now, forgetBefore)
    const inserted = this.#insert.run({ id: eventId, now }).changes > 0
    if (inserted) {
      this.#insertsSincePrune++
    }

    return inserted
  }

  finalize(): void {
    this.#insert.finalize()
    this.#prune.finalize()
  }

  #pruneNowAndThen(now: number, forgetBefore: number): void {
    // A clock that went back by more than the interval also prunes.
    const due =
      Math.abs(now - this.#lastPruneAt) >= PRUNE_INTERVAL_SECONDS ||
      this.#insertsSincePrune >= PRUNE_EVERY_INSERTS
    if (!due) {
      return
    }

    this.#prune.run({ before: forgetBefore })
    this.#lastPruneAt = now
    this.#insertsSincePrune = 0
  }
}
