import { describe, expect, test } from 'bun:test'

import { ANONYMOUS_OWNER_ID, REGISTERED_OWNER_ID } from '../../core/store.ts'
import { adminAuth, createTestApi, type TestApi } from './test-app.ts'

const rule = (extra: Record<string, unknown> = {}) => ({
  owner_id: 1,
  name: 'app pull',
  resource_name: 'team/app',
  action: 'pull',
  ...extra,
})

const post = (api: TestApi, body: unknown) =>
  api.call('POST', '/api/v1/access', { auth: adminAuth, body })

describe('POST /api/v1/access', () => {
  test('adds a rule with the defaults of the Go tool', async () => {
    using api = await createTestApi()

    const answer = await post(api, rule())

    expect(answer.json).toEqual({
      error: false,
      message: 'access added',
      id: 1,
      data: {
        id: 1,
        owner_id: 1,
        is_group: false,
        name: 'app pull',
        type: 'repository',
        resource_name: 'team/app',
        action: 'pull',
        disabled: false,
      },
    })
  })

  test.each([
    [{ resource_name: 'team/*' }],
    [{ resource_name: '**' }],
    [{ resource_name: 'team/**/base', action: '*' }],
    [{ resource_name: 'localhost:5000/app', action: 'delete' }],
    [{ owner_id: ANONYMOUS_OWNER_ID }],
    [{ owner_id: REGISTERED_OWNER_ID, action: 'push' }],
    [{ owner_id: 1, is_group: true }],
    [{ type: 'registry', resource_name: 'catalog', action: '*' }],
  ])('accepts %o', async (extra) => {
    using api = await createTestApi()

    const answer = await post(api, rule(extra))

    expect(answer.status).toBe(200)
    expect(answer.json.data).toMatchObject(extra)
  })

  test.each([
    [{ owner_id: 0 }, 'owner_id is required'],
    [{ owner_id: 42 }, 'user 42 does not exist'],
    [{ owner_id: 42, is_group: true }, 'group 42 does not exist'],
    [{ owner_id: -5 }, 'owner_id -5 is not valid'],
    [{ name: '' }, 'name is required'],
    [{ type: 'blob' }, "type 'blob' is not allowed"],
    [{ action: 'pull,push' }, "action 'pull,push' is not allowed"],
    [{ action: 'PULL' }, "action 'PULL' is not allowed"],
    [{ resource_name: '' }, 'resource_name is required'],
    [{ resource_name: 'team app' }, 'without whitespace'],
    [{ resource_name: 'Team/App' }, 'can never match a repository'],
    [{ resource_name: 'team//app' }, 'can never match a repository'],
    [{ type: 'registry', resource_name: 'team/app' }, "type registry is 'catalog'"],
    [{ owner_id: 'one' }, 'owner_id'],
    [{ owner_id: 1.5 }, 'owner_id'],
  ])('refuses %o', async (extra, message) => {
    using api = await createTestApi()

    const answer = await post(api, rule(extra))

    expect(answer.status).toBe(400)
    expect(answer.json.message).toContain(message)
  })

  test('refuses a duplicate rule with 409', async () => {
    using api = await createTestApi()
    await post(api, rule())

    const answer = await post(api, rule({ name: 'another label' }))

    expect(answer.status).toBe(409)
    expect(answer.json.code).toBe('CONFLICT')
  })

  test('says that rules do not apply while the registry uses basic auth', async () => {
    using api = await createTestApi({
      adjust: (config) => ({ ...config, registry: { ...config.registry, authType: 'basic' } }),
    })

    const created = await post(api, rule())
    const updated = await api.call('PUT', `/api/v1/access/${created.json.id}`, {
      auth: adminAuth,
      body: { disabled: true },
    })

    expect(created.status).toBe(200)
    expect(created.json.message).toBe(
      'access added; note: the registry uses basic auth, so access rules are kept but do not apply until it uses token auth',
    )
    expect(updated.json.message).toContain('do not apply until it uses token auth')
  })
})

