import { describe, expect, test } from 'bun:test'

import { verifyPassword } from '../../core/passwords.ts'
import type { UserWithHash } from '../../core/store.ts'
import {
  ADMIN_PASSWORD,
  START_MS,
  adminAuth,
  basic,
  createTestApi,
  sessionOf,
  type TestApi,
} from './test-app.ts'

const newUser = (extra: Record<string, unknown> = {}) => ({
  login: 'alice',
  name: 'Alice',
  password: 'alice-password',
  role: 'user',
  ...extra,
})

const adminJson = {
  id: 1,
  name: 'admin',
  login: 'admin',
  role: 'admin',
  group: 1,
  blocked: false,
  description: 'Default user with administration role',
}

const hashOf = (api: TestApi, login: string) =>
  (api.store.getUserByLogin(login) as UserWithHash).passwordHash

const addToken = (api: TestApi, userId: number, hash: string) =>
  api.store.createRefreshToken({
    userId,
    service: 'registry.test',
    clientId: 'docker',
    tokenHash: hash,
    createdAt: START_MS / 1000,
    expiresAt: START_MS / 1000 + 86400,
  })

describe('GET /api/v1/users', () => {
  test('lists users without hashes, with the legacy Content-Range', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/users?range=[0,24]', { auth: adminAuth })

    expect(answer.status).toBe(200)
    expect(answer.json).toEqual({ total: 1, data: [adminJson] })
    expect(answer.headers.get('content-range')).toBe('users 0-25/1')
    expect(answer.headers.get('access-control-expose-headers')).toBe('Content-Range')
  })

  test('counts q searches over the same fields as the rows', async () => {
    using api = await createTestApi()
    await api.addUser('bob', 'bob-password', { name: 'Robert' })
    await api.addUser('rob', 'rob-password', { name: 'Other' })
    await api.addUser('carol', 'carol-password')

    const answer = await api.call(
      'GET',
      `/api/v1/users?filter=${encodeURIComponent('{"q":"rob"}')}&range=[0,0]`,
      { auth: adminAuth },
    )

    expect(answer.json.total).toBe(2)
    expect(answer.json.data.map((user: { login: string }) => user.login)).toEqual(['bob'])
    expect(answer.headers.get('content-range')).toBe('users 0-1/2')
  })

  test('combines ids with an exact filter', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password', { role: 'manager' })
    const carol = await api.addUser('carol', 'carol-password')
    await api.addUser('dave', 'dave-password')

    const filter = encodeURIComponent(JSON.stringify({ ids: [1, bob.id, carol.id], role: 'user' }))
    const answer = await api.call('GET', `/api/v1/users?filter=${filter}`, { auth: adminAuth })

    expect(answer.json.data.map((user: { login: string }) => user.login)).toEqual(['carol'])
  })

  test.each([
    ['group', ['carol', 'bob', 'admin']],
    ['blocked', ['bob', 'admin', 'carol']],
  ])('sorts by %s', async (field, expected) => {
    using api = await createTestApi()
    await api.call('POST', '/api/v1/groups', { auth: adminAuth, body: { name: 'two' } })
    await api.call('POST', '/api/v1/groups', { auth: adminAuth, body: { name: 'three' } })
    await api.addUser('carol', 'carol-password', { group: 3 })
    await api.addUser('bob', 'bob-password', { group: 2, disabled: true })
    const sort = encodeURIComponent(JSON.stringify([field, 'DESC']))

    const answer = await api.call('GET', `/api/v1/users?sort=${sort}`, { auth: adminAuth })

    expect(answer.status).toBe(200)
    expect(answer.json.data.map((user: { login: string }) => user.login)).toEqual(expected)
  })

  test('pages without a sort', async () => {
    using api = await createTestApi()
    await api.addUser('bob', 'bob-password')
    await api.addUser('carol', 'carol-password')

    const answer = await api.call('GET', '/api/v1/users?range=[1,1]', { auth: adminAuth })

    expect(answer.json.total).toBe(3)
    expect(answer.json.data.map((user: { login: string }) => user.login)).toEqual(['bob'])
    expect(answer.headers.get('content-range')).toBe('users 1-2/3')
  })

  test('answers an empty list with an empty array', async () => {
    using api = await createTestApi()

    const answer = await api.call(
      'GET',
      `/api/v1/users?filter=${encodeURIComponent('{"q":"zz"}')}`,
      {
        auth: adminAuth,
      },
    )

    expect(answer.json).toEqual({ total: 0, data: [] })
  })

  test.each([
    ['filter=nope', 'the filter parameter is not valid JSON'],
    ['sort=["login"]', 'the sort parameter must be'],
    ['range=[3,1]', 'the range parameter must hold two integers'],
    ['sort=["password","ASC"]', "unknown sort field 'password'"],
    [`filter=${encodeURIComponent('{"password":"x"}')}`, "unknown filter field 'password'"],
  ])('rejects %s with 400', async (query, message) => {
    using api = await createTestApi()

    const answer = await api.call('GET', `/api/v1/users?${query}`, { auth: adminAuth })

    expect(answer.status).toBe(400)
    expect(answer.json.code).toBe('VALIDATION')
    expect(answer.json.message).toContain(message)
  })
})

