import { Elysia } from 'elysia'
import type { Logger } from 'pino'

import { allowedActions, ownersOf } from '../../core/access.ts'
import {
  BlobTooLargeError,
  RegistryError,
  registryErrorToAppError,
  type ManifestResult,
  type RegistryClient,
} from '../../core/registry-client/index.ts'
import {
  checkDigest,
  checkRepository,
  checkTag,
  isDigest,
} from '../../core/registry-client/names.ts'
import type {
  CatalogQuery,
  ListQuery,
  RepositoryEntry,
  RepositorySummary,
  Store,
  User,
} from '../../core/store.ts'
import {
  AppError,
  DeniedError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '../../errors.ts'
import { parseListQuery } from './list-protocol.ts'
import { envelope, type ListEnvelope } from './model.ts'
import { principalPlugin, requireRole, requireUser, type PrincipalDeps } from './principal.ts'

/** The registry calls the catalog routes make. */
export type CatalogRegistry = Pick<
  RegistryClient,
  'listTags' | 'resolveTag' | 'getManifest' | 'getBlob' | 'deleteManifest'
>

/**
 * Serialises work on one repository with the mirror's own work on it (event confirmations and
 * a sync's pass), so that a delete and a confirmation never interleave their reads and writes.
 */
export interface RepositoryLock {
  /** Runs `task` after the work already queued for `repository` and before work queued later. */
  runExclusive<T>(repository: string, task: () => Promise<T>): Promise<T>
}

/** What the catalog routes work with. */
export interface CatalogDeps extends PrincipalDeps {
  store: Store
  log: Logger
  /** `null` when `registry.host` is not set: reads and deletes in the registry answer 503. */
  registry: CatalogRegistry | null
  /** @default none: deletes run at once */
  lock?: RepositoryLock
}

/** The largest config blob the API returns; layers are never streamed through the server. */
export const MAX_CONFIG_BLOB_BYTES = 4 * 1024 * 1024

/** Tags resolved at once when finding which tags point at a manifest. */
const RESOLVE_CONCURRENCY = 8

/** A single delete does not resolve the tags of a bigger repository (the mirror still tells). */
const MAX_TAGS_RESOLVED_FOR_ONE_DELETE = 1000

/** Child manifests read at most to find the one an index's config digest belongs to. */
const MAX_CHILDREN_READ = 64

const DELETE_DISABLED =
  'the registry does not allow deletes: its storage.delete.enabled setting is off; set storage: delete: enabled: true in the registry configuration and restart it'

const GC_NOTE = "disk space is freed only when the registry's garbage-collect runs"

/** One catalog row as the API shows it: the legacy field names plus the new ones. */
export interface CatalogRowJson {
  id: number
  repository_name: string
  tag: string
  digest: string
  config_digest: string
  size: number
  pull_counter: number
  timestamp: number
  /** The manifest as JSON text, as the Go tool sent it (a string, not an object). */
  raw: string
  media_type: string
  platforms: { os: string; architecture: string; variant?: string; digest: string; size: number }[]
  created_at: number | null
  /** Grouped rows only. */
  tag_count?: number
}

/** A tag row; an index has no config, so its `config_digest` is `''`. */
export const toTagRowJson = (entry: RepositoryEntry): CatalogRowJson => ({
  id: entry.id,
  repository_name: entry.repositoryName,
  tag: entry.tag,
  digest: entry.digest,
  config_digest: entry.configDigest ?? '',
  size: entry.size,
  pull_counter: entry.pullCount,
  timestamp: entry.pushedAt,
  raw: entry.raw,
  media_type: entry.mediaType,
  platforms: entry.platforms.map((platform) => ({ ...platform })),
  created_at: entry.createdAt,
})

/**
 * A repository row: the legacy fields that belong to one tag (tag, digests, raw) are empty, the
 * size counts each blob once, the time is the latest push.
 */
export const toRepositoryRowJson = (summary: RepositorySummary): CatalogRowJson => ({
  id: summary.id,
  repository_name: summary.repositoryName,
  tag: '',
  digest: '',
  config_digest: '',
  size: summary.size,
  pull_counter: summary.pullCount,
  timestamp: summary.pushedAt,
  raw: '',
  media_type: '',
  platforms: [],
  created_at: null,
  tag_count: summary.tagCount,
})

/** The repositories a user may pull: the mirror's names that their enabled rules allow. */
export const pullableRepositories = (store: Store, user: User): string[] => {
  const rules = store.findEnabledRules('repository', ownersOf({ kind: 'user', user }))
  return store.listRepositoryNames().filter((name) => allowedActions(rules, name).has('pull'))
}

/**
 * Lists the mirror through the legacy list protocol: one row per repository, or per tag with
 * `groupBy` `none`. Role `user` only ever sees the repositories it may pull; filters narrow
 * that set and never widen it.
 */
export const listCatalog = (
  store: Store,
  user: User,
  query: ListQuery,
  groupBy: string | null,
): ListEnvelope<CatalogRowJson> => {
  const catalogQuery: CatalogQuery = { ...query }
  if (user.role === 'user') {
    catalogQuery.repositoryNames = pullableRepositories(store, user)
  }
  if (groupBy === 'none') {
    const result = store.listCatalogTags(catalogQuery)
    return { total: result.total, data: result.items.map(toTagRowJson) }
  }
  const result = store.listCatalogRepositories(catalogQuery)
  return { total: result.total, data: result.items.map(toRepositoryRowJson) }
}

/** `Content-Range` of the catalog, with the arithmetic of the other lists. */
export const catalogContentRange = (query: ListQuery, total: number): string => {
  const start = query.range?.start ?? 0
  const end = query.range ? query.range.end + 1 : total
  return `registry/catalog ${start}-${end}/${total}`
}

/**
 * Admins and managers read every repository, users the ones their rules let them pull. The
 * answer is the same whether the repository exists or not, so a refusal reveals nothing.
 *
 * @throws DeniedError
 */
export const requirePull = (store: Store, user: User, repository: string): void => {
  if (user.role === 'admin' || user.role === 'manager') {
    return
  }
  const rules = store.findEnabledRules('repository', ownersOf({ kind: 'user', user }))
  if (!allowedActions(rules, repository).has('pull')) {
    throw new DeniedError(`access denied: you may not pull ${repository}`)
  }
}

/**
 * Whether `digest` is the config blob of an image of the repository as the mirror knows it: a
 * tag's own config, or the config of a platform of a tagged index (read from the registry).
 */
export const isConfigOfRepository = async (
  store: Store,
  registry: CatalogRegistry,
  repository: string,
  digest: string,
): Promise<boolean> => {
  const entries = store.listRepositoryEntries(repository)
  if (entries.some((entry) => entry.configDigest === digest)) {
    return true
  }

  // An index has no config of its own; its rows list the blobs of its children.
  const children = entries
    .filter((entry) => entry.platforms.length > 0 && entry.blobs.some((b) => b.digest === digest))
    .flatMap((entry) => entry.platforms.map((platform) => platform.digest))
  for (const child of [...new Set(children)].slice(0, MAX_CHILDREN_READ)) {
    const manifest = await registry.getManifest(repository, child)
    if (manifest?.manifest.type === 'image' && manifest.manifest.config.digest === digest) {
      return true
    }
  }
  return false
}

/**
 * Reads an image config blob, base64-encoded, for the image details dialog.
 *
 * @throws NotFoundError when the digest is not the config of an image in the repository, or
 * the registry no longer has it; AppError `TOO_LARGE` (422) above {@link MAX_CONFIG_BLOB_BYTES}.
 */
export const readConfigBlob = async (
  store: Store,
  registry: CatalogRegistry,
  repository: string,
  digest: string,
): Promise<string> => {
  const notFound = `${digest} is not the config of an image in ${repository}`
  if (!(await isConfigOfRepository(store, registry, repository, digest))) {
    throw new NotFoundError(notFound)
  }
  const blob = await registry.getBlob(repository, digest, { maxBytes: MAX_CONFIG_BLOB_BYTES })
  if (blob === null) {
    throw new NotFoundError(`the registry no longer has ${digest} in ${repository}`)
  }
  return Buffer.from(blob.bytes).toString('base64')
}

/** A child manifest of an index, as the manifest route lists it. */
export interface PlatformJson {
  digest: string
  media_type: string
  size: number
  os: string
  architecture: string
  variant?: string
}

/** What the manifest route answers. */
export interface ManifestJson {
  name: string
  reference: string
  digest: string
  media_type: string
  /** `image`, `index`, `unsupported` (schema 1, unknown types) or `invalid`. */
  type: string
  /** Bytes of the manifest itself. */
  size: number
  /** Config plus layers, for an image. */
  total_size: number | null
  /** The manifest as parsed JSON (`null` when it is not JSON). */
  manifest: unknown
  /** The platforms of an index; empty for an image. Entries without a platform are left out. */
  platforms: PlatformJson[]
}

export const toManifestJson = (
  repository: string,
  reference: string,
  result: ManifestResult,
): ManifestJson => {
  const parsed = result.manifest
  const platforms: PlatformJson[] = []
  if (parsed.type === 'index') {
    for (const entry of parsed.manifests) {
      if (entry.platform === null) {
        continue
      }
      platforms.push({
        digest: entry.digest,
        media_type: entry.mediaType,
        size: entry.size,
        os: entry.platform.os,
        architecture: entry.platform.architecture,
        ...(entry.platform.variant === undefined ? {} : { variant: entry.platform.variant }),
      })
    }
  }
  return {
    name: repository,
    reference,
    digest: result.digest,
    media_type: result.mediaType,
    type: parsed.type,
    size: result.size,
    total_size: parsed.type === 'image' ? parsed.totalSize : null,
    manifest: result.json,
    platforms,
  }
}

/**
 * Reads a manifest by tag or digest for the manifest route.
 *
 * NOTE: registry 2.8 answers 500, not 404, for a manifest read by the digest of a blob (a
 * layer or a config). Such a 500 is checked against the repository's blobs, so that a digest
 * taken from the wrong column gets a 404 and not "registry unavailable".
 *
 * @throws NotFoundError when the registry has no such manifest; the registry's failures as
 * this server's errors
 */
export const readManifest = async (
  registry: CatalogRegistry,
  repository: string,
  reference: string,
): Promise<ManifestResult> => {
  let result: ManifestResult | null
  try {
    result = await registry.getManifest(repository, reference)
  } catch (error) {
    if (
      isServerError(error) &&
      isDigest(reference) &&
      (await isBlob(registry, repository, reference))
    ) {
      throw new NotFoundError(
        `${reference} is a blob (a layer or a config) of ${repository}, not a manifest`,
      )
    }
    throw toReadError(error)
  }
  if (result === null) {
    throw new NotFoundError(`manifest ${reference} not found in ${repository}`)
  }
  return result
}

/** Whether the registry has a blob `digest` in the repository; asks for its size only. */
const isBlob = async (
  registry: CatalogRegistry,
  repository: string,
  digest: string,
): Promise<boolean> => {
  try {
    return (await registry.getBlob(repository, digest, { maxBytes: 0 })) !== null
  } catch (error) {
    return error instanceof BlobTooLargeError
  }
}

const isServerError = (error: unknown): boolean =>
  error instanceof RegistryError && error.kind === 'registry' && error.status >= 500

/** What deleting one manifest removed. */
export interface DeletedManifestJson {
  name: string
  digest: string
  /** Every tag that went: the mirror's rows and the registry's own tags. */
  tags: string[]
  /** Tags the mirror held for the digest. */
  mirror_tags: string[]
  /** Tags the registry had on the digest just before; `null` when they were not looked up. */
  registry_tags: string[] | null
  /** False when the registry had already lost the manifest (only the mirror changed). */
  deleted_in_registry: boolean
}

/** What deleting a repository removed. */
export interface DeletedRepositoryJson {
  name: string
  manifests: { digest: string; tags: string[] }[]
  tags: string[]
  /** Tags the registry still serves afterwards: pushed while the delete ran. */
  remaining: string[]
}

/** Deletes in the registry and keeps the mirror in step. */
export class CatalogDeleter {
  readonly #store: Store
  readonly #registry: CatalogRegistry
  readonly #lock: RepositoryLock | undefined

  constructor(store: Store, registry: CatalogRegistry, lock?: RepositoryLock) {
    this.#store = store
    this.#registry = registry
    this.#lock = lock
  }

  /**
   * Deletes one manifest by digest (every tag on it goes with it) and then its mirror rows.
   * @throws NotFoundError when neither the registry nor the mirror has it; AppError
   * `UNSUPPORTED` (405) when the registry has deletion off
   */
  deleteDigest(repository: string, digest: string): Promise<DeletedManifestJson> {
    return this.#exclusive(repository, () => this.#deleteDigest(repository, digest, true))
  }

  /**
   * Resolves a tag in the registry now (never from the mirror, which may be behind) and
   * deletes the manifest it points at.
   * @throws NotFoundError when the registry has no such tag
   */
  deleteTag(repository: string, tag: string): Promise<DeletedManifestJson> {
    return this.#exclusive(repository, async () => {
      const digest = await this.#registry.resolveTag(repository, tag)
      if (digest === null) {
        const stale = this.#store.deleteRepositoryTags(repository, [tag])
        const gone = stale > 0 ? '; its mirror row was removed' : ''
        throw new NotFoundError(`the registry has no tag ${tag} in ${repository}${gone}`)
      }
      return this.#deleteDigest(repository, digest, true)
    })
  }

  /**
   * Deletes every manifest the registry serves for the repository's tags, resolved now, then
   * drops the mirror rows of every tag the registry no longer has.
   * @throws NotFoundError when neither the registry nor the mirror knows the repository
   */
  deleteRepository(repository: string): Promise<DeletedRepositoryJson> {
    return this.#exclusive(repository, async () => {
      const tags = await this.#registryTags(repository)
      const byDigest = await this.#tagsByDigest(repository, tags ?? [])
      const manifests: DeletedRepositoryJson['manifests'] = []
      for (const [digest, digestTags] of [...byDigest].sort(([a], [b]) => a.localeCompare(b))) {
        await this.#deleteInRegistry(repository, digest)
        const mirrorTags = this.#store.deleteRepositoryDigest(repository, digest)
        manifests.push({ digest, tags: union(digestTags, mirrorTags) })
      }

      const remaining = (await this.#registryTags(repository)) ?? []
      const stale = this.#store
        .listRepositoryEntries(repository)
        .map((entry) => entry.tag)
        .filter((tag) => !remaining.includes(tag))
      this.#store.deleteRepositoryTags(repository, stale)
      if (tags === null && stale.length === 0) {
        throw new NotFoundError(`repository ${repository} not found`)
      }

      const allTags = union(...manifests.map((m) => m.tags), stale)
      return { name: repository, manifests, tags: allTags, remaining }
    })
  }

  async #deleteDigest(
    repository: string,
    digest: string,
    lookUpTags: boolean,
  ): Promise<DeletedManifestJson> {
    const registryTags = lookUpTags ? await this.#tagsOnDigest(repository, digest) : null
    const deleted = await this.#deleteInRegistry(repository, digest)
    // The registry has confirmed the manifest is gone, whether just now or before, and with it
    // every tag on it, including tags whose mirror row still shows an older digest.
    const byDigest = this.#store.deleteRepositoryDigest(repository, digest)
    const behind = (registryTags ?? []).filter(
      (tag) => !byDigest.includes(tag) && this.#store.getRepositoryEntry(repository, tag) !== null,
    )
    this.#store.deleteRepositoryTags(repository, behind)
    const mirrorTags = union(byDigest, behind)
    if (!deleted && mirrorTags.length === 0) {
      throw new NotFoundError(`manifest ${digest} not found in ${repository}`)
    }

    return {
      name: repository,
      digest,
      tags: union(mirrorTags, registryTags ?? []),
      mirror_tags: mirrorTags,
      registry_tags: registryTags,
      deleted_in_registry: deleted,
    }
  }

  #deleteInRegistry(repository: string, digest: string): Promise<boolean> {
    return this.#registry.deleteManifest(repository, digest)
  }

  /** The registry's tags pointing at `digest`; `null` when the repository is too big to ask. */
  async #tagsOnDigest(repository: string, digest: string): Promise<string[] | null> {
    const tags = await this.#registryTags(repository)
    if (tags === null || tags.length > MAX_TAGS_RESOLVED_FOR_ONE_DELETE) {
      return tags === null ? [] : null
    }
    return (await this.#tagsByDigest(repository, tags)).get(digest) ?? []
  }

  /** The registry's tags of a repository, `null` when it does not know the repository. */
  async #registryTags(repository: string): Promise<string[] | null> {
    try {
      return await this.#registry.listTags(repository)
    } catch (error) {
      if (error instanceof RegistryError && error.code === 'NAME_UNKNOWN') {
        return null
      }
      throw error
    }
  }

  /** Resolves every tag now; tags deleted meanwhile are left out. */
  async #tagsByDigest(repository: string, tags: readonly string[]): Promise<Map<string, string[]>> {
    const digests: (string | null)[] = new Array(tags.length).fill(null)
    let next = 0
    const worker = async () => {
      while (next < tags.length) {
        const index = next++
        digests[index] = await this.#registry.resolveTag(repository, tags[index] as string)
      }
    }
    await Promise.all(Array.from({ length: Math.min(RESOLVE_CONCURRENCY, tags.length) }, worker))

    const byDigest = new Map<string, string[]>()
    tags.forEach((tag, index) => {
      const digest = digests[index]
      if (digest !== null && digest !== undefined) {
        byDigest.set(digest, [...(byDigest.get(digest) ?? []), tag])
      }
    })
    return byDigest
  }

  /** Runs under the repository lock; registry failures leave as this server's errors. */
  async #exclusive<T>(repository: string, task: () => Promise<T>): Promise<T> {
    try {
      return await (this.#lock ? this.#lock.runExclusive(repository, task) : task())
    } catch (error) {
      throw toDeleteError(error)
    }
  }
}

