import { describe, expect, test } from 'bun:test'

import { decodeJwt } from 'jose'

import {
  ADMIN_PASSWORD,
  START_MS,
  adminAuth,
  basic,
  cookiesOf,
  createTestApi,
  sessionOf,
  type TestApi,
} from './test-app.ts'
import { localUserId } from './session.ts'

const adminSessionUser = {
  name: 'admin',
  id: localUserId('admin'),
  picture: '',
  attrs: { disabled: false, uid: 1 },
  role: 'admin',
}

const login = (api: TestApi, user: string, passwd: string) =>
  api.call('POST', '/auth/local/login', { body: { user, passwd } })

describe('POST /auth/local/login', () => {
  test('answers the session user and sets both cookies', async () => {
    using api = await createTestApi()

    const answer = await login(api, 'admin', ADMIN_PASSWORD)
    const cookies = cookiesOf(answer.headers)
    const claims = decodeJwt(cookies.JWT?.value ?? '')

    expect(answer.status).toBe(200)
    expect(answer.json).toEqual(adminSessionUser)
    expect(cookies.JWT?.attributes).toEqual(['Path=/', 'Max-Age=86400', 'HttpOnly', 'SameSite=Lax'])
    expect(cookies['XSRF-TOKEN']).toEqual({
      value: claims.jti as string,
      attributes: ['Path=/', 'Max-Age=86400', 'SameSite=Lax'],
    })
    expect(claims).toMatchObject({
      iss: 'zebox',
      iat: START_MS / 1000,
      exp: START_MS / 1000 + 3600,
      login_at: START_MS / 1000,
      user: { name: 'admin', id: localUserId('admin'), attrs: { uid: 1 } },
    })
  })

  test('accepts a form body and ignores aud', async () => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/auth/local/login', {
      body: `user=admin&passwd=${ADMIN_PASSWORD}&aud=ui`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    })

    expect(answer.status).toBe(200)
    expect(answer.json).toEqual(adminSessionUser)
  })

  test('marks cookies Secure when the server terminates TLS', async () => {
    using api = await createTestApi({
      adjust: (config) => ({ ...config, ssl: { ...config.ssl, type: 'static' } }),
    })

    const answer = await login(api, 'admin', ADMIN_PASSWORD)

    expect(cookiesOf(answer.headers).JWT?.attributes).toContain('Secure')
  })

  test('answers 401 for a wrong password or an unknown user', async () => {
    using api = await createTestApi()

    const wrong = await login(api, 'admin', 'nope')
    const unknown = await login(api, 'nobody', 'nope')

    expect(wrong.status).toBe(401)
    expect(wrong.json).toEqual({ error: 'incorrect user or password' })
    expect(unknown.json).toEqual({ error: 'incorrect user or password' })
    expect(wrong.headers.getSetCookie()).toEqual([])
  })

  test('says an account is disabled only after a correct password', async () => {
    using api = await createTestApi()
    await api.addUser('bob', 'bob-password', { disabled: true })

    const right = await login(api, 'bob', 'bob-password')
    const wrong = await login(api, 'bob', 'not-bobs')

    expect(right.status).toBe(403)
    expect(right.json).toEqual({ error: 'this account is disabled' })
    expect(wrong.status).toBe(401)
  })

  test('logs in a user whose login is a number', async () => {
    using api = await createTestApi()
    await api.addUser('1', 'numeric-password')

    const answer = await login(api, '1', 'numeric-password')

    expect(answer.status).toBe(200)
    expect(answer.json.attrs.uid).toBe(2)
  })

  test('answers 429 with Retry-After after repeated failures', async () => {
    using api = await createTestApi()
    for (let i = 0; i < 6; i++) {
      await login(api, 'admin', `guess-${i}`)
    }

    const answer = await login(api, 'admin', ADMIN_PASSWORD)

    expect(answer.status).toBe(429)
    expect(answer.json.error).toContain('too many failed logins')
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0)
  })

  test.each([
    ['{"user":"admin"', 'application/json'],
    ['[1,2]', 'application/json'],
    ['{"user":1,"passwd":2}', 'application/json'],
    ['{"user":"admin","passwd":"x"}', 'text/plain'],
  ])('answers 400 for the body %s (%s)', async (body, type) => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/auth/local/login', {
      body,
      headers: { 'content-type': type },
    })

    expect(answer.status).toBe(400)
    expect(typeof answer.json.error).toBe('string')
  })
})

