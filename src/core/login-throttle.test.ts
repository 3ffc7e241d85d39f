import { describe, expect, test } from 'bun:test'

import { TooManyRequestsError } from '../errors.ts'
import { LoginThrottle } from './login-throttle.ts'

const clock = () => {
  let t = 1_000_000
  return { now: () => t, advance: (ms: number) => (t += ms) }
}

const retryAfter = (fn: () => void): number | null => {
  try {
    fn()
    return null
  } catch (error) {
    if (error instanceof TooManyRequestsError) {
      return error.retryAfter
    }
    throw error
  }
}

describe('LoginThrottle', () => {
  test('lets the free failures through without delay', () => {
    const time = clock()
    const throttle = new LoginThrottle({ now: time.now })

    for (let i = 0; i < 5; i++) {
      expect(retryAfter(() => throttle.check('10.0.0.1', 'bob'))).toBeNull()
      throttle.recordFailure('10.0.0.1', 'bob')
    }

    expect(retryAfter(() => throttle.check('10.0.0.1', 'bob'))).toBe(1)
  })

  test('doubles the delay with each further failure', () => {
    const time = clock()
    const throttle = new LoginThrottle({ now: time.now })
    for (let i = 0; i < 5; i++) {
      throttle.recordFailure('a', 'bob')
    }

    const delays: (number | null)[] = []
    for (let i = 0; i < 4; i++) {
      delays.push(retryAfter(() => throttle.check('a', 'bob')))
      time.advance((delays.at(-1) ?? 0) * 1000)
      expect(retryAfter(() => throttle.check('a', 'bob'))).toBeNull()
      throttle.recordFailure('a', 'bob')
    }

    expect(delays).toEqual([1, 2, 4, 8])
  })

  test('keeps logins and addresses apart', () => {
    const throttle = new LoginThrottle({ now: clock().now })
    for (let i = 0; i < 9; i++) {
      throttle.recordFailure('a', 'bob')
    }

    expect(retryAfter(() => throttle.check('a', 'bob'))).toBeGreaterThan(0)
    expect(retryAfter(() => throttle.check('a', 'alice'))).toBeNull()
    expect(retryAfter(() => throttle.check('b', 'bob'))).toBeNull()
  })

  test('forgets failures after a success and after the window', () => {
    const time = clock()
    const throttle = new LoginThrottle({ now: time.now })
    for (let i = 0; i < 6; i++) {
      throttle.recordFailure('a', 'bob')
      throttle.recordFailure('a', 'eve')
    }

    throttle.recordSuccess('a', 'bob')
    time.advance(15 * 60_000 + 1)

    expect(retryAfter(() => throttle.check('a', 'bob'))).toBeNull()
    expect(retryAfter(() => throttle.check('a', 'eve'))).toBeNull()
  })

  test('caps the delay', () => {
    const throttle = new LoginThrottle({ now: clock().now, maxDelayMs: 60_000 })
    for (let i = 0; i < 40; i++) {
      throttle.recordFailure('a', 'bob')
    }

    expect(retryAfter(() => throttle.check('a', 'bob'))).toBe(60)
  })

  test('remembers a bounded number of pairs', () => {
    const throttle = new LoginThrottle({ now: clock().now, maxEntries: 2, freeFailures: 0 })
    throttle.recordFailure('a', 'one')
    throttle.recordFailure('a', 'two')
    throttle.recordFailure('a', 'three')

    expect(retryAfter(() => throttle.check('a', 'one'))).toBeNull()
    expect(retryAfter(() => throttle.check('a', 'three'))).toBe(2)
  })
})
