import { describe, expect, test } from 'bun:test'

import { Elysia } from 'elysia'
import pino from 'pino'

import type { Authenticator } from '../../core/authenticator.ts'
import { handleError } from '../../http-errors.ts'
import { adminApiPlugin } from './index.ts'
import { ADMIN_PASSWORD, adminAuth, basic, createTestApi, type TestApi } from './test-app.ts'

type Who = 'admin' | 'manager' | 'user' | 'nobody'

interface Fixture {
  api: TestApi
  /** Ids of rows the routes address. */
  ids: { victim: number; group: number; rule: number; self: Record<Who, number> }
  auth: Record<Who, string | undefined>
}

const setUp = async (): Promise<Fixture & Disposable> => {
  const api = await createTestApi()
  const manager = await api.addUser('manny', 'manny-password', { role: 'manager' })
  const user = await api.addUser('ursula', 'ursula-password')
  const victim = await api.addUser('victim', 'victim-password')
  const group = api.store.createGroup({ name: 'spare', description: '' })
  const rule = api.store.createAccessRule({
    ownerId: user.id,
    isGroup: false,
    name: 'pull app',
    resourceType: 'repository',
    resourceName: 'app',
    action: 'pull',
    disabled: false,
  })
  return {
    api,
    ids: {
      victim: victim.id,
      group: group.id,
      rule: rule.id,
      self: { admin: 1, manager: manager.id, user: user.id, nobody: 0 },
    },
    auth: {
      admin: adminAuth,
      manager: basic('manny', 'manny-password'),
      user: basic('ursula', 'ursula-password'),
      nobody: undefined,
    },
    [Symbol.dispose]: () => api[Symbol.dispose](),
  }
}

interface Route {
  label: string
  method: string
  path: (f: Fixture, who: Who) => string
  body?: (who: Who) => unknown
  /** Status by caller. */
  expect: Record<Who, number>
}

const readers = { admin: 200, manager: 200, user: 403, nobody: 401 }
const writers = { admin: 200, manager: 403, user: 403, nobody: 401 }
const everyone = { admin: 200, manager: 200, user: 200, nobody: 401 }

