import { describe, expect, test } from 'bun:test'

import { KeyedQueue, Limiter, mapLimited } from './keyed-queue.ts'

/** A promise with its resolve handle, to hold a task until the test lets it go. */
const gate = () => {
  let open: () => void = () => undefined
  const promise = new Promise<void>((resolve) => {
    open = resolve
  })
  return { promise, open }
}

describe('KeyedQueue', () => {
  test('runs the tasks of one key one after another, in order', async () => {
    const queue = new KeyedQueue()
    const log: string[] = []
    const first = gate()

    const a = queue.run('ns/app', async () => {
      log.push('a start')
      await first.promise
      log.push('a end')
    })
    const b = queue.run('ns/app', () => {
      log.push('b')
    })
    await Promise.resolve()
    log.push('released')
    first.open()
    await Promise.all([a, b])

    expect(log).toEqual(['a start', 'released', 'a end', 'b'])
  })

  test('runs tasks of different keys side by side', async () => {
    const queue = new KeyedQueue()
    const log: string[] = []
    const held = gate()

    const a = queue.run('ns/a', async () => {
      await held.promise
      log.push('a')
    })
    await queue.run('ns/b', () => {
      log.push('b')
    })
    held.open()
    await a

    expect(log).toEqual(['b', 'a'])
  })

  test('keeps going after a failed task and passes its error to the caller', async () => {
    const queue = new KeyedQueue()

    const failed = queue.run('ns/app', () => Promise.reject(new Error('boom')))
    const next = queue.run('ns/app', () => 'next')

    expect(await failed.catch((error: Error) => error.message)).toBe('boom')
    expect(await next).toBe('next')
  })

  test('reports idle once every queued task is done', async () => {
    const queue = new KeyedQueue()
    const held = gate()
    let done = false
    void queue.run('ns/app', () => held.promise).then(() => (done = true))

    const idle = queue.idle()
    expect(queue.pending).toBe(1)
    held.open()
    await idle

    expect([done, queue.pending]).toEqual([true, 0])
  })
})

describe('Limiter', () => {
  test('never runs more than its limit at once', async () => {
    const limiter = new Limiter(2)
    let running = 0
    let peak = 0
    const task = async () => {
      running++
      peak = Math.max(peak, running)
      await Promise.resolve()
      await Promise.resolve()
      running--
    }

    await Promise.all(Array.from({ length: 7 }, () => limiter.run(task)))

    expect([peak, running]).toEqual([2, 0])
  })
})

describe('mapLimited', () => {
  test('returns results in item order and rethrows the first error after all settle', async () => {
    const seen: number[] = []

    const results = await mapLimited([3, 1, 2], 2, async (n) => n * 10)
    const failure = await mapLimited([1, 2, 3], 2, async (n) => {
      seen.push(n)
      if (n === 1) {
        throw new Error('first')
      }
      return n
    }).catch((error: Error) => error.message)

    expect([results, failure, seen.sort()]).toEqual([[30, 10, 20], 'first', [1, 2, 3]])
  })
})
