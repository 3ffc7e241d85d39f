import type { Logger } from 'pino'

import {
  RegistryError,
  RegistryUnavailableError,
  type ManifestHead,
  type ManifestResult,
} from '../registry-client/index.ts'
import type { RepositoryEntry, Store } from '../store.ts'
import { buildEntry, CreatedTimes } from './entry.ts'
import { KeyedQueue, mapLimited } from './keyed-queue.ts'
import type { MirrorRegistry } from './types.ts'

/** Catalog names asked per page: the most registry 2.8 answers (`catalog.maxentries`). */
const CATALOG_PAGE_SIZE = 1000

/** Errors kept in a summary; the rest are only counted. */
export const MAX_REPORTED_ERRORS = 100

/** One thing a sync could not read or record. */
export interface SyncError {
  /** `null` for the catalog itself. */
  repository: string | null
  tag?: string
  message: string
}

/** What a sync saw and did; while it runs, the counts so far. */
export interface SyncSummary {
  /** ISO 8601. */
  startedAt: string
  /** ISO 8601; `null` while the sync runs. */
  finishedAt: string | null
  /** True when the catalog was read completely, so repositories could be removed. */
  catalogComplete: boolean
  /** Repositories whose tag list was read. */
  repositories: number
  /** Repositories the sync set out to read: the catalog's names and the mirror's. */
  repositoriesChecked: number
  /**
   * Of those, the ones not read completely: their tag list or a tag failed, or they were
   * skipped once the registry stopped answering.
   */
  repositoriesFailed: number
  /** Tags listed by those repositories. */
  tags: number
  /** Rows added, rows changed, rows removed. */
  added: number
  changed: number
  removed: number
  /** Every failure; `errors` holds the first {@link MAX_REPORTED_ERRORS}. */
  errorCount: number
  errors: SyncError[]
  /** Nothing was written. */
  dryRun: boolean
}

/** What {@link runSync} works with. */
export interface SyncDeps {
  store: Store
  client: MirrorRegistry
  log: Logger
  /** Milliseconds since the epoch. */
  now: () => number
  /** Serialises the sync's work on a repository with event confirmations. @default a private queue */
  queue?: KeyedQueue
  /** Config creation times already known. @default an empty cache */
  createdTimes?: CreatedTimes
}

export interface SyncOptions {
  /** Read everything but write nothing: report what would be added, changed and removed. @default false */
  dryRun?: boolean
  /** Repositories worked on at once. @default 8 */
  repositoryConcurrency?: number
  /** Tag HEADs (and manifest GETs) in flight per repository. @default 4 */
  tagConcurrency?: number
  /** Receives the summary object as it is filled, so that a status page can show progress. */
  onStart?: (summary: SyncSummary) => void
}

/** What became of one tag. */
export type TagOutcome = 'added' | 'changed' | 'unchanged' | 'removed'

/** What {@link refreshTag} works with. */
export interface TagContext {
  store: Store
  client: MirrorRegistry
  createdTimes: CreatedTimes
  dryRun?: boolean
}

/**
 * Makes the mirror row of one tag match what the registry serves now: a HEAD of the tag, then,
 * only when the digest is new, a GET of the manifest by that digest (and of its config and
 * children). A tag without a row is read with one GET by tag instead, which tells digest and
 * manifest at once. A tag the registry no longer has loses its row. The caller must hold the
 * repository's slot of the keyed queue.
 *
 * @param pushedAt push time to record when the digest changes (unix seconds)
 * @param existing the tag's current row, when the caller already has it (else it is read)
 * @param head the tag's HEAD, when the caller has just made it (else it is made here)
 * @throws RegistryError when the registry cannot be read, UnreadableManifestError for a manifest
 * that cannot be recorded; the row is left as it was
 */
export async function refreshTag(
  context: TagContext,
  repository: string,
  tag: string,
  pushedAt: number,
  existing: RepositoryEntry | null = context.store.getRepositoryEntry(repository, tag),
  head?: ManifestHead | null,
): Promise<TagOutcome> {
  const { client } = context
  if (head === undefined && existing === null) {
    const fetched = await client.getManifest(repository, tag)
    return recordTag(context, { repository, tag, pushedAt, existing, fetched })
  }

  head = head === undefined ? await client.headManifest(repository, tag) : head
  if (head === null) {
    return recordTag(context, { repository, tag, pushedAt, existing, fetched: null })
  }
  // rows carried over from the legacy schema have no media type: read them once again
  if (existing !== null && existing.digest === head.digest && existing.mediaType !== '') {
    return 'unchanged'
  }
  const fetched = await client.getManifest(repository, head.digest)
  if (fetched === null) {
    // deleted between the HEAD and the GET: the delete's own event or the next sync handles it
    return 'unchanged'
  }

  return recordTag(context, { repository, tag, pushedAt, existing, fetched })
}

