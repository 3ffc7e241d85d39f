import { Elysia } from 'elysia'
import type { Logger } from 'pino'

import type { Config } from '../../config.ts'
import type { Authenticator } from '../../core/authenticator.ts'
import type { MirrorService } from '../../core/mirror/index.ts'
import type { Store } from '../../core/store.ts'
import { AppError, ConflictError, DeniedError } from '../../errors.ts'
import { principalPlugin, requireRole, type Principal } from '../admin-api/index.ts'
import { SyncSchedule } from './schedule.ts'

export { SyncSchedule, type SyncScheduleOptions } from './schedule.ts'

/** The manual sync trigger. */
export const SYNC_PATH = '/api/v1/registry/sync'

/** The running or last sync. */
export const SYNC_STATUS_PATH = '/api/v1/registry/sync/status'

/** Dependencies of {@link gcCronPlugin}. */
export interface GcCronDeps {
  mirror: MirrorService
  config: Config
  log: Logger
  /** For the `/api/v1` principal guard. */
  store: Store
  authenticator: Authenticator
  sessionSecret: Uint8Array | string
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number
}

/**
 * Schedules the repository sync and serves its routes:
 * - a sync when the server starts listening (in the background), then every
 *   `registry.gc_interval` minutes; the timer stops with the server;
 * - `POST /api/v1/registry/sync` (admin): starts one, 202 at once, 409 while one runs. The
 *   body must be empty or JSON (else 415), which no cross-site form can send. `GET` works
 *   too, as with the legacy tool, but only with HTTP Basic: a state change behind a GET link
 *   must not ride on a browser's session cookie (403). `HEAD` starts nothing (405);
 * - `GET /api/v1/registry/sync/status` (admin, manager): the running sync, else the last one.
 */
export const gcCronPlugin = (deps: GcCronDeps) => {
  const log = deps.log.child({ component: 'gc-cron' })
  const schedule = new SyncSchedule({
    mirror: deps.mirror,
    intervalMinutes: deps.config.registry.gcInterval,
    log,
  })

  const trigger = (
    principal: Principal | null,
    set: { status?: number | string },
    request?: Request,
  ) => {
    const user = requireRole(principal, 'admin')
    if (request !== undefined) {
      checkEmptyOrJson(request)
    }
    if (!deps.mirror.startSync()) {
      throw new ConflictError('a repository sync is already running')
    }
    log.info({ actorId: user.id }, 'sync started by hand')
    set.status = 202
    return { error: false, message: 'sync started', id: 0, data: null }
  }

  return (
    new Elysia({ name: 'gc-cron' })
      .onStart(() => schedule.start())
      .onStop(() => schedule.stop())
      .use(principalPlugin(deps))
      // the body is never read, only its type checked
      .post(SYNC_PATH, ({ principal, request, set }) => trigger(principal, set, request), {
        parse: 'none',
      })
      // without its own route a HEAD would run the GET handler and start a sync
      .head(SYNC_PATH, ({ set }) => {
        set.status = 405
        set.headers.allow = 'GET, POST'
        return ''
      })
      .get(SYNC_PATH, ({ principal, set }) => {
        if (principal !== null && principal.via !== 'basic') {
          throw new DeniedError('start a sync with POST; GET is only accepted with HTTP Basic')
        }
        return trigger(principal, set)
      })
      .get(SYNC_STATUS_PATH, ({ principal, set }) => {
        requireRole(principal, 'admin', 'manager')
        set.headers['cache-control'] = 'no-store'
        return { error: false, message: '', id: 0, data: deps.mirror.syncStatus() }
      })
  )
}

/**
 * A POST that starts a sync carries no body or a JSON one. Browsers send forms and plain text
 * across sites without asking, with any HTTP Basic credentials they hold for this server, but
 * never JSON.
 *
 * @throws AppError `UNSUPPORTED_MEDIA_TYPE` (415) for any other body
 */
const checkEmptyOrJson = (request: Request): void => {
  const type = request.headers.get('content-type')
  if (type === null) {
    const length = Number(request.headers.get('content-length') ?? 0)
    if (length === 0 && !request.headers.has('transfer-encoding')) {
      return
    }
  } else if (/^application\/json\s*(;|$)/i.test(type)) {
    return
  }
  const sent = type === null ? 'a body without a content type' : (type.split(';')[0] ?? '').trim()
  throw new AppError(
    'UNSUPPORTED_MEDIA_TYPE',
    415,
    `a sync is started with an empty body or a JSON one, not ${sent}`,
  )
}
