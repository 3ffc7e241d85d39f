import type { Logger } from 'pino'
import { parseScopes } from '../scope.ts'
import {
  BlobTooLargeError,
  RegistryError,
  RegistryUnavailableError,
  type RegistryErrorEntry,
  type RegistryOperation,
} from './errors.ts'
import { parseChallenge, type Challenge } from './headers.ts'
import { printable } from './names.ts'
import { scopeOf, type TokenCache, type TokenScope } from './token-cache.ts'
import type { RegistryTls } from './trust.ts'

/**
 * The `fetch` the client calls. Bun's global `fetch` fits; unit tests pass a fake. `init.tls` is
 * set on HTTPS calls only when a fetch is injected (the built-in path keeps it in a
 * `Bun.FetchSession`).
 */
export type RegistryFetch = (url: string, init: BunFetchRequestInit) => Promise<Response>

/** What one call is about, for error messages and logs. */
export interface CallContext {
  operation: RegistryOperation
  repository?: string
  reference?: string
}

/** One HTTP exchange with the registry. */
export interface RequestSpec {
  method: 'GET' | 'HEAD' | 'DELETE'
  /** Path below the base URL, starting with `/v2/`, query included. */
  path: string
  /** What a token for this call must grant (token mode only). */
  scope: TokenScope
  accept?: string
  /** @default the client's timeout */
  timeoutMs?: number
  /** Sends no credentials (to read the registry's challenge). @default false */
  anonymous?: boolean
}

/** A response together with the signal that bounds reading its body. */
export interface Exchange {
  response: Response
  signal: AbortSignal
  timeoutMs: number
}

/** How every call authenticates. */
export type Credentials =
  | { kind: 'token'; tokens: TokenCache; service: () => Promise<string> }
  | { kind: 'basic'; header: string }

export interface TransportOptions {
  baseUrl: string
  schemeAssumed: boolean
  credentials: Credentials
  fetch: RegistryFetch
  tls: RegistryTls | undefined
  timeoutMs: number
  log: Logger
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const MAX_REDIRECTS = 5
/** Error bodies are small JSON documents; anything longer is cut, not buffered. */
const MAX_ERROR_BODY_BYTES = 64 * 1024
const TLS_CODES =
  /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME_MISMATCH|EPROTO|TLS/

/** Sends requests to the registry with auth, a timeout, redirects and typed failures. */
export class Transport {
  private readonly origin: string

  constructor(private readonly options: TransportOptions) {
    this.origin = new URL(options.baseUrl).origin
  }

  get baseUrl(): string {
    return this.options.baseUrl
  }

  /**
   * Sends one request. In token mode a 401 with a Bearer challenge is retried once with a newly
   * signed token (for the challenged scope when it stays within the call's own resources).
   *
   * @throws RegistryUnavailableError when there is no answer in time or no connection.
   */
  async send(call: CallContext, spec: RequestSpec): Promise<Exchange> {
    const timeoutMs = spec.timeoutMs ?? this.options.timeoutMs
    const signal = AbortSignal.timeout(timeoutMs)
    const exchange = { signal, timeoutMs }
    const credentials = this.options.credentials

    const first = spec.anonymous === true ? '' : await this.authorization(spec.scope)
    let response = await this.fetchFollowing(call, spec, first, exchange)
    if (response.status === 401 && credentials.kind === 'token' && spec.anonymous !== true) {
      const challenge = parseChallenge(response.headers.get('www-authenticate'))
      if (challenge?.scheme === 'bearer') {
        await discard(response)
        const scope = challengedScope(challenge, spec.scope)
        const fresh = await this.authorization(scope, spec.scope.key)
        response = await this.fetchFollowing(call, spec, fresh, exchange)
      }
    }

    return { response, signal, timeoutMs }
  }

  /**
   * Turns an unexpected answer into a `RegistryError`, reading the registry's error body.
   * `messages` can override the text for particular statuses.
   */
  async failure(
    call: CallContext,
    exchange: Exchange,
    messages: Partial<Record<number, string>> = {},
  ): Promise<RegistryError> {
    const { response } = exchange
    const errors = await this.readErrors(call, exchange)
    const first = errors[0]
    const code = first?.code || fallbackCode(response.status)
    let reason =
      messages[response.status] ?? printable(first?.message || response.statusText || 'error')
    if (response.status === 401) {
      reason = await this.unauthorizedReason(response)
    } else if (code === 'PAGINATION_NUMBER_INVALID') {
      reason += '; the page size is above what the registry allows (catalog.maxentries)'
    }

    return new RegistryError(`${describe(call)}: ${reason} (HTTP ${response.status} ${code})`, {
      kind: 'registry',
      operation: call.operation,
      status: response.status,
      code,
      repository: call.repository,
      reference: call.reference,
      errors,
    })
  }

  /** An answer that cannot be used, as a `RegistryError` of kind `invalid`. */
  invalid(call: CallContext, reason: string, status = 0, cause?: unknown): RegistryError {
    return new RegistryError(`${describe(call)}: ${reason}`, {
      kind: 'invalid',
      operation: call.operation,
      status,
      code: 'INVALID_RESPONSE',
      repository: call.repository,
      reference: call.reference,
      cause,
    })
  }

