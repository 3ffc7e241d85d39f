import { Elysia } from 'elysia'
import type { Logger } from 'pino'

import type { Config } from '../../config.ts'
import type { Authenticator } from '../../core/authenticator.ts'
import { ROLES, type ListQuery, type ListResult, type Role, type Store } from '../../core/store.ts'
import { DeniedError, ValidationError } from '../../errors.ts'
import { peerAddress } from '../../peer-address.ts'
import { createAccessRule, getAccessRuleOrThrow, updateAccessRule } from './access-rules.ts'
import { catalogRoutes, type CatalogRegistry, type RepositoryLock } from './catalog.ts'
import { createGroup, deleteGroup, getGroupOrThrow, updateGroup } from './groups.ts'
import {
  healthRoutes,
  type HealthRegistry,
  type HtpasswdHealth,
  type MirrorHealth,
} from './health.ts'
import { contentRange, parseListQuery, type ListResource } from './list-protocol.ts'
import {
  AccessCreateBody,
  AccessUpdateBody,
  GroupCreateBody,
  GroupUpdateBody,
  PasswordChangeBody,
  UserCreateBody,
  UserUpdateBody,
  envelope,
  toAccessJson,
  toGroupJson,
  toRefreshTokenJson,
  toUserJson,
  type ListEnvelope,
} from './model.ts'
import {
  createSessionManager,
  principalPlugin,
  requireRole,
  requireUser,
  type Principal,
} from './principal.ts'
import { JWT_HEADER, revokeSessions } from './session.ts'
import { sessionRoutes } from './session-routes.ts'
import {
  changeOwnPassword,
  checkPassword,
  createUser,
  deleteUser,
  getUserOrThrow,
  updateUser,
} from './users.ts'

export {
  BASIC_CHALLENGE,
  principalPlugin,
  requireRole,
  requireUser,
  resolvePrincipal,
  type Principal,
  type PrincipalDeps,
} from './principal.ts'
export {
  SESSION_SECRET_SETTING,
  localUserId,
  resolveSessionSecret,
  revokeSessions,
} from './session.ts'
export { contentRange, parseListQuery } from './list-protocol.ts'
export type { CatalogRegistry, RepositoryLock } from './catalog.ts'
export type { HealthRegistry, MirrorHealth, SyncReport } from './health.ts'
export * from './model.ts'

export interface AdminApiDeps {
  store: Store
  log: Logger
  config: Config
  authenticator: Authenticator
  /** HS256 secret of UI sessions; see `resolveSessionSecret`. */
  sessionSecret: Uint8Array | string
  /** Called after every change to the user table, for example to rewrite htpasswd. */
  onUsersChanged?: () => void
  /** The registry of the catalog, deletes and health; `null` without registry.host. @default null */
  registry?: (CatalogRegistry & HealthRegistry) | null
  /** The mirror: its last notification and sync for the health check. @default none */
  mirror?: MirrorHealth
  /** Serialises deletes with the mirror's work per repository. @default none */
  repositoryLock?: RepositoryLock
  /**
   * The htpasswd file of basic mode: the health check reports its write failures, and the
   * answer to a change of the users says when the file could not be updated. @default none
   */
  htpasswd?: (HtpasswdHealth & { idle(): Promise<void> }) | null
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number
}

const BASIC_MODE_NOTE =
  'note: the registry uses basic auth, so access rules are kept but do not apply until it uses token auth'

/**
 * The message of an answer to a change of the users. In basic mode the answer waits for the
 * htpasswd rewrite, and says when the file could not be written: the change is saved, but the
 * registry reads the old file until a later attempt succeeds.
 */
const userChangeMessage = async (
  htpasswd: AdminApiDeps['htpasswd'],
  message: string,
): Promise<string> => {
  if (!htpasswd) {
    return message
  }
  await htpasswd.idle()
  const error = htpasswd.writeError
  return error === null
    ? message
    : `${message}; the registry's htpasswd file could not be updated yet (${error}); it is tried again until it works`
}

