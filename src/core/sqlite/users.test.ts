import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type { NewAccessRule, NewUser, Store } from '../store.ts'
import { openEmbedStore } from './open-embed-store.ts'
import { conflict, errorOf, fastHash, notFound, openTestStore, recordingLog } from './test-store.ts'

const BOB: NewUser = {
  login: 'bob',
  name: 'Bob',
  passwordHash: '$2b$04$bobhash',
  role: 'user',
  group: 1,
  disabled: false,
  description: 'developer',
}

function ruleOf(ownerId: number, isGroup: boolean, action = 'pull'): NewAccessRule {
  return {
    ownerId,
    isGroup,
    name: `rule of ${ownerId}`,
    resourceType: 'repository',
    resourceName: 'ns/app',
    action,
    disabled: false,
  }
}

describe('users', () => {
  test('the seeded admin is user 1 without a hash in User', async () => {
    using store = await openTestStore()

    const admin = store.getUser(1)

    expect(admin).toEqual({
      id: 1,
      login: 'admin',
      name: 'admin',
      role: 'admin',
      group: 1,
      disabled: false,
      description: 'Default user with administration role',
    })
  })

  test('creates a user and reads it back by id and by login', async () => {
    using store = await openTestStore()

    const created = store.createUser(BOB)

    const { passwordHash, ...withoutHash } = BOB
    expect(created).toEqual({ id: 2, ...withoutHash })
    expect(store.getUser(2)).toEqual(created)
    expect(store.getUserByLogin('bob')).toEqual({ ...created, passwordHash })
    expect(store.getUserWithHash(2)).toEqual({ ...created, passwordHash })
  })

  test('getUserByLogin treats a numeric login as a login, never an id', async () => {
    using store = await openTestStore()
    store.createUser({ ...BOB, login: '1' })

    const found = store.getUserByLogin('1')

    expect(found?.id).toBe(2)
    expect(store.getUserByLogin('2')).toBeNull()
  })

  test('listEnabledUsersWithHash lists the users that are not disabled, by id, with hashes', async () => {
    using store = await openTestStore()
    const bob = store.createUser(BOB)
    store.createUser({ ...BOB, login: 'carol', disabled: true })
    const dave = store.createUser({ ...BOB, login: 'dave', passwordHash: '$2y$04$davehash' })

    const listed = store.listEnabledUsersWithHash()

    expect(listed.map((user) => [user.id, user.login, user.disabled])).toEqual([
      [1, 'admin', false],
      [bob.id, 'bob', false],
      [dave.id, 'dave', false],
    ])
    expect(listed[1]).toEqual({ ...bob, passwordHash: BOB.passwordHash })
    expect(listed[2]?.passwordHash).toBe('$2y$04$davehash')
  })

  test('returns null for a missing user', async () => {
    using store = await openTestStore()

    expect([store.getUser(99), store.getUserWithHash(99), store.getUserByLogin('nobody')]).toEqual([
      null,
      null,
      null,
    ])
  })

  test('a duplicate login is a conflict that names the login', async () => {
    using store = await openTestStore()
    store.createUser(BOB)

    expect(errorOf(() => store.createUser({ ...BOB, name: 'Other Bob' }))).toEqual(
      conflict("a user with login 'bob' already exists"),
    )
  })

  test('updateUser merges the patch and never changes the login', async () => {
    using store = await openTestStore()
    const bob = store.createUser(BOB)

    const patch = { name: 'Robert', disabled: true, login: 'robert', description: undefined }
    const updated = store.updateUser(bob.id, patch)

    expect(updated).toEqual({ ...bob, name: 'Robert', disabled: true })
    expect(store.getUserWithHash(bob.id)?.passwordHash).toBe(BOB.passwordHash)
  })

  test('updateUser changes the hash, role and group when asked', async () => {
    using store = await openTestStore()
    const bob = store.createUser(BOB)

    store.updateUser(bob.id, { passwordHash: 'new-hash', role: 'manager', group: 3 })

    expect(store.getUserWithHash(bob.id)).toEqual({
      ...bob,
      role: 'manager',
      group: 3,
      passwordHash: 'new-hash',
    })
  })

  test('update and delete of a missing user are not-found errors', async () => {
    using store = await openTestStore()

    expect(errorOf(() => store.updateUser(7, { name: 'x' }))).toEqual(notFound('user 7 not found'))
    expect(errorOf(() => store.deleteUser(7))).toEqual(notFound('user 7 not found'))
  })

  test('deleteUser removes the user, their own rules and tokens, and keeps group rules', async () => {
    using store = await openTestStore()
    const bob = store.createUser(BOB)
    store.createAccessRule(ruleOf(bob.id, false, 'pull'))
    store.createAccessRule(ruleOf(bob.id, false, 'push'))
    const groupRule = store.createAccessRule(ruleOf(bob.id, true, 'pull'))
    const otherRule = store.createAccessRule(ruleOf(1, false, 'pull'))
    store.createRefreshToken({
      userId: bob.id,
      service: 'registry',
      clientId: 'docker',
      tokenHash: 'h1',
      createdAt: 1,
      expiresAt: 100,
    })

    store.deleteUser(bob.id)

    expect(store.getUser(bob.id)).toBeNull()
    expect(store.listAccessRules({}).items).toEqual([groupRule, otherRule])
    expect(store.listRefreshTokens(bob.id)).toEqual([])
  })

  test('countEnabledAdmins counts admins that are not disabled', async () => {
    using store = await openTestStore()
    store.createUser({ ...BOB, login: 'a2', role: 'admin' })
    store.createUser({ ...BOB, login: 'a3', role: 'admin', disabled: true })
    store.createUser({ ...BOB, login: 'm1', role: 'manager' })

    expect(store.countEnabledAdmins()).toBe(2)
  })
})

