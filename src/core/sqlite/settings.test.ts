import { describe, expect, test } from 'bun:test'

import { openTestStore } from './test-store.ts'

describe('settings', () => {
  test('reads null for a missing key, then the last value set', async () => {
    using store = await openTestStore()

    const before = store.getSetting('session.secret')
    store.setSetting('session.secret', 'one')
    store.setSetting('session.secret', 'two')

    expect(before).toBeNull()
    expect(store.getSetting('session.secret')).toBe('two')
  })
})
