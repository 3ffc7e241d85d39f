import { describe, expect, test } from 'bun:test'

import type { NewRefreshToken } from '../store.ts'
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
})