describe('keepAnEnabledAdmin', () => {
  const KEEP = { keepAnEnabledAdmin: true }

  let dir = ''

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'users-'))
  })

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true })
  })

  /** Two stores on one file, as two server processes sharing `data.db` have. */
  async function openTwice(): Promise<[Store, Store]> {
    const path = join(dir, 'data.db')
    const open = () =>
      openEmbedStore({
        path,
        adminPassword: 'admin-password',
        log: recordingLog(),
        hashPassword: fastHash,
      })
    const first = await open()
    const second = await open()

    return [first.store, second.store]
  }

  test.each([
    ['disable', { disabled: true }],
    ['demote', { role: 'manager' as const }],
    ['demote', { role: 'user' as const, disabled: true }],
  ])('refuses to %s the last enabled admin and changes nothing', async (change, patch) => {
    using store = await openTestStore()
    const admin = store.getUser(1)

    expect(errorOf(() => store.updateUser(1, patch, KEEP))).toEqual(
      conflict(
        `cannot ${change} 'admin': it is the last enabled admin; make another user an enabled admin first`,
      ),
    )
    expect(store.getUser(1)).toEqual(admin)
  })

  test('refuses to delete the last enabled admin and deletes nothing', async () => {
    using store = await openTestStore()
    store.createRefreshToken({
      userId: 1,
      service: 'registry',
      clientId: 'docker',
      tokenHash: 'h1',
      createdAt: 1,
      expiresAt: 100,
    })

    expect(errorOf(() => store.deleteUser(1, KEEP))).toEqual(
      conflict(
        "cannot delete 'admin': it is the last enabled admin; make another user an enabled admin first",
      ),
    )
    expect([store.getUser(1)?.login, store.listRefreshTokens(1).length]).toEqual(['admin', 1])
  })

  test('allows every change that leaves an enabled admin, or that takes none away', async () => {
    using store = await openTestStore()
    const other = store.createUser({ ...BOB, login: 'other', role: 'admin' })
    const bob = store.createUser(BOB)

    store.updateUser(1, { name: 'still admin', description: 'renamed' }, KEEP)
    store.updateUser(other.id, { disabled: true }, KEEP)
    store.updateUser(other.id, { role: 'user', disabled: false }, KEEP)
    store.deleteUser(other.id, KEEP)
    store.updateUser(1, { disabled: true })
    store.updateUser(bob.id, { name: 'Robert' }, KEEP)
    store.deleteUser(bob.id, KEEP)

    expect(store.listUsers({}).items.map((user) => [user.login, user.disabled])).toEqual([
      ['admin', true],
    ])
  })

  test('two stores on one file, each disabling the other admin after both counted two, keep one', async () => {
    const [first, second] = await openTwice()
    using _first = first
    using _second = second
    const bob = first.createUser({ ...BOB, role: 'admin' })
    const counted = [first.countEnabledAdmins(), second.countEnabledAdmins()]

    first.updateUser(bob.id, { disabled: true }, KEEP)
    const refused = errorOf(() => second.updateUser(1, { disabled: true }, KEEP))

    expect(counted).toEqual([2, 2])
    expect(refused).toEqual(
      conflict(
        "cannot disable 'admin': it is the last enabled admin; make another user an enabled admin first",
      ),
    )
    expect([first.countEnabledAdmins(), second.getUser(1)?.disabled]).toEqual([1, false])
  })

  test('two stores on one file, one deleting and one demoting the other admin, keep one', async () => {
    const [first, second] = await openTwice()
    using _first = first
    using _second = second
    const bob = first.createUser({ ...BOB, role: 'admin' })

    second.deleteUser(1, KEEP)
    const refused = errorOf(() => first.updateUser(bob.id, { role: 'manager' }, KEEP))

    expect(refused).toEqual(
      conflict(
        "cannot demote 'bob': it is the last enabled admin; make another user an enabled admin first",
      ),
    )
    expect(second.listUsers({}).items.map((user) => [user.login, user.role])).toEqual([
      ['bob', 'admin'],
    ])
  })
})