/**
 * The admin API: users, groups and access rules under `/api/v1` (react-admin's simple REST
 * protocol and the Go tool's envelopes), self-service password change and refresh-token
 * management, and the UI session routes under `/auth`. Every `/api/v1` route takes HTTP Basic
 * or the UI session; roles are checked on the server.
 */
export const adminApiPlugin = (deps: AdminApiDeps) => {
  const log = deps.log.child({ component: 'admin-api' })
  const sessions = createSessionManager(deps)

  return new Elysia({ name: 'admin-api' })
    .use(sessionRoutes({ log, authenticator: deps.authenticator, sessions }))
    .use(userRoutes(deps, log))
    .use(groupRoutes(deps, log))
    .use(accessRoutes(deps, log))
    .use(catalogRoutes({ ...deps, registry: deps.registry ?? null, lock: deps.repositoryLock }))
    .use(healthRoutes({ ...deps, registry: deps.registry ?? null }))
}

const apiBase = (deps: AdminApiDeps, name: string) =>
  // Every write route names its `roles`: the guard checks them, and that the body is JSON,
  // before the body is read.
  new Elysia({ name: `admin-api/${name}` }).use(principalPlugin(deps)).onAfterHandle(({ set }) => {
    set.headers['cache-control'] = 'no-store'
  })

const ADMIN: readonly Role[] = ['admin']

const userRoutes = (deps: AdminApiDeps, log: Logger) => {
  const { store } = deps
  const service = {
    store,
    authenticator: deps.authenticator,
    onUsersChanged: deps.onUsersChanged,
  }
  const sessions = createSessionManager(deps)

  return apiBase(deps, 'users')
    .get('/api/v1/users', ({ principal, request, set }) => {
      requireRole(principal, 'admin', 'manager')
      return listAnswer(request, set, 'users', (query) => store.listUsers(query), toUserJson)
    })
    .get('/api/v1/users/me', ({ principal }) => {
      const user = requireUser(principal)
      return envelope('', user.id, toUserJson(user))
    })
    .post(
      '/api/v1/users/me/password',
      async ({ principal, body, request, server, set }) => {
        const user = requireUser(principal)
        checkPassword(body.new_password)

        // The current password goes through the authenticator, so guesses here are throttled
        // like any other login.
        const address = peerAddress(server, request)
        const outcome = await deps.authenticator.authenticate(
          address,
          user.login,
          body.current_password,
        )
        if (outcome.kind !== 'ok' || outcome.user.id !== user.id) {
          throw new ValidationError('current_password is not correct')
        }

        const updated = await changeOwnPassword(service, user.id, body.new_password)
        await renewOwnSession(sessions, principal as Principal, set)
        log.info({ userId: user.id }, 'own password changed')
        return envelope(
          await userChangeMessage(deps.htpasswd, 'password changed'),
          updated.id,
          toUserJson(updated),
        )
      },
      { body: PasswordChangeBody, roles: ROLES },
    )
    .get('/api/v1/users/:id', ({ principal, params }) => {
      requireRole(principal, 'admin', 'manager')
      const user = getUserOrThrow(store, parseId(params.id, 'user'))
      return envelope('', user.id, toUserJson(user))
    })
    .post(
      '/api/v1/users',
      async ({ principal, body }) => {
        const actor = requireRole(principal, 'admin')
        const user = await createUser(service, body)
        log.info({ actorId: actor.id, userId: user.id, role: user.role }, 'user created')
        return envelope(
          await userChangeMessage(deps.htpasswd, 'user created'),
          user.id,
          toUserJson(user),
        )
      },
      { body: UserCreateBody, roles: ADMIN },
    )
    .put(
      '/api/v1/users/:id',
      async ({ principal, params, body, set }) => {
        const actor = requireRole(principal, 'admin')
        const id = parseId(params.id, 'user')
        const user = await updateUser(service, id, body)
        if (user.id === actor.id && body.password && !user.disabled) {
          // A new password ends the user's sessions; the admin making the change keeps theirs.
          await renewOwnSession(sessions, { ...(principal as Principal), user }, set)
        }
        log.info({ actorId: actor.id, userId: user.id }, 'user updated')
        return envelope(await userChangeMessage(deps.htpasswd, 'ok'), user.id, toUserJson(user))
      },
      { body: UserUpdateBody, roles: ADMIN },
    )
    .delete(
      '/api/v1/users/:id',
      async ({ principal, params }) => {
        const actor = requireRole(principal, 'admin')
        const id = parseId(params.id, 'user')
        deleteUser(service, id)
        log.info({ actorId: actor.id, userId: id }, 'user deleted')
        return envelope(await userChangeMessage(deps.htpasswd, 'user deleted'), id, null)
      },
      { roles: ADMIN },
    )
    .get('/api/v1/users/:id/refresh-tokens', ({ principal, params, set }) => {
      const id = requireSelfOrAdmin(principal, parseId(params.id, 'user'))
      getUserOrThrow(store, id)
      const tokens = store.listRefreshTokens(id).map(toRefreshTokenJson)
      const total = tokens.length
      set.headers['content-range'] = contentRange('refresh-tokens', {}, total)
      set.headers['access-control-expose-headers'] = 'Content-Range'
      return { total, data: tokens } satisfies ListEnvelope<unknown>
    })
    .delete(
      '/api/v1/users/:id/refresh-tokens',
      ({ principal, params }) => {
        const id = requireSelfOrAdmin(principal, parseId(params.id, 'user'))
        getUserOrThrow(store, id)
        store.deleteRefreshTokensOfUser(id)
        log.info({ actorId: principal?.user.id, userId: id }, 'refresh tokens revoked')
        return envelope('refresh tokens revoked', id, null)
      },
      { roles: ROLES },
    )
    .delete(
      '/api/v1/users/:id/refresh-tokens/:tokenId',
      ({ principal, params }) => {
        const id = requireSelfOrAdmin(principal, parseId(params.id, 'user'))
        const tokenId = parseId(params.tokenId, 'refresh token')
        store.deleteRefreshToken(id, tokenId)
        log.info({ actorId: principal?.user.id, userId: id, tokenId }, 'refresh token revoked')
        return envelope('refresh token revoked', tokenId, null)
      },
      { roles: ROLES },
    )
}

