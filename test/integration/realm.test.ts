/** The token realm in process: what it answers, and what its tokens say. */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'

import { decodeProtectedHeader, importX509, jwtVerify } from 'jose'

import { ANONYMOUS_OWNER_ID } from '../../src/core/store.ts'
import {
  ADMIN,
  basic,
  startTestServer,
  TEST_ISSUER,
  TEST_SERVICE,
  type TestServer,
} from '../helpers.ts'

let server: TestServer
let certificatePem: string
let carolId: number

const CAROL = { login: 'carol', password: 'carol-password' }
const carol = basic(CAROL.login, CAROL.password)

beforeAll(async () => {
  server = await startTestServer()
  certificatePem = await Bun.file(server.rootCertBundle).text()
  const user = await server.addUser(CAROL.login, CAROL.password)
  carolId = user.id
  server.addRule({ ownerId: user.id, resourceName: 'ns/app', action: 'pull' })
  server.addRule({ ownerId: user.id, resourceName: 'carol/**', action: '*' })
  server.addRule({ ownerId: ANONYMOUS_OWNER_ID, resourceName: 'public/*', action: 'pull' })
})

afterAll(async () => {
  await server[Symbol.asyncDispose]()
})

const realm = (query: string, headers: Record<string, string> = {}) =>
  server.handle(`/api/v1/registry/auth?${query}`, { headers })

const verify = async (token: string) => {
  const key = await importX509(certificatePem, 'RS256')
  return jwtVerify(token, key, { issuer: TEST_ISSUER, audience: TEST_SERVICE })
}

const accessOf = async (response: Response) => {
  const body = (await response.json()) as { token: string }
  return (await verify(body.token)).payload.access
}