const ROUTES: Route[] = [
  { label: 'GET /api/v1/users', method: 'GET', path: () => '/api/v1/users', expect: readers },
  {
    label: 'GET /api/v1/users/:id',
    method: 'GET',
    path: (f) => `/api/v1/users/${f.ids.victim}`,
    expect: readers,
  },
  {
    label: 'POST /api/v1/users',
    method: 'POST',
    path: () => '/api/v1/users',
    body: (who) => ({ login: `new-${who}`, name: 'New', password: 'new-password', role: 'user' }),
    expect: writers,
  },
  {
    label: 'PUT /api/v1/users/:id',
    method: 'PUT',
    path: (f) => `/api/v1/users/${f.ids.victim}`,
    body: () => ({ description: 'changed' }),
    expect: writers,
  },
  {
    label: 'DELETE /api/v1/users/:id',
    method: 'DELETE',
    path: (f) => `/api/v1/users/${f.ids.victim}`,
    expect: writers,
  },
  {
    label: 'GET /api/v1/users/me',
    method: 'GET',
    path: () => '/api/v1/users/me',
    expect: everyone,
  },
  {
    label: 'POST /api/v1/users/me/password',
    method: 'POST',
    path: () => '/api/v1/users/me/password',
    body: () => ({ current_password: 'wrong-password', new_password: 'whatever-new' }),
    expect: { admin: 400, manager: 400, user: 400, nobody: 401 },
  },
  {
    label: 'GET /api/v1/users/:self/refresh-tokens',
    method: 'GET',
    path: (f, who) => `/api/v1/users/${f.ids.self[who] || 1}/refresh-tokens`,
    expect: everyone,
  },
  {
    label: 'GET /api/v1/users/:id/refresh-tokens',
    method: 'GET',
    path: (f) => `/api/v1/users/${f.ids.victim}/refresh-tokens`,
    expect: writers,
  },
  {
    label: 'DELETE /api/v1/users/:id/refresh-tokens',
    method: 'DELETE',
    path: (f) => `/api/v1/users/${f.ids.victim}/refresh-tokens`,
    expect: writers,
  },
  {
    label: 'DELETE /api/v1/users/:id/refresh-tokens/1',
    method: 'DELETE',
    path: (f) => `/api/v1/users/${f.ids.victim}/refresh-tokens/1`,
    // The admin is allowed; the token does not exist.
    expect: { admin: 404, manager: 403, user: 403, nobody: 401 },
  },
  { label: 'GET /api/v1/groups', method: 'GET', path: () => '/api/v1/groups', expect: readers },
  {
    label: 'GET /api/v1/groups/:id',
    method: 'GET',
    path: (f) => `/api/v1/groups/${f.ids.group}`,
    expect: readers,
  },
  {
    label: 'POST /api/v1/groups',
    method: 'POST',
    path: () => '/api/v1/groups',
    body: (who) => ({ name: `group-${who}` }),
    expect: writers,
  },
  {
    label: 'PUT /api/v1/groups/:id',
    method: 'PUT',
    path: (f) => `/api/v1/groups/${f.ids.group}`,
    body: () => ({ description: 'changed' }),
    expect: writers,
  },
  {
    label: 'DELETE /api/v1/groups/:id',
    method: 'DELETE',
    path: (f) => `/api/v1/groups/${f.ids.group}`,
    expect: writers,
  },
  { label: 'GET /api/v1/access', method: 'GET', path: () => '/api/v1/access', expect: readers },
  {
    label: 'GET /api/v1/access/:id',
    method: 'GET',
    path: (f) => `/api/v1/access/${f.ids.rule}`,
    expect: readers,
  },
  {
    label: 'POST /api/v1/access',
    method: 'POST',
    path: () => '/api/v1/access',
    body: (who) => ({ owner_id: 1, name: who, resource_name: `${who}/app`, action: 'push' }),
    expect: writers,
  },
  {
    label: 'PUT /api/v1/access/:id',
    method: 'PUT',
    path: (f) => `/api/v1/access/${f.ids.rule}`,
    body: () => ({ disabled: true }),
    expect: writers,
  },
  {
    label: 'DELETE /api/v1/access/:id',
    method: 'DELETE',
    path: (f) => `/api/v1/access/${f.ids.rule}`,
    expect: writers,
  },
]

const CASES = ROUTES.flatMap((route) =>
  (['admin', 'manager', 'user', 'nobody'] as Who[]).map(
    (who) => [route.label, who, route.expect[who], route] as const,
  ),
)

describe('roles on every route', () => {
  test.each(CASES)('%s as %s answers %d', async (_label, who, status, route) => {
    using fixture = await setUp()

    const answer = await fixture.api.call(route.method, route.path(fixture, who), {
      auth: fixture.auth[who],
      body: route.body?.(who),
    })

    expect(answer.status).toBe(status)
    if (status !== 200) {
      expect(answer.json.error).toBe(true)
    }
  })
})

/** The write routes that take a body, with the roles they admit. */
const BODY_ROUTES = ROUTES.filter((route) => route.body !== undefined)
const WRITE_ROUTES = ROUTES.filter((route) => route.method !== 'GET')

const BAD_BODIES: [string, string, string][] = [
  ['fields of another shape', '{"nonsense":true}', 'application/json'],
  ['broken JSON', '{"login":', 'application/json'],
  ['JSON as text/plain', '{"login":"a"}', 'text/plain'],
  ['a form', 'login=a&password=abcdef', 'application/x-www-form-urlencoded'],
]

