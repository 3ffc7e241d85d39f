import type { Logger } from 'pino'
import type { RegistryConfig } from '../../config.ts'
import { ValidationError } from '../../errors.ts'
import type { TokenSigner } from '../token-signer.ts'
import { resolveRegistryAddress } from './base-url.ts'
import { RegistryConfigError, RegistryError } from './errors.ts'
import { parseChallenge, parseNextLink } from './headers.ts'
import { bareMediaType, MANIFEST_ACCEPT, parseManifest, type ParsedManifest } from './manifest.ts'
import {
  checkDigest,
  checkReference,
  checkRepository,
  checkTag,
  digestOf,
  isDigest,
  printable,
} from './names.ts'
import {
  BASE_SCOPE,
  CATALOG_SCOPE,
  repositoryScope,
  TokenCache,
  TOKEN_TTL_SECONDS,
  type TokenScope,
} from './token-cache.ts'
import {
  discard,
  Transport,
  type CallContext,
  type Credentials,
  type Exchange,
  type RegistryFetch,
} from './transport.ts'
import { loadRegistryTls } from './trust.ts'

/** Options of {@link createRegistryClient}. */
export interface RegistryClientOptions {
  /** `registry.*`: host, port, auth type, basic credentials, TLS files. */
  config: RegistryConfig
  /** Signs the client's own tokens; required when `config.authType` is `token`. */
  signer: TokenSigner | null
  /**
   * The registry's `auth.token.service`, the audience of the client's tokens. When empty, it
   * is read once from the registry's own `WWW-Authenticate` challenge.
   */
  service: string
  log: Logger
  /** Limit for each HTTP call, body included. @default 10000 */
  timeoutMs?: number
  /** @default the global fetch, in a `Bun.FetchSession` carrying the TLS settings */
  fetch?: RegistryFetch
  /** Clock in milliseconds, for token reuse. @default Date.now */
  now?: () => number
  /** Lifetime of the client's tokens, at least 60. @default 300 */
  tokenTtlSeconds?: number
}

/** Options of the lists that follow `Link` pagination. */
export interface ListOptions {
  /** Names asked per page (`n`). */
  pageSize?: number
  /** The most names a complete list may hold. @default MAX_LISTED_NAMES */
  maxNames?: number
}

/**
 * The most names a catalog or tag list may hold: more is taken for a registry (or a proxy)
 * whose pagination never ends, and the list is refused rather than read on without end.
 */
export const MAX_LISTED_NAMES = 1_000_000

/** What `GET /v2/` said. */
export interface PingResult {
  /** True when the registry answered 200, so it also accepted this server's credentials. */
  ok: boolean
  status: number
  /** `Docker-Distribution-API-Version` (`registry/2.0`), or null when not sent. */
  apiVersion: string | null
  /** Why it is not ok (credentials refused, server error); null when ok. */
  error: RegistryError | null
}

/** One page of the catalog. */
export interface CatalogPage {
  repositories: string[]
  /** The `last` to ask for the next page with, or null when this page is the last one. */
  next: string | null
}

/** What a manifest HEAD tells. */
export interface ManifestHead {
  /** `Docker-Content-Digest`. */
  digest: string
  /** `Content-Type` without parameters. */
  mediaType: string
  /** `Content-Length`: the size of the manifest itself, not of the image. */
  size: number
}

/** A fetched manifest: its bytes, their JSON and the normalised reading. */
export interface ManifestResult extends ManifestHead {
  bytes: Uint8Array
  /** The parsed JSON; null when the bytes are not JSON (then `manifest.type` is `invalid`). */
  json: unknown
  manifest: ParsedManifest
}

/** A fetched blob, its digest verified. */
export interface BlobResult {
  digest: string
  size: number
  /** `Content-Type` as sent (the registry sends `application/octet-stream`), or null. */
  mediaType: string | null
  bytes: Uint8Array
}

/** Options of {@link RegistryClient.getBlob}. */
export interface GetBlobOptions {
  /** Largest blob accepted; a larger one throws `BlobTooLargeError` unread. */
  maxBytes: number
  /** @default the client's timeout */
  timeoutMs?: number
}

