/**
 * Runs tasks one after another per key and in parallel across keys: a promise chain per key,
 * dropped once it runs dry. The mirror uses the repository name as the key, so that an event's
 * confirmation and a sync of the same repository never interleave their reads and writes.
 */
export class KeyedQueue {
  readonly #tails = new Map<string, Promise<void>>()
  #pending = 0
  #idleWaiters: (() => void)[] = []

  /** Tasks queued or running, over all keys. */
  get pending(): number {
    return this.#pending
  }

  /**
   * Queues `task` behind every task already queued for `key` and resolves (or rejects) with its
   * outcome. A failed task does not stop the tasks queued after it.
   */
  run<T>(key: string, task: () => Promise<T> | T): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve()
    this.#pending++
    const result = previous.then(task)
    const tail = result.then(
      () => undefined,
      () => undefined,
    )
    this.#tails.set(key, tail)
    void tail.then(() => {
      if (this.#tails.get(key) === tail) {
        this.#tails.delete(key)
      }
      this.#pending--
      if (this.#pending === 0) {
        this.#wakeIdle()
      }
    })

    return result
  }

  /** Resolves once no task is queued or running (at once when the queue is empty). */
  idle(): Promise<void> {
    if (this.#pending === 0) {
      return Promise.resolve()
    }
    return new Promise((resolve) => this.#idleWaiters.push(resolve))
  }

  #wakeIdle(): void {
    const waiters = this.#idleWaiters
    this.#idleWaiters = []
    for (const wake of waiters) {
      wake()
    }
  }
}

/** Caps how many tasks run at once; the others wait in arrival order. */
export class Limiter {
  readonly #max: number
  #running = 0
  readonly #waiting: (() => void)[] = []

  /** @param max tasks allowed at once, at least 1 */
  constructor(max: number) {
    this.#max = Math.max(1, Math.floor(max))
  }

  /** Runs `task` once a slot is free. */
  async run<T>(task: () => Promise<T> | T): Promise<T> {
    if (this.#running >= this.#max) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve))
    } else {
      this.#running++
    }
    try {
      return await task()
    } finally {
      const next = this.#waiting.shift()
      if (next) {
        // the slot passes straight to the next task, so `running` stays the same
        next()
      } else {
        this.#running--
      }
    }
  }
}

/**
 * Calls `task` for every item with at most `limit` calls in flight, and resolves with the
 * results in item order once all have settled. A task that throws does not stop the others;
 * the first error is rethrown at the end.
 */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length)
  let next = 0
  let failure: { error: unknown } | undefined

  const worker = async () => {
    while (next < items.length) {
      const index = next++
      try {
        results[index] = await task(items[index] as T, index)
      } catch (error) {
        failure ??= { error }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker))
  if (failure) {
    throw failure.error
  }

  return results
}