/** A registry failure as this server's error; a 405 says that deletion is off. */
const toDeleteError = (error: unknown): unknown => {
  if (!(error instanceof RegistryError)) {
    return error
  }
  if (error.kind === 'registry' && (error.status === 405 || error.code === 'UNSUPPORTED')) {
    return new AppError('UNSUPPORTED', 405, DELETE_DISABLED, { cause: error })
  }
  return registryErrorToAppError(error)
}

/** A registry failure during a read, as this server's error. */
const toReadError = (error: unknown): unknown => {
  if (error instanceof BlobTooLargeError) {
    return new AppError(
      'TOO_LARGE',
      422,
      `the blob is larger than ${MAX_CONFIG_BLOB_BYTES} bytes, the most this API returns`,
      { cause: error },
    )
  }
  return error instanceof RegistryError ? registryErrorToAppError(error) : error
}

const union = (...lists: readonly string[][]): string[] => [...new Set(lists.flat())].sort()

/** Reads required query parameters. @throws ValidationError naming them all */
const requireParams = <K extends string>(url: URL, ...names: K[]): Record<K, string> => {
  const values = {} as Record<K, string>
  for (const name of names) {
    const value = url.searchParams.get(name)
    if (value === null || value === '') {
      throw new ValidationError(`params ${names.join(' and ')} must be set`)
    }
    values[name] = value
  }
  return values
}

