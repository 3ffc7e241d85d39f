import { describe, expect, test } from 'bun:test'

import { errorOf, invalid, openTestStore } from './test-store.ts'

describe('recordEventId', () => {
  test('records an id once and recognises its redelivery', async () => {
    using store = await openTestStore()

    expect(store.recordEventId('event-1', 1000, 0)).toBe(true)
    expect(store.recordEventId('event-1', 1001, 0)).toBe(false)
    expect(store.recordEventId('event-2', 1002, 0)).toBe(true)
  })

  test('forgets old ids at most once a minute', async () => {
    using store = await openTestStore()
    store.recordEventId('old', 1000, 0)

    // Within a minute of the last pruning, an old id is still known.
    expect(store.recordEventId('old', 1059, 1020)).toBe(false)
    // A minute later it is forgotten before the lookup, so it counts as new again.
    expect(store.recordEventId('old', 1060, 1020)).toBe(true)
    // An id received after the cut-off is kept.
    expect(store.recordEventId('old', 1200, 1050)).toBe(false)
  })

  test('forgets old ids after a thousand new ones, even within a minute', async () => {
    using store = await openTestStore()
    store.recordEventId('old', 100, 0)
    for (let n = 1; n < 1000; n++) {
      store.recordEventId(`event-${n}`, 110, 0)
    }

    expect(store.recordEventId('old', 110, 105)).toBe(true)
    expect(store.recordEventId('event-1', 111, 105)).toBe(false)
  })

  test.each<[string, string, number, number, string]>([
    ['an empty id', '', 1, 0, 'an event id must be a non-empty string of at most 512 characters'],
    [
      'an overlong id',
      'x'.repeat(513),
      1,
      0,
      'an event id must be a non-empty string of at most 512 characters',
    ],
    ['a fractional time', 'event-1', 1.5, 0, 'event times must be integers (unix seconds)'],
    ['a missing cut-off', 'event-1', 1, Number.NaN, 'event times must be integers (unix seconds)'],
  ])('rejects %s', async (_, id, now, forgetBefore, message) => {
    using store = await openTestStore()

    expect(errorOf(() => store.recordEventId(id, now, forgetBefore))).toEqual(invalid(message))
  })
})
