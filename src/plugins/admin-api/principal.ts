import { timingSafeEqual } from 'node:crypto'

import { Elysia } from 'elysia'

import type { Config } from '../../config.ts'
import { parseBasicAuth, type Authenticator } from '../../core/authenticator.ts'
import type { Role, Store, User, UserWithHash } from '../../core/store.ts'
import { DeniedError, UnauthorizedError, ValidationError } from '../../errors.ts'
import { peerAddress } from '../../peer-address.ts'
import {
  JWT_COOKIE,
  JWT_HEADER,
  SessionManager,
  XSRF_HEADER,
  readCookie,
  type VerifiedSession,
} from './session.ts'

/** The `WWW-Authenticate` challenge sent when Basic credentials are wrong. */
export const BASIC_CHALLENGE = 'Basic realm="registry-admin"'

/** Who is calling an `/api/v1` route, and how they proved it. */
export interface Principal {
  user: User
  via: 'basic' | 'session'
  /** The session, when `via` is `session`. */
  session?: VerifiedSession
}

export interface PrincipalDeps {
  store: Store
  config: Config
  authenticator: Authenticator
  sessionSecret: Uint8Array | string
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number
}

/** What one request offers to authenticate itself with. */
export interface RequestCredentials {
  request: Request
  /** The socket peer's address, `unknown` when there is no socket (in-process tests). */
  address: string
  /** Receives `Set-Cookie` values when a session cookie is renewed. */
  setCookies: (cookies: string[]) => void
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

/** Builds the session manager that matches the configuration. */
export const createSessionManager = (deps: PrincipalDeps): SessionManager =>
  new SessionManager({
    store: deps.store,
    secret: deps.sessionSecret,
    issuer: deps.config.auth.issuerName,
    jwtTtl: deps.config.auth.jwtTtl,
    cookieTtl: deps.config.auth.cookieTtl,
    secure: deps.config.ssl.type !== 'none',
    now: deps.now,
  })

/**
 * Authenticates a request by HTTP Basic (any enabled user, through the authenticator and its
 * throttle), by the `X-JWT` header, or by the `JWT` cookie. Returns `null` when the request
 * carries no credentials at all.
 *
 * @throws UnauthorizedError for wrong or malformed credentials and for a session that is no
 * longer valid; DeniedError for a disabled account and for a cookie-authenticated write without
 * the matching `X-XSRF-Token`; TooManyRequestsError while Basic logins are throttled.
 */
export const resolvePrincipal = async (
  deps: { authenticator: Authenticator; sessions: SessionManager },
  credentials: RequestCredentials,
): Promise<Principal | null> => {
  const { request } = credentials
  const basic = parseBasicAuth(request.headers.get('authorization'))
  if (basic === 'malformed') {
    throw new UnauthorizedError('the Basic credentials cannot be read', BASIC_CHALLENGE)
  }
  if (basic) {
    const outcome = await deps.authenticator.authenticate(
      credentials.address,
      basic.login,
      basic.password,
    )
    if (outcome.kind === 'invalid') {
      throw new UnauthorizedError('incorrect login or password', BASIC_CHALLENGE)
    }
    if (outcome.kind === 'disabled') {
      throw new DeniedError('this account is disabled')
    }
    return { user: withoutHash(outcome.user), via: 'basic' }
  }

  const headerToken = request.headers.get(JWT_HEADER)
  if (headerToken) {
    const session = await deps.sessions.verify(headerToken, 'header')
    if (!session) {
      throw new UnauthorizedError('the session token is invalid or expired; log in again')
    }
    return { user: session.user, via: 'session', session }
  }

  const cookieToken = readCookie(request.headers.get('cookie'), JWT_COOKIE)
  if (!cookieToken) {
    return null
  }
  const session = await deps.sessions.verify(cookieToken, 'cookie')
  if (!session) {
    credentials.setCookies(deps.sessions.clearCookies())
    throw new UnauthorizedError('the session has ended; log in again')
  }
  // a write made with the cookie proves it comes from our own page
  if (!SAFE_METHODS.has(request.method) && !hasXsrfToken(request, session.jti)) {
    throw new DeniedError('this request needs the X-XSRF-Token header of the session')
  }
  if (session.refreshed) {
    credentials.setCookies(session.refreshed.cookies)
  }
  return { user: session.user, via: 'session', session }
}

/** What the request guard needs from the request context. */
interface GuardContext {
  request: Request
  server: { requestIP(request: Request): { address: string } | null } | null
  set: { headers: Record<string, unknown> }
}

/**
 * A scoped guard for `/api/v1` routes: every route of the instance that uses it gets
 * `principal` (`null` when the request carries no credentials), and a route may name the roles
 * it needs with the `roles` option. Such a route authenticates the caller and checks the role
 * before its body is read, parsed or validated, so an anonymous caller gets 401 and a caller
 * with another role 403 without the server ever reading what they sent (and the body of a
 * DELETE is never read at all). A write must send JSON or nothing: a cross-site form or
 * `text/plain` post cannot carry JSON without CORS, which keeps browsers that remember Basic
 * credentials from being used against the API.
 *
 * ```ts
 * new Elysia().use(principalPlugin(deps)).post('/api/v1/x', ({ principal, body }) => {
 *   const user = requireRole(principal, 'admin')
 * }, { body: XBody, roles: ['admin'] })
 * ```
 *
 * Elysia runs a route's hooks as parse, transform (derive), validation, beforeHandle, handler;
 * the check sits in the parse hook, and the transform hook re-raises what it refused.
 */
export const principalPlugin = (deps: PrincipalDeps) => {
  const resolver = { authenticator: deps.authenticator, sessions: createSessionManager(deps) }
  // One resolution per request: a Basic password is checked once, even when both the parse
  // hook and the derive ask.
  const resolved = new WeakMap<Request, Promise<Principal | null>>()
  const refused = new WeakMap<Request, unknown>()

  const principalOf = ({ request, server, set }: GuardContext): Promise<Principal | null> => {
    let pending = resolved.get(request)
    if (!pending) {
      pending = resolvePrincipal(resolver, {
        request,
        address: peerAddress(server, request),
        setCookies: (cookies) => {
          set.headers['set-cookie'] = cookies
        },
      })
      resolved.set(request, pending)
    }
    return pending
  }

  /** The error that refuses the request, or undefined when it may go on. */
  const refusal = async (
    context: GuardContext,
    roles: readonly Role[],
    contentType: string,
  ): Promise<unknown> => {
    try {
      requireRole(await principalOf(context), ...roles)
    } catch (error) {
      return error
    }
    if (contentType !== '' && !isJsonType(contentType)) {
      return new ValidationError('the request body must be JSON (Content-Type: application/json)')
    }
    return undefined
  }

  return new Elysia()
    .macro({
      /** The roles that may call the route, checked before the body is read. */
      roles: (roles: readonly Role[]) => ({
        async parse({ request, server, set }: GuardContext, contentType: string) {
          const error = await refusal({ request, server, set }, roles, contentType)
          if (error !== undefined) {
            // Errors thrown while parsing would all become 400, so the refusal is kept for the
            // transform hook below; an answer other than undefined stops Elysia from reading
            // the body.
            refused.set(request, error)
            return null
          }
          // No DELETE of the API takes a body, so none is read.
          return request.method === 'DELETE' ? null : undefined
        },
        async transform({ request, server, set }: GuardContext) {
          const error = refused.has(request)
            ? refused.get(request)
            : await refusal({ request, server, set }, roles, '')
          if (error !== undefined) {
            throw error
          }
        },
      }),
    })
    .derive({ as: 'scoped' }, async ({ request, server, set }) => ({
      principal: await principalOf({ request, server, set }),
    }))
}

const isJsonType = (contentType: string): boolean => {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  return type === 'application/json' || type.endsWith('+json')
}

/**
 * Returns the principal's user when their role is one of `roles`.
 *
 * @throws UnauthorizedError when nobody is authenticated; DeniedError for another role.
 */
export const requireRole = (principal: Principal | null, ...roles: Role[]): User => {
  if (!principal) {
    // NOTE: no Basic challenge here, or browsers would pop up their own login dialog over
    // the UI whenever its session ends.
    throw new UnauthorizedError('authentication required: log in or use HTTP Basic')
  }
  if (!roles.includes(principal.user.role)) {
    throw new DeniedError(`access denied: this needs the role ${roles.join(' or ')}`)
  }
  return principal.user
}

/** Returns the principal's user whatever their role. */
export const requireUser = (principal: Principal | null): User =>
  requireRole(principal, 'admin', 'manager', 'user')

const hasXsrfToken = (request: Request, jti: string): boolean => {
  const sent = request.headers.get(XSRF_HEADER)
  if (!sent) {
    return false
  }
  const a = Buffer.from(sent)
  const b = Buffer.from(jti)
  return a.length === b.length && timingSafeEqual(a, b)
}

/** Copies the public fields only, so that a hash can never travel further by accident. */
export const withoutHash = (user: UserWithHash | User): User => ({
  id: user.id,
  login: user.login,
  name: user.name,
  role: user.role,
  group: user.group,
  disabled: user.disabled,
  description: user.description,
})
