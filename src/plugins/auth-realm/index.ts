import { Elysia } from 'elysia'
import type { Logger } from 'pino'

import type { Config } from '../../config.ts'
import { authorizeScopes, type Caller, type Grant } from '../../core/access.ts'
import { parseBasicAuth, type Authenticator } from '../../core/authenticator.ts'
import { parseScopes } from '../../core/scope.ts'
import type { Store, User } from '../../core/store.ts'
import { NotFoundError, UnauthorizedError, ValidationError } from '../../errors.ts'
import { peerAddress } from '../../peer-address.ts'
import { issueRefreshToken, redeemRefreshToken } from './refresh-tokens.ts'

export const REALM_PATH = '/api/v1/registry/auth'

/** Longest query string or form body the realm reads. */
export const MAX_REQUEST_BYTES = 32 * 1024

const BASIC_CHALLENGE = 'Basic realm="registry-admin"'

/** What the realm needs of the token signer; see `core/token-signer.ts`. */
export interface RegistryTokenSigner {
  sign(claims: {
    subject: string
    audience: string
    access: Grant[]
    ttlSeconds: number
  }): Promise<{ token: string; issuedAt: Date; expiresIn: number }>
}

export interface AuthRealmDeps {
  store: Store
  log: Logger
  config: Config
  authenticator: Authenticator
  signer: RegistryTokenSigner
  now?: () => number
}

interface TokenRequest {
  caller: Caller
  service: string
  scopes: string[]
  /** Issue a refresh token along with the access token. */
  offline: boolean
  clientId: string
}

/**
 * The registry's token realm, `GET` and `POST /api/v1/registry/auth`. Identity comes only from
 * the credentials (Basic on `GET`, the form on `POST`); `account` never changes who the caller
 * is. Each requested scope is granted what the caller's rules allow and nothing more.
 */
