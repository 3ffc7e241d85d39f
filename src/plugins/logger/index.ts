import { Elysia, ElysiaCustomStatusResponse, StatusMap } from 'elysia'
import type { Logger } from 'pino'

import type { LoggerConfig } from '../../config.ts'
import { basicAuthLogin, formatAccessLine, plainAddress } from './access-log.ts'
import { openAccessLog, type AccessLogSink } from './access-sink.ts'
import { requestIdFrom } from './request-id.ts'

export { createLogger, REDACT_PATHS, type RootLoggerOptions } from './logger.ts'
export { formatAccessLine, redactQuery, type AccessEntry } from './access-log.ts'
export {
  createRotatingStream,
  openAccessLog,
  stdoutSink,
  type AccessLogSink,
} from './access-sink.ts'

/** Dependencies of {@link loggerPlugin}. */
export interface LoggerPluginDeps {
  /** The root logger; requests get a child with their `reqId`. */
  log: Logger
  config: LoggerConfig
  /** Where access lines go. @default stdout or the rotating file, as `config` says */
  sink?: AccessLogSink
  /** The clock for the access log's time stamp. @default () => new Date() */
  now?: () => Date
}

interface RequestMeta {
  id: string
  start: Date
  /** Read on arrival: once the response is sent, the server no longer knows the peer. */
  peer: string | undefined
}

const accessUsers = new WeakMap<Request, string>()

/**
 * Names the authenticated user of a request in its access log line (`%u`). Plugins that
 * authenticate by other means than a `principal` on the context call this; the name must be
 * a login, never a credential.
 */
export function setAccessUser(request: Request, login: string): void {
  accessUsers.set(request, login)
}

/**
 * The request logger: gives each request an id (a well-formed incoming `X-Request-Id`, else a
 * new one), echoes it in the response's `X-Request-Id`, derives `requestId` and `requestLog`
 * (a child of `log` with `reqId`) for every route, and writes one Apache Combined line per
 * finished request, after any error handler has set the final status. `GET …/ping` is not
 * logged. The access file, if any, is closed when the app stops.
 */
export const loggerPlugin = (deps: LoggerPluginDeps) => {
  const sink = deps.sink ?? openAccessLog(deps.config, deps.log)
  const now = deps.now ?? (() => new Date())
  const requests = new WeakMap<Request, RequestMeta>()

  return new Elysia({ name: 'logger', seed: deps.config })
    .onRequest(({ request, server, set }) => {
      const id = requestIdFrom(request.headers.get('x-request-id'))
      const peer = server?.requestIP(request)?.address
      requests.set(request, { id, start: now(), peer: peer ? plainAddress(peer) : undefined })
      set.headers['x-request-id'] = id
    })
    .derive({ as: 'global' }, ({ request }) => {
      const requestId = requests.get(request)?.id ?? requestIdFrom(null)
      return { requestId, requestLog: deps.log.child({ reqId: requestId }) }
    })
    .onAfterResponse({ as: 'global' }, (context) => {
      const { request, set } = context
      if (isPing(request)) {
        return
      }
      const value = 'responseValue' in context ? context.responseValue : undefined
      const meta = requests.get(request)
      const line = formatAccessLine({
        remoteAddress: meta?.peer,
        user: accessUser(request, context),
        time: meta?.start ?? now(),
        method: request.method,
        url: request.url,
        status: finalStatus(value, set.status),
        bytes: request.method === 'HEAD' ? undefined : bodyBytes(value),
        referer: request.headers.get('referer'),
        userAgent: request.headers.get('user-agent'),
      })
      sink.write(line)
    })
    .onStop(() => sink.close())
}

/** The legacy tool answered and skipped logging any GET whose path ends in `/ping`. */
const isPing = (request: Request): boolean =>
  request.method === 'GET' && /\/ping$/i.test(new URL(request.url).pathname)

/** Who to name in `%u`: a registered login, the context's principal, or a Basic login. */
const accessUser = (request: Request, context: object): string | undefined => {
  const registered = accessUsers.get(request)
  if (registered) {
    return registered
  }
  const principal = (context as { principal?: { user?: { login?: unknown } } | null }).principal
  const login = principal?.user?.login
  if (typeof login === 'string' && login !== '') {
    return login
  }
  return basicAuthLogin(request.headers.get('authorization'))
}

/** A returned Response or `status()` value carries its own status; else `set.status` is final. */
const finalStatus = (value: unknown, status: number | string | undefined): number => {
  if (value instanceof Response) {
    return value.status
  }
  if (value instanceof ElysiaCustomStatusResponse) {
    return Number(value.code)
  }
  if (typeof status === 'string') {
    return (StatusMap as Record<string, number>)[status] ?? 200
  }
  return status ?? 200
}

/**
 * The body size of the handler's value as Elysia sends it.
 *
 * KNOWN LIMIT: bodies rendered by the error handler and streamed `Response` bodies without a
 * Content-Length are not measured; their `%b` is written as `-`.
 */
const bodyBytes = (value: unknown): number | undefined => {
  if (value instanceof ElysiaCustomStatusResponse) {
    return bodyBytes(value.response)
  }
  if (value instanceof Response) {
    const length = Number(value.headers.get('content-length'))
    return Number.isSafeInteger(length) && length > 0 ? length : undefined
  }
  if (value === undefined || value === null) {
    return undefined
  }
  if (typeof value === 'string') {
    return Buffer.byteLength(value)
  }
  if (value instanceof Blob) {
    return value.size
  }
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) {
    return value.byteLength
  }
  if (typeof value === 'object' || typeof value === 'number' || typeof value === 'boolean') {
    return Buffer.byteLength(JSON.stringify(value) ?? '')
  }
  return undefined
}
