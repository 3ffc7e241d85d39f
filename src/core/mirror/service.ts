import type { Logger } from 'pino'

import type { Config } from '../../config.ts'
import { ConflictError, UnavailableError } from '../../errors.ts'
import { createRegistryClient, RegistryError, SERVER_SUBJECT } from '../registry-client/index.ts'
import type { Store } from '../store.ts'
import type { TokenSigner } from '../token-signer.ts'
import { CreatedTimes } from './entry.ts'
import { classifyEvent, eventIdOf, type EventWork, type RegistryEvent } from './events.ts'
import { KeyedQueue, Limiter } from './keyed-queue.ts'
import {
  recordTag,
  refreshTag,
  runSync,
  type SyncOptions,
  type SyncSummary,
  type TagOutcome,
} from './sync.ts'
import type { MirrorRegistry } from './types.ts'

/** The setting that keeps the last finished sync, as JSON. */
export const LAST_SYNC_SETTING = 'mirror.last_sync'

/**
 * Waits between HEADs of a pushed tag while the registry does not serve the pushed digest yet.
 * Registry 2.8 sends the push notification before it writes the tag, so the first HEAD can
 * still see the old digest, or no tag at all.
 */
export const PUSH_CONFIRM_DELAYS_MS: readonly number[] = [20, 50, 100, 200, 400, 800]

/** How long a handled event id is remembered against redelivery. */
export const EVENT_ID_RETENTION_SECONDS = 24 * 60 * 60

/** Options of {@link MirrorService}. */
export interface MirrorServiceOptions {
  store: Store
  /** The registry; `null` when `registry.host` is not set (events are then not confirmed). */
  registry: MirrorRegistry | null
  log: Logger
  /** Actor names of this server's own registry calls; their pulls never count. */
  ownActors: readonly string[]
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number
  /** Event confirmations in flight at once, over all repositories. @default 16 */
  confirmConcurrency?: number
  /** Waits before re-reading a pushed tag that does not show the pushed digest yet. @default PUSH_CONFIRM_DELAYS_MS */
  pushConfirmDelaysMs?: readonly number[]
  /** Concurrency of every sync. @default those of `runSync` */
  sync?: Pick<SyncOptions, 'repositoryConcurrency' | 'tagConcurrency'>
}

/** How a delivery was authenticated, which decides what it may do. */
export interface Delivery {
  /**
   * Sent by the registry itself (the notification secret) or an admin. Only such deliveries
   * count pulls (which cannot be confirmed) and give a tag its push time from the event; the
   * push time of any other sender's events is the time the mirror confirms them.
   */
  trusted: boolean
}

/** What became of the events of one envelope. */
export interface AcceptResult {
  /** Queued for confirmation (or, for pulls, for counting). */
  queued: number
  /** Already handled: a redelivery. */
  duplicates: number
  /** Changing nothing: blob events, HEADs, the server's own reads, unknown actions. */
  ignored: number
}

/** The running sync, or else the last one. */
export interface SyncStatus {
  running: boolean
  /** `null` when no sync ever finished. */
  sync: SyncSummary | null
}

/**
 * The repository mirror: takes registry notifications as hints and confirms each with the
 * registry before changing a row, runs syncs, and keeps both from racing by serialising all
 * work on one repository (events in arrival order, a sync's pass over the repository as one
 * step).
 */
export class MirrorService {
  readonly #store: Store
  readonly #registry: MirrorRegistry | null
  readonly #log: Logger
  readonly #ownActors: ReadonlySet<string>
  readonly #now: () => number
  readonly #queue = new KeyedQueue()
  readonly #limiter: Limiter
  readonly #createdTimes = new CreatedTimes()
  readonly #syncOptions: Pick<SyncOptions, 'repositoryConcurrency' | 'tagConcurrency'>
  readonly #pushDelays: readonly number[]
  #lastEventAt: number | null = null
  #running: Promise<SyncSummary> | null = null
  #progress: SyncSummary | null = null

