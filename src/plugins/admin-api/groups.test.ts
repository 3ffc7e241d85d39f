import { describe, expect, test } from 'bun:test'

import { adminAuth, createTestApi } from './test-app.ts'

const defaultGroup = { id: 1, name: 'default', description: 'Default administration group' }

describe('GET /api/v1/groups', () => {
  test('lists groups with the legacy Content-Range', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/groups?range=[0,9]&sort=["name","ASC"]', {
      auth: adminAuth,
    })

    expect(answer.json).toEqual({ total: 1, data: [defaultGroup] })
    expect(answer.headers.get('content-range')).toBe('groups 0-10/1')
  })

  test('searches by name with q', async () => {
    using api = await createTestApi()
    api.store.createGroup({ name: 'developers', description: '' })
    api.store.createGroup({ name: 'ops', description: '' })

    const answer = await api.call(
      'GET',
      `/api/v1/groups?filter=${encodeURIComponent('{"q":"dev"}')}`,
      { auth: adminAuth },
    )

    expect(answer.json.total).toBe(1)
    expect(answer.json.data[0].name).toBe('developers')
  })
})

describe('GET /api/v1/groups/:id', () => {
  test('answers the envelope', async () => {
    using api = await createTestApi()

    const answer = await api.call('GET', '/api/v1/groups/1', { auth: adminAuth })

    expect(answer.json).toEqual({ error: false, message: '', id: 1, data: defaultGroup })
  })

  test('answers 404 for a missing group and 400 for a bad id', async () => {
    using api = await createTestApi()

    expect((await api.call('GET', '/api/v1/groups/5', { auth: adminAuth })).status).toBe(404)
    expect((await api.call('GET', '/api/v1/groups/x', { auth: adminAuth })).status).toBe(400)
  })
})

describe('POST /api/v1/groups', () => {
  test('creates a group', async () => {
    using api = await createTestApi()

    const answer = await api.call('POST', '/api/v1/groups', {
      auth: adminAuth,
      body: { name: "O'Reilly", description: 'quotes are data' },
    })

    expect(answer.json).toEqual({
      error: false,
      message: 'group created',
      id: 2,
      data: { id: 2, name: "O'Reilly", description: 'quotes are data' },
    })
  })

  test('refuses a missing name with 400 and a taken one with 409', async () => {
    using api = await createTestApi()

    const missing = await api.call('POST', '/api/v1/groups', { auth: adminAuth, body: {} })
    const blank = await api.call('POST', '/api/v1/groups', { auth: adminAuth, body: { name: ' ' } })
    const taken = await api.call('POST', '/api/v1/groups', {
      auth: adminAuth,
      body: { name: 'default' },
    })

    expect(missing.status).toBe(400)
    expect(blank.json.message).toBe('name is required')
    expect(taken.status).toBe(409)
  })
})

describe('PUT /api/v1/groups/:id', () => {
  test('changes only the fields given', async () => {
    using api = await createTestApi()
    const group = api.store.createGroup({ name: 'dev', description: 'keep me' })

    const answer = await api.call('PUT', `/api/v1/groups/${group.id}`, {
      auth: adminAuth,
      body: { name: 'developers' },
    })

    expect(answer.json).toEqual({
      error: false,
      message: '',
      id: group.id,
      data: { id: group.id, name: 'developers', description: 'keep me' },
    })
  })

  test('answers 404 for a missing group', async () => {
    using api = await createTestApi()

    const answer = await api.call('PUT', '/api/v1/groups/9', { auth: adminAuth, body: {} })

    expect(answer.status).toBe(404)
  })
})

describe('DELETE /api/v1/groups/:id', () => {
  test('deletes the group and its rules, and its users keep their group number', async () => {
    using api = await createTestApi()
    const group = api.store.createGroup({ name: 'dev', description: '' })
    const bob = await api.addUser('bob', 'bob-password', { group: group.id })
    api.store.createAccessRule({
      ownerId: group.id,
      isGroup: true,
      name: 'dev pull',
      resourceType: 'repository',
      resourceName: 'dev/**',
      action: 'pull',
      disabled: false,
    })

    const answer = await api.call('DELETE', `/api/v1/groups/${group.id}`, { auth: adminAuth })

    expect(answer.json).toEqual({
      error: false,
      message: `group deleted; 1 user(s) still have group number ${group.id}`,
      id: group.id,
      data: null,
    })
    expect(api.store.getGroup(group.id)).toBeNull()
    expect(api.store.getUser(bob.id)?.group).toBe(group.id)
    expect(api.store.listAccessRules({}).total).toBe(0)
  })

  test('says only "group deleted" when no user had the group', async () => {
    using api = await createTestApi()
    const group = api.store.createGroup({ name: 'dev', description: '' })

    const answer = await api.call('DELETE', `/api/v1/groups/${group.id}`, { auth: adminAuth })

    expect(answer.json.message).toBe('group deleted')
  })

  test('refuses to delete the default group', async () => {
    using api = await createTestApi()

    const answer = await api.call('DELETE', '/api/v1/groups/1', { auth: adminAuth })

    expect(answer.status).toBe(409)
    expect(api.store.getGroup(1)).not.toBeNull()
  })

  test('answers 404 for a missing group', async () => {
    using api = await createTestApi()

    expect((await api.call('DELETE', '/api/v1/groups/9', { auth: adminAuth })).status).toBe(404)
  })
})
