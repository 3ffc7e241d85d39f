/**
 * The application's error hierarchy. Each error carries a SCREAMING_SNAKE `code` and the HTTP
 * `status` it maps to; the single `onError` in `app.ts` renders them for the route family that
 * raised them (the admin API envelope, the registry `errors` list, or OAuth2's `error`).
 */
export class AppError extends Error {
  readonly code: string
  readonly status: number

  constructor(code: string, status: number, message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
    this.code = code
    this.status = status
  }
}

/** The request is malformed or a value is out of range (400). */
export class ValidationError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('VALIDATION', 400, message, options)
  }
}

/** No valid credentials were presented (401). `challenge` becomes `WWW-Authenticate`. */
export class UnauthorizedError extends AppError {
  readonly challenge: string | undefined

  constructor(message: string, challenge?: string, options?: ErrorOptions) {
    super('UNAUTHORIZED', 401, message, options)
    this.challenge = challenge
  }
}

/** The caller is known but may not do this (403). */
export class DeniedError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('DENIED', 403, message, options)
  }
}

/** The addressed row or route does not exist (404). */
export class NotFoundError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('NOT_FOUND', 404, message, options)
  }
}

/** The change would break a uniqueness rule or an invariant such as "one admin remains" (409). */
export class ConflictError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('CONFLICT', 409, message, options)
  }
}

/** Too many failed logins from this address for this login; retry after `retryAfter` seconds. */
export class TooManyRequestsError extends AppError {
  readonly retryAfter: number

  constructor(message: string, retryAfter: number, options?: ErrorOptions) {
    super('TOOMANYREQUESTS', 429, message, options)
    this.retryAfter = retryAfter
  }
}

/** A dependency (the registry, the store) cannot serve the request right now (503). */
export class UnavailableError extends AppError {
  constructor(message: string, options?: ErrorOptions) {
    super('UNAVAILABLE', 503, message, options)
  }
}