  constructor(options: MirrorServiceOptions) {
    this.#store = options.store
    this.#registry = options.registry
    this.#log = options.log
    this.#ownActors = new Set(options.ownActors.filter((name) => name !== ''))
    this.#now = options.now ?? Date.now
    this.#limiter = new Limiter(options.confirmConcurrency ?? 16)
    this.#syncOptions = options.sync ?? {}
    this.#pushDelays = options.pushConfirmDelaysMs ?? PUSH_CONFIRM_DELAYS_MS
  }

  /** False when no registry is configured: no sync, and events are not confirmed. */
  get enabled(): boolean {
    return this.#registry !== null
  }

  /** When the last notification was accepted (ms since the epoch), `null` before the first. */
  get lastEventAt(): number | null {
    return this.#lastEventAt
  }

  /**
   * Takes the events of one authenticated envelope: drops redeliveries by event id, and queues
   * what each asks for behind earlier work on the same repository. Returns at once; the
   * confirmations run in the background (see {@link idle}).
   */
  acceptEvents(events: readonly RegistryEvent[], delivery: Delivery): AcceptResult {
    const now = this.#now()
    this.#lastEventAt = now
    const nowSeconds = Math.floor(now / 1000)
    const rules = { ownActors: this.#ownActors, countPulls: delivery.trusted, nowSeconds }
    const result: AcceptResult = { queued: 0, duplicates: 0, ignored: 0 }

    for (const event of events) {
      const work = classifyEvent(event, rules)
      if (typeof work === 'string') {
        result.ignored++
        continue
      }
      if (this.#registry === null) {
        this.#log.debug(
          { repository: work.repository, kind: work.kind },
          'event not confirmed: no registry is configured',
        )
        result.ignored++
        continue
      }
      const id = eventIdOf(event)
      if (
        id !== null &&
        !this.#store.recordEventId(id, nowSeconds, nowSeconds - EVENT_ID_RETENTION_SECONDS)
      ) {
        result.duplicates++
        continue
      }
      this.#enqueue(this.#registry, work, delivery.trusted)
      result.queued++
    }

    return result
  }

  /**
   * Runs `task` on `repository` after the mirror's work already queued for it (confirmations,
   * a sync's pass) and before work queued later, so that a catalog delete and a confirmation
   * never interleave their reads and writes. Implements the admin API's `RepositoryLock`.
   */
  runExclusive<T>(repository: string, task: () => Promise<T>): Promise<T> {
    return this.#queue.run(repository, task)
  }

  /** Resolves once every queued confirmation (and a running sync's work) is done. */
  idle(): Promise<void> {
    return this.#queue.idle()
  }

  /** Confirmations and sync steps queued or running. */
  get pending(): number {
    return this.#queue.pending
  }