  /**
   * Reads the body, never holding more than `maxBytes`: a larger `Content-Length` is refused
   * before reading, and a stream that runs over is cancelled.
   *
   * @throws BlobTooLargeError, or RegistryUnavailableError when the body stops or times out.
   */
  async readBytes(call: CallContext, exchange: Exchange, maxBytes: number): Promise<Uint8Array> {
    const { response } = exchange
    const announced = Number(response.headers.get('content-length') ?? NaN)
    if (announced > maxBytes) {
      await discard(response)
      throw this.tooLarge(call, maxBytes, announced)
    }
    if (response.body === null) {
      return new Uint8Array(0)
    }

    const chunks: Uint8Array[] = []
    let total = 0
    const reader = response.body.getReader()
    try {
      for (;;) {
        const { done, value } = await abortable(reader.read(), exchange.signal)
        if (done) {
          break
        }
        total += value.length
        if (total > maxBytes) {
          await reader.cancel().catch(() => {})
          throw this.tooLarge(call, maxBytes, total)
        }
        chunks.push(value)
      }
    } catch (error) {
      if (error instanceof RegistryError) {
        throw error
      }
      await reader.cancel().catch(() => {})
      throw this.unavailable(call, error, exchange)
    }

    return concat(chunks, total)
  }

  /** Reads and parses a JSON body of at most `maxBytes`. */
  async readJson(call: CallContext, exchange: Exchange, maxBytes: number): Promise<unknown> {
    const bytes = await this.readBytes(call, exchange, maxBytes)
    try {
      return JSON.parse(new TextDecoder().decode(bytes))
    } catch (error) {
      throw this.invalid(call, 'the registry answered with a body that is not JSON', 200, error)
    }
  }

  /** The Authorization header; with `retryKey`, a newly signed token cached under that key. */
  private async authorization(scope: TokenScope, retryKey?: string): Promise<string> {
    const credentials = this.options.credentials
    if (credentials.kind === 'basic') {
      return credentials.header
    }
    const tokens = credentials.tokens
    const token = retryKey === undefined ? tokens.get(scope) : tokens.sign(scope, retryKey)
    return `Bearer ${await token}`
  }

  /** Sends the request, following up to five redirects; credentials stay on our own origin. */
  private async fetchFollowing(
    call: CallContext,
    spec: RequestSpec,
    authorization: string,
    exchange: Pick<Exchange, 'signal' | 'timeoutMs'>,
  ): Promise<Response> {
    let url = `${this.options.baseUrl}${spec.path}`
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = {}
      if (authorization !== '' && new URL(url).origin === this.origin) {
        headers.authorization = authorization
      }
      if (spec.accept !== undefined) {
        headers.accept = spec.accept
      }

      const response = await this.fetchOnce(call, url, spec.method, headers, exchange)
      const location = response.headers.get('location')
      if (!REDIRECTS.has(response.status) || location === null) {
        return response
      }
      await discard(response)
      if (hop >= MAX_REDIRECTS) {
        throw this.invalid(call, `more than ${MAX_REDIRECTS} redirects`, response.status)
      }
      const next = new URL(location, url)
      if (next.protocol !== 'http:' && next.protocol !== 'https:') {
        throw this.invalid(call, `redirect to an unsupported URL scheme ${next.protocol}`)
      }
      url = next.href
    }
  }

  private async fetchOnce(
    call: CallContext,
    url: string,
    method: string,
    headers: Record<string, string>,
    exchange: Pick<Exchange, 'signal' | 'timeoutMs'>,
  ): Promise<Response> {
    const init: BunFetchRequestInit = {
      method,
      headers,
      redirect: 'manual',
      signal: exchange.signal,
    }
    if (this.options.tls !== undefined && url.startsWith('https:')) {
      init.tls = this.options.tls
    }

    const started = performance.now()
    let response: Response
    try {
      // Raced against the signal too, so a fetch that ignores it still cannot hang the call.
      response = await abortable(this.options.fetch(url, init), exchange.signal)
    } catch (error) {
      throw this.unavailable(call, error, exchange)
    }
    this.options.log.debug(
      {
        method,
        path: new URL(url).pathname,
        status: response.status,
        durationMs: Math.round(performance.now() - started),
      },
      'registry request',
    )
    return response
  }

  private unavailable(
    call: CallContext,
    error: unknown,
    exchange: Pick<Exchange, 'signal' | 'timeoutMs'>,
  ): RegistryUnavailableError {
    const base = this.options.baseUrl
    const init = {
      operation: call.operation,
      repository: call.repository,
      reference: call.reference,
      cause: error,
    }
    if (signalTimedOut(exchange.signal)) {
      return new RegistryUnavailableError(
        `${describe(call)}: the registry at ${base} did not answer within ${exchange.timeoutMs} ms`,
        { ...init, kind: 'timeout', code: 'TIMEOUT' },
      )
    }

    const code = String((error as { code?: unknown }).code ?? '')
    const detail = error instanceof Error ? error.message : String(error)
    let message = `${describe(call)}: cannot reach the registry at ${base} (${[code, detail].filter(Boolean).join(': ')})`
    if (TLS_CODES.test(code)) {
      message += '; if it uses a private CA, name that CA in registry.certs.https_cert'
    }
    if (this.options.schemeAssumed) {
      message += `; registry.host has no scheme, so ${new URL(base).protocol.slice(0, -1)} was assumed`
    }
    return new RegistryUnavailableError(message, {
      ...init,
      kind: 'unreachable',
      code: 'UNREACHABLE',
    })
  }