const groupRoutes = (deps: AdminApiDeps, log: Logger) => {
  const { store } = deps

  return apiBase(deps, 'groups')
    .get('/api/v1/groups', ({ principal, request, set }) => {
      requireRole(principal, 'admin', 'manager')
      return listAnswer(request, set, 'groups', (query) => store.listGroups(query), toGroupJson)
    })
    .get('/api/v1/groups/:id', ({ principal, params }) => {
      requireRole(principal, 'admin', 'manager')
      const group = getGroupOrThrow(store, parseId(params.id, 'group'))
      return envelope('', group.id, toGroupJson(group))
    })
    .post(
      '/api/v1/groups',
      ({ principal, body }) => {
        const actor = requireRole(principal, 'admin')
        const group = createGroup(store, body)
        log.info({ actorId: actor.id, groupId: group.id }, 'group created')
        return envelope('group created', group.id, toGroupJson(group))
      },
      { body: GroupCreateBody, roles: ADMIN },
    )
    .put(
      '/api/v1/groups/:id',
      ({ principal, params, body }) => {
        const actor = requireRole(principal, 'admin')
        const group = updateGroup(store, parseId(params.id, 'group'), body)
        log.info({ actorId: actor.id, groupId: group.id }, 'group updated')
        return envelope('', group.id, toGroupJson(group))
      },
      { body: GroupUpdateBody, roles: ADMIN },
    )
    .delete(
      '/api/v1/groups/:id',
      ({ principal, params }) => {
        const actor = requireRole(principal, 'admin')
        const id = parseId(params.id, 'group')
        const { usersLeft } = deleteGroup(store, id)
        log.info({ actorId: actor.id, groupId: id, usersLeft }, 'group deleted')
        const message =
          usersLeft === 0
            ? 'group deleted'
            : `group deleted; ${usersLeft} user(s) still have group number ${id}`
        return envelope(message, id, null)
      },
      { roles: ADMIN },
    )
}