  /**
   * Starts a sync in the background. Returns `false` when one is already running.
   * @throws UnavailableError when no registry is configured
   */
  startSync(options: Pick<SyncOptions, 'dryRun'> = {}): boolean {
    if (this.#running !== null) {
      return false
    }
    this.#start(options).catch((error: unknown) => {
      // registry failures are in the summary; this is the store failing under the sync
      this.#log.error({ err: error }, 'the sync failed')
    })
    return true
  }

  /**
   * Runs a sync and resolves with its summary.
   * @throws ConflictError when a sync is already running; UnavailableError without a registry
   */
  async sync(options: Pick<SyncOptions, 'dryRun'> = {}): Promise<SyncSummary> {
    if (this.#running !== null) {
      throw new ConflictError('a repository sync is already running')
    }
    return this.#start(options)
  }

  /** The running sync with its counts so far, else the last finished one (kept across restarts). */
  syncStatus(): SyncStatus {
    if (this.#progress !== null) {
      return { running: true, sync: structuredClone(this.#progress) }
    }
    return { running: this.#running !== null, sync: this.#lastSync() }
  }

  /** Resolves when the running sync (if any) has finished. */
  async syncDone(): Promise<void> {
    await this.#running
  }

  #start(options: Pick<SyncOptions, 'dryRun'>): Promise<SyncSummary> {
    const registry = this.#registry
    if (registry === null) {
      throw new UnavailableError('the repository sync is off: registry.host is not set')
    }
    const deps = {
      store: this.#store,
      client: registry,
      log: this.#log,
      now: this.#now,
      queue: this.#queue,
      createdTimes: this.#createdTimes,
    }
    const onStart = (summary: SyncSummary) => {
      this.#progress = summary
    }
    const done = runSync(deps, { ...this.#syncOptions, ...options, onStart })
      .then((summary) => {
        this.#saveLastSync(summary)
        return summary
      })
      .finally(() => {
        this.#running = null
        this.#progress = null
      })
    this.#running = done

    return done
  }

  // KNOWN LIMIT: an event whose confirmation fails (the registry unreachable, a 5xx that
  // outlasts the retries) is not tried again, since its id is already recorded; the mirror
  // catches up with that tag at the next sync.
  #enqueue(registry: MirrorRegistry, work: EventWork, trusted: boolean): void {
    const { repository } = work
    void this.#queue
      .run(repository, () => this.#apply(registry, work, trusted))
      .catch((error: unknown) => {
        this.#log.warn(
          { repository, kind: work.kind, err: error instanceof Error ? error.message : error },
          'event not confirmed',
        )
      })
  }

  /** Confirms one event's work; holds the repository's queue slot, and a limiter slot per call. */
  async #apply(registry: MirrorRegistry, work: EventWork, trusted: boolean): Promise<void> {
    switch (work.kind) {
      case 'tag':
        return this.#confirmTag(registry, work, trusted)
      case 'digest-delete':
        return this.#limiter.run(() =>
          this.#confirmDigestGone(registry, work.repository, work.digest),
        )
      case 'pull':
        this.#store.addPulls(work.repository, work.target, 1)
        return
    }
  }

  /**
   * Re-reads a tag. For a push, the read is repeated a few times while it does not show the
   * pushed digest or fails on the registry's side (registry 2.8 answers 500 while it writes the
   * tag); then whatever the registry serves is recorded, never the event's claim.
   *
   * Costs: a push of the digest the row already has needs no read at all, since whatever it
   * claims changes nothing (a redelivery, or a re-push of the same image); any other push costs
   * one GET by tag; a tag delete one HEAD, or nothing for a tag the mirror does not list.
   */
  async #confirmTag(
    registry: MirrorRegistry,
    work: EventWork & { kind: 'tag' },
    trusted: boolean,
  ): Promise<void> {
    const { repository, tag, claimedDigest } = work
    const existing = this.#store.getRepositoryEntry(repository, tag)
    const recorded = existing !== null && existing.mediaType !== ''
    if (
      claimedDigest === undefined
        ? existing === null
        : recorded && existing.digest === claimedDigest
    ) {
      return
    }
    const context = { store: this.#store, client: registry, createdTimes: this.#createdTimes }
    // anyone may claim any time; only the registry's own word and an admin's are taken
    const pushedAt = () => (trusted ? work.pushedAt : Math.floor(this.#now() / 1000))

    let outcome: TagOutcome
    if (claimedDigest === undefined) {
      const head = await this.#limiter.run(() => registry.headManifest(repository, tag))
      outcome = await this.#limiter.run(() =>
        refreshTag(context, repository, tag, pushedAt(), existing, head),
      )
    } else {
      const fetched = await this.#readUntil(claimedDigest, () =>
        registry.getManifest(repository, tag),
      )
      outcome = await this.#limiter.run(() =>
        recordTag(context, { repository, tag, pushedAt: pushedAt(), existing, fetched }),
      )
    }
    this.#log.debug({ repository, tag, outcome }, 'tag confirmed')
  }

  /**
   * Reads a tag (HEAD or GET); with a claimed digest, reads again after each delay while the
   * answer does not show it or is a server error. The last answer is returned (or thrown).
   */
  async #readUntil<T extends { digest: string }>(
    claimedDigest: string | undefined,
    read: () => Promise<T | null>,
  ): Promise<T | null> {
    const attempt = async (): Promise<{ value: T | null } | { error: unknown }> => {
      try {
        return { value: await this.#limiter.run(read) }
      } catch (error) {
        if (claimedDigest !== undefined && isServerError(error)) {
          return { error }
        }
        throw error
      }
    }

    let result = await attempt()
    for (const delay of claimedDigest === undefined ? [] : this.#pushDelays) {
      if ('value' in result && result.value?.digest === claimedDigest) {
        break
      }
      await Bun.sleep(delay)
      result = await attempt()
    }
    if ('error' in result) {
      throw result.error
    }

    return result.value
  }

  /** Drops the rows of a manifest once the registry confirms it no longer has it. */
  async #confirmDigestGone(registry: MirrorRegistry, repository: string, digest: string) {
    const rows = this.#store.listRepositoryEntries(repository)
    if (!rows.some((row) => row.digest === digest)) {
      // a blob delete, or a manifest the mirror never listed
      return
    }
    if ((await registry.headManifest(repository, digest)) !== null) {
      this.#log.debug(
        { repository, digest },
        'delete event not confirmed: the manifest is still there',
      )
      return
    }
    const tags = this.#store.deleteRepositoryDigest(repository, digest)
    this.#log.debug({ repository, digest, tags }, 'manifest delete confirmed')
  }

  #saveLastSync(summary: SyncSummary): void {
    if (summary.dryRun) {
      return
    }
    try {
      this.#store.setSetting(LAST_SYNC_SETTING, JSON.stringify(summary))
    } catch (error) {
      this.#log.error({ err: error }, 'the sync summary could not be saved')
    }
  }

  #lastSync(): SyncSummary | null {
    const text = this.#store.getSetting(LAST_SYNC_SETTING)
    if (text === null) {
      return null
    }
    try {
      return JSON.parse(text) as SyncSummary
    } catch {
      return null
    }
  }
}

