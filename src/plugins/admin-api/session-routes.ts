import { Elysia } from 'elysia'
import type { Logger } from 'pino'

import type { Authenticator } from '../../core/authenticator.ts'
import { DeniedError, UnauthorizedError } from '../../errors.ts'
import { peerAddress } from '../../peer-address.ts'
import { LoginBody } from './model.ts'
import { withoutHash } from './principal.ts'
import {
  JWT_COOKIE,
  JWT_HEADER,
  toSessionUserJson,
  readCookie,
  type SessionManager,
  type VerifiedSession,
} from './session.ts'

export interface SessionRoutesDeps {
  log: Logger
  authenticator: Authenticator
  sessions: SessionManager
}

const PROVIDERS = ['local']

/**
 * The UI's session routes under `/auth`, speaking the Go tool's auth library dialect: errors
 * are `{ "error": "<message>" }` and the session lives in the `JWT` and `XSRF-TOKEN` cookies.
 */
export const sessionRoutes = (deps: SessionRoutesDeps) => {
  const { log, authenticator, sessions } = deps

  /** The session of the request, renewing its cookie when due. */
  const currentSession = async (
    request: Request,
    setCookies: (cookies: string[]) => void,
  ): Promise<VerifiedSession | null> => {
    const header = request.headers.get(JWT_HEADER)
    if (header) {
      return sessions.verify(header, 'header')
    }
    const cookie = readCookie(request.headers.get('cookie'), JWT_COOKIE)
    if (!cookie) {
      return null
    }
    const session = await sessions.verify(cookie, 'cookie')
    if (!session) {
      setCookies(sessions.clearCookies())
    } else if (session.refreshed) {
      setCookies(session.refreshed.cookies)
    }
    return session
  }

  return new Elysia({ name: 'admin-api/session' })
    .onAfterHandle(({ set }) => {
      set.headers['cache-control'] = 'no-store'
    })
    .post(
      '/auth/local/login',
      async ({ body, request, server, set }) => {
        const address = peerAddress(server, request)
        const outcome = await authenticator.authenticate(address, body.user, body.passwd)
        if (outcome.kind === 'invalid') {
          log.info({ address }, 'ui login failed')
          throw new UnauthorizedError('incorrect user or password')
        }
        if (outcome.kind === 'disabled') {
          throw new DeniedError('this account is disabled')
        }

        const user = withoutHash(outcome.user)
        const session = await sessions.start(user)
        set.headers['set-cookie'] = session.cookies
        log.info({ userId: user.id, address }, 'ui login')
        return toSessionUserJson(user)
      },
      { body: LoginBody },
    )
    .get('/auth/local/login', ({ set }) => {
      set.status = 405
      set.headers.allow = 'POST'
      return {
        error:
          'login by GET was removed because it puts the password in URLs and logs; POST the user and passwd fields to /auth/local/login',
      }
    })
    .get('/auth/user', async ({ request, set }) => {
      const session = await currentSession(request, (cookies) => {
        set.headers['set-cookie'] = cookies
      })
      if (!session) {
        throw new UnauthorizedError('not logged in')
      }
      return toSessionUserJson(session.user)
    })
    .get('/auth/status', async ({ request, set }) => {
      const session = await currentSession(request, (cookies) => {
        set.headers['set-cookie'] = cookies
      })
      return session
        ? { status: 'logged in', user: session.user.name }
        : { status: 'not logged in' }
    })
    .get('/auth/list', () => PROVIDERS)
    .get('/auth/logout', ({ set }) => logout(sessions, set))
    .get('/auth/local/logout', ({ set }) => logout(sessions, set))
    .post('/auth/local/logout', ({ set }) => logout(sessions, set))
}

/**
 * KNOWN LIMIT: logout clears the cookies but does not revoke the token itself; a copy taken
 * before logout stays usable until it expires and can be renewed up to the cookie lifetime
 * after its login, unless the user's password is changed.
 */
const logout = (sessions: SessionManager, set: { headers: Record<string, unknown> }): string => {
  set.headers['set-cookie'] = sessions.clearCookies()
  return ''
}
