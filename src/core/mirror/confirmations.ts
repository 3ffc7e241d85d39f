import type { EventWork } from './events.ts'
import type { KeyedQueue } from './keyed-queue.ts'

/** How much confirmation work the mirror takes on, so that no sender can exhaust it. */
export interface ConfirmationLimits {
  /** Confirmations (and pull counts) queued, waiting for a re-read or running, over all senders. */
  pending: number
  /** Of those, the ones from senders that are neither the registry nor an admin. */
  untrustedPending: number
  /** Events one envelope of the registry or an admin may add. */
  perEnvelope: number
  /** Events one envelope of any other sender may add. */
  untrustedPerEnvelope: number
}

/** The limits a mirror runs with unless told otherwise. */
export const CONFIRMATION_LIMITS: Readonly<ConfirmationLimits> = {
  pending: 10_000,
  untrustedPending: 1_000,
  perEnvelope: 1_000,
  untrustedPerEnvelope: 100,
}

/**
 * Waits before confirming an event again after the registry failed (a 5xx, a 429, a refused
 * connection, a timeout): about a minute in all, after which the event is left to the next
 * sync. Its id is already recorded, so a redelivery would be taken as a duplicate; these
 * retries are what keeps a passing failure from losing the event.
 */
export const FAILURE_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 4000, 8000, 16_000, 32_000]

/** The work a confirmation does: re-read a tag, or check that a manifest is gone. */
export type ConfirmWork = Exclude<EventWork, { kind: 'pull' }>

/**
 * One confirmation waiting for its turn. Later events for the same tag (or the same deleted
 * digest) are merged into it while it waits, since it reads the registry's state of the moment
 * anyway.
 */
export interface Confirmation {
  readonly key: string
  readonly repository: string
  /** The work of the latest event merged in. */
  work: ConfirmWork
  /** The push time of the latest event from the registry or an admin; `null` when none. */
  eventPushedAt: number | null
  /** Some event merged in came from the registry or an admin. */
  trusted: boolean
  /**
   * Events with different claims were merged in: the registry is read whatever the latest
   * claim says, so that a forged claim can never hide a real push.
   */
  mustRead: boolean
  /** Re-reads made so far because the registry did not serve the pushed digest yet. */
  reads: number
  /** Attempts so far that the registry failed. */
  failures: number
}

/** What a confirmation asks for once it has run. */
export type ConfirmOutcome = 'done' | { readAgainInMs: number }

/** What happened to one event offered to {@link ConfirmationQueue.take}. */
export type TakeOutcome = 'queued' | 'merged' | 'dropped'

/** The events of one envelope, counted against its sender's limit. */
export class EnvelopeBudget {
  taken = 0
  constructor(readonly trusted: boolean) {}
}

/** Options of {@link ConfirmationQueue}. */
export interface ConfirmationQueueOptions {
  /** The mirror's per-repository queue, which every confirmation runs in. */
  queue: KeyedQueue
  limits: ConfirmationLimits
  /** Resolves after `ms` milliseconds; a waiting re-read holds no queue slot. */
  delay: (ms: number) => Promise<void>
  failureRetryDelaysMs: readonly number[]
  /** Runs a confirmation in its repository's slot. */
  confirm: (confirmation: Confirmation) => Promise<ConfirmOutcome>
  /** Tells a confirmation failure; `willRetry` when it is tried again later. */
  onFailure: (confirmation: Confirmation, error: unknown, willRetry: boolean) => void
  /** Whether a failure is worth trying again shortly (the registry failing, not refusing). */
  isTransient: (error: unknown) => boolean
}

/**
 * Confirmations between the arrival of their events and their end: merges an event into a
 * confirmation already waiting for the same tag or digest, keeps every sender within its
 * limits, and waits for a re-read (the registry still writing a pushed tag, or failing) on a
 * timer rather than in the repository's slot, so that other work on the repository goes on.
 */
export class ConfirmationQueue {
  readonly #options: ConfirmationQueueOptions
  /** Confirmations queued or waiting for a re-read, by key. */
  readonly #waiting = new Map<string, Confirmation>()
  #running = 0
  #runningUntrusted = 0
  #waitingUntrusted = 0
  #otherWork = 0
  #timers = 0
  #timerWaiters: (() => void)[] = []

  constructor(options: ConfirmationQueueOptions) {
    this.#options = options
  }

  /** Confirmations and pull counts taken and not yet done. */
  get pending(): number {
    return this.#waiting.size + this.#running + this.#otherWork
  }

  /** Re-reads waiting on a timer. */
  get delayed(): number {
    return this.#timers
  }

