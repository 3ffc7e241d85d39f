import { Elysia } from 'elysia'
import type { Logger } from 'pino'

import type { Config } from './config.ts'
import type { Authenticator } from './core/authenticator.ts'
import type { HtpasswdFile } from './core/htpasswd.ts'
import { createMirrorService, type MirrorService } from './core/mirror/index.ts'
import { createRegistryClient, type RegistryClient } from './core/registry-client/index.ts'
import type { Store } from './core/store.ts'
import { AppError } from './errors.ts'
import { handleError } from './http-errors.ts'
import { adminApiPlugin, type AdminApiDeps } from './plugins/admin-api/index.ts'
import { authRealmPlugin, type RegistryTokenSigner } from './plugins/auth-realm/index.ts'
import { gcCronPlugin } from './plugins/gc-cron/index.ts'
import { loggerPlugin } from './plugins/logger/index.ts'
import { EVENTS_PATH, registryEventsPlugin } from './plugins/registry-events/index.ts'

export interface AppDeps {
  config: Config
  log: Logger
  store: Store
  authenticator: Authenticator
  /** Signs registry tokens; absent in basic mode, where the realm is off. */
  signer: RegistryTokenSigner | null
  sessionSecret: Uint8Array | string
  /** The repository mirror. @default built by `createMirrorService` on the app's registry client */
  mirror?: MirrorService
  /**
   * The registry client of the catalog routes and the health check; `null` for none.
   * @default built from `config` when registry.host is set
   */
  registry?: RegistryClient | null
  /**
   * The htpasswd file of basic mode: rewritten after every change to the user table, and its
   * write failures reported by the health check and in the answers of user changes.
   * @default none
   */
  htpasswd?: HtpasswdFile | null
  /** Called after every change to the user table. @default a rewrite of `htpasswd` */
  onUsersChanged?: () => void
  now?: () => number
}

/** Builds the whole HTTP application from its plugins. `main.ts` only adds the listener. */
export const createApp = (deps: AppDeps) => {
  const { config, log } = deps
  const signer = deps.signer ?? missingSigner
  const registry = deps.registry === undefined ? registryOf(deps) : deps.registry
  // one client, so one token cache, for the catalog routes, the health check and the mirror
  const mirror =
    deps.mirror ??
    createMirrorService({
      config,
      store: deps.store,
      log,
      signer: deps.signer,
      registry,
      now: deps.now,
    })

  const htpasswd = deps.htpasswd ?? null
  const adminDeps: AdminApiDeps = {
    store: deps.store,
    log,
    config,
    authenticator: deps.authenticator,
    sessionSecret: deps.sessionSecret,
    onUsersChanged: deps.onUsersChanged ?? (htpasswd ? () => htpasswd.rewrite() : undefined),
    registry,
    mirror,
    // catalog deletes wait for the mirror's work on the same repository, and it for them
    repositoryLock: mirror,
    htpasswd,
  }

  return new Elysia({ serve: { maxRequestBodySize: MAX_REQUEST_BODY_BYTES } })
    .onError((context) => handleError(log, context))
    .onRequest(({ request, set }) => limitBody(request, set))
    .use(loggerPlugin({ log, config: config.logger }))
    .get('/ping', () => 'pong')
    .use(
      authRealmPlugin({
        store: deps.store,
        log,
        config,
        authenticator: deps.authenticator,
        signer,
        now: deps.now,
      }),
    )
    .use(adminApiPlugin(adminDeps))
    .use(registryEventsPlugin({ mirror, authenticator: deps.authenticator, config, log }))
    .use(
      gcCronPlugin({
        mirror,
        config,
        log,
        store: deps.store,
        authenticator: deps.authenticator,
        sessionSecret: deps.sessionSecret,
        now: deps.now,
      }),
    )
}

export type App = ReturnType<typeof createApp>

/**
 * Largest request body the listener takes at all: room for the largest notification the
 * registry may send (its events list every layer of a manifest, with their annotations), which
 * must never get an error the registry would retry forever. The notification route reads at
 * most `MAX_EVENTS_BODY_BYTES` of it, and only from an authenticated sender.
 */
export const MAX_REQUEST_BODY_BYTES = 16 * 1024 * 1024

/**
 * Largest body of any other route: nothing else takes more than a small JSON document or
 * form, and some routes (the UI login, the token endpoint) read theirs before they know who
 * sent it.
 */
export const MAX_ROUTE_BODY_BYTES = 1024 * 1024

/**
 * Holds every route but the notification endpoint to {@link MAX_ROUTE_BODY_BYTES} before its
 * body is read: a larger declared length gets 413, and a body without a length (chunked) gets
 * 411, since its size is only known once it has been read. The connection is closed after
 * such an answer, as the body is never read.
 *
 * @throws AppError `TOO_LARGE` (413) or `LENGTH_REQUIRED` (411)
 */
const limitBody = (request: Request, set: { headers: Record<string, unknown> }): void => {
  if (new URL(request.url).pathname === EVENTS_PATH) {
    return
  }
  const length = request.headers.get('content-length')
  let refusal: AppError | null = null
  if (length === null && request.headers.has('transfer-encoding')) {
    refusal = new AppError(
      'LENGTH_REQUIRED',
      411,
      'send the request body with a Content-Length; this route does not read chunked bodies',
    )
  } else if (length !== null && Number(length) > MAX_ROUTE_BODY_BYTES) {
    refusal = new AppError(
      'TOO_LARGE',
      413,
      `the request body is larger than ${MAX_ROUTE_BODY_BYTES} bytes, the most this route reads`,
    )
  }
  if (refusal !== null) {
    // otherwise the unread body keeps the connection, and a graceful stop, waiting
    set.headers.connection = 'close'
    throw refusal
  }
}

/** The registry client for `registry.host`, or `null` when it is not set. */
const registryOf = ({ config, signer, log }: AppDeps): RegistryClient | null =>
  config.registry.host === ''
    ? null
    : createRegistryClient({
        config: config.registry,
        signer,
        service: config.registry.service,
        log,
      })

const missingSigner: RegistryTokenSigner = {
  sign: () => Promise.reject(new Error('no signing key is loaded in basic mode')),
}
