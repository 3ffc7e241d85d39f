import { createHash, randomBytes } from 'node:crypto'

import { SignJWT, jwtVerify } from 'jose'
import type { Logger } from 'pino'

import type { Config } from '../../config.ts'
import type { Store, User } from '../../core/store.ts'
import type { SessionUserJson } from './model.ts'

/** Cookie that carries the session token (HttpOnly). */
export const JWT_COOKIE = 'JWT'

/** Cookie that carries the session's XSRF token, readable by the UI's script. */
export const XSRF_COOKIE = 'XSRF-TOKEN'

/** Header in which the UI echoes the XSRF token on writes. */
export const XSRF_HEADER = 'x-xsrf-token'

/** Header in which a non-browser client may send the session token instead of the cookie. */
export const JWT_HEADER = 'x-jwt'

/** Settings key of the generated session secret. */
export const SESSION_SECRET_SETTING = 'auth.token_secret'

const GENERATED_SECRET_BYTES = 64
const SHORT_SECRET_CHARS = 32
const EPOCH = 'Thu, 01 Jan 1970 00:00:00 GMT'

/**
 * The HS256 secret of UI sessions: `auth.token_secret` when it is set, and otherwise a secret
 * generated once (64 random bytes) and kept in the store's settings, so sessions survive a
 * restart. A warning says when the generated one is in use; the secret itself is never logged.
 */
export const resolveSessionSecret = (store: Store, config: Config, log: Logger): string => {
  const configured = config.auth.tokenSecret
  if (!configured.isEmpty) {
    if (configured.reveal().length < SHORT_SECRET_CHARS) {
      log.warn(
        { minLength: SHORT_SECRET_CHARS },
        'auth.token_secret is short; a longer random secret is harder to guess',
      )
    }
    return configured.reveal()
  }

  const stored = store.getSetting(SESSION_SECRET_SETTING)
  if (stored) {
    log.warn(
      'auth.token_secret is not set; sessions are signed with the generated secret in the store',
    )
    return stored
  }

  const generated = randomBytes(GENERATED_SECRET_BYTES).toString('base64url')
  store.setSetting(SESSION_SECRET_SETTING, generated)
  log.warn('auth.token_secret is not set; generated a session secret and kept it in the store')
  return generated
}

const generationKey = (userId: number): string => `auth.session_generation.${userId}`

/** The user's session generation: sessions issued under an older one are no longer valid. */
export const sessionGeneration = (store: Store, userId: number): number => {
  const value = Number(store.getSetting(generationKey(userId)) ?? 0)
  return Number.isSafeInteger(value) ? value : 0
}

/**
 * Ends every UI session of a user (after a password change or reset) by moving the user to a
 * new session generation. Returns the new generation.
 */
export const revokeSessions = (store: Store, userId: number): number => {
  const next = sessionGeneration(store, userId) + 1
  store.setSetting(generationKey(userId), String(next))
  return next
}

/** `local_<sha1 hex of the login>`: the Go tool's user id for its `local` provider. */
export const localUserId = (login: string): string =>
  `local_${createHash('sha1').update(login).digest('hex')}`

/** The session user object that `/auth/local/login` and `/auth/user` answer with. */
export const toSessionUserJson = (user: User): SessionUserJson => ({
  name: user.name,
  id: localUserId(user.login),
  picture: '',
  attrs: { disabled: user.disabled, uid: user.id },
  role: user.role,
})

export interface SessionManagerOptions {
  store: Store
  secret: Uint8Array | string
  /** `iss` of session tokens. */
  issuer: string
  /** Lifetime of one token, in seconds; a token older than half of it is re-issued. */
  jwtTtl: number
  /** Lifetime of the cookies, in seconds, and the longest a session lives after its login. */
  cookieTtl: number
  /** Mark cookies `Secure`. */
  secure: boolean
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number
}

/** Where a session token came from: the `JWT` cookie, or the `X-JWT` header. */
export type TokenSource = 'cookie' | 'header'

/** A freshly signed session token with the `Set-Cookie` values that carry it. */
export interface IssuedSession {
  token: string
  jti: string
  loginAt: number
  cookies: string[]
}

/** A session token that passed every check, with its user as stored now. */
export interface VerifiedSession {
  user: User
  source: TokenSource
  jti: string
  loginAt: number
  /** A re-issued token when the presented cookie was old enough to refresh. */
  refreshed: IssuedSession | null
}

interface SessionClaims {
  jti: string
  iat: number
  exp: number
  loginAt: number
  generation: number
  userId: number
  localId: string
}

/**
 * Signs and checks the UI session tokens (HS256). A session starts at login (`login_at`) and
 * ends `cookieTtl` later at the latest; within that, a cookie token is re-issued once it is
 * older than half of `jwtTtl`, or after it expired. Every check reloads the user from the
 * store, so a deleted or disabled user, or one whose sessions were revoked, is out at once.
 */
export class SessionManager {
  readonly #store: Store
  readonly #key: Uint8Array
  readonly #issuer: string
  readonly #jwtTtl: number
  readonly #cookieTtl: number
  readonly #secure: boolean
  readonly #now: () => number