  /**
   * Whether one more event of the envelope may be taken: within the envelope's limit, and,
   * when it adds work (`key` is not waiting already, or `null` for work that is never merged),
   * within the pending limits of its sender.
   */
  canTake(budget: EnvelopeBudget, key: string | null): boolean {
    const { limits } = this.#options
    const perEnvelope = budget.trusted ? limits.perEnvelope : limits.untrustedPerEnvelope
    if (budget.taken >= perEnvelope) {
      return false
    }
    if (key !== null && this.#waiting.has(key)) {
      return true
    }
    if (this.pending >= limits.pending) {
      return false
    }
    return (
      budget.trusted || this.#waitingUntrusted + this.#runningUntrusted < limits.untrustedPending
    )
  }

  /** Queues a confirmation, or merges it into the one waiting for the same key. */
  take(budget: EnvelopeBudget, work: ConfirmWork): 'queued' | 'merged' {
    budget.taken++
    const key = keyOf(work)
    const eventPushedAt = budget.trusted && work.kind === 'tag' ? work.pushedAt : null
    const waiting = this.#waiting.get(key)
    if (waiting !== undefined) {
      if (claimOf(waiting.work) !== claimOf(work)) {
        waiting.mustRead = true
        // a new claim gets its own chances to show up in the registry
        waiting.reads = 0
      }
      waiting.work = work
      waiting.eventPushedAt = eventPushedAt ?? waiting.eventPushedAt
      this.#trust(waiting, budget.trusted)
      return 'merged'
    }

    const confirmation: Confirmation = {
      key,
      repository: work.repository,
      work,
      eventPushedAt,
      trusted: budget.trusted,
      mustRead: false,
      reads: 0,
      failures: 0,
    }
    this.#add(confirmation)
    this.#enqueue(confirmation)
    return 'queued'
  }

  /** Runs work that is never merged (a pull count) in the repository's queue, counted as pending. */
  other(budget: EnvelopeBudget, repository: string, task: () => void | Promise<void>): void {
    budget.taken++
    this.#otherWork++
    void this.#options.queue
      .run(repository, task)
      .catch(() => undefined)
      .finally(() => this.#otherWork--)
  }

  /** Resolves once no re-read waits on a timer (queued work is the keyed queue's to wait for). */
  timersIdle(): Promise<void> {
    if (this.#timers === 0) {
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#timerWaiters.push(resolve))
  }

  #enqueue(confirmation: Confirmation): void {
    void this.#options.queue.run(confirmation.repository, () => this.#run(confirmation))
  }

  async #run(confirmation: Confirmation): Promise<void> {
    if (this.#waiting.get(confirmation.key) !== confirmation) {
      return
    }
    this.#remove(confirmation)
    const { trusted } = confirmation
    this.#running++
    if (!trusted) {
      this.#runningUntrusted++
    }

    try {
      const outcome = await this.#options.confirm(confirmation)
      if (outcome !== 'done') {
        this.#later(confirmation, outcome.readAgainInMs)
      }
    } catch (error) {
      const delays = this.#options.failureRetryDelaysMs
      const willRetry = this.#options.isTransient(error) && confirmation.failures < delays.length
      this.#options.onFailure(confirmation, error, willRetry)
      if (willRetry) {
        this.#later(confirmation, delays[confirmation.failures++] ?? 0)
      }
    } finally {
      this.#running--
      if (!trusted) {
        this.#runningUntrusted--
      }
    }
  }

  /** Queues the confirmation again after `ms`, unless a newer one for the same key waits. */
  #later(confirmation: Confirmation, ms: number): void {
    if (this.#waiting.has(confirmation.key)) {
      return
    }
    this.#add(confirmation)
    this.#timers++
    void this.#options.delay(ms).then(() => {
      if (this.#waiting.get(confirmation.key) === confirmation) {
        this.#enqueue(confirmation)
      }
      this.#timers--
      this.#wakeTimerWaiters()
    })
  }

  #add(confirmation: Confirmation): void {
    this.#waiting.set(confirmation.key, confirmation)
    if (!confirmation.trusted) {
      this.#waitingUntrusted++
    }
  }

  #remove(confirmation: Confirmation): void {
    this.#waiting.delete(confirmation.key)
    if (!confirmation.trusted) {
      this.#waitingUntrusted--
    }
  }

  /** A trusted event merged in makes the whole confirmation count as trusted. */
  #trust(confirmation: Confirmation, trusted: boolean): void {
    if (trusted && !confirmation.trusted) {
      this.#waitingUntrusted--
      confirmation.trusted = true
    }
  }

  #wakeTimerWaiters(): void {
    if (this.#timers > 0) {
      return
    }
    const waiters = this.#timerWaiters
    this.#timerWaiters = []
    for (const wake of waiters) {
      wake()
    }
  }
}

/** The key under which confirmations are merged: one per tag, one per deleted digest. */
export function keyOf(work: ConfirmWork): string {
  return work.kind === 'tag'
    ? `${work.repository}\0tag\0${work.tag}`
    : `${work.repository}\0digest\0${work.digest}`
}

function claimOf(work: ConfirmWork): string | undefined {
  return work.kind === 'tag' ? work.claimedDigest : work.digest
}