/** What {@link createMirrorService} builds the service from. */
export interface CreateMirrorServiceOptions {
  config: Config
  store: Store
  log: Logger
  /** Signs the server's own registry tokens; `null` in basic mode. */
  signer: TokenSigner | null
  /**
   * The registry client to share with the rest of the server (one token cache for all), or
   * `null` for none. @default a client built from `config` when `registry.host` is set
   */
  registry?: MirrorRegistry | null
  now?: () => number
}

/**
 * Builds the mirror for a configuration: with the registry client when `registry.host` is set,
 * else a service that accepts events without confirming them and never syncs. The server's own
 * reads are recognised by the token subject `SERVER_SUBJECT` (token mode) or by
 * `registry.login` (basic mode).
 *
 * @throws RegistryConfigError when the registry address or its TLS files cannot be used
 */
export function createMirrorService(options: CreateMirrorServiceOptions): MirrorService {
  const { config } = options
  const log = options.log.child({ component: 'mirror' })
  const registry = options.registry === undefined ? clientFor(options) : options.registry
  const ownActors =
    config.registry.authType === 'basic' ? [config.registry.login] : [SERVER_SUBJECT]

  return new MirrorService({ store: options.store, registry, log, ownActors, now: options.now })
}

/** The registry client of `registry.host`, or `null` when it is not set. */
function clientFor(options: CreateMirrorServiceOptions): MirrorRegistry | null {
  const { config } = options
  if (config.registry.host === '') {
    return null
  }
  return createRegistryClient({
    config: config.registry,
    signer: options.signer,
    service: config.registry.service,
    log: options.log,
  })
}

/** The registry answered with a 5xx: worth asking again shortly. */
function isServerError(error: unknown): boolean {
  return error instanceof RegistryError && error.kind === 'registry' && error.status >= 500
}