/**
 * The registry's HTTP API as this server uses it. Safe to share: calls may run concurrently.
 *
 * Every method throws `RegistryError` when the registry answers with an unexpected error,
 * `RegistryUnavailableError` when it cannot be reached or does not answer in time, and
 * `ValidationError` (before any request) for a malformed repository name, tag or digest.
 * Lookups (`headManifest`, `getManifest`, `getBlob`, `resolveTag`) return null on 404; lists
 * return everything or throw, never a partial list.
 */
export interface RegistryClient {
  /** `scheme://host:port[/prefix]`, as built by `registryBaseUrl`. */
  readonly baseUrl: string

  /**
   * `GET /v2/` with the client's credentials (in token mode, a token granting nothing), for a
   * health check. Any HTTP answer is a result; only "no answer" throws.
   * @throws RegistryUnavailableError
   */
  ping(): Promise<PingResult>

  /**
   * One page of `/v2/_catalog` (token scope `registry:catalog:*`).
   * @param options.n page size, 1 to 1000. @default 100
   * @param options.last the `next` of the previous page
   */
  catalogPage(options?: { last?: string; n?: number }): Promise<CatalogPage>

  /**
   * Every repository name, following the catalog's `Link` pagination. The list is complete
   * when it returns; any failure on any page throws, and so does a catalog that goes on past
   * `maxNames` names or `maxNames / pageSize + 1` pages, or whose `Link` repeats a page.
   * @param options.pageSize 1 to 1000 (registry 2.8 refuses more). @default 100
   * @param options.maxNames @default MAX_LISTED_NAMES
   * @throws RegistryError of kind `invalid` when the catalog does not end within those limits
   */
  listRepositories(options?: ListOptions): Promise<string[]>

  /**
   * Every tag of a repository, sorted (2.8 returns them unordered); `[]` when the repository
   * exists without tags. Follows `Link` pagination when the registry paginates (3.x with `n`),
   * within the limits of {@link listRepositories}.
   * @param options.pageSize sends `n`; @default none, so 2.8 and 3.x both answer in one page
   * @throws RegistryError with code `NAME_UNKNOWN` when the repository does not exist
   */
  listTags(repository: string, options?: ListOptions): Promise<string[]>

  /** HEAD of a manifest by tag or digest; null on 404. */
  headManifest(repository: string, reference: string): Promise<ManifestHead | null>

  /**
   * GET of a manifest (at most 4 MiB) by tag or digest; null on 404. The digest is the
   * registry's `Docker-Content-Digest`, else computed; the bytes are checked against it and
   * against a digest reference.
   * @throws RegistryError of kind `invalid` when the bytes do not match the digest
   */
  getManifest(repository: string, reference: string): Promise<ManifestResult | null>

  /**
   * GET of a blob by digest, following redirects (credentials are not sent to other hosts);
   * null on 404. Never holds more than `maxBytes`; the bytes are checked against the digest.
   * @throws BlobTooLargeError when the blob is larger than `maxBytes`
   */
  getBlob(repository: string, digest: string, options: GetBlobOptions): Promise<BlobResult | null>

  /**
   * DELETE of a manifest by digest (token scope `delete`); this removes every tag pointing at
   * it. True when deleted, false when it was already gone (404).
   * @throws RegistryError with code `UNSUPPORTED` (405) when the registry has deletion off
   */
  deleteManifest(repository: string, digest: string): Promise<boolean>