export const authRealmPlugin = (deps: AuthRealmDeps) => {
  const { config, log } = deps
  const now = deps.now ?? Date.now
  const realmLog = log.child({ component: 'auth-realm' })

  if (config.registry.authType === 'basic') {
    const notInBasicMode = () => {
      throw new NotFoundError(
        'the token realm is off: the registry uses basic auth (registry.auth_type is basic)',
      )
    }
    return new Elysia({ name: 'auth-realm' })
      .get(REALM_PATH, notInBasicMode)
      .post(REALM_PATH, notInBasicMode)
  }

  const audienceFor = (requested: string): string => {
    const configured = config.registry.service
    if (configured && requested && requested !== configured) {
      throw new ValidationError(
        `unknown service '${requested.slice(0, 100)}'; this realm serves '${configured}'`,
      )
    }
    const audience = configured || requested
    if (!audience) {
      throw new ValidationError('the service parameter is required')
    }
    return audience
  }

  const issue = async (request: TokenRequest) => {
    const audience = audienceFor(request.service)
    const scopes = parseScopes(request.scopes)
    const { caller } = request

    // Login checks (no scope at all) must fail for anonymous callers, so that clients ask for
    // credentials instead of reporting a successful login.
    if (scopes.length === 0 && caller.kind === 'anonymous') {
      throw new UnauthorizedError('authentication required', BASIC_CHALLENGE)
    }

    const access = authorizeScopes(deps.store, caller, scopes)
    const subject = caller.kind === 'user' ? caller.user.login : ''
    const signed = await deps.signer.sign({
      subject,
      audience,
      access,
      ttlSeconds: config.registry.tokenTtl,
    })
    realmLog.debug({ subject, audience, access }, 'token issued')

    const body: Record<string, string | number> = {
      token: signed.token,
      access_token: signed.token,
      expires_in: signed.expiresIn,
      issued_at: signed.issuedAt.toISOString(),
    }
    if (request.offline && caller.kind === 'user') {
      body.refresh_token = issueRefreshToken(deps.store, {
        user: caller.user,
        service: audience,
        clientId: request.clientId,
        ttlSeconds: config.registry.refreshTokenTtl,
        now: now(),
      })
    }
    return { body, access }
  }

  const authenticate = async (address: string, login: string, password: string): Promise<User> => {
    const outcome = await deps.authenticator.authenticate(address, login, password)
    if (outcome.kind === 'disabled') {
      throw new UnauthorizedError('this account is disabled', BASIC_CHALLENGE)
    }
    if (outcome.kind === 'invalid') {
      throw new UnauthorizedError('invalid username or password', BASIC_CHALLENGE)
    }
    return outcome.user
  }

  return (
    new Elysia({ name: 'auth-realm' })
      // Tokens must not be kept by caches between the client and this server (RFC 6749 §5.1).
      .onAfterHandle(({ set }) => {
        set.headers['cache-control'] = 'no-store'
        set.headers.pragma = 'no-cache'
      })
      .get(REALM_PATH, async ({ request, server }) => {
        const url = new URL(request.url)
        if (url.search.length > MAX_REQUEST_BYTES) {
          throw new ValidationError(`the query is longer than ${MAX_REQUEST_BYTES} bytes`)
        }
        const params = url.searchParams

        const credentials = parseBasicAuth(request.headers.get('authorization'))
        if (credentials === 'malformed') {
          throw new UnauthorizedError('malformed Basic credentials', BASIC_CHALLENGE)
        }
        const caller: Caller = credentials
          ? {
              kind: 'user',
              user: await authenticate(
                peerAddress(server, request),
                credentials.login,
                credentials.password,
              ),
            }
          : { kind: 'anonymous' }

        const { body } = await issue({
          caller,
          service: params.get('service') ?? '',
          scopes: params.getAll('scope'),
          offline: params.get('offline_token') === 'true',
          clientId: params.get('client_id') ?? '',
        })
        return body
      })
      .post(
        REALM_PATH,
        async ({ request, server }) => {
          const form = await readForm(request)
          const service = form.get('service') ?? ''
          const scope = form.get('scope') ?? ''
          const clientId = form.get('client_id') ?? ''
          const grantType = form.get('grant_type')

          let user: User
          let offline = form.get('access_type') === 'offline'
          let refreshToken: string | undefined
          if (grantType === 'password') {
            const login = form.get('username') ?? ''
            const password = form.get('password') ?? ''
            if (!login) {
              throw new UnauthorizedError('username is required for the password grant')
            }
            user = await authenticate(peerAddress(server, request), login, password)
          } else if (grantType === 'refresh_token') {
            refreshToken = form.get('refresh_token') ?? ''
            const redeemed = redeemRefreshToken(
              deps.store,
              refreshToken,
              audienceFor(service),
              now(),
            )
            if (!redeemed) {
              throw new UnauthorizedError('the refresh token is invalid, expired or revoked')
            }
            user = redeemed
            offline = false
          } else {
            throw new ValidationError(`unsupported grant_type '${(grantType ?? '').slice(0, 50)}'`)
          }

          const { body, access } = await issue({
            caller: { kind: 'user', user },
            service,
            scopes: scope ? [scope] : [],
            offline,
            clientId,
          })
          if (refreshToken) {
            body.refresh_token = refreshToken
          }
          body.scope = access
            .filter((grant) => grant.actions.length > 0)
            .map((grant) => `${grant.type}:${grant.name}:${grant.actions.join(',')}`)
            .join(' ')
          return body
        },
        { parse: 'none' },
      )
  )
}

const readForm = async (request: Request): Promise<URLSearchParams> => {
  const type = request.headers.get('content-type') ?? ''
  if (!/^application\/x-www-form-urlencoded\b/i.test(type)) {
    throw new ValidationError('the token request must be application/x-www-form-urlencoded')
  }
  const length = Number(request.headers.get('content-length') ?? 0)
  if (length > MAX_REQUEST_BYTES) {
    throw new ValidationError(`the form is longer than ${MAX_REQUEST_BYTES} bytes`)
  }
  const text = await request.text()
  if (text.length > MAX_REQUEST_BYTES) {
    throw new ValidationError(`the form is longer than ${MAX_REQUEST_BYTES} bytes`)
  }
  return new URLSearchParams(text)
}