describe('GET /api/v1/users/:id', () => {
  test('answers the envelope without the password', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/users/1', { auth: adminAuth })

    expect(answer.json).toEqual({ error: false, message: '', id: 1, data: adminJson })
  })

  test.each([
    ['abc', 400],
    ['0', 400],
    ['-1', 400],
    ['1.5', 400],
    ['99999999999999999999', 400],
    ['42', 404],
  ])('answers /%s with %d', async (id, status) => {
    using api = await createTestApi()

    const answer = await api.call('GET', `/api/v1/users/${id}`, { auth: adminAuth })

    expect(answer.status).toBe(status)
    expect(answer.json.error).toBe(true)
  })
})

describe('POST /api/v1/users', () => {
  test('creates a user in group 1 and answers it without the hash', async () => {
    let changes = 0
    using api = await createTestApi({ onUsersChanged: () => changes++ })

    const answer = await api.call('POST', '/api/v1/users', {
      auth: adminAuth,
      body: newUser({ group: 0, password: 'alice-password' }),
    })

    expect(answer.json).toEqual({
      error: false,
      message: 'user created',
      id: 2,
      data: {
        id: 2,
        name: 'Alice',
        login: 'alice',
        role: 'user',
        group: 1,
        blocked: false,
        description: '',
      },
    })
    expect(await verifyPassword('alice-password', hashOf(api, 'alice'))).toBe(true)
    expect(changes).toBe(1)
  })

  test.each([
    [{ login: '' }, 'login is required'],
    [{ login: 'a:b' }, 'login must not contain a colon'],
    [{ login: 'a b' }, 'login must not contain a colon'],
    [{ login: 'a\u0007' }, 'login must not contain a colon'],
    [{ login: '$registry-admin' }, "logins starting with '$' are reserved"],
    [{ login: 'x'.repeat(65) }, 'login must be at most 64 characters'],
    [{ name: ' ' }, 'name is required'],
    [{ password: 'short' }, 'password must be at least 6 characters'],
    [{ password: 'é'.repeat(40) }, 'bcrypt uses at most 72 bytes'],
    [{ role: 'root' }, "role 'root' is not allowed"],
    [{ group: 9 }, 'group 9 does not exist'],
    [{ group: 1e400 }, 'group'],
    [{ group: 2 ** 60 }, 'group'],
    [{ login: 7 }, 'login'],
    [{ password: undefined }, 'password'],
  ])('refuses %o', async (extra, message) => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/api/v1/users', {
      auth: adminAuth,
      body: JSON.stringify(newUser(extra)).replace('"group":null', '"group":1e400'),
    })

    expect(answer.status).toBe(400)
    expect(answer.json.code).toBe('VALIDATION')
    expect(answer.json.message).toContain(message)
  })

  test('refuses a taken login with 409', async () => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/api/v1/users', {
      auth: adminAuth,
      body: newUser({ login: 'admin' }),
    })

    expect(answer.status).toBe(409)
    expect(answer.json.message).toContain("'admin' already exists")
  })
})