/** A tag as just read from the registry, for {@link recordTag}. */
export interface ReadTag {
  repository: string
  tag: string
  pushedAt: number
  existing: RepositoryEntry | null
  /** The manifest the tag points at now; `null` when the registry has no such tag. */
  fetched: ManifestResult | null
}

/**
 * Records what a read of a tag found: its manifest (with the config and children it names), or
 * the removal of its row when the registry no longer has the tag.
 * @throws RegistryError, UnreadableManifestError as {@link refreshTag}
 */
export async function recordTag(context: TagContext, read: ReadTag): Promise<TagOutcome> {
  const { store, client } = context
  const { repository, tag, existing, fetched } = read
  if (fetched === null) {
    if (existing === null) {
      return 'unchanged'
    }
    if (!context.dryRun) {
      store.deleteRepositoryTags(repository, [tag])
    }
    return 'removed'
  }
  if (existing !== null && existing.digest === fetched.digest && existing.mediaType !== '') {
    return 'unchanged'
  }

  const entry = await buildEntry(fetched, {
    registry: client,
    repository,
    tag,
    pushedAt: read.pushedAt,
    createdTimes: context.createdTimes,
  })
  if (context.dryRun) {
    return existing === null ? 'added' : 'changed'
  }

  return store.upsertRepositoryEntry(entry)
}

/**
 * Reconciles the whole mirror with the registry: the catalog, every tag list, a HEAD per
 * recorded tag and a manifest GET only where the digest is new (a tag without a row is read
 * with one GET by tag).
 *
 * Removal is careful, so that a registry that fails part-way never empties the mirror:
 * - a repository's rows go only when the catalog was read completely without it (and its tag
 *   list confirms it has no tags);
 * - a tag's row goes only when its repository's tag list was read completely without it, or
 *   its HEAD answers 404;
 * - a repository whose tag list fails, and a tag whose HEAD fails, keep their rows.
 *
 * Each failure is reported per repository (or tag) and the rest carries on. Once the registry
 * refuses connections, the remaining repositories are skipped and reported as one error.
 * Logs one summary at `info`. Never throws for registry failures.
 */
export async function runSync(deps: SyncDeps, options: SyncOptions = {}): Promise<SyncSummary> {
  const startedMs = deps.now()
  const summary = emptySummary(new Date(startedMs).toISOString(), options.dryRun === true)
  options.onStart?.(summary)
  const run = new SyncRun(deps, options, summary)

  await run.all()
  summary.finishedAt = new Date(deps.now()).toISOString()
  deps.log.info(
    {
      repositories: summary.repositories,
      repositoriesFailed: summary.repositoriesFailed,
      tags: summary.tags,
      added: summary.added,
      changed: summary.changed,
      removed: summary.removed,
      errors: summary.errorCount,
      catalogComplete: summary.catalogComplete,
      dryRun: summary.dryRun,
      durationMs: deps.now() - startedMs,
    },
    'sync finished',
  )

  return summary
}

/** A summary with nothing counted yet. */
export function emptySummary(startedAt: string, dryRun = false): SyncSummary {
  return {
    startedAt,
    finishedAt: null,
    catalogComplete: false,
    repositories: 0,
    repositoriesChecked: 0,
    repositoriesFailed: 0,
    tags: 0,
    added: 0,
    changed: 0,
    removed: 0,
    errorCount: 0,
    errors: [],
    dryRun,
  }
}

/** The state of one sync while it runs. */
class SyncRun {
  readonly #deps: SyncDeps
  readonly #summary: SyncSummary
  readonly #queue: KeyedQueue
  readonly #context: TagContext
  readonly #repositoryConcurrency: number
  readonly #tagConcurrency: number
  readonly #pushedAt: number
  #unreachable = false
  #skipped = 0
  readonly #failed = new Set<string>()

