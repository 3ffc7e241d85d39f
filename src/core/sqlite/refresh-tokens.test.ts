import { describe, expect, test } from 'bun:test'

import type { NewRefreshToken, Store } from '../store.ts'
import { MAX_REFRESH_TOKENS_PER_USER } from './refresh-tokens.ts'
import { conflict, errorOf, notFound, openTestStore } from './test-store.ts'

const TOKEN: NewRefreshToken = {
  userId: 1,
  service: 'registry.example.com',
  clientId: 'docker',
  tokenHash: 'hash-one',
  createdAt: 1000,
  expiresAt: 2000,
}

describe('refresh tokens', () => {
  test('creates a token without exposing its hash', async () => {
    using store = await openTestStore()

    const token = store.createRefreshToken(TOKEN)

    expect(token).toEqual({
      id: 1,
      userId: 1,
      service: 'registry.example.com',
      clientId: 'docker',
      createdAt: 1000,
      expiresAt: 2000,
      lastUsedAt: null,
    })
  })

  test('useRefreshToken returns an unexpired token and records its use', async () => {
    using store = await openTestStore()
    const token = store.createRefreshToken(TOKEN)

    const used = store.useRefreshToken('hash-one', 1500)

    expect(used).toEqual({ ...token, lastUsedAt: 1500 })
    expect(store.listRefreshTokens(1)).toEqual([{ ...token, lastUsedAt: 1500 }])
  })

  test.each([
    ['an expired token', 'hash-one', 2000],
    ['an unknown hash', 'hash-two', 1500],
  ])('useRefreshToken refuses %s', async (_, hash, now) => {
    using store = await openTestStore()
    const token = store.createRefreshToken(TOKEN)

    expect(store.useRefreshToken(hash, now)).toBeNull()
    expect(store.listRefreshTokens(1)).toEqual([token])
  })

  test('lists the tokens of one user, newest first', async () => {
    using store = await openTestStore()
    const old = store.createRefreshToken(TOKEN)
    const newer = store.createRefreshToken({ ...TOKEN, tokenHash: 'h2', createdAt: 1500 })
    const bob = store.createUser({
      login: 'bob',
      name: 'Bob',
      passwordHash: 'h',
      role: 'user',
      group: 1,
      disabled: false,
      description: '',
    })
    store.createRefreshToken({ ...TOKEN, userId: bob.id, tokenHash: 'h3' })

    expect(store.listRefreshTokens(1)).toEqual([newer, old])
  })

  test('deletes one token of its own user only', async () => {
    using store = await openTestStore()
    const token = store.createRefreshToken(TOKEN)

    expect(errorOf(() => store.deleteRefreshToken(2, token.id))).toEqual(
      notFound('refresh token 1 of user 2 not found'),
    )
    store.deleteRefreshToken(1, token.id)
    expect(store.listRefreshTokens(1)).toEqual([])
  })

  test('deletes every token of a user', async () => {
    using store = await openTestStore()
    store.createRefreshToken(TOKEN)
    store.createRefreshToken({ ...TOKEN, tokenHash: 'h2' })

    store.deleteRefreshTokensOfUser(1)

    expect(store.listRefreshTokens(1)).toEqual([])
  })

  test('a token for a missing user is a not-found error', async () => {
    using store = await openTestStore()

    expect(errorOf(() => store.createRefreshToken({ ...TOKEN, userId: 99 }))).toEqual(
      notFound('user 99 not found'),
    )
  })

  test('a second token with the same hash is a conflict that does not echo the hash', async () => {
    using store = await openTestStore()
    store.createRefreshToken(TOKEN)

    expect(errorOf(() => store.createRefreshToken(TOKEN))).toEqual(
      conflict('a refresh token with the same hash already exists'),
    )
  })

  test('a user keeps the newest 50 of 100 tokens issued one after the other', async () => {
    using store = await openTestStore()

    for (let n = 1; n <= 100; n++) {
      store.createRefreshToken({ ...TOKEN, tokenHash: `h${n}`, createdAt: 1000 + n })
    }

    expect(MAX_REFRESH_TOKENS_PER_USER).toBe(50)
    expect(createdAtOfTokens(store, 1)).toEqual(descending(1100, 1051))
  })

  test('beyond the cap, the token least recently used or created goes, other users keep theirs', async () => {
    using store = await openTestStore()
    const bob = createBob(store)
    const bobs = store.createRefreshToken({ ...TOKEN, userId: bob.id, tokenHash: 'bob' })
    fillUpTokensOfAdmin(store)
    store.useRefreshToken('h1', 1500)

    const newest = store.createRefreshToken({ ...TOKEN, tokenHash: 'newest', createdAt: 1200 })

    // Token 2 (created at 1002, never used) goes; token 1, created earlier, was used since.
    expect(createdAtOfTokens(store, 1)).toEqual([newest.createdAt, ...descending(1050, 1003), 1001])
    expect(store.listRefreshTokens(bob.id)).toEqual([bobs])
  })

  test('the new token stays even when every other one was used after it was made', async () => {
    using store = await openTestStore()
    fillUpTokensOfAdmin(store)
    for (let n = 1; n <= MAX_REFRESH_TOKENS_PER_USER; n++) {
      store.useRefreshToken(`h${n}`, 1800 + n)
    }

    const late = store.createRefreshToken({ ...TOKEN, tokenHash: 'late', createdAt: 1100 })

    // Among the others, token 1 was used the longest ago.
    expect(createdAtOfTokens(store, 1)).toEqual([late.createdAt, ...descending(1050, 1002)])
  })

  test("creating a token deletes that user's expired tokens only", async () => {
    using store = await openTestStore()
    const bob = createBob(store)
    const expired = { ...TOKEN, expiresAt: 1500 }
    store.createRefreshToken({ ...expired, tokenHash: 'admin-old' })
    const bobs = store.createRefreshToken({ ...expired, userId: bob.id, tokenHash: 'bob-old' })
    const valid = store.createRefreshToken({ ...TOKEN, tokenHash: 'admin-valid' })

    const created = store.createRefreshToken({ ...TOKEN, tokenHash: 'admin-new', createdAt: 1500 })

    expect(store.listRefreshTokens(1)).toEqual([created, valid])
    expect(store.listRefreshTokens(bob.id)).toEqual([bobs])
  })
})

/** Gives the admin the most tokens a user keeps, `h1`… created at 1001, 1002… */
function fillUpTokensOfAdmin(store: Store): void {
  for (let n = 1; n <= MAX_REFRESH_TOKENS_PER_USER; n++) {
    store.createRefreshToken({ ...TOKEN, tokenHash: `h${n}`, createdAt: 1000 + n })
  }
}

/** The creation times of a user's tokens, newest first. */
function createdAtOfTokens(store: Store, userId: number): number[] {
  return store.listRefreshTokens(userId).map((token) => token.createdAt)
}

/** `from`, `from - 1`… down to `to`. */
function descending(from: number, to: number): number[] {
  return Array.from({ length: from - to + 1 }, (_, index) => from - index)
}

function createBob(store: Store) {
  return store.createUser({
    login: 'bob',
    name: 'Bob',
    passwordHash: 'h',
    role: 'user',
    group: 1,
    disabled: false,
    description: '',
  })
}