describe('PUT /api/v1/users/:id', () => {
  test('keeps the password when the update leaves it out, sends null or sends ""', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const before = hashOf(api, 'bob')

    for (const body of [{ name: 'Bob' }, { password: null }, { password: '', role: 'manager' }]) {
      const answer = await api.call('PUT', `/api/v1/users/${bob.id}`, { auth: adminAuth, body })
      expect(answer.status).toBe(200)
    }

    expect(hashOf(api, 'bob')).toBe(before)
    expect(api.store.getUser(bob.id)).toMatchObject({ name: 'Bob', role: 'manager' })
    const me = await api.call('GET', '/api/v1/users/me', { auth: basic('bob', 'bob-password') })
    expect(me.status).toBe(200)
  })

  test('answers the merged user with message ok', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password', { description: 'old' })

    const answer = await api.call('PUT', `/api/v1/users/${bob.id}`, {
      auth: adminAuth,
      body: { id: bob.id, login: 'bob', blocked: true, description: null },
    })

    expect(answer.json).toEqual({
      error: false,
      message: 'ok',
      id: bob.id,
      data: {
        id: bob.id,
        name: 'bob',
        login: 'bob',
        role: 'user',
        group: 1,
        blocked: true,
        description: '',
      },
    })
  })

  test('sets a new password and revokes refresh tokens and cached checks', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    addToken(api, bob.id, 'h1')
    const oldAuth = basic('bob', 'bob-password')
    expect((await api.call('GET', '/api/v1/users/me', { auth: oldAuth })).status).toBe(200)

    const answer = await api.call('PUT', `/api/v1/users/${bob.id}`, {
      auth: adminAuth,
      body: { password: 'new-bob-password' },
    })

    expect(answer.status).toBe(200)
    expect(api.store.listRefreshTokens(bob.id)).toEqual([])
    expect((await api.call('GET', '/api/v1/users/me', { auth: oldAuth })).status).toBe(401)
    const fresh = basic('bob', 'new-bob-password')
    expect((await api.call('GET', '/api/v1/users/me', { auth: fresh })).status).toBe(200)
  })

  test('keeps the session of an admin who changes their own password', async () => {
    using api = await createTestApi()
    const own = await api.login('admin', ADMIN_PASSWORD)

    const answer = await api.call('PUT', '/api/v1/users/1', {
      headers: { cookie: own.cookie, 'x-xsrf-token': own.xsrf },
      body: { password: 'another-admin-password' },
    })
    const renewed = sessionOf(answer.headers)

    expect(answer.status).toBe(200)
    expect((await api.call('GET', '/auth/user', { headers: { cookie: own.cookie } })).status).toBe(
      401,
    )
    expect(
      (await api.call('GET', '/auth/user', { headers: { cookie: renewed.cookie } })).status,
    ).toBe(200)
  })

  test('revokes refresh tokens when a user is disabled', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    addToken(api, bob.id, 'h1')

    await api.call('PUT', `/api/v1/users/${bob.id}`, { auth: adminAuth, body: { blocked: true } })

    expect(api.store.listRefreshTokens(bob.id)).toEqual([])
  })

  test.each([
    [{ login: 'robert' }, 400, 'the login of a user cannot be changed'],
    [{ id: 99 }, 400, 'does not match'],
    [{ name: null }, 400, 'name is required'],
    [{ role: 'boss' }, 400, "role 'boss' is not allowed"],
    [{ group: 5 }, 400, 'group 5 does not exist'],
    [{ password: 'abc' }, 400, 'password must be at least 6'],
  ])('refuses %o', async (body, status, message) => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')

    const answer = await api.call('PUT', `/api/v1/users/${bob.id}`, { auth: adminAuth, body })

    expect(answer.status).toBe(status)
    expect(answer.json.message).toContain(message)
  })

  test('answers 404 for a missing user', async () => {
    using api = await createTestApi()

    const answer = await api.call('PUT', '/api/v1/users/77', { auth: adminAuth, body: {} })

    expect(answer.status).toBe(404)
  })
})