describe('authentication before the body', () => {
  const cases = BODY_ROUTES.flatMap((route) =>
    (['nobody', 'user', 'manager'] as Who[])
      .filter((who) => route.expect[who] === 401 || route.expect[who] === 403)
      .flatMap((who) =>
        BAD_BODIES.map(
          ([what, body, type]) =>
            [route.label, who, what, route.expect[who], route, body, type] as const,
        ),
      ),
  )

  test.each(cases)(
    '%s as %s with %s answers %d',
    async (_label, who, _what, status, route, body, type) => {
      using fixture = await setUp()

      const answer = await fixture.api.call(route.method, route.path(fixture, who), {
        auth: fixture.auth[who],
        body,
        headers: { 'content-type': type },
      })

      expect([answer.status, answer.json.code]).toEqual([
        status,
        status === 401 ? 'UNAUTHORIZED' : 'DENIED',
      ])
    },
  )

  test.each(WRITE_ROUTES.map((route) => [route.label, route] as const))(
    '%s reads no body before the caller is authenticated and admitted',
    async (_label, route) => {
      using fixture = await setUp()
      const app = new Elysia()
        .onError((context) => handleError(pino({ level: 'silent' }), context))
        .use(
          adminApiPlugin({
            store: fixture.api.store,
            log: pino({ level: 'silent' }),
            config: fixture.api.config,
            authenticator: fixture.api.authenticator,
            sessionSecret: 'secret',
          }),
        )
      const statuses: number[] = []
      let pulls = 0

      for (const who of ['nobody', 'user'] as Who[]) {
        const body = new ReadableStream(
          {
            pull(controller) {
              pulls += 1
              controller.enqueue(new TextEncoder().encode('{"nonsense":true}'))
              controller.close()
            },
          },
          { highWaterMark: 0 },
        )
        const auth = fixture.auth[who]
        const request = new Request(`http://localhost${route.path(fixture, who)}`, {
          method: route.method,
          headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
          body,
        })
        statuses.push((await app.handle(request)).status)
      }

      // Only the own-password route admits a user, and its body is then read (and refused).
      expect({ statuses, pulls }).toEqual({
        statuses: [route.expect.nobody, route.expect.user],
        pulls: route.expect.user === 403 ? 0 : 1,
      })
    },
  )

  test('tells an admin that a write must be JSON', async () => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/api/v1/groups', {
      auth: adminAuth,
      body: '{"name":"ops"}',
      headers: { 'content-type': 'text/plain' },
    })

    expect([answer.status, answer.json]).toEqual([
      400,
      {
        error: true,
        code: 'VALIDATION',
        message: 'the request body must be JSON (Content-Type: application/json)',
        id: 0,
        data: null,
      },
    ])
  })

  test('checks a Basic password once per write, with the address of the client', async () => {
    using api = await createTestApi()
    const addresses: string[] = []
    const authenticator = Object.create(api.authenticator) as Authenticator
    authenticator.authenticate = (address, login, password) => {
      addresses.push(address)
      return api.authenticator.authenticate(address, login, password)
    }
    const app = new Elysia()
      .onError((context) => handleError(pino({ level: 'silent' }), context))
      .use(
        adminApiPlugin({
          store: api.store,
          log: pino({ level: 'silent' }),
          config: api.config,
          authenticator,
          sessionSecret: 'secret',
        }),
      )
      .listen({ hostname: '127.0.0.1', port: 0 })

    try {
      const response = await fetch(`http://127.0.0.1:${app.server?.port}/api/v1/groups`, {
        method: 'POST',
        headers: { authorization: adminAuth, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ops' }),
      })

      expect([response.status, addresses]).toEqual([200, ['127.0.0.1']])
    } finally {
      await app.stop(true)
    }
  })
})

