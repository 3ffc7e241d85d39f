import {
  AppError,
  ConflictError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../../errors.ts'

/** The client operations, named as the methods of `RegistryClient`. */
export type RegistryOperation =
  | 'ping'
  | 'catalogPage'
  | 'listRepositories'
  | 'listTags'
  | 'headManifest'
  | 'getManifest'
  | 'getBlob'
  | 'deleteManifest'
  | 'resolveTag'

/**
 * Why a call failed:
 * - `registry`: the registry answered with an error status ("the registry said no"); `status`
 *   and `code` say what it said.
 * - `invalid`: the registry answered, but with something unusable (a body that is not the
 *   expected JSON, a digest that does not match the bytes, pagination that does not advance).
 * - `too-large`: the answer is bigger than the caller allowed (see `BlobTooLargeError`).
 * - `unreachable`: no answer at all: connection refused, DNS failure, TLS failure.
 * - `timeout`: no complete answer within the client's timeout.
 *
 * Only `unreachable` and `timeout` come as {@link RegistryUnavailableError}.
 */
export type RegistryErrorKind = 'registry' | 'invalid' | 'too-large' | 'unreachable' | 'timeout'

/** One entry of the registry's `{"errors":[{code,message,detail}]}` body. */
export interface RegistryErrorEntry {
  code: string
  message: string
  detail: unknown
}

/** Fields of a {@link RegistryError}. */
export interface RegistryErrorInit {
  kind: RegistryErrorKind
  operation: RegistryOperation
  /** HTTP status of the registry's answer; 0 when there was none. @default 0 */
  status?: number
  /**
   * The registry's error code (`MANIFEST_UNKNOWN`, `NAME_UNKNOWN`, `UNSUPPORTED`,
   * `UNAUTHORIZED`, `DENIED`, …) or, when it sent none, one derived from the status or the kind.
   */
  code: string
  repository?: string
  reference?: string
  /** Every entry of the registry's error body, in order. @default [] */
  errors?: RegistryErrorEntry[]
  cause?: unknown
}

/**
 * A registry call that did not succeed. `kind` tells "the registry said no" (`registry`) from
 * "could not read" (`unreachable`, `timeout`, also `invalid`): a caller that mirrors the
 * registry must treat anything but a result as "unknown", never as "empty".
 *
 * NOTE: `status` and `code` are the registry's, not this server's; a route that lets one
 * escape should convert it with {@link registryErrorToAppError}, since a registry 401 (our own
 * token refused) must not reach a browser as a 401.
 */
export class RegistryError extends Error {
  readonly kind: RegistryErrorKind
  readonly operation: RegistryOperation
  readonly status: number
  readonly code: string
  readonly repository: string | undefined
  readonly reference: string | undefined
  readonly errors: RegistryErrorEntry[]

  constructor(message: string, init: RegistryErrorInit) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause })
    this.name = new.target.name
    this.kind = init.kind
    this.operation = init.operation
    this.status = init.status ?? 0
    this.code = init.code
    this.repository = init.repository
    this.reference = init.reference
    this.errors = init.errors ?? []
  }
}

/** The registry could not be read: no connection, a TLS failure, or no answer in time. */
export class RegistryUnavailableError extends RegistryError {
  declare readonly kind: 'unreachable' | 'timeout'

  constructor(message: string, init: RegistryErrorInit & { kind: 'unreachable' | 'timeout' }) {
    super(message, init)
  }
}

/** A blob (or manifest) is bigger than the caller's `maxBytes`; nothing beyond it was read. */
export class BlobTooLargeError extends RegistryError {
  declare readonly kind: 'too-large'
  readonly maxBytes: number
  /** The size announced by `Content-Length`, or the bytes read when the stream ran over. */
  readonly size: number

  constructor(
    message: string,
    init: Omit<RegistryErrorInit, 'kind' | 'code'> & { maxBytes: number; size: number },
  ) {
    super(message, { ...init, kind: 'too-large', code: 'TOO_LARGE' })
    this.maxBytes = init.maxBytes
    this.size = init.size
  }
}

/** `registry.host` or `registry.port` (or the TLS files) cannot be used; raised at creation. */
export class RegistryConfigError extends Error {
  /** The config key concerned, as the operator writes it (`registry.host`). */
  readonly option: string

  constructor(option: string, message: string, options?: ErrorOptions) {
    super(`${option}: ${message}`, options)
    this.name = new.target.name
    this.option = option
  }
}

const NOT_FOUND_CODES = new Set(['NAME_UNKNOWN', 'MANIFEST_UNKNOWN', 'BLOB_UNKNOWN', 'NOT_FOUND'])

/**
 * Converts a registry failure into this server's error hierarchy, for a route to throw:
 * - unknown repository, manifest or blob → `NotFoundError` (404);
 * - deletion disabled (`UNSUPPORTED`) → `ConflictError` (409), with the registry's reason;
 * - a request the registry calls invalid (`NAME_INVALID`, `TAG_INVALID`, `DIGEST_INVALID`,
 *   `PAGINATION_NUMBER_INVALID`) → `ValidationError` (400);
 * - anything else, including the registry refusing this server's own credentials → a 503
 *   `UnavailableError`: it is a problem between the two servers, not the caller's.
 *
 * The original error is kept as `cause`.
 */
export function registryErrorToAppError(error: RegistryError): AppError {
  const options = { cause: error }
  if (error.kind === 'registry' && NOT_FOUND_CODES.has(error.code)) {
    return new NotFoundError(error.message, options)
  }
  if (error.kind === 'registry' && error.code === 'UNSUPPORTED') {
    return new ConflictError(error.message, options)
  }
  if (error.kind === 'registry' && error.status === 400 && error.code.endsWith('_INVALID')) {
    return new ValidationError(error.message, options)
  }

  return new UnavailableError(error.message, options)
}