describe('last enabled admin', () => {
  test.each([
    ['PUT', { role: 'manager' }, 'cannot demote'],
    ['PUT', { blocked: true }, 'cannot disable'],
    ['DELETE', undefined, 'cannot delete'],
  ])('refuses %s %o with 409', async (method, body, message) => {
    using api = await createTestApi()

    const answer = await api.call(method, '/api/v1/users/1', { auth: adminAuth, body })

    expect(answer.status).toBe(409)
    expect(answer.json.code).toBe('CONFLICT')
    expect(answer.json.message).toContain(message)
    expect(api.store.getUser(1)).toMatchObject({ role: 'admin', disabled: false })
  })

  test('allows it once another admin is enabled', async () => {
    using api = await createTestApi()
    await api.addUser('root', 'root-password', { role: 'admin' })

    const answer = await api.call('PUT', '/api/v1/users/1', {
      auth: adminAuth,
      body: { role: 'manager' },
    })

    expect(answer.status).toBe(200)
  })

  test('does not count a disabled admin', async () => {
    using api = await createTestApi()
    await api.addUser('root', 'root-password', { role: 'admin', disabled: true })

    const answer = await api.call('DELETE', '/api/v1/users/1', { auth: adminAuth })

    expect(answer.status).toBe(409)
  })
})

describe('DELETE /api/v1/users/:id', () => {
  test('deletes the user and their own rules, never their group rules', async () => {
    let changes = 0
    using api = await createTestApi({ onUsersChanged: () => changes++ })
    const bob = await api.addUser('bob', 'bob-password')
    const rule = (ownerId: number, isGroup: boolean) =>
      api.store.createAccessRule({
        ownerId,
        isGroup,
        name: 'r',
        resourceType: 'repository',
        resourceName: 'app',
        action: 'pull',
        disabled: false,
      })
    rule(bob.id, false)
    const groupRule = rule(bob.id, true)
    addToken(api, bob.id, 'h1')

    const answer = await api.call('DELETE', `/api/v1/users/${bob.id}`, { auth: adminAuth })

    expect(answer.json).toEqual({ error: false, message: 'user deleted', id: bob.id, data: null })
    expect(api.store.getUser(bob.id)).toBeNull()
    expect(api.store.listAccessRules({}).items).toEqual([groupRule])
    expect(changes).toBe(1)
  })

  test('shuts the deleted user out at once', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const auth = basic('bob', 'bob-password')
    expect((await api.call('GET', '/api/v1/users/me', { auth })).status).toBe(200)

    await api.call('DELETE', `/api/v1/users/${bob.id}`, { auth: adminAuth })

    expect((await api.call('GET', '/api/v1/users/me', { auth })).status).toBe(401)
  })
})

describe('GET /api/v1/users/me', () => {
  test('answers the caller for every role', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')

    const answer = await api.call('GET', '/api/v1/users/me', { auth: basic('bob', 'bob-password') })

    expect(answer.json).toEqual({
      error: false,
      message: '',
      id: bob.id,
      data: {
        id: bob.id,
        name: 'bob',
        login: 'bob',
        role: 'user',
        group: 1,
        blocked: false,
        description: '',
      },
    })
  })
})