  /** The digest a tag points at (by HEAD), or null when the tag does not exist. */
  resolveTag(repository: string, tag: string): Promise<string | null>
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_PAGE_SIZE = 100
const MAX_CATALOG_PAGE_SIZE = 1000
/** distribution refuses manifests over 4 MiB on push, so none bigger can be stored. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
/** A page of names: 1000 catalog names, or all tags of a huge repository in one 2.8 answer. */
const MAX_LIST_BYTES = 32 * 1024 * 1024

/**
 * Creates the client this server uses to talk to its registry.
 *
 * - Base URL from `registry.host` and `registry.port` (see `registryBaseUrl`).
 * - `token` mode: signs its own tokens with `signer`, subject `SERVER_SUBJECT`, for exactly
 *   the access each call needs (`pull` for reads, `registry:catalog:*` for the catalog, `delete`
 *   for deletes), reused until 30 s before they expire. A 401 with a challenge (clock skew, a
 *   registry asking for more) is retried once with a newly signed token.
 * - `basic` mode: `registry.login` / `registry.password` on every call.
 * - HTTPS: trusts the system roots, `registry.certs.ca_root` when the file exists and
 *   `registry.certs.https_cert` when set; `registry.https_insecure` skips verification (and
 *   logs a warning now).
 *
 * @throws RegistryConfigError when the address, the TLS files or the auth settings cannot be
 * used (token mode without a signer).
 */
export function createRegistryClient(options: RegistryClientOptions): RegistryClient {
  const { config } = options
  const log = options.log.child({ component: 'registry-client' })
  const address = resolveRegistryAddress(config)
  const tls = address.url.startsWith('https:')
    ? loadRegistryTls(config, address.url, log)
    : undefined

  let fetchFn: RegistryFetch
  if (options.fetch !== undefined) {
    fetchFn = options.fetch
  } else if (tls !== undefined) {
    fetchFn = new Bun.FetchSession({ tls }).fetch
  } else {
    fetchFn = (url, init) => fetch(url, init)
  }

  let transport: Transport | undefined
  const service = serviceResolver(options.service, () => transport as Transport)
  const credentials = credentialsOf(options, service)
  transport = new Transport({
    baseUrl: address.url,
    schemeAssumed: address.schemeAssumed,
    credentials,
    fetch: fetchFn,
    // With the built-in fetch the session carries the TLS settings; a request-level `tls`
    // would replace them and cost a TLS context per call.
    tls: options.fetch !== undefined ? tls : undefined,
    timeoutMs: options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    log,
  })

  log.info(
    { registry: address.url, authType: config.authType, schemeAssumed: address.schemeAssumed },
    'registry client ready',
  )
  return new Client(transport)
}

function credentialsOf(
  options: RegistryClientOptions,
  service: () => Promise<string>,
): Credentials {
  const { config, signer } = options
  if (config.authType === 'basic') {
    const pair = `${config.login}:${config.password.reveal()}`
    return { kind: 'basic', header: `Basic ${Buffer.from(pair).toString('base64')}` }
  }
  if (signer === null) {
    throw new RegistryConfigError(
      'registry.auth_type',
      'is token, but no token signing key was loaded for the registry client',
    )
  }

  const tokens = new TokenCache({
    signer,
    audience: service,
    ttlSeconds: options.tokenTtlSeconds ?? TOKEN_TTL_SECONDS,
    now: options.now ?? Date.now,
  })
  return { kind: 'token', tokens, service }
}

/** The configured service, or the one the registry names in its challenge, read once. */
function serviceResolver(configured: string, transport: () => Transport): () => Promise<string> {
  if (configured !== '') {
    return () => Promise.resolve(configured)
  }

  let discovered: Promise<string> | undefined
  return () => {
    discovered ??= discoverService(transport()).catch((error: unknown) => {
      discovered = undefined
      throw error
    })
    return discovered
  }
}

async function discoverService(transport: Transport): Promise<string> {
  const call: CallContext = { operation: 'ping' }
  const exchange = await transport.send(call, {
    method: 'GET',
    path: '/v2/',
    scope: BASE_SCOPE,
    anonymous: true,
  })
  await discard(exchange.response)

  const challenge = parseChallenge(exchange.response.headers.get('www-authenticate'))
  if (exchange.response.status === 200) {
    // The registry checks no credentials at all; any audience does.
    return ''
  }
  const service = challenge?.scheme === 'bearer' ? challenge.params.service : undefined
  if (service === undefined || service === '') {
    throw transport.invalid(
      call,
      'registry.service is empty and the registry named no service in its challenge; set registry.service',
      exchange.response.status,
    )
  }
  return service
}

class Client implements RegistryClient {
  constructor(private readonly transport: Transport) {}

