import { createHmac, randomBytes } from 'node:crypto'

import type { LoginThrottle } from './login-throttle.ts'
import { burnPasswordCheck, verifyPassword } from './passwords.ts'
import type { Store, UserWithHash } from './store.ts'

export interface AuthenticatorOptions {
  store: Store
  throttle: LoginThrottle
  /** How long a successful password check is remembered. @default 60 s */
  cacheTtlMs?: number
  /** Checks remembered at most. @default 10000 */
  cacheEntries?: number
  now?: () => number
}

export type AuthOutcome =
  | { kind: 'ok'; user: UserWithHash }
  | { kind: 'invalid' }
  /** The password was right but the account is disabled. */
  | { kind: 'disabled'; user: UserWithHash }

interface CachedCheck {
  userId: number
  passwordHash: string
  expires: number
}

/**
 * Checks logins and passwords for every entry point (the token realm, the UI login and HTTP
 * Basic on the API) with one throttle of failed attempts.
 *
 * bcrypt stays the only thing stored, but a successful check is remembered for a short while,
 * keyed by an HMAC of login and password under a key that lives only in this process. A hit
 * still loads the user, and counts only while the stored hash is the one that was checked and
 * the user is enabled, so a password change, a disable or a delete takes effect at once.
 */
export class Authenticator {
  readonly #store: Store
  readonly #throttle: LoginThrottle
  readonly #cacheTtlMs: number
  readonly #cacheEntries: number
  readonly #now: () => number
  readonly #cacheKey = randomBytes(32)
  readonly #cache = new Map<string, CachedCheck>()
  readonly #inFlight = new Map<string, Promise<unknown>>()

  constructor(options: AuthenticatorOptions) {
    this.#store = options.store
    this.#throttle = options.throttle
    this.#cacheTtlMs = options.cacheTtlMs ?? 60_000
    this.#cacheEntries = options.cacheEntries ?? 10_000
    this.#now = options.now ?? Date.now
  }

  /**
   * Authenticates `login` with `password` for a caller at `address` (the socket's peer).
   * Throws `TooManyRequestsError` while that pair is being slowed down after failures.
   */
  async authenticate(address: string, login: string, password: string): Promise<AuthOutcome> {
    const key = createHmac('sha256', this.#cacheKey)
      .update(login)
      .update('\0')
      .update(password)
      .digest('base64')
    const cached = this.#fromCache(key)
    if (cached) {
      return cached
    }
    return this.#oneAtATime(`${address}\n${login}`, () =>
      this.#check(key, address, login, password),
    )
  }

  /**
   * Runs the checks of one (address, login) pair one after the other. Otherwise guesses sent
   * all at once would each pass the throttle before the first failure is recorded; and a burst
   * of correct requests (a CI farm behind one address) pays for one bcrypt check, not many.
   */
  async #oneAtATime<T>(pair: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#inFlight.get(pair) ?? Promise.resolve()
    const current = previous.then(task, task)
    const settled = current.catch(() => undefined)
    this.#inFlight.set(pair, settled)
    try {
      return await current
    } finally {
      if (this.#inFlight.get(pair) === settled) {
        this.#inFlight.delete(pair)
      }
    }
  }

  async #check(
    key: string,
    address: string,
    login: string,
    password: string,
  ): Promise<AuthOutcome> {
    const cached = this.#fromCache(key)
    if (cached) {
      return cached
    }
    this.#throttle.check(address, login)

    const user = this.#store.getUserByLogin(login)
    if (!user) {
      await burnPasswordCheck(password)
      this.#throttle.recordFailure(address, login)
      return { kind: 'invalid' }
    }
    if (!(await verifyPassword(password, user.passwordHash))) {
      this.#throttle.recordFailure(address, login)
      return { kind: 'invalid' }
    }

    this.#throttle.recordSuccess(address, login)
    if (user.disabled) {
      return { kind: 'disabled', user }
    }
    this.#remember(key, user)
    return { kind: 'ok', user }
  }

  /** Drops every remembered check of a user; call it after a password change, disable or delete. */
  forgetUser(userId: number): void {
    for (const [key, entry] of this.#cache) {
      if (entry.userId === userId) {
        this.#cache.delete(key)
      }
    }
  }

  #fromCache(key: string): AuthOutcome | undefined {
    const entry = this.#cache.get(key)
    if (!entry) {
      return undefined
    }
    const user = entry.expires > this.#now() ? this.#store.getUserWithHash(entry.userId) : null
    if (!user || user.disabled || user.passwordHash !== entry.passwordHash) {
      this.#cache.delete(key)
      return undefined
    }
    return { kind: 'ok', user }
  }

  #remember(key: string, user: UserWithHash): void {
    this.#cache.delete(key)
    this.#cache.set(key, {
      userId: user.id,
      passwordHash: user.passwordHash,
      expires: this.#now() + this.#cacheTtlMs,
    })
    while (this.#cache.size > this.#cacheEntries) {
      const oldest = this.#cache.keys().next().value
      if (oldest === undefined) {
        break
      }
      this.#cache.delete(oldest)
    }
  }
}

export interface BasicCredentials {
  login: string
  password: string
}

/**
 * Reads an `Authorization: Basic` header. Returns `null` when there is no Basic header and
 * `'malformed'` when there is one that does not decode to `login:password` (split on the first
 * colon, so passwords may contain colons).
 */
export const parseBasicAuth = (
  header: string | null | undefined,
): BasicCredentials | null | 'malformed' => {
  if (!header) {
    return null
  }
  const match = /^basic\s+(\S+)\s*$/i.exec(header)
  if (!match) {
    return /^basic\b/i.test(header) ? 'malformed' : null
  }
  const encoded = match[1] ?? ''
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) {
    return 'malformed'
  }
  const decoded = new TextDecoder('utf-8', { fatal: true })
  let text: string
  try {
    text = decoded.decode(Buffer.from(encoded, 'base64'))
  } catch {
    return 'malformed'
  }
  const colon = text.indexOf(':')
  if (colon <= 0) {
    return 'malformed'
  }
  return { login: text.slice(0, colon), password: text.slice(colon + 1) }
}