describe('POST /api/v1/users/me/password', () => {
  const change = (api: TestApi, auth: string, current: string, next: string) =>
    api.call('POST', '/api/v1/users/me/password', {
      auth,
      body: { current_password: current, new_password: next },
    })

  test('changes the own password and revokes refresh tokens', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    addToken(api, bob.id, 'h1')

    const answer = await change(api, basic('bob', 'bob-password'), 'bob-password', 'bob-new-pass')

    expect(answer.status).toBe(200)
    expect(answer.json.message).toBe('password changed')
    expect(await verifyPassword('bob-new-pass', hashOf(api, 'bob'))).toBe(true)
    expect(api.store.listRefreshTokens(bob.id)).toEqual([])
  })

  test('refuses a wrong current password with 400', async () => {
    using api = await createTestApi()
    await api.addUser('bob', 'bob-password')

    const answer = await change(api, basic('bob', 'bob-password'), 'not-it', 'bob-new-pass')

    expect(answer.status).toBe(400)
    expect(answer.json.message).toBe('current_password is not correct')
  })

  test('refuses a weak new password', async () => {
    using api = await createTestApi()
    await api.addUser('bob', 'bob-password')

    const answer = await change(api, basic('bob', 'bob-password'), 'bob-password', '123')

    expect(answer.status).toBe(400)
    expect(answer.json.message).toContain('at least 6 characters')
  })

  test('throttles guesses of the current password', async () => {
    using api = await createTestApi()
    await api.addUser('bob', 'bob-password')
    const auth = basic('bob', 'bob-password')
    const statuses: number[] = []

    for (let i = 0; i < 7; i++) {
      statuses.push((await change(api, auth, `guess-${i}`, 'bob-new-pass')).status)
    }
    const throttled = await change(api, auth, 'guess-x', 'bob-new-pass')

    expect(statuses.slice(0, 5)).toEqual([400, 400, 400, 400, 400])
    expect(throttled.status).toBe(429)
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  test('ends other sessions and renews the own one', async () => {
    using api = await createTestApi()
    await api.addUser('bob', 'bob-password')
    const other = await api.login('bob', 'bob-password')
    const own = await api.login('bob', 'bob-password')

    const answer = await api.call('POST', '/api/v1/users/me/password', {
      headers: { cookie: own.cookie, 'x-xsrf-token': own.xsrf },
      body: { current_password: 'bob-password', new_password: 'bob-new-pass' },
    })
    const renewed = answer.headers.getSetCookie().find((c) => c.startsWith('JWT='))
    const renewedCookie = `${renewed?.split(';')[0]}; XSRF-TOKEN=${own.xsrf}`

    expect(answer.status).toBe(200)
    expect(
      (await api.call('GET', '/auth/user', { headers: { cookie: other.cookie } })).status,
    ).toBe(401)
    expect(
      (await api.call('GET', '/auth/user', { headers: { cookie: renewedCookie } })).status,
    ).toBe(200)
  })
})

describe('refresh tokens', () => {
  test('lists a user’s tokens with RFC 3339 times', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const token = addToken(api, bob.id, 'h1')
    api.store.useRefreshToken('h1', START_MS / 1000 + 60)

    const answer = await api.call('GET', `/api/v1/users/${bob.id}/refresh-tokens`, {
      auth: basic('bob', 'bob-password'),
    })

    expect(answer.json).toEqual({
      total: 1,
      data: [
        {
          id: token.id,
          service: 'registry.test',
          client_id: 'docker',
          created_at: '2026-01-01T00:00:00Z',
          expires_at: '2026-01-02T00:00:00Z',
          last_used_at: '2026-01-01T00:01:00Z',
        },
      ],
    })
    expect(answer.text).not.toContain('h1')
  })

  test('lets only admins see other users’ tokens', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password', { role: 'manager' })
    const carol = await api.addUser('carol', 'carol-password')

    const denied = await api.call('GET', `/api/v1/users/${carol.id}/refresh-tokens`, {
      auth: basic('bob', 'bob-password'),
    })
    const allowed = await api.call('GET', `/api/v1/users/${bob.id}/refresh-tokens`, {
      auth: adminAuth,
    })

    expect(denied.status).toBe(403)
    expect(allowed.json).toEqual({ total: 0, data: [] })
  })

  test('revokes one token, then all of them', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const first = addToken(api, bob.id, 'h1')
    const second = addToken(api, bob.id, 'h2')
    addToken(api, bob.id, 'h3')

    const one = await api.call('DELETE', `/api/v1/users/${bob.id}/refresh-tokens/${first.id}`, {
      auth: adminAuth,
    })
    const remaining = api.store.listRefreshTokens(bob.id).map((token) => token.id)
    const again = await api.call('DELETE', `/api/v1/users/${bob.id}/refresh-tokens/${first.id}`, {
      auth: adminAuth,
    })
    const all = await api.call('DELETE', `/api/v1/users/${bob.id}/refresh-tokens`, {
      auth: basic('bob', 'bob-password'),
    })

    expect(one.json).toEqual({
      error: false,
      message: 'refresh token revoked',
      id: first.id,
      data: null,
    })
    expect(remaining).toContain(second.id)
    expect(remaining).not.toContain(first.id)
    expect(again.status).toBe(404)
    expect(all.json.message).toBe('refresh tokens revoked')
    expect(api.store.listRefreshTokens(bob.id)).toEqual([])
  })

  test('answers 404 for a missing user', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/users/50/refresh-tokens', { auth: adminAuth })

    expect(answer.status).toBe(404)
  })
})

test('the admin password used by these tests logs in', async () => {
  using api = await createTestApi()

  expect(
    (await api.call('GET', '/api/v1/users/me', { auth: basic('admin', ADMIN_PASSWORD) })).status,
  ).toBe(200)
})