describe('GET /auth/local/login', () => {
  test('is gone, because it put the password in logs', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', `/auth/local/login?user=admin&passwd=${ADMIN_PASSWORD}`)

    expect(answer.status).toBe(405)
    expect(answer.json.error).toContain('puts the password in URLs and logs')
    expect(answer.headers.getSetCookie()).toEqual([])
  })
})

describe('GET /auth/user', () => {
  test('answers the session user as stored now', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const session = await api.login('bob', 'bob-password')
    api.store.updateUser(bob.id, { role: 'manager', name: 'Robert' })

    const answer = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })

    expect(answer.json).toEqual({
      name: 'Robert',
      id: localUserId('bob'),
      picture: '',
      attrs: { disabled: false, uid: bob.id },
      role: 'manager',
    })
  })

  test('reads the X-JWT header too, but never ?jwt=', async () => {
    using api = await createTestApi()
    const session = await api.login('admin', ADMIN_PASSWORD)

    const header = await api.call('GET', '/auth/user', { headers: { 'x-jwt': session.jwt } })
    const query = await api.call('GET', `/auth/user?jwt=${session.jwt}`)

    expect(header.status).toBe(200)
    expect(query.status).toBe(401)
  })

  test('answers 401 without a session', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/auth/user', { headers: { cookie: 'JWT=garbage' } })

    expect(answer.status).toBe(401)
    expect(answer.json).toEqual({ error: 'not logged in' })
    expect(cookiesOf(answer.headers).JWT?.attributes).toContain('Max-Age=0')
  })

  test('shuts out a disabled or deleted user at once', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const carol = await api.addUser('carol', 'carol-password')
    const bobSession = await api.login('bob', 'bob-password')
    const carolSession = await api.login('carol', 'carol-password')

    api.store.updateUser(bob.id, { disabled: true })
    api.store.deleteUser(carol.id)

    for (const session of [bobSession, carolSession]) {
      const answer = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })
      expect(answer.status).toBe(401)
    }
  })

  test('ends every session of a user disabled through the API, even after they are enabled again', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const session = await api.login('bob', 'bob-password')
    const put = (blocked: boolean) =>
      api.call('PUT', `/api/v1/users/${bob.id}`, { auth: adminAuth, body: { blocked } })
    const check = async () => [
      (await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })).status,
      (await api.call('GET', '/auth/user', { headers: { 'x-jwt': session.jwt } })).status,
    ]

    expect((await put(true)).status).toBe(200)
    const whileDisabled = await check()
    expect((await put(false)).status).toBe(200)
    const afterEnabling = await check()

    expect({ whileDisabled, afterEnabling }).toEqual({
      whileDisabled: [401, 401],
      afterEnabling: [401, 401],
    })
    const fresh = await api.login('bob', 'bob-password')
    const answer = await api.call('GET', '/auth/user', { headers: { cookie: fresh.cookie } })
    expect(answer.status).toBe(200)
  })

  test('ends the old sessions of an account disabled earlier when it is enabled', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const session = await api.login('bob', 'bob-password')
    api.store.updateUser(bob.id, { disabled: true })

    const put = await api.call('PUT', `/api/v1/users/${bob.id}`, {
      auth: adminAuth,
      body: { blocked: false },
    })
    const answer = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })

    expect([put.status, answer.status]).toEqual([200, 401])
  })

  test('issues no new session to an admin who disables their own account', async () => {
    using api = await createTestApi()
    await api.addUser('root2', 'root2-password', { role: 'admin' })
    const session = await api.login('admin', ADMIN_PASSWORD)

    const put = await api.call('PUT', '/api/v1/users/1', {
      headers: { cookie: session.cookie, 'x-xsrf-token': session.xsrf },
      body: { blocked: true, password: 'another-password' },
    })
    await api.call('PUT', '/api/v1/users/1', {
      auth: basic('root2', 'root2-password'),
      body: { blocked: false },
    })
    const answer = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })

    expect([put.status, put.headers.getSetCookie(), answer.status]).toEqual([200, [], 401])
  })

  test('keeps the sessions of an enabled user whose record is edited', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password')
    const session = await api.login('bob', 'bob-password')

    const put = await api.call('PUT', `/api/v1/users/${bob.id}`, {
      auth: adminAuth,
      body: { description: 'edited', blocked: false },
    })
    const answer = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })

    expect([put.status, answer.status]).toEqual([200, 200])
  })

  test('renews the cookie after half the token lifetime, up to the cookie lifetime', async () => {
    using api = await createTestApi({ flags: ['--auth.jwt-ttl=10m', '--auth.cookie-ttl=1h'] })
    let session = await api.login('admin', ADMIN_PASSWORD)
    const renewals: number[] = []

    for (let minute = 5; minute < 60; minute += 5) {
      api.clock.now = START_MS + minute * 60_000
      const answer = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })
      expect(answer.status).toBe(200)
      if (answer.headers.getSetCookie().length > 0) {
        renewals.push(minute)
        session = sessionOf(answer.headers)
      }
    }
    api.clock.now = START_MS + 60 * 60_000
    const ended = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })

    expect(renewals).toEqual([5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55])
    expect(decodeJwt(session.jwt).exp).toBe(START_MS / 1000 + 3600)
    expect(ended.status).toBe(401)
  })

  test('renews an expired cookie token within the cookie lifetime', async () => {
    using api = await createTestApi({ flags: ['--auth.jwt-ttl=10m', '--auth.cookie-ttl=1h'] })
    const session = await api.login('admin', ADMIN_PASSWORD)
    api.clock.now = START_MS + 30 * 60_000

    const answer = await api.call('GET', '/auth/user', { headers: { cookie: session.cookie } })
    const renewed = sessionOf(answer.headers)

    expect(answer.status).toBe(200)
    expect(renewed.xsrf).toBe(session.xsrf)
    expect(cookiesOf(answer.headers).JWT?.attributes).toContain('Max-Age=1800')
  })
})

