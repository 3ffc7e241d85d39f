import type { ResourceActions, TokenSigner } from '../token-signer.ts'

/**
 * The `sub` of the tokens this server signs for its own registry calls. It shows up as the
 * actor in registry logs and notifications, so the events listener can recognise (and, for
 * pull counters, skip) the server's own traffic. No user can hold it: logins are limited to
 * `[A-Za-z0-9._@-]`, and `$` is outside that set.
 */
export const SERVER_SUBJECT = '$registry-admin'

/** Lifetime of the server's own tokens. @default 300 */
export const TOKEN_TTL_SECONDS = 300

/** A cached token is replaced this long before its `exp`, so none expires in flight. */
export const TOKEN_REFRESH_MARGIN_SECONDS = 30

/** Tokens kept at most; a sync over many repositories would otherwise keep one per repository. */
const MAX_CACHED_TOKENS = 1000

/** The access one registry call needs, and the cache key for it (`repository:ns/app:pull`). */
export interface TokenScope {
  key: string
  access: ResourceActions[]
}

/** `GET /v2/` needs a valid token but no access. */
export const BASE_SCOPE: TokenScope = { key: '', access: [] }

/** `GET /v2/_catalog` needs `registry:catalog:*`. */
export const CATALOG_SCOPE: TokenScope = {
  key: 'registry:catalog:*',
  access: [{ type: 'registry', name: 'catalog', actions: ['*'] }],
}

/** `repository:<name>:<action>`: `pull` for every read, `delete` for a manifest delete. */
export function repositoryScope(name: string, action: 'pull' | 'delete'): TokenScope {
  return {
    key: `repository:${name}:${action}`,
    access: [{ type: 'repository', name, actions: [action] }],
  }
}

/** Builds a scope from several resources, keyed like a challenge's space-separated list. */
export function scopeOf(access: ResourceActions[]): TokenScope {
  const key = access.map((entry) => `${entry.type}:${entry.name}:${entry.actions.join(',')}`)
  return { key: key.join(' '), access }
}

interface Entry {
  token: Promise<string>
  /** When to sign a new one (ms); undefined while the signing is in flight. */
  refreshAt: number | undefined
}

export interface TokenCacheOptions {
  signer: TokenSigner
  /** The registry's `service`, resolved once (it may be discovered from a challenge). */
  audience: () => Promise<string>
  /** @default TOKEN_TTL_SECONDS */
  ttlSeconds?: number
  now: () => number
}

/**
 * The server's own registry tokens, one per scope, reused until
 * {@link TOKEN_REFRESH_MARGIN_SECONDS} before they expire. Calls that need the same scope while
 * it is being signed share that one signing.
 */
export class TokenCache {
  private readonly entries = new Map<string, Entry>()
  private readonly ttlSeconds: number

  constructor(private readonly options: TokenCacheOptions) {
    this.ttlSeconds = options.ttlSeconds ?? TOKEN_TTL_SECONDS
    if (!Number.isInteger(this.ttlSeconds) || this.ttlSeconds < 60) {
      throw new RangeError('the registry client token lifetime must be a whole number >= 60 s')
    }
  }

  /** A token for `scope`: the cached one while it is fresh, else a newly signed one. */
  get(scope: TokenScope): Promise<string> {
    const entry = this.entries.get(scope.key)
    if (
      entry !== undefined &&
      (entry.refreshAt === undefined || this.options.now() < entry.refreshAt)
    ) {
      return entry.token
    }
    return this.sign(scope)
  }

  /**
   * Signs a new token for `scope` whatever is cached, and caches it under `cacheKey`: after a
   * challenge, the token for the challenged scope replaces the refused one of the call's scope.
   */
  sign(scope: TokenScope, cacheKey = scope.key): Promise<string> {
    const entry: Entry = { token: Promise.resolve(''), refreshAt: undefined }
    entry.token = this.issue(scope, entry)
    entry.token.catch(() => {
      if (this.entries.get(cacheKey) === entry) {
        this.entries.delete(cacheKey)
      }
    })

    this.entries.delete(cacheKey)
    this.entries.set(cacheKey, entry)
    this.evict()
    return entry.token
  }

  /** Number of cached tokens, for tests and metrics. */
  get size(): number {
    return this.entries.size
  }

  private async issue(scope: TokenScope, entry: Entry): Promise<string> {
    const audience = await this.options.audience()
    const signed = await this.options.signer.sign({
      subject: SERVER_SUBJECT,
      audience,
      access: scope.access,
      ttlSeconds: this.ttlSeconds,
    })
    const expiresAt = signed.issuedAt.getTime() + signed.expiresIn * 1000
    entry.refreshAt = expiresAt - TOKEN_REFRESH_MARGIN_SECONDS * 1000
    return signed.token
  }

  /** Drops stale tokens, then the oldest ones, once the cache holds too many. */
  private evict(): void {
    if (this.entries.size <= MAX_CACHED_TOKENS) {
      return
    }
    const now = this.options.now()
    for (const [key, entry] of this.entries) {
      if (entry.refreshAt !== undefined && now >= entry.refreshAt) {
        this.entries.delete(key)
      }
    }
    for (const key of this.entries.keys()) {
      if (this.entries.size <= MAX_CACHED_TOKENS) {
        break
      }
      this.entries.delete(key)
    }
  }
}