  private tooLarge(call: CallContext, maxBytes: number, size: number): BlobTooLargeError {
    return new BlobTooLargeError(
      `${describe(call)}: the content is larger than the allowed ${maxBytes} bytes (at least ${size})`,
      {
        operation: call.operation,
        repository: call.repository,
        reference: call.reference,
        maxBytes,
        size,
      },
    )
  }

  private async readErrors(call: CallContext, exchange: Exchange): Promise<RegistryErrorEntry[]> {
    let text: string
    try {
      const bytes = await this.readBytes(call, exchange, MAX_ERROR_BODY_BYTES)
      text = new TextDecoder().decode(bytes)
    } catch {
      return []
    }
    try {
      const body = JSON.parse(text) as { errors?: unknown }
      if (!Array.isArray(body.errors)) {
        return []
      }
      return body.errors.map((entry: Record<string, unknown>) => ({
        code: typeof entry?.code === 'string' ? entry.code : '',
        message: typeof entry?.message === 'string' ? entry.message : '',
        detail: entry?.detail ?? null,
      }))
    } catch {
      return []
    }
  }

  /** Explains a final 401: whose credentials were refused, and the likely mismatch. */
  private async unauthorizedReason(response: Response): Promise<string> {
    const challenge = parseChallenge(response.headers.get('www-authenticate'))
    const credentials = this.options.credentials
    if (credentials.kind === 'basic') {
      return challenge?.scheme === 'bearer'
        ? 'the registry wants bearer tokens, not basic auth; set registry.auth_type to token'
        : 'the registry refused registry.login and registry.password'
    }
    if (challenge?.scheme === 'basic') {
      return 'the registry wants basic auth, not tokens; set registry.auth_type to basic'
    }

    const service = await credentials.service().catch(() => '')
    const parts = [
      `the registry refused this server's token (${challenge?.params.error ?? 'no reason given'})`,
    ]
    if (challenge?.params.service !== undefined && challenge.params.service !== service) {
      parts.push(
        `it expects the service '${printable(challenge.params.service)}' but tokens are for '${printable(service)}'`,
      )
    } else {
      parts.push(
        "check that the registry's auth.token issuer and rootcertbundle match this server's issuer and CA, and that both clocks agree",
      )
    }
    return parts.join('; ')
  }
}

/**
 * The scope a 401 challenge asks for, when it names only the call's own resources (the registry
 * may know better which actions it needs); otherwise the call's own scope, so a registry can
 * never widen what this server signs.
 */
export function challengedScope(challenge: Challenge, own: TokenScope): TokenScope {
  const text = challenge.params.scope
  if (text === undefined || text === '') {
    return own
  }
  try {
    const scopes = parseScopes([text])
    const allowed = new Set(own.access.map((entry) => `${entry.type}:${entry.name}`))
    if (scopes.length === 0 || scopes.some((s) => !allowed.has(`${s.type}:${s.name}`))) {
      return own
    }
    return scopeOf(scopes.map((s) => ({ type: s.type, name: s.name, actions: s.actions })))
  } catch {
    return own
  }
}

/** `getManifest ns/app:1.0`, `listRepositories`: what failed, for messages. */
export function describe(call: CallContext): string {
  if (call.repository === undefined) {
    return `registry ${call.operation}`
  }
  const reference = call.reference
  if (reference === undefined) {
    return `registry ${call.operation} ${call.repository}`
  }
  return `registry ${call.operation} ${call.repository}${reference.includes(':') ? '@' : ':'}${reference}`
}

/** Lets go of a body that is not needed, without throwing. */
export async function discard(response: Response): Promise<void> {
  try {
    await response.body?.cancel()
  } catch {
    // Already consumed or errored: nothing to release.
  }
}

function fallbackCode(status: number): string {
  switch (status) {
    case 401:
      return 'UNAUTHORIZED'
    case 403:
      return 'DENIED'
    case 404:
      return 'NOT_FOUND'
    case 405:
      return 'UNSUPPORTED'
    case 429:
      return 'TOOMANYREQUESTS'
    default:
      return 'UNKNOWN'
  }
}

/** `promise`, or a rejection with the signal's reason as soon as it aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    promise.catch(() => {})
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort)
        resolve(value)
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(error)
      },
    )
  })
}

function signalTimedOut(signal: AbortSignal): boolean {
  return signal.aborted && (signal.reason as { name?: string } | undefined)?.name === 'TimeoutError'
}

function concat(chunks: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.length
  }
  return out
}