  constructor(options: SessionManagerOptions) {
    this.#store = options.store
    this.#key =
      typeof options.secret === 'string' ? new TextEncoder().encode(options.secret) : options.secret
    this.#issuer = options.issuer
    this.#jwtTtl = options.jwtTtl
    this.#cookieTtl = options.cookieTtl
    this.#secure = options.secure
    this.#now = options.now ?? Date.now
  }

  /** Starts a new session for a user who just proved their password. */
  start(user: User): Promise<IssuedSession> {
    const jti = randomBytes(20).toString('hex')
    return this.#issue(user, jti, this.#seconds(), sessionGeneration(this.#store, user.id))
  }

  /** Re-issues the caller's session under the user's current generation, keeping its start. */
  continue(user: User, session: Pick<VerifiedSession, 'jti' | 'loginAt'>): Promise<IssuedSession> {
    return this.#issue(user, session.jti, session.loginAt, sessionGeneration(this.#store, user.id))
  }

  /** Checks a token; `null` means "not a valid session" whatever the reason. */
  async verify(token: string, source: TokenSource): Promise<VerifiedSession | null> {
    const claims = await this.#readClaims(token)
    if (!claims) {
      return null
    }
    const now = this.#seconds()

    // the session has not outlived the cookie lifetime since its login
    if (now >= claims.loginAt + this.#cookieTtl) {
      return null
    }
    // only a cookie token may be renewed after it expired
    const expired = now >= claims.exp
    if (expired && source !== 'cookie') {
      return null
    }
    // the user still exists, is the same login, is enabled and was not revoked since
    const user = this.#store.getUser(claims.userId)
    if (!user || user.disabled || localUserId(user.login) !== claims.localId) {
      return null
    }
    if (sessionGeneration(this.#store, user.id) !== claims.generation) {
      return null
    }

    const due = expired || now - claims.iat >= this.#jwtTtl / 2
    const refreshed =
      source === 'cookie' && due
        ? await this.#issue(user, claims.jti, claims.loginAt, claims.generation)
        : null
    return { user, source, jti: claims.jti, loginAt: claims.loginAt, refreshed }
  }

  /** `Set-Cookie` values that remove both session cookies. */
  clearCookies(): string[] {
    return [this.#cookie(JWT_COOKIE, '', 0, true), this.#cookie(XSRF_COOKIE, '', 0, false)]
  }

  async #issue(user: User, jti: string, loginAt: number, generation: number) {
    const now = this.#seconds()
    const end = loginAt + this.#cookieTtl
    const token = await new SignJWT({
      login_at: loginAt,
      session_gen: generation,
      user: { name: user.name, id: localUserId(user.login), attrs: { uid: user.id } },
    })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(this.#issuer)
      .setIssuedAt(now)
      .setExpirationTime(Math.min(now + this.#jwtTtl, end))
      .setJti(jti)
      .sign(this.#key)

    const maxAge = Math.max(end - now, 0)
    const cookies = [
      this.#cookie(JWT_COOKIE, token, maxAge, true),
      this.#cookie(XSRF_COOKIE, jti, maxAge, false),
    ]
    return { token, jti, loginAt, cookies }
  }

  async #readClaims(token: string): Promise<SessionClaims | null> {
    let payload: Record<string, unknown>
    try {
      // Expiry is judged below, so that an expired cookie can still be renewed within the
      // session's lifetime; the signature and the issuer are checked here.
      const result = await jwtVerify(token, this.#key, {
        algorithms: ['HS256'],
        issuer: this.#issuer,
        currentDate: new Date(this.#now()),
        clockTolerance: this.#cookieTtl,
      })
      payload = result.payload
    } catch {
      return null
    }

    const { jti, iat, exp } = payload
    const user = payload.user as { id?: unknown; attrs?: { uid?: unknown } } | undefined
    const uid = user?.attrs?.uid
    if (typeof jti !== 'string' || jti === '' || !isSeconds(iat) || !isSeconds(exp)) {
      return null
    }
    if (typeof uid !== 'number' || !Number.isSafeInteger(uid) || typeof user?.id !== 'string') {
      return null
    }
    // Tokens written by the Go tool carry neither a login time nor a generation.
    const loginAt = isSeconds(payload.login_at) ? payload.login_at : iat
    const generation = Number.isSafeInteger(payload.session_gen) ? Number(payload.session_gen) : 0

    return { jti, iat, exp, loginAt, generation, userId: uid, localId: user.id }
  }

  #cookie(name: string, value: string, maxAge: number, httpOnly: boolean): string {
    const parts = [`${name}=${value}`, 'Path=/', `Max-Age=${maxAge}`]
    if (maxAge === 0) {
      parts.push(`Expires=${EPOCH}`)
    }
    if (httpOnly) {
      parts.push('HttpOnly')
    }
    parts.push('SameSite=Lax')
    if (this.#secure) {
      parts.push('Secure')
    }
    return parts.join('; ')
  }

  #seconds(): number {
    return Math.floor(this.#now() / 1000)
  }
}

const isSeconds = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

/** Reads one cookie from a `Cookie` header; the first one wins when a name repeats. */
export const readCookie = (header: string | null, name: string): string | null => {
  if (!header) {
    return null
  }
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq < 0 || part.slice(0, eq).trim() !== name) {
      continue
    }
    const value = part.slice(eq + 1).trim()
    const unquoted = value.startsWith('"') && value.endsWith('"') ? value.slice(1, -1) : value
    return unquoted === '' ? null : unquoted
  }
  return null
}