describe('GET /api/v1/registry/auth', () => {
  test('issues a verifiable token with the granted access', async () => {
    const response = await realm(`service=${TEST_SERVICE}&scope=repository:ns/app:pull,push`, {
      authorization: carol,
    })
    const body = (await response.json()) as Record<string, unknown>
    const { payload, protectedHeader } = await verify(body.token as string)

    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(body.access_token).toBe(body.token)
    expect(body.expires_in).toBe(60)
    expect(Date.parse(body.issued_at as string)).toBe((payload.iat as number) * 1000)
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT' })
    expect(protectedHeader.x5c).toHaveLength(1)
    expect(payload).toMatchObject({ iss: TEST_ISSUER, sub: 'carol', aud: TEST_SERVICE })
    expect(payload.exp).toBe((payload.iat as number) + 60)
    expect(payload.access).toEqual([{ type: 'repository', name: 'ns/app', actions: ['pull'] }])
  })

  test('reads every scope parameter and every scope within one', async () => {
    const response = await realm(
      `service=${TEST_SERVICE}&scope=repository:ns/app:pull&scope=${encodeURIComponent(
        'repository:carol/x:* repository:other:pull',
      )}`,
      { authorization: carol },
    )

    expect(await accessOf(response)).toEqual([
      { type: 'repository', name: 'ns/app', actions: ['pull'] },
      { type: 'repository', name: 'carol/x', actions: ['*'] },
      { type: 'repository', name: 'other', actions: [] },
    ])
  })

  test('the account parameter never changes who the caller is', async () => {
    const response = await realm(`service=${TEST_SERVICE}&account=admin&scope=repository:x:push`, {
      authorization: carol,
    })
    const body = (await response.json()) as { token: string }
    const { payload } = await verify(body.token)

    expect(payload.sub).toBe('carol')
    expect(payload.access).toEqual([{ type: 'repository', name: 'x', actions: [] }])
  })

  test('an anonymous caller gets only anonymous rules and an empty subject', async () => {
    const response = await realm(
      `service=${TEST_SERVICE}&account=carol&scope=repository:public/x:pull,push&scope=repository:ns/app:pull`,
    )
    const body = (await response.json()) as { token: string }
    const { payload } = await verify(body.token)

    expect(payload.sub).toBe('')
    expect(payload.access).toEqual([
      { type: 'repository', name: 'public/x', actions: ['pull'] },
      { type: 'repository', name: 'ns/app', actions: [] },
    ])
  })

  test('a login without scope gets an empty token, anonymous gets 401', async () => {
    const user = await realm(
      `service=${TEST_SERVICE}&account=carol&client_id=docker&offline_token=false`,
      {
        authorization: carol,
      },
    )
    const anonymous = await realm(`service=${TEST_SERVICE}`)

    expect(await accessOf(user)).toEqual([])
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('www-authenticate')).toBe('Basic realm="registry-admin"')
  })

  test.each([
    ['a wrong password', basic('carol', 'nope-nope')],
    ['an unknown login', basic('mallory', 'whatever')],
    ['a malformed Basic header', 'Basic !!!'],
    ['credentials without a colon', `Basic ${btoa('carol')}`],
  ])('%s gets 401 with a registry error body', async (_, authorization) => {
    const response = await realm(`service=${TEST_SERVICE}&scope=repository:ns/app:pull`, {
      authorization,
    })

    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Basic realm="registry-admin"')
    expect(((await response.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe(
      'UNAUTHORIZED',
    )
  })

  test('a disabled user gets 401', async () => {
    await server.addUser('dave', 'dave-password', { disabled: true })
    const response = await realm(`service=${TEST_SERVICE}&scope=repository:ns/app:pull`, {
      authorization: basic('dave', 'dave-password'),
    })

    expect(response.status).toBe(401)
  })

  test('the admin gets the catalog, a user does not', async () => {
    const asAdmin = await realm(`service=${TEST_SERVICE}&scope=registry:catalog:*`, {
      authorization: basic(ADMIN.username, ADMIN.password),
    })
    const asUser = await realm(`service=${TEST_SERVICE}&scope=registry:catalog:*`, {
      authorization: carol,
    })

    expect(await accessOf(asAdmin)).toEqual([{ type: 'registry', name: 'catalog', actions: ['*'] }])
    expect(await accessOf(asUser)).toEqual([{ type: 'registry', name: 'catalog', actions: [] }])
  })

  test('a plugin class is decided and written as a plain repository', async () => {
    const response = await realm(`service=${TEST_SERVICE}&scope=repository(plugin):ns/app:pull`, {
      authorization: carol,
    })

    expect(await accessOf(response)).toEqual([
      { type: 'repository', name: 'ns/app', actions: ['pull'] },
    ])
  })

  test('the injection string of the legacy tool grants nothing extra', async () => {
    const scope = encodeURIComponent("repository:ns/app:x')OR('1'='1,push,pull")
    const response = await realm(`service=${TEST_SERVICE}&scope=${scope}`)

    expect(await accessOf(response)).toEqual([{ type: 'repository', name: 'ns/app', actions: [] }])
  })

  test('the legacy expire parameter is ignored', async () => {
    const response = await realm(
      `service=${TEST_SERVICE}&scope=repository:public/x:pull&expire=99999999`,
    )
    const body = (await response.json()) as { token: string; expires_in: number }
    const { payload } = await verify(body.token)

    expect(body.expires_in).toBe(60)
    expect((payload.exp as number) - (payload.iat as number)).toBe(60)
  })

  test.each([
    ['another service', 'service=other&scope=repository:ns/app:pull', 400],
    ['a scope without actions part', `service=${TEST_SERVICE}&scope=repository:ns/app`, 400],
    ['garbage', `service=${TEST_SERVICE}&scope=%%%`, 400],
    ['non-UTF-8 bytes', `service=${TEST_SERVICE}&scope=repository:ns/%ff%fe:pull`, 400],
    ['too many scopes', `service=${TEST_SERVICE}&${'scope=repository:a:pull&'.repeat(257)}`, 400],
    [
      'a query over 32 KiB',
      `service=${TEST_SERVICE}&scope=repository:${'a'.repeat(33_000)}:pull`,
      400,
    ],
  ])('%s is refused with 400, never a 500', async (_, query, status) => {
    const response = await realm(query, { authorization: carol })
    const body = (await response.json()) as { errors: { code: string; message: string }[] }

    expect(response.status).toBe(status)
    expect(body.errors[0]?.message).toBeString()
  })

  test('scopes without actions are answered with nothing granted', async () => {
    const response = await realm(`service=${TEST_SERVICE}&scope=repository:ns/app:`, {
      authorization: carol,
    })

    expect(await accessOf(response)).toEqual([{ type: 'repository', name: 'ns/app', actions: [] }])
  })

  test('BuildKit-sized requests with many mount scopes are accepted', async () => {
    const scopes = Array.from({ length: 100 }, (_, i) => `scope=repository:carol/r${i}:pull`).join(
      '&',
    )
    const response = await realm(`service=${TEST_SERVICE}&${scopes}`, { authorization: carol })

    expect(response.status).toBe(200)
    expect(await accessOf(response)).toHaveLength(100)
  })

  test('offline_token=true issues a refresh token for a user, not for anonymous', async () => {
    const user = await realm(`service=${TEST_SERVICE}&offline_token=true&client_id=docker`, {
      authorization: carol,
    })
    const anonymous = await realm(
      `service=${TEST_SERVICE}&offline_token=true&scope=repository:public/x:pull`,
    )

    expect(((await user.json()) as Record<string, unknown>).refresh_token).toBeString()
    expect(((await anonymous.json()) as Record<string, unknown>).refresh_token).toBeUndefined()
    expect(server.store.listRefreshTokens(carolId).map((t) => t.clientId)).toContain('docker')
  })

  test('the header carries the libtrust key id of the certificate', async () => {
    const response = await realm(`service=${TEST_SERVICE}&scope=repository:public/x:pull`)
    const { token } = (await response.json()) as { token: string }
    const header = decodeProtectedHeader(token)

    expect(header.kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/)
  })
})

const post = (form: Record<string, string>, contentType = 'application/x-www-form-urlencoded') =>
  server.handle('/api/v1/registry/auth', {
    method: 'POST',
    headers: { 'content-type': contentType },
    body: new URLSearchParams(form).toString(),
  })

describe('POST /api/v1/registry/auth', () => {
  const passwordGrant = {
    grant_type: 'password',
    username: CAROL.login,
    password: CAROL.password,
    service: TEST_SERVICE,
    client_id: 'containerd-client',
    scope: 'repository:ns/app:pull,push repository:carol/x:push',
  }

  test('the password grant returns a token and the granted scope', async () => {
    const response = await post(passwordGrant)
    const body = (await response.json()) as Record<string, unknown>
    const { payload } = await verify(body.access_token as string)

    expect(response.status).toBe(200)
    expect(body.scope).toBe('repository:ns/app:pull repository:carol/x:push')
    expect(body.expires_in).toBe(60)
    expect(body.refresh_token).toBeUndefined()
    expect(payload.sub).toBe('carol')
  })

  test('a refresh token works until its user is disabled, and is not rotated', async () => {
    const user = await server.addUser('erin', 'erin-password')
    server.addRule({ ownerId: user.id, resourceName: 'erin/app', action: 'pull' })
    const first = await post({
      ...passwordGrant,
      username: 'erin',
      password: 'erin-password',
      access_type: 'offline',
      scope: '',
    })
    const { refresh_token } = (await first.json()) as { refresh_token: string }
    const refresh = () =>
      post({
        grant_type: 'refresh_token',
        refresh_token,
        service: TEST_SERVICE,
        client_id: 'containerd-client',
        scope: 'repository:erin/app:pull',
      })

    const refreshed = await refresh()
    const body = (await refreshed.json()) as Record<string, unknown>
    const wrongService = await post({
      grant_type: 'refresh_token',
      refresh_token,
      service: 'other',
    })
    server.store.updateUser(user.id, { disabled: true })
    const afterDisable = await refresh()

    expect(body.refresh_token).toBe(refresh_token)
    expect(body.scope).toBe('repository:erin/app:pull')
    expect(wrongService.status).toBe(400)
    expect(afterDisable.status).toBe(401)
    expect(await afterDisable.json()).toMatchObject({ error: 'invalid_grant' })
  })

  test.each([
    ['a wrong password', { ...passwordGrant, password: 'nope-nope' }, 401, 'invalid_grant'],
    [
      'an unknown grant type',
      { ...passwordGrant, grant_type: 'authorization_code' },
      400,
      'invalid_request',
    ],
    [
      'an unknown refresh token',
      { grant_type: 'refresh_token', refresh_token: 'x', service: TEST_SERVICE },
      401,
      'invalid_grant',
    ],
    ['a malformed scope', { ...passwordGrant, scope: 'repository' }, 400, 'invalid_request'],
  ])('%s gets its OAuth2 error', async (_, form, status, error) => {
    const response = await post(form)

    expect(response.status).toBe(status)
    expect(await response.json()).toMatchObject({ error })
  })

  test('a body that is not a form gets 400', async () => {
    const response = await post(passwordGrant, 'application/json')

    expect(response.status).toBe(400)
  })
})

describe('failed logins', () => {
  test('are slowed down per address and login, and never block a correct password of another login', async () => {
    await server.addUser('frank', 'frank-password')
    const attempt = (password: string, login = 'frank') =>
      realm(`service=${TEST_SERVICE}&scope=repository:ns/app:pull`, {
        authorization: basic(login, password),
      })

    const statuses: number[] = []
    for (let i = 0; i < 7; i++) {
      statuses.push((await attempt(`wrong-${i}`)).status)
    }
    const throttled = await attempt('frank-password')
    const other = await attempt(CAROL.password, CAROL.login)

    expect(statuses).toEqual([401, 401, 401, 401, 401, 429, 429])
    expect(throttled.status).toBe(429)
    expect(Number(throttled.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(other.status).toBe(200)
  })
})
