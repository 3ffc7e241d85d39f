import { createHash } from 'node:crypto'

import { TooManyRequestsError } from '../errors.ts'

export interface LoginThrottleOptions {
  /** Failures within `windowMs` that cost nothing. @default 5 */
  freeFailures?: number
  /** How long a failure is remembered. @default 15 minutes */
  windowMs?: number
  /** Delay after the first failure beyond the free ones; doubles with each further one. @default 1 s */
  baseDelayMs?: number
  /** Longest delay. @default 15 minutes */
  maxDelayMs?: number
  /** Pairs remembered at most; the oldest are forgotten first. @default 100000 */
  maxEntries?: number
  now?: () => number
}

interface Failures {
  count: number
  first: number
  last: number
}

/**
 * Slows down password guessing per (connection address, login) pair. A few failures in a short
 * window are free, so that a typo costs nothing; after that, each attempt from the same pair
 * must wait a doubling delay after the last failure, and is answered 429 until it has passed.
 * There is no lockout: one login's failures never delay another login or another address, and a
 * correct password is accepted as soon as the delay is over.
 */
export class LoginThrottle {
  readonly #entries = new Map<string, Failures>()
  readonly #freeFailures: number
  readonly #windowMs: number
  readonly #baseDelayMs: number
  readonly #maxDelayMs: number
  readonly #maxEntries: number
  readonly #now: () => number

  constructor(options: LoginThrottleOptions = {}) {
    this.#freeFailures = options.freeFailures ?? 5
    this.#windowMs = options.windowMs ?? 15 * 60_000
    this.#baseDelayMs = options.baseDelayMs ?? 1000
    this.#maxDelayMs = options.maxDelayMs ?? 15 * 60_000
    this.#maxEntries = options.maxEntries ?? 100_000
    this.#now = options.now ?? Date.now
  }

  /** Throws `TooManyRequestsError` while this pair must still wait. */
  check(address: string, login: string): void {
    const entry = this.#current(keyOf(address, login))
    if (!entry || entry.count < this.#freeFailures) {
      return
    }
    const waitMs = entry.last + this.#delayFor(entry.count) - this.#now()
    if (waitMs > 0) {
      throw new TooManyRequestsError(
        'too many failed logins from this address; try again later',
        Math.ceil(waitMs / 1000),
      )
    }
  }

  recordFailure(address: string, login: string): void {
    const key = keyOf(address, login)
    const now = this.#now()
    const entry = this.#current(key)
    this.#entries.delete(key)
    this.#entries.set(
      key,
      entry ? { ...entry, count: entry.count + 1, last: now } : { count: 1, first: now, last: now },
    )
    this.#evictOldest()
  }

  recordSuccess(address: string, login: string): void {
    this.#entries.delete(keyOf(address, login))
  }

  #current(key: string): Failures | undefined {
    const entry = this.#entries.get(key)
    if (entry && this.#now() - entry.last > this.#windowMs) {
      this.#entries.delete(key)
      return undefined
    }
    return entry
  }

  #delayFor(count: number): number {
    const steps = count - this.#freeFailures
    return Math.min(this.#baseDelayMs * 2 ** steps, this.#maxDelayMs)
  }

  #evictOldest(): void {
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next().value
      if (oldest === undefined) {
        return
      }
      this.#entries.delete(oldest)
    }
  }
}

// A fixed-size key, so that a flood of failures with huge logins cannot grow memory per entry.
const keyOf = (address: string, login: string): string =>
  createHash('sha256').update(address).update('\n').update(login).digest('base64url')