describe('GET /api/v1/access', () => {
  const seed = async (api: TestApi) => {
    const bob = await api.addUser('bob', 'bob-password')
    for (const body of [
      rule({ owner_id: bob.id, name: 'bob reads', resource_name: 'shared/app' }),
      rule({ owner_id: bob.id, name: 'bob writes', resource_name: 'bob/**', action: '*' }),
      rule({ owner_id: 1, is_group: true, name: 'group one', resource_name: 'one/x' }),
      rule({ owner_id: ANONYMOUS_OWNER_ID, name: 'public', resource_name: 'public/*' }),
      rule({ type: 'registry', name: 'catalog', resource_name: 'catalog', action: '*' }),
    ]) {
      expect((await post(api, body)).status).toBe(200)
    }
    return bob
  }

  const names = (answer: { json: { data: { name: string }[] } }) =>
    answer.json.data.map((item) => item.name)

  test('counts q over the same fields it searches', async () => {
    using api = await createTestApi()
    await seed(api)

    const answer = await api.call(
      'GET',
      `/api/v1/access?filter=${encodeURIComponent('{"q":"bob"}')}&range=[0,0]`,
      { auth: adminAuth },
    )

    expect(answer.json.total).toBe(2)
    expect(names(answer)).toEqual(['bob reads'])
    expect(answer.headers.get('content-range')).toBe('accesses 0-1/2')
  })

  test('reads owner_id alone as a user’s rules', async () => {
    using api = await createTestApi()
    const bob = await seed(api)

    const filter = encodeURIComponent(JSON.stringify({ owner_id: bob.id }))
    const answer = await api.call('GET', `/api/v1/access?filter=${filter}`, { auth: adminAuth })

    expect(names(answer)).toEqual(['bob reads', 'bob writes'])
  })

  test('sorts by type', async () => {
    using api = await createTestApi()
    await seed(api)

    const answer = await api.call('GET', '/api/v1/access?sort=["type","ASC"]&range=[0,0]', {
      auth: adminAuth,
    })

    expect(answer.status).toBe(200)
    expect(names(answer)).toEqual(['catalog'])
  })

  test('combines ids and exact fields', async () => {
    using api = await createTestApi()
    await seed(api)

    const filter = encodeURIComponent(JSON.stringify({ ids: [1, 2, 4], action: 'pull' }))
    const answer = await api.call('GET', `/api/v1/access?filter=${filter}`, { auth: adminAuth })

    expect(names(answer)).toEqual(['bob reads', 'public'])
  })
})

describe('PUT /api/v1/access/:id', () => {
  test('changes only the fields given', async () => {
    using api = await createTestApi()
    const created = await post(api, rule())

    const answer = await api.call('PUT', `/api/v1/access/${created.json.id}`, {
      auth: adminAuth,
      body: { action: 'push', disabled: true },
    })

    expect(answer.json).toEqual({
      error: false,
      message: '',
      id: created.json.id,
      data: { ...created.json.data, action: 'push', disabled: true },
    })
  })

  test('checks a changed owner and resource', async () => {
    using api = await createTestApi()
    const created = await post(api, rule())
    const put = (body: unknown) =>
      api.call('PUT', `/api/v1/access/${created.json.id}`, { auth: adminAuth, body })

    expect((await put({ owner_id: 77 })).json.message).toBe('user 77 does not exist')
    expect((await put({ type: 'registry' })).json.message).toContain("'catalog'")
    expect((await put({ action: 'all' })).status).toBe(400)
  })

  test('answers 404 for a missing rule', async () => {
    using api = await createTestApi()

    const answer = await api.call('PUT', '/api/v1/access/3', { auth: adminAuth, body: {} })

    expect(answer.status).toBe(404)
  })
})

describe('GET and DELETE /api/v1/access/:id', () => {
  test('reads and deletes one rule', async () => {
    using api = await createTestApi()
    const created = await post(api, rule())
    const path = `/api/v1/access/${created.json.id}`

    const read = await api.call('GET', path, { auth: adminAuth })
    const deleted = await api.call('DELETE', path, { auth: adminAuth })
    const again = await api.call('DELETE', path, { auth: adminAuth })

    expect(read.json).toEqual({ error: false, message: '', id: 1, data: created.json.data })
    expect(deleted.json).toEqual({ error: false, message: 'access deleted', id: 1, data: null })
    expect(again.status).toBe(404)
  })
})
