import type { Logger } from 'pino'

import type { MirrorService } from '../../core/mirror/index.ts'

/** What {@link SyncSchedule} runs and how often. */
export interface SyncScheduleOptions {
  mirror: MirrorService
  /** Minutes between syncs (`registry.gc_interval`). */
  intervalMinutes: number
  log: Logger
}

/**
 * The sync's timetable: one sync at start, in the background, then one every
 * `intervalMinutes` on a plain interval timer that does not keep the process alive. A tick
 * that finds a sync still running skips its turn.
 */
export class SyncSchedule {
  readonly #options: SyncScheduleOptions
  #timer: ReturnType<typeof setInterval> | null = null

  constructor(options: SyncScheduleOptions) {
    this.#options = options
  }

  /** True between `start` and `stop` when a registry is configured. */
  get active(): boolean {
    return this.#timer !== null
  }

  /** Starts the first sync and the timer; without a registry, warns once and does nothing. */
  start(): void {
    const { mirror, log, intervalMinutes } = this.#options
    if (this.#timer !== null) {
      return
    }
    if (!mirror.enabled) {
      log.warn('the repository sync is off: registry.host is not set')
      return
    }
    this.#tick('start')
    this.#timer = setInterval(() => this.#tick('interval'), intervalMinutes * 60_000)
    this.#timer.unref()
    log.info({ intervalMinutes }, 'repository sync scheduled')
  }

  /** Clears the timer; a sync already running finishes on its own. */
  stop(): void {
    if (this.#timer !== null) {
      clearInterval(this.#timer)
      this.#timer = null
    }
  }

  #tick(trigger: 'start' | 'interval'): void {
    const { mirror, log } = this.#options
    try {
      if (!mirror.startSync()) {
        log.debug({ trigger }, 'sync skipped: the previous one is still running')
      }
    } catch (error) {
      log.error({ err: error, trigger }, 'the sync could not start')
    }
  }
}