describe('HTTP Basic', () => {
  test('answers 401 with a Basic challenge for a wrong password', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/users', { auth: basic('admin', 'wrong') })

    expect(answer.status).toBe(401)
    expect(answer.headers.get('www-authenticate')).toBe('Basic realm="registry-admin"')
    expect(answer.json).toEqual({
      error: true,
      code: 'UNAUTHORIZED',
      message: 'incorrect login or password',
      id: 0,
      data: null,
    })
  })

  test.each(['Basic', 'Basic !!!', 'Basic bm9jb2xvbg==', 'Basic //79'])(
    'answers 401 for the malformed header %p',
    async (header) => {
      using api = await createTestApi()

      const answer = await api.call('GET', '/api/v1/users', { auth: header })

      expect(answer.status).toBe(401)
    },
  )

  test('answers 401 without a challenge when no credentials are sent', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/users')

    expect(answer.status).toBe(401)
    expect(answer.headers.get('www-authenticate')).toBeNull()
  })

  test('shuts out a disabled user at once', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password', { role: 'manager' })
    const auth = basic('bob', 'bob-password')
    expect((await api.call('GET', '/api/v1/users', { auth })).status).toBe(200)

    await api.call('PUT', `/api/v1/users/${bob.id}`, { auth: adminAuth, body: { blocked: true } })
    const answer = await api.call('GET', '/api/v1/users', { auth })

    expect(answer.status).toBe(403)
    expect(answer.json.message).toBe('this account is disabled')
  })

  test('sees a role change at once', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password', { role: 'manager' })
    const auth = basic('bob', 'bob-password')
    expect((await api.call('GET', '/api/v1/users', { auth })).status).toBe(200)

    await api.call('PUT', `/api/v1/users/${bob.id}`, { auth: adminAuth, body: { role: 'user' } })

    expect((await api.call('GET', '/api/v1/users', { auth })).status).toBe(403)
  })

  test('answers 429 with Retry-After after repeated failures', async () => {
    using api = await createTestApi()
    for (let i = 0; i < 6; i++) {
      await api.call('GET', '/api/v1/users', { auth: basic('admin', `guess-${i}`) })
    }

    const answer = await api.call('GET', '/api/v1/users', { auth: adminAuth })

    expect(answer.status).toBe(429)
    expect(answer.json.code).toBe('TOOMANYREQUESTS')
    expect(Number(answer.headers.get('retry-after'))).toBeGreaterThan(0)
  })
})

describe('UI session on /api/v1', () => {
  test('reads with the cookie, without an XSRF token', async () => {
    using api = await createTestApi()
    const session = await api.login('admin', ADMIN_PASSWORD)

    const answer = await api.call('GET', '/api/v1/users', { headers: { cookie: session.cookie } })

    expect(answer.status).toBe(200)
  })

  test('applies the same roles to a session', async () => {
    using api = await createTestApi()
    await api.addUser('manny', 'manny-password', { role: 'manager' })
    await api.addUser('ursula', 'ursula-password')
    const manager = await api.login('manny', 'manny-password')
    const user = await api.login('ursula', 'ursula-password')
    const headers = { cookie: manager.cookie, 'x-xsrf-token': manager.xsrf }

    const managerReads = await api.call('GET', '/api/v1/access', { headers })
    const managerWrites = await api.call('POST', '/api/v1/groups', { headers, body: { name: 'x' } })
    const userReads = await api.call('GET', '/api/v1/users', { headers: { cookie: user.cookie } })

    expect(managerReads.status).toBe(200)
    expect(managerWrites.status).toBe(403)
    expect(userReads.status).toBe(403)
  })

  test.each(['POST', 'PUT', 'DELETE'])(
    'refuses a cookie %s without the matching X-XSRF-Token',
    async (method) => {
      using api = await createTestApi()
      const session = await api.login('admin', ADMIN_PASSWORD)
      const group = api.store.createGroup({ name: 'spare', description: '' })
      const path = method === 'POST' ? '/api/v1/groups' : `/api/v1/groups/${group.id}`
      const body = method === 'DELETE' ? undefined : { name: 'renamed' }

      const missing = await api.call(method, path, { headers: { cookie: session.cookie }, body })
      const wrong = await api.call(method, path, {
        headers: { cookie: session.cookie, 'x-xsrf-token': 'not-it' },
        body,
      })
      const right = await api.call(method, path, {
        headers: { cookie: session.cookie, 'x-xsrf-token': session.xsrf },
        body,
      })

      expect(missing.status).toBe(403)
      expect(missing.json.message).toBe('this request needs the X-XSRF-Token header of the session')
      expect(wrong.status).toBe(403)
      expect(right.status).toBe(200)
    },
  )

  test('lets an X-JWT header write without an XSRF token', async () => {
    using api = await createTestApi()
    const session = await api.login('admin', ADMIN_PASSWORD)

    const answer = await api.call('POST', '/api/v1/groups', {
      headers: { 'x-jwt': session.jwt },
      body: { name: 'from-header' },
    })

    expect(answer.status).toBe(200)
  })

  test('shuts out a disabled or deleted user at once', async () => {
    using api = await createTestApi()
    const bob = await api.addUser('bob', 'bob-password', { role: 'manager' })
    const carol = await api.addUser('carol', 'carol-password', { role: 'manager' })
    const bobSession = await api.login('bob', 'bob-password')
    const carolSession = await api.login('carol', 'carol-password')

    await api.call('PUT', `/api/v1/users/${bob.id}`, { auth: adminAuth, body: { blocked: true } })
    await api.call('DELETE', `/api/v1/users/${carol.id}`, { auth: adminAuth })

    for (const session of [bobSession, carolSession]) {
      const answer = await api.call('GET', '/api/v1/users', { headers: { cookie: session.cookie } })
      expect(answer.status).toBe(401)
      expect(answer.json.message).toBe('the session has ended; log in again')
      expect(answer.headers.getSetCookie()[0]).toStartWith('JWT=; Path=/; Max-Age=0')
    }
  })

  test('refuses a forged cookie', async () => {
    using api = await createTestApi()
    const session = await api.login('admin', ADMIN_PASSWORD)
    const [header, payload] = session.jwt.split('.')

    const answer = await api.call('GET', '/api/v1/users', {
      headers: { cookie: `JWT=${header}.${payload}.AAAA` },
    })

    expect(answer.status).toBe(401)
  })
})