  get baseUrl(): string {
    return this.transport.baseUrl
  }

  async ping(): Promise<PingResult> {
    const call: CallContext = { operation: 'ping' }
    const exchange = await this.transport.send(call, {
      method: 'GET',
      path: '/v2/',
      scope: BASE_SCOPE,
    })
    const { status, headers } = exchange.response
    const apiVersion = headers.get('docker-distribution-api-version')
    if (status === 200) {
      await discard(exchange.response)
      return { ok: true, status, apiVersion, error: null }
    }

    return { ok: false, status, apiVersion, error: await this.transport.failure(call, exchange) }
  }

  catalogPage(options: { last?: string; n?: number } = {}): Promise<CatalogPage> {
    return this.fetchCatalogPage(
      { operation: 'catalogPage' },
      options.last,
      options.n ?? DEFAULT_PAGE_SIZE,
    )
  }

  async listRepositories(options: ListOptions = {}): Promise<string[]> {
    const call: CallContext = { operation: 'listRepositories' }
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE
    const limits = new ListLimits('the catalog', options.maxNames, pageSize)
    const all: string[] = []
    const seen = new Set<string>()
    let last: string | undefined

    for (;;) {
      const page = await this.fetchCatalogPage(call, last, pageSize)
      all.push(...page.repositories)
      if (page.next === null || page.repositories.length === 0) {
        return all
      }
      if (seen.has(page.next)) {
        throw this.transport.invalid(
          call,
          `the catalog pagination repeats after '${printable(page.next)}'`,
        )
      }
      this.checkLimits(call, limits, all.length)
      seen.add(page.next)
      last = page.next
    }
  }

  async listTags(repository: string, options: ListOptions = {}): Promise<string[]> {
    const call: CallContext = { operation: 'listTags', repository: checkRepository(repository) }
    const scope = repositoryScope(repository, 'pull')
    let n = options.pageSize === undefined ? undefined : checkPageSize(options.pageSize, Infinity)
    const limits = new ListLimits('the tags list', options.maxNames, n)
    let last: string | undefined
    const tags = new Set<string>()
    const seen = new Set<string>()

    for (;;) {
      const query = pageQuery(n, last)
      const exchange = await this.getOk(call, `/v2/${repository}/tags/list${query}`, scope)
      const body = await this.transport.readJson(call, exchange, MAX_LIST_BYTES)
      const page = stringList(body, 'tags', true)
      if (page === null) {
        throw this.transport.invalid(call, 'the tags list is not {"tags":[…]}', 200)
      }
      for (const tag of page) {
        tags.add(tag)
      }

      const next = parseNextLink(exchange.response.headers.get('link'))
      if (next === null || page.length === 0) {
        return [...tags].sort()
      }
      if (next.last === '' || seen.has(next.last)) {
        throw this.transport.invalid(call, 'the tags pagination does not advance', 200)
      }
      this.checkLimits(call, limits, tags.size)
      seen.add(next.last)
      last = next.last
      n = next.n ?? n
    }
  }

  /** Counts one more page; throws when the list goes past its limits. */
  private checkLimits(call: CallContext, limits: ListLimits, names: number): void {
    const problem = limits.afterPage(names)
    if (problem !== null) {
      throw this.transport.invalid(call, problem, 200)
    }
  }

  async headManifest(repository: string, reference: string): Promise<ManifestHead | null> {
    return this.head({ operation: 'headManifest', repository, reference })
  }

  async getManifest(repository: string, reference: string): Promise<ManifestResult | null> {
    return this.fetchManifest({ operation: 'getManifest', repository, reference })
  }

  async getBlob(
    repository: string,
    digest: string,
    options: GetBlobOptions,
  ): Promise<BlobResult | null> {
    const call: CallContext = {
      operation: 'getBlob',
      repository: checkRepository(repository),
      reference: checkDigest(digest),
    }
    if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
      throw new ValidationError('getBlob: maxBytes must be a whole number of bytes')
    }