  constructor(deps: SyncDeps, options: SyncOptions, summary: SyncSummary) {
    this.#deps = deps
    this.#summary = summary
    this.#queue = deps.queue ?? new KeyedQueue()
    this.#context = {
      store: deps.store,
      client: deps.client,
      createdTimes: deps.createdTimes ?? new CreatedTimes(),
      dryRun: options.dryRun === true,
    }
    this.#repositoryConcurrency = options.repositoryConcurrency ?? 8
    this.#tagConcurrency = options.tagConcurrency ?? 4
    this.#pushedAt = Math.floor(deps.now() / 1000)
  }

  async all(): Promise<void> {
    const catalog = await this.#readCatalog()
    if (catalog === null && this.#unreachable) {
      return
    }
    const inCatalog = new Set(catalog ?? [])
    const known = this.#deps.store.listRepositoryNames()
    const names = [...new Set([...(catalog ?? []), ...known])]
    this.#summary.repositoriesChecked = names.length

    await mapLimited(names, this.#repositoryConcurrency, async (repository) => {
      if (this.#unreachable) {
        this.#skipped++
        return
      }
      const listed = catalog === null ? undefined : inCatalog.has(repository)
      await this.#queue.run(repository, () => this.#syncRepository(repository, listed))
    })
    this.#summary.repositoriesFailed = this.#failed.size + this.#skipped
    if (this.#skipped > 0) {
      this.#fail({
        repository: null,
        message: `${this.#skipped} repositories were not read: the registry could not be reached`,
      })
    }
  }

  /** The complete catalog, or `null` (reported) when it could not be read. */
  async #readCatalog(): Promise<string[] | null> {
    try {
      const names = await this.#deps.client.listRepositories({ pageSize: CATALOG_PAGE_SIZE })
      this.#summary.catalogComplete = true
      return names
    } catch (error) {
      this.#failWith(null, undefined, error)
      return null
    }
  }

  /**
   * @param listed whether the complete catalog names the repository; `undefined` when the
   * catalog could not be read
   */
  async #syncRepository(repository: string, listed: boolean | undefined): Promise<void> {
    const tags = await this.#readTags(repository, listed)
    if (tags === null) {
      return
    }
    this.#summary.repositories++
    this.#summary.tags += tags.length

    const rows = new Map(
      this.#deps.store.listRepositoryEntries(repository).map((row) => [row.tag, row]),
    )
    await mapLimited(tags, this.#tagConcurrency, (tag) =>
      this.#syncTag(repository, tag, rows.get(tag) ?? null),
    )

    const listedTags = new Set(tags)
    const stale = [...rows.keys()].filter((tag) => !listedTags.has(tag))
    if (stale.length > 0) {
      if (!this.#context.dryRun) {
        this.#deps.store.deleteRepositoryTags(repository, stale)
      }
      this.#summary.removed += stale.length
    }
  }

  /** The complete tag list, or `null` when the repository's rows must be left alone. */
  async #readTags(repository: string, listed: boolean | undefined): Promise<string[] | null> {
    try {
      return await this.#deps.client.listTags(repository)
    } catch (error) {
      // gone from a complete catalog, and the registry confirms it does not know the name
      if (listed === false && error instanceof RegistryError && error.code === 'NAME_UNKNOWN') {
        return []
      }
      this.#failWith(repository, undefined, error)
      return null
    }
  }

  async #syncTag(repository: string, tag: string, row: RepositoryEntry | null): Promise<void> {
    if (this.#unreachable) {
      this.#failed.add(repository)
      return
    }
    try {
      const outcome = await refreshTag(this.#context, repository, tag, this.#pushedAt, row)
      if (outcome !== 'unchanged') {
        this.#summary[outcome]++
      }
    } catch (error) {
      this.#failWith(repository, tag, error)
    }
  }

  #failWith(repository: string | null, tag: string | undefined, error: unknown): void {
    if (error instanceof RegistryUnavailableError && error.kind === 'unreachable') {
      this.#unreachable = true
    }
    if (!(error instanceof Error)) {
      throw error
    }
    if (repository !== null) {
      this.#failed.add(repository)
    }
    const failure: SyncError = { repository, message: error.message }
    if (tag !== undefined) {
      failure.tag = tag
    }
    this.#fail(failure)
  }

  #fail(failure: SyncError): void {
    this.#summary.errorCount++
    if (this.#summary.errors.length < MAX_REPORTED_ERRORS) {
      this.#summary.errors.push(failure)
    }
    this.#deps.log.debug(failure, 'sync could not read')
  }
}