describe('GET /auth/status', () => {
  test('tells whether a session is on', async () => {
    using api = await createTestApi()
    const session = await api.login('admin', ADMIN_PASSWORD)

    const on = await api.call('GET', '/auth/status', { headers: { cookie: session.cookie } })
    const off = await api.call('GET', '/auth/status')

    expect(on.json).toEqual({ status: 'logged in', user: 'admin' })
    expect(off.json).toEqual({ status: 'not logged in' })
  })
})

describe('logout', () => {
  test.each([
    ['GET', '/auth/logout'],
    ['GET', '/auth/local/logout'],
    ['POST', '/auth/local/logout'],
  ])('%s %s clears both cookies', async (method, path) => {
    using api = await createTestApi()

    const answer = await api.call(method, path)
    const cookies = cookiesOf(answer.headers)

    expect(answer.status).toBe(200)
    expect(answer.text).toBe('')
    expect(cookies.JWT).toEqual({
      value: '',
      attributes: [
        'Path=/',
        'Max-Age=0',
        'Expires=Thu, 01 Jan 1970 00:00:00 GMT',
        'HttpOnly',
        'SameSite=Lax',
      ],
    })
    expect(cookies['XSRF-TOKEN']?.attributes).toContain('Max-Age=0')
  })
})

describe('GET /auth/list', () => {
  test('lists the local provider', async () => {
    using api = await createTestApi()

    expect((await api.call('GET', '/auth/list')).json).toEqual(['local'])
  })
})
