import type { Logger } from 'pino'

import { AppError, TooManyRequestsError, UnauthorizedError } from './errors.ts'

/** Which error shape a route family speaks. */
export type ErrorDialect = 'registry' | 'oauth' | 'session' | 'api'

const REALM_PATH = '/api/v1/registry/auth'

/**
 * Picks the error shape from the request: the token endpoint speaks the registry's `errors`
 * list (and OAuth2's `error` for its POST), the UI session routes `{ error }`, and the admin
 * API the legacy envelope that existing clients read.
 */
export const dialectOf = (request: Request): ErrorDialect => {
  const path = new URL(request.url).pathname
  if (path === REALM_PATH || path === `${REALM_PATH}/`) {
    return request.method === 'POST' ? 'oauth' : 'registry'
  }
  if (path.startsWith('/auth/')) {
    return 'session'
  }
  return 'api'
}

const REGISTRY_CODES: Record<number, string> = {
  400: 'UNSUPPORTED',
  401: 'UNAUTHORIZED',
  403: 'DENIED',
  404: 'NOT_FOUND',
  429: 'TOOMANYREQUESTS',
}

const OAUTH_CODES: Record<number, string> = {
  400: 'invalid_request',
  401: 'invalid_grant',
  403: 'unauthorized_client',
  429: 'temporarily_unavailable',
}

/** Builds the response body for an error in the caller's dialect. */
export const errorBody = (dialect: ErrorDialect, status: number, code: string, message: string) => {
  switch (dialect) {
    case 'registry':
      return { errors: [{ code: REGISTRY_CODES[status] ?? code, message, detail: null }] }
    case 'oauth':
      return { error: OAUTH_CODES[status] ?? 'server_error', error_description: message }
    case 'session':
      return { error: message }
    case 'api':
      return { error: true, code, message, id: 0, data: null }
  }
}

interface ElysiaErrorContext {
  code: string | number
  error: unknown
  request: Request
  set: { status?: number | string; headers: Record<string, string | number> }
}

/**
 * The single error handler of the app: known errors keep their status and message, Elysia's
 * own validation and parse errors become 400 with a readable message, and anything else is
 * logged and answered with a generic 500 that reveals nothing.
 */
export const handleError = (log: Logger, context: ElysiaErrorContext) => {
  const { code, error, request, set } = context
  const dialect = dialectOf(request)

  if (error instanceof AppError) {
    set.status = error.status
    if (error instanceof UnauthorizedError && error.challenge) {
      set.headers['www-authenticate'] = error.challenge
    }
    if (error instanceof TooManyRequestsError) {
      set.headers['retry-after'] = String(error.retryAfter)
    }
    return errorBody(dialect, error.status, error.code, error.message)
  }

  switch (code) {
    case 'VALIDATION':
      set.status = 400
      return errorBody(dialect, 400, 'VALIDATION', validationMessage(error))
    case 'PARSE':
      set.status = 400
      return errorBody(dialect, 400, 'VALIDATION', 'the request body could not be parsed')
    case 'NOT_FOUND':
      set.status = 404
      return errorBody(dialect, 404, 'NOT_FOUND', 'no such route')
    case 'INVALID_COOKIE_SIGNATURE':
      set.status = 400
      return errorBody(dialect, 400, 'VALIDATION', 'invalid cookie')
  }

  log.error(
    { err: error, method: request.method, path: new URL(request.url).pathname },
    'unhandled error',
  )
  set.status = 500
  return errorBody(dialect, 500, 'INTERNAL', 'internal server error')
}

/** Turns Elysia's validation error into one readable sentence. */
const validationMessage = (error: unknown): string => {
  const all = (error as { all?: { path?: string; summary?: string; message?: string }[] }).all
  const first = Array.isArray(all) ? all[0] : undefined
  if (!first) {
    return 'the request is not valid'
  }
  const field = first.path ? first.path.replace(/^\//, '').replaceAll('/', '.') : ''
  const what = first.summary ?? first.message ?? 'is not valid'
  return field ? `${field}: ${what}` : what
}
