import type { Logger } from 'pino'

import type { Config } from '../../config.ts'
import { ConflictError, UnavailableError } from '../../errors.ts'
import {
  createRegistryClient,
  RegistryError,
  RegistryUnavailableError,
  SERVER_SUBJECT,
} from '../registry-client/index.ts'
import type { Store } from '../store.ts'
import type { TokenSigner } from '../token-signer.ts'
import {
  CONFIRMATION_LIMITS,
  ConfirmationQueue,
  EnvelopeBudget,
  FAILURE_RETRY_DELAYS_MS,
  keyOf,
  type Confirmation,
  type ConfirmationLimits,
  type ConfirmOutcome,
} from './confirmations.ts'
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
 * Waits between reads of a pushed tag while the registry does not serve the pushed digest yet.
 * Registry 2.8 sends the push notification before it writes the tag, so the first read can
 * still see the old digest, or no tag at all.
 */
export const PUSH_CONFIRM_DELAYS_MS: readonly number[] = [20, 50, 100, 200, 400, 800]

/** The shortest time between two syncs asked for to catch up on events that were not taken. */
export const CATCH_UP_INTERVAL_MS = 60_000

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
  /** Waits before confirming again after the registry failed. @default FAILURE_RETRY_DELAYS_MS */
  failureRetryDelaysMs?: readonly number[]
  /** How much confirmation work is taken on. @default CONFIRMATION_LIMITS */
  limits?: Partial<ConfirmationLimits>
  /** The shortest time between two catch-up syncs. @default CATCH_UP_INTERVAL_MS */
  catchUpIntervalMs?: number
  /** Resolves after `ms` milliseconds, without keeping the process alive. @default a timer */
  delay?: (ms: number) => Promise<void>
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
  /** Merged into a confirmation already waiting for the same tag or deleted digest. */
  merged: number
  /** Already handled: a redelivery. */
  duplicates: number
  /** Changing nothing: blob events, HEADs, the server's own reads, unknown actions. */
  ignored: number
  /** Over the limits of the sender; a sync is asked for to catch up on them. */
  dropped: number
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
 * step, a catalog delete). A confirmation that must read a pushed tag again gives up its
 * place and queues again after a short wait; each sender's events are held to limits (see
 * {@link acceptEvents}).
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
  readonly #delay: (ms: number) => Promise<void>
  readonly #confirmations: ConfirmationQueue
  readonly #catchUpIntervalMs: number
  #lastEventAt: number | null = null
  #running: Promise<SyncSummary> | null = null
  #progress: SyncSummary | null = null
  #catchUp: Promise<void> | null = null
  #lastCatchUpAt: number | null = null

  constructor(options: MirrorServiceOptions) {
    this.#store = options.store
    this.#registry = options.registry
    this.#log = options.log
    this.#ownActors = new Set(options.ownActors.filter((name) => name !== ''))
    this.#now = options.now ?? Date.now
    this.#limiter = new Limiter(options.confirmConcurrency ?? 16)
    this.#syncOptions = options.sync ?? {}
    this.#pushDelays = options.pushConfirmDelaysMs ?? PUSH_CONFIRM_DELAYS_MS
    this.#delay = options.delay ?? unrefDelay
    this.#catchUpIntervalMs = options.catchUpIntervalMs ?? CATCH_UP_INTERVAL_MS
    this.#confirmations = new ConfirmationQueue({
      queue: this.#queue,
      limits: { ...CONFIRMATION_LIMITS, ...options.limits },
      delay: this.#delay,
      failureRetryDelaysMs: options.failureRetryDelaysMs ?? FAILURE_RETRY_DELAYS_MS,
      confirm: (confirmation) => this.#confirm(confirmation),
      onFailure: (confirmation, error, willRetry) =>
        this.#logFailure(confirmation, error, willRetry),
      isTransient,
    })
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
   * Takes the events of one authenticated envelope: drops redeliveries by event id, merges an
   * event into a confirmation already waiting for the same tag (or deleted digest), and queues
   * the others behind earlier work on the same repository. Returns at once; the confirmations
   * run in the background (see {@link idle}).
   *
   * Each sender is held to its limits (see `ConfirmationLimits`): the registry and admins may
   * add more work per envelope and in all than other users, whose events are only hints
   * anyway. Events over the limits are dropped with one warning, their ids are not recorded
   * (a redelivery is taken again), and a sync is asked for to catch up.
   */
  acceptEvents(events: readonly RegistryEvent[], delivery: Delivery): AcceptResult {
    const now = this.#now()
    this.#lastEventAt = now
    const nowSeconds = Math.floor(now / 1000)
    const rules = { ownActors: this.#ownActors, countPulls: delivery.trusted, nowSeconds }
    const result: AcceptResult = { queued: 0, merged: 0, duplicates: 0, ignored: 0, dropped: 0 }
    const budget = new EnvelopeBudget(delivery.trusted)

    for (const event of events) {
      result[this.#takeEvent(event, classifyEvent(event, rules), budget, nowSeconds)]++
    }
    if (result.dropped > 0) {
      this.#log.warn(
        { dropped: result.dropped, trusted: delivery.trusted, pending: this.pending },
        'notification events dropped over the confirmation limits; a sync will catch up',
      )
      void this.requestSync()
    }

    return result
  }

  /** Takes one event's work within the envelope's budget, and says what became of it. */
  #takeEvent(
    event: RegistryEvent,
    work: EventWork | string,
    budget: EnvelopeBudget,
    nowSeconds: number,
  ): keyof AcceptResult {
    if (typeof work === 'string') {
      return 'ignored'
    }
    if (this.#registry === null) {
      this.#log.debug(
        { repository: work.repository, kind: work.kind },
        'event not confirmed: no registry is configured',
      )
      return 'ignored'
    }
    if (!this.#confirmations.canTake(budget, work.kind === 'pull' ? null : keyOf(work))) {
      return 'dropped'
    }
    const id = eventIdOf(event)
    if (
      id !== null &&
      !this.#store.recordEventId(id, nowSeconds, nowSeconds - EVENT_ID_RETENTION_SECONDS)
    ) {
      return 'duplicates'
    }
    if (work.kind !== 'pull') {
      return this.#confirmations.take(budget, work)
    }
    const { repository, target } = work
    this.#confirmations.other(budget, repository, () => this.#countPull(repository, target))
    return 'queued'
  }

  /**
   * Asks for a sync to catch up on events the mirror could not take (dropped over its limits,
   * or a notification too large to read): one starts now, or once the running one has ended
   * (it may have read a repository before the lost events), and at most one per
   * `catchUpIntervalMs`; asking again meanwhile changes nothing. Does nothing without a
   * registry. Resolves once the sync has started.
   */
  requestSync(): Promise<void> {
    if (this.#registry === null) {
      return Promise.resolve()
    }
    if (this.#catchUp !== null) {
      return this.#catchUp
    }
    const wait =
      this.#lastCatchUpAt === null ? 0 : this.#lastCatchUpAt + this.#catchUpIntervalMs - this.#now()
    if (wait <= 0 && this.#running === null) {
      this.#startCatchUp()
      return Promise.resolve()
    }
    const asked = (async () => {
      if (wait > 0) {
        await this.#delay(wait)
      }
      await this.#running?.catch(() => undefined)
      this.#catchUp = null
      this.#startCatchUp()
    })()
    this.#catchUp = asked

    return asked
  }

  /**
   * Runs `task` on `repository` after the mirror's work already queued for it (confirmations,
   * a sync's pass) and before work queued later, so that a catalog delete and a confirmation
   * never interleave their reads and writes. Implements the admin API's `RepositoryLock`.
   */
  runExclusive<T>(repository: string, task: () => Promise<T>): Promise<T> {
    return this.#queue.run(repository, task)
  }

  /**
   * Resolves once every queued confirmation (and a running sync's work) is done, including
   * re-reads that wait on a timer.
   */
  async idle(): Promise<void> {
    for (;;) {
      await this.#queue.idle()
      if (this.#confirmations.delayed === 0 && this.#queue.pending === 0) {
        return
      }
      await this.#confirmations.timersIdle()
    }
  }

  /** Confirmations and sync steps queued, running or waiting for a re-read. */
  get pending(): number {
    return this.#queue.pending + this.#confirmations.delayed
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

  #countPull(repository: string, target: { tag: string } | { digest: string }): void {
    try {
      this.#store.addPulls(repository, target, 1)
    } catch (error) {
      this.#log.warn(
        { repository, err: error instanceof Error ? error.message : error },
        'pull not counted',
      )
    }
  }

  #startCatchUp(): void {
    this.#lastCatchUpAt = this.#now()
    if (this.startSync()) {
      this.#log.info('catch-up sync started')
    }
  }

  /**
   * Confirms one event's work in the repository's slot (and a limiter slot per registry call).
   * Asks to be run again later, rather than waiting in the slot, while a pushed tag does not
   * show its digest yet.
   */
  async #confirm(confirmation: Confirmation): Promise<ConfirmOutcome> {
    const registry = this.#registry
    if (registry === null) {
      return 'done'
    }
    const { work } = confirmation
    if (work.kind === 'digest-delete') {
      await this.#limiter.run(() => this.#confirmDigestGone(registry, work.repository, work.digest))
      return 'done'
    }
    return this.#confirmTag(registry, confirmation, work)
  }

  /**
   * Re-reads a tag. For a push, the read is asked for again after each of the push delays
   * while it does not show the pushed digest or fails on the registry's side (registry 2.8
   * answers 500 while it writes the tag); then whatever the registry serves is recorded, never
   * the event's claim.
   *
   * Costs: a push of the digest the row already has needs no read at all, since whatever it
   * claims changes nothing (a redelivery, or a re-push of the same image); any other push costs
   * one GET by tag; a tag delete one HEAD, or nothing for a tag the mirror does not list.
   */
  async #confirmTag(
    registry: MirrorRegistry,
    confirmation: Confirmation,
    work: EventWork & { kind: 'tag' },
  ): Promise<ConfirmOutcome> {
    const { repository, tag, claimedDigest } = work
    const existing = this.#store.getRepositoryEntry(repository, tag)
    const recorded = existing !== null && existing.mediaType !== ''
    const nothingToDo =
      claimedDigest === undefined
        ? existing === null
        : recorded && existing.digest === claimedDigest
    if (nothingToDo && !confirmation.mustRead) {
      return 'done'
    }
    const context = { store: this.#store, client: registry, createdTimes: this.#createdTimes }
    // anyone may claim any time; only the registry's own word and an admin's are taken
    const pushedAt = () => confirmation.eventPushedAt ?? Math.floor(this.#now() / 1000)

    let outcome: TagOutcome
    if (claimedDigest === undefined) {
      const head = await this.#limiter.run(() => registry.headManifest(repository, tag))
      outcome = await this.#limiter.run(() =>
        refreshTag(context, repository, tag, pushedAt(), existing, head),
      )
    } else {
      const fetched = await this.#readPushed(confirmation, claimedDigest, () =>
        registry.getManifest(repository, tag),
      )
      if (fetched === 'later') {
        return { readAgainInMs: this.#pushDelays[confirmation.reads++] ?? 0 }
      }
      outcome = await this.#limiter.run(() =>
        recordTag(context, { repository, tag, pushedAt: pushedAt(), existing, fetched }),
      )
    }
    this.#log.debug({ repository, tag, outcome }, 'tag confirmed')

    return 'done'
  }

  /**
   * Reads a pushed tag. Answers `later` while the read does not show the claimed digest (or
   * fails on the registry's side) and re-reads are left; else returns the answer or throws.
   */
  async #readPushed<T extends { digest: string }>(
    confirmation: Confirmation,
    claimedDigest: string,
    read: () => Promise<T | null>,
  ): Promise<T | null | 'later'> {
    const readsLeft = confirmation.reads < this.#pushDelays.length
    let value: T | null
    try {
      value = await this.#limiter.run(read)
    } catch (error) {
      if (readsLeft && isServerError(error)) {
        return 'later'
      }
      throw error
    }
    if (readsLeft && value?.digest !== claimedDigest) {
      return 'later'
    }

    return value
  }

  #logFailure(confirmation: Confirmation, error: unknown, willRetry: boolean): void {
    const { work } = confirmation
    const fields = {
      repository: work.repository,
      ...(work.kind === 'tag' ? { tag: work.tag } : { digest: work.digest }),
      attempt: confirmation.failures + 1,
      err: error instanceof Error ? error.message : error,
    }
    if (willRetry) {
      this.#log.debug(fields, 'event not confirmed yet; trying again')
    } else {
      this.#log.warn(fields, 'event not confirmed; the next sync catches up')
    }
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

/** The registry failed rather than refused: a 5xx, a 429, no answer at all. */
function isTransient(error: unknown): boolean {
  if (error instanceof RegistryUnavailableError) {
    return true
  }
  return (
    error instanceof RegistryError &&
    error.kind === 'registry' &&
    (error.status >= 500 || error.status === 429)
  )
}

/** A timer that does not keep the process alive. */
function unrefDelay(ms: number): Promise<void> {
  return new Promise((resolve) => {
    setTimeout(resolve, ms).unref()
  })
}