const requireRegistry = (registry: CatalogRegistry | null): CatalogRegistry => {
  if (registry === null) {
    throw new UnavailableError('no registry is configured: set registry.host')
  }
  return registry
}

/**
 * The catalog routes of the admin API, over the mirror and the registry:
 * - `GET /api/v1/registry/catalog`: the list protocol, grouped per repository unless
 *   `group_by=none`; role `user` sees the repositories it may pull;
 * - `GET /api/v1/registry/catalog/blobs?name=&digest=`: an image config, base64 in `data.value`;
 * - `GET /api/v1/registry/catalog/manifest?name=&reference=`: a manifest and its platforms;
 * - admin only: `DELETE /api/v1/registry/catalog/*?name=&digest=` (the path tail is ignored),
 *   `DELETE …/catalog/tags?name=&tag=` and `DELETE …/catalog/repository?name=`.
 */
export const catalogRoutes = (deps: CatalogDeps) => {
  const { store } = deps
  const log = deps.log.child({ component: 'admin-api' })
  const deleter = () => new CatalogDeleter(store, requireRegistry(deps.registry), deps.lock)

  const deleteByDigest = async (url: URL, actor: User) => {
    const { name, digest } = requireParams(url, 'name', 'digest')
    checkRepository(name)
    checkDigest(digest)
    const result = await deleter().deleteDigest(name, digest)
    log.info({ actorId: actor.id, repository: name, digest, tags: result.tags }, 'manifest deleted')
    return envelope(deletedMessage(result), 0, result)
  }

  return new Elysia({ name: 'admin-api/catalog' })
    .use(principalPlugin(deps))
    .onAfterHandle(({ set }) => {
      set.headers['cache-control'] = 'no-store'
    })
    .get('/api/v1/registry/catalog', ({ principal, request, set }) => {
      const user = requireUser(principal)
      const url = new URL(request.url)
      const query = parseListQuery(url.searchParams)
      const answer = listCatalog(store, user, query, url.searchParams.get('group_by'))
      set.headers['content-range'] = catalogContentRange(query, answer.total)
      set.headers['access-control-expose-headers'] = 'Content-Range'
      return answer
    })
    .get('/api/v1/registry/catalog/blobs', async ({ principal, request }) => {
      const user = requireUser(principal)
      const { name, digest } = requireParams(new URL(request.url), 'name', 'digest')
      checkRepository(name)
      checkDigest(digest)
      requirePull(store, user, name)
      const registry = requireRegistry(deps.registry)
      try {
        const value = await readConfigBlob(store, registry, name, digest)
        return envelope('ok', 0, { id: 0, value })
      } catch (error) {
        throw toReadError(error)
      }
    })
    .get('/api/v1/registry/catalog/manifest', async ({ principal, request }) => {
      const user = requireUser(principal)
      const { name, reference } = requireParams(new URL(request.url), 'name', 'reference')
      checkRepository(name)
      requirePull(store, user, name)
      const result = await readManifest(requireRegistry(deps.registry), name, reference)
      return envelope('ok', 0, toManifestJson(name, reference, result))
    })
    .delete('/api/v1/registry/catalog/tags', async ({ principal, request }) => {
      const actor = requireRole(principal, 'admin')
      const url = new URL(request.url)
      // The legacy UI puts the tag in the path tail, so a tag named `tags` arrives here.
      if (!url.searchParams.has('tag') && url.searchParams.has('digest')) {
        return deleteByDigest(url, actor)
      }
      const { name, tag } = requireParams(url, 'name', 'tag')
      checkRepository(name)
      checkTag(tag)
      const result = await deleter().deleteTag(name, tag)
      log.info(
        { actorId: actor.id, repository: name, tag, digest: result.digest, tags: result.tags },
        'manifest deleted by tag',
      )
      return envelope(deletedMessage(result), 0, result)
    })
    .delete('/api/v1/registry/catalog/repository', async ({ principal, request }) => {
      const actor = requireRole(principal, 'admin')
      const url = new URL(request.url)
      if (url.searchParams.has('digest')) {
        return deleteByDigest(url, actor)
      }
      const { name } = requireParams(url, 'name')
      checkRepository(name)
      const result = await deleter().deleteRepository(name)
      log.info(
        { actorId: actor.id, repository: name, manifests: result.manifests.length },
        'repository deleted',
      )
      const left =
        result.remaining.length === 0
          ? ''
          : `; tags pushed meanwhile remain: ${result.remaining.join(', ')}`
      return envelope(
        `deleted ${result.manifests.length} manifest(s) of ${name}${left}; ${GC_NOTE}`,
        0,
        result,
      )
    })
    .delete('/api/v1/registry/catalog/*', ({ principal, request }) => {
      const actor = requireRole(principal, 'admin')
      return deleteByDigest(new URL(request.url), actor)
    })
}

const deletedMessage = (result: DeletedManifestJson): string => {
  const tags = result.tags.length === 0 ? 'no tags' : `tags ${result.tags.join(', ')}`
  if (!result.deleted_in_registry) {
    return `the registry no longer had ${result.digest}; removed ${tags} from the mirror`
  }
  return `manifest deleted with ${tags}; ${GC_NOTE}`
}