const accessRoutes = (deps: AdminApiDeps, log: Logger) => {
  const { store } = deps
  const withModeNote = (message: string): string => {
    if (deps.config.registry.authType !== 'basic') {
      return message
    }
    return message === '' ? BASIC_MODE_NOTE : `${message}; ${BASIC_MODE_NOTE}`
  }

  return apiBase(deps, 'access')
    .get('/api/v1/access', ({ principal, request, set }) => {
      requireRole(principal, 'admin', 'manager')
      return listAnswer(
        request,
        set,
        'accesses',
        (query) => store.listAccessRules(query),
        toAccessJson,
      )
    })
    .get('/api/v1/access/:id', ({ principal, params }) => {
      requireRole(principal, 'admin', 'manager')
      const rule = getAccessRuleOrThrow(store, parseId(params.id, 'access rule'))
      return envelope('', rule.id, toAccessJson(rule))
    })
    .post(
      '/api/v1/access',
      ({ principal, body }) => {
        const actor = requireRole(principal, 'admin')
        const rule = createAccessRule(store, body)
        log.info({ actorId: actor.id, ruleId: rule.id }, 'access rule created')
        return envelope(withModeNote('access added'), rule.id, toAccessJson(rule))
      },
      { body: AccessCreateBody, roles: ADMIN },
    )
    .put(
      '/api/v1/access/:id',
      ({ principal, params, body }) => {
        const actor = requireRole(principal, 'admin')
        const rule = updateAccessRule(store, parseId(params.id, 'access rule'), body)
        log.info({ actorId: actor.id, ruleId: rule.id }, 'access rule updated')
        return envelope(withModeNote(''), rule.id, toAccessJson(rule))
      },
      { body: AccessUpdateBody, roles: ADMIN },
    )
    .delete(
      '/api/v1/access/:id',
      ({ principal, params }) => {
        const actor = requireRole(principal, 'admin')
        const id = parseId(params.id, 'access rule')
        store.deleteAccessRule(id)
        log.info({ actorId: actor.id, ruleId: id }, 'access rule deleted')
        return envelope('access deleted', id, null)
      },
      { roles: ADMIN },
    )
}

/** Runs a list with the query of the request and sets `Content-Range`. */
const listAnswer = <T, J>(
  request: Request,
  set: { headers: Record<string, unknown> },
  resource: ListResource,
  run: (query: ListQuery) => ListResult<T>,
  toJson: (item: T) => J,
): ListEnvelope<J> => {
  const query = parseListQuery(new URL(request.url).searchParams)
  const result = run(query)
  set.headers['content-range'] = contentRange(resource, query, result.total)
  set.headers['access-control-expose-headers'] = 'Content-Range'
  return { total: result.total, data: result.items.map(toJson) }
}

/** Reads a positive integer id from the URL; Elysia gives `null` for bad percent-encoding. */
const parseId = (text: string | null | undefined, what: string): number => {
  const id = typeof text === 'string' && /^\d{1,16}$/.test(text) ? Number(text) : NaN
  if (!Number.isSafeInteger(id) || id <= 0) {
    throw new ValidationError(`the ${what} id must be a positive integer`)
  }
  return id
}

const requireSelfOrAdmin = (principal: Principal | null, id: number): number => {
  const user = requireUser(principal)
  if (user.role !== 'admin' && user.id !== id) {
    throw new DeniedError("access denied: only admins can manage other users' refresh tokens")
  }
  return id
}

/** After a password change the caller's own session moves to the new session generation. */
const renewOwnSession = async (
  sessions: ReturnType<typeof createSessionManager>,
  principal: Principal,
  set: { headers: Record<string, unknown> },
): Promise<void> => {
  const session = principal.session
  if (!session) {
    return
  }
  const user = principal.user
  const renewed = await sessions.continue(user, session)
  if (session.source === 'cookie') {
    set.headers['set-cookie'] = renewed.cookies
  } else {
    set.headers[JWT_HEADER] = renewed.token
  }
}
