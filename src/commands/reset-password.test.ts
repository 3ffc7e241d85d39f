import { describe, expect, test } from 'bun:test'

import pino from 'pino'

import { verifyPassword } from '../core/passwords.ts'
import { openEmbedStore } from '../core/sqlite/index.ts'
import type { Store, UserWithHash } from '../core/store.ts'
import { NotFoundError, ValidationError } from '../errors.ts'
import { sessionGeneration } from '../plugins/admin-api/session.ts'
import { resetPassword, runResetPassword } from './reset-password.ts'

const openStore = async (): Promise<Store> =>
  (
    await openEmbedStore({
      path: ':memory:',
      adminPassword: 'old-admin-password',
      log: pino({ level: 'silent' }),
      hashPassword: (password) => Bun.password.hash(password, { algorithm: 'bcrypt', cost: 4 }),
    })
  ).store

const hashOf = (store: Store, login: string) =>
  (store.getUserByLogin(login) as UserWithHash).passwordHash

const addToken = (store: Store, userId: number) =>
  store.createRefreshToken({
    userId,
    service: 'registry.test',
    clientId: 'docker',
    tokenHash: 'token-hash',
    createdAt: 1,
    expiresAt: 2_000_000_000,
  })

describe('resetPassword', () => {
  test('sets the hash, revokes refresh tokens and sessions, and enables a disabled account', async () => {
    using store = await openStore()
    store.updateUser(1, { disabled: true })
    addToken(store, 1)

    const { user, reenabled } = await resetPassword({
      store,
      login: 'admin',
      password: 'new-admin-password',
    })

    expect([user.disabled, user.role, reenabled]).toEqual([false, 'admin', true])
    expect(store.getUser(1)?.disabled).toBe(false)
    expect(store.countEnabledAdmins()).toBe(1)
    expect(await verifyPassword('new-admin-password', hashOf(store, 'admin'))).toBe(true)
    expect(store.listRefreshTokens(1)).toEqual([])
    expect(sessionGeneration(store, 1)).toBe(1)
  })

  test('keeps the role of a disabled user it enables', async () => {
    using store = await openStore()
    const hash = await Bun.password.hash('whatever', { algorithm: 'bcrypt', cost: 4 })
    const manny = store.createUser({
      login: 'manny',
      name: 'Manny',
      passwordHash: hash,
      role: 'manager',
      group: 1,
      disabled: true,
      description: '',
    })

    const { user, reenabled } = await resetPassword({
      store,
      login: 'manny',
      password: 'new-manny-password',
    })

    expect({ id: user.id, role: user.role, disabled: user.disabled, reenabled }).toEqual({
      id: manny.id,
      role: 'manager',
      disabled: false,
      reenabled: true,
    })
  })

  test('says nothing was re-enabled for an enabled account', async () => {
    using store = await openStore()

    const { user, reenabled } = await resetPassword({
      store,
      login: 'admin',
      password: 'new-admin-password',
    })

    expect([user.disabled, reenabled]).toEqual([false, false])
  })

  test('refuses a weak password and an unknown login', async () => {
    using store = await openStore()

    await expect(resetPassword({ store, login: 'admin', password: 'short' })).rejects.toThrow(
      ValidationError,
    )
    await expect(
      resetPassword({ store, login: 'nobody', password: 'long-enough' }),
    ).rejects.toThrow(NotFoundError)
  })
})

describe('runResetPassword', () => {
  const run = async (store: Store, login: string, stdin: string) => {
    const out: string[] = []
    const err: string[] = []
    const code = await runResetPassword(login, {
      store,
      readStdin: async () => stdin,
      stdout: (text) => void out.push(text),
      stderr: (text) => void err.push(text),
    })
    return { code, out: out.join(''), err: err.join('') }
  }

  test('reads the first line of standard input without its newline', async () => {
    using store = await openStore()

    const result = await run(store, 'admin', 'brand-new-pass\r\nignored\n')

    expect(result).toEqual({ code: 0, out: "password of 'admin' changed\n", err: '' })
    expect(await verifyPassword('brand-new-pass', hashOf(store, 'admin'))).toBe(true)
  })

  test('enables a disabled account and says so', async () => {
    using store = await openStore()
    store.updateUser(1, { disabled: true })

    const result = await run(store, 'admin', 'brand-new-pass')

    expect(result).toEqual({
      code: 0,
      out: "password of 'admin' changed; the account was disabled and is enabled again\n",
      err: '',
    })
    expect(store.getUser(1)?.disabled).toBe(false)
  })

  test.each([
    ['nobody', 'brand-new-pass\n', "reset-password: there is no user with the login 'nobody'\n"],
    ['admin', '\n', 'reset-password: no password on standard input'],
    ['admin', '', 'reset-password: no password on standard input'],
    ['admin', 'abc\n', 'reset-password: password must be at least 6 characters long\n'],
  ])('fails with exit code 1 for %s and %p', async (login, stdin, message) => {
    using store = await openStore()
    const before = hashOf(store, 'admin')

    const result = await run(store, login, stdin)

    expect(result.code).toBe(1)
    expect(result.out).toBe('')
    expect(result.err).toContain(message)
    expect(hashOf(store, 'admin')).toBe(before)
  })
})