describe('malformed input', () => {
  test.each([
    ['a broken JSON body', '{"login":', 'application/json'],
    ['a JSON array', '[1,2,3]', 'application/json'],
    ['a JSON string', '"alice"', 'application/json'],
    [
      'JSON sent as text/plain',
      '{"login":"a","name":"a","password":"abcdef","role":"user"}',
      'text/plain',
    ],
    ['a form', 'login=a&name=a&password=abcdef&role=user', 'application/x-www-form-urlencoded'],
    ['an empty body', '', 'application/json'],
  ])('answers 400 for %s', async (_what, body, type) => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/api/v1/users', {
      auth: adminAuth,
      body,
      headers: { 'content-type': type },
    })

    expect(answer.status).toBe(400)
    expect(answer.json).toMatchObject({ error: true, code: 'VALIDATION', id: 0, data: null })
    expect(api.store.listUsers({}).total).toBe(1)
  })

  test('answers 400 for a body that is not UTF-8', async () => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/api/v1/groups', {
      auth: adminAuth,
      body: new Uint8Array([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0xff, 0xfe, 0x7d]),
    })

    expect(answer.status).toBe(400)
  })

  test('stores a name with invalid UTF-8 replaced, never a 500', async () => {
    using api = await createTestApi()
    const bytes = new TextEncoder().encode('{"name":"x\u0000y"}')

    const answer = await api.call('POST', '/api/v1/groups', { auth: adminAuth, body: bytes })

    expect([200, 400]).toContain(answer.status)
  })

  test.each([
    '/api/v1/users?filter=%7B',
    '/api/v1/users?range=[0,99999999999999999999]',
    '/api/v1/users?sort=["id","ASC","x"]',
    '/api/v1/groups?filter={"id":"one"}',
    '/api/v1/access?filter={"owner_id":1e400}',
    '/api/v1/access?filter={"disabled":"maybe"}',
    '/api/v1/users/%ff',
    '/api/v1/users?filter=%ff',
    '/api/v1/groups?sort=%ZZ',
  ])('answers 400 for %s', async (path) => {
    using api = await createTestApi()

    const answer = await api.call('GET', path, { auth: adminAuth })

    expect(answer.status).toBe(400)
    expect(answer.json.error).toBe(true)
  })

  test('answers 404 in the envelope for an unknown route', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/nothing-here', { auth: adminAuth })

    expect(answer.status).toBe(404)
    expect(answer.json.error).toBe(true)
  })
})

describe('adminApiPlugin', () => {
  test('keeps its guard to its own routes', async () => {
    using api = await createTestApi()
    const app = new Elysia()
      .get('/before', () => 'ok')
      .use(
        adminApiPlugin({
          store: api.store,
          log: pino({ level: 'silent' }),
          config: api.config,
          authenticator: api.authenticator,
          sessionSecret: 'secret',
        }),
      )
      .get('/after', () => 'ok')
    const headers = { authorization: 'Basic !!!', cookie: 'JWT=stale' }

    for (const path of ['/before', '/after']) {
      const response = await app.handle(new Request(`http://localhost${path}`, { headers }))
      expect(response.status).toBe(200)
    }
  })
})