    const exchange = await this.transport.send(call, {
      method: 'GET',
      path: `/v2/${repository}/blobs/${digest}`,
      scope: repositoryScope(repository, 'pull'),
      timeoutMs: options.timeoutMs,
    })
    if (exchange.response.status === 404) {
      await discard(exchange.response)
      return null
    }
    if (exchange.response.status !== 200) {
      throw await this.transport.failure(call, exchange)
    }

    const bytes = await this.transport.readBytes(call, exchange, options.maxBytes)
    if (digestOf(bytes, digest) !== digest) {
      throw this.transport.invalid(call, 'the blob does not match its digest', 200)
    }
    return {
      digest,
      size: bytes.length,
      mediaType: exchange.response.headers.get('content-type'),
      bytes,
    }
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    const call: CallContext = {
      operation: 'deleteManifest',
      repository: checkRepository(repository),
      reference: checkDigest(digest),
    }
    const exchange = await this.transport.send(call, {
      method: 'DELETE',
      path: `/v2/${repository}/manifests/${digest}`,
      scope: repositoryScope(repository, 'delete'),
    })
    const { status } = exchange.response
    if (status === 202 || status === 200 || status === 204) {
      await discard(exchange.response)
      return true
    }
    if (status === 404) {
      await discard(exchange.response)
      return false
    }

    throw await this.transport.failure(call, exchange, {
      405: 'deletion is disabled in the registry (set storage.delete.enabled: true in its config)',
    })
  }

  async resolveTag(repository: string, tag: string): Promise<string | null> {
    checkTag(tag)
    const head = await this.head({ operation: 'resolveTag', repository, reference: tag })
    return head?.digest ?? null
  }

  private async fetchCatalogPage(
    call: CallContext,
    last: string | undefined,
    n: number,
  ): Promise<CatalogPage> {
    checkPageSize(n, MAX_CATALOG_PAGE_SIZE)
    const exchange = await this.getOk(call, `/v2/_catalog${pageQuery(n, last)}`, CATALOG_SCOPE)
    const body = await this.transport.readJson(call, exchange, MAX_LIST_BYTES)
    const repositories = stringList(body, 'repositories', false)
    if (repositories === null) {
      throw this.transport.invalid(call, 'the catalog is not {"repositories":[…]}', 200)
    }

    const next = parseNextLink(exchange.response.headers.get('link'))
    if (next !== null && next.last === '') {
      throw this.transport.invalid(call, 'the catalog Link header names no last entry', 200)
    }
    return { repositories, next: next?.last ?? null }
  }

  /** GET that must answer 200. */
  private async getOk(call: CallContext, path: string, scope: TokenScope): Promise<Exchange> {
    const exchange = await this.transport.send(call, { method: 'GET', path, scope })
    if (exchange.response.status !== 200) {
      throw await this.transport.failure(call, exchange)
    }
    return exchange
  }

  private async head(call: Required<CallContext>): Promise<ManifestHead | null> {
    const { repository, reference } = call
    checkRepository(repository)
    checkReference(reference)
    const exchange = await this.transport.send(call, {
      method: 'HEAD',
      path: `/v2/${repository}/manifests/${reference}`,
      scope: repositoryScope(repository, 'pull'),
      accept: MANIFEST_ACCEPT,
    })
    const { response } = exchange
    await discard(response)
    if (response.status === 404) {
      return null
    }
    if (response.status !== 200) {
      throw await this.transport.failure(call, exchange)
    }

    const digest = response.headers.get('docker-content-digest')
    const size = Number(response.headers.get('content-length') ?? NaN)
    if (digest === null || !isDigest(digest) || !Number.isSafeInteger(size)) {
      // Some proxies drop these headers: read the manifest itself instead.
      const full = await this.fetchManifest(call)
      return full === null
        ? null
        : { digest: full.digest, mediaType: full.mediaType, size: full.size }
    }
    if (isDigest(reference) && digest !== reference) {
      throw this.transport.invalid(call, `the registry answered for another digest ${digest}`, 200)
    }
    return { digest, mediaType: bareMediaType(response.headers.get('content-type')), size }
  }

  private async fetchManifest(
    call: CallContext & { repository: string; reference: string },
  ): Promise<ManifestResult | null> {
    const { repository, reference } = call
    checkRepository(repository)
    checkReference(reference)
    const exchange = await this.transport.send(call, {
      method: 'GET',
      path: `/v2/${repository}/manifests/${reference}`,
      scope: repositoryScope(repository, 'pull'),
      accept: MANIFEST_ACCEPT,
    })
    if (exchange.response.status === 404) {
      await discard(exchange.response)
      return null
    }
    if (exchange.response.status !== 200) {
      throw await this.transport.failure(call, exchange)
    }

    const bytes = await this.transport.readBytes(call, exchange, MAX_MANIFEST_BYTES)
    const digest = this.verifiedDigest(
      call,
      bytes,
      exchange.response.headers.get('docker-content-digest'),
    )
    const contentType = exchange.response.headers.get('content-type')
    const manifest = parseManifest(bytes, contentType)

    return {
      digest,
      mediaType: manifest.mediaType || bareMediaType(contentType),
      size: bytes.length,
      bytes,
      json: parseJsonOrNull(bytes),
      manifest,
    }
  }

  /** The manifest's digest, checked against the bytes, the header and a digest reference. */
  private verifiedDigest(
    call: Required<CallContext>,
    bytes: Uint8Array,
    header: string | null,
  ): string {
    const reference = call.reference
    if (isDigest(reference) && digestOf(bytes, reference) !== reference) {
      throw this.transport.invalid(call, 'the manifest does not match the requested digest', 200)
    }
    if (header !== null && isDigest(header) && digestOf(bytes, header) !== header) {
      throw this.transport.invalid(
        call,
        `the manifest does not match its Docker-Content-Digest ${header}`,
        200,
      )
    }
    if (isDigest(reference)) {
      return reference
    }
    return header !== null && isDigest(header) ? header : digestOf(bytes)
  }
}

/** The names and pages a paginated list may take before it is refused. */
class ListLimits {
  readonly #what: string
  readonly #maxNames: number
  readonly #maxPages: number
  #pages = 0

  /** @param pageSize the page size asked for; without one, only the names are counted */
  constructor(what: string, maxNames = MAX_LISTED_NAMES, pageSize?: number) {
    this.#what = what
    this.#maxNames = maxNames
    // a full page each time, plus the empty or short page that ends the list
    this.#maxPages = pageSize === undefined ? maxNames + 1 : Math.ceil(maxNames / pageSize) + 1
  }

  /** After a page that says more follow: why the list must stop, or `null`. */
  afterPage(names: number): string | null {
    this.#pages++
    if (names <= this.#maxNames && this.#pages < this.#maxPages) {
      return null
    }
    return `${this.#what} goes on past ${this.#maxNames} names or ${this.#maxPages} pages; it is not read, so nothing is removed`
  }
}

function checkPageSize(n: number, max: number): number {
  if (!Number.isSafeInteger(n) || n < 1 || n > max) {
    throw new ValidationError(`page size must be a whole number from 1 to ${max}`)
  }
  return n
}

function pageQuery(n: number | undefined, last: string | undefined): string {
  const query = new URLSearchParams()
  if (n !== undefined) {
    query.set('n', String(n))
  }
  if (last !== undefined) {
    query.set('last', last)
  }
  const text = query.toString()
  return text === '' ? '' : `?${text}`
}

/** `body[field]` when it is a list of strings (`null` allowed when `nullable`, as `[]`). */
function stringList(body: unknown, field: string, nullable: boolean): string[] | null {
  if (typeof body !== 'object' || body === null) {
    return null
  }
  const value = (body as Record<string, unknown>)[field]
  if (value === null && nullable) {
    return []
  }
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    return null
  }
  return value
}

function parseJsonOrNull(bytes: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return null
  }
}
