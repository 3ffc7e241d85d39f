import { describe, expect, spyOn, test } from 'bun:test'

import { pushImage } from '../../core/mirror/test-fakes.ts'
import { basic, createSyncApp } from './test-app.ts'

const admin = basic('admin', 'admin-password')
const STARTED = { error: false, message: 'sync started', id: 0, data: null }

const answer = async (response: Response) => ({
  status: response.status,
  body: (await response.json()) as Record<string, unknown>,
})

/** Makes the registry's catalog wait until the returned function is called. */
const holdCatalog = (registry: Awaited<ReturnType<typeof createSyncApp>>['registry']) => {
  let release: () => void = () => undefined
  const held = new Promise<void>((resolve) => (release = resolve))
  const list = registry.listRepositories.bind(registry)
  registry.listRepositories = async () => {
    await held
    return list()
  }
  return release
}

describe('POST /api/v1/registry/sync', () => {
  test('starts a sync for an admin and answers 202 at once', async () => {
    using sync = await createSyncApp()
    pushImage(sync.registry, 'ns/app', '1.0')

    const response = await sync.call('POST', '/api/v1/registry/sync', admin)
    await sync.mirror.syncDone()

    expect(await answer(response)).toEqual({ status: 202, body: STARTED })
    expect(sync.store.rows().map((row) => row.tag)).toEqual(['1.0'])
  })

  test('answers 409 while a sync runs', async () => {
    using sync = await createSyncApp()
    const release = holdCatalog(sync.registry)

    const first = await sync.call('POST', '/api/v1/registry/sync', admin)
    const second = await sync.call('POST', '/api/v1/registry/sync', admin)
    release()
    await sync.mirror.syncDone()

    expect(first.status).toBe(202)
    expect(await answer(second)).toEqual({
      status: 409,
      body: {
        error: true,
        code: 'CONFLICT',
        message: 'a repository sync is already running',
        id: 0,
        data: null,
      },
    })
  })

  test.each([
    ['a manager', 'manager', 403],
    ['a user', 'user', 403],
  ] as const)('refuses %s', async (_, role, status) => {
    using sync = await createSyncApp()
    await sync.addUser('someone', role)

    const response = await sync.call(
      'POST',
      '/api/v1/registry/sync',
      basic('someone', 'someone-password'),
    )

    expect(response.status).toBe(status)
  })

  test('refuses an anonymous caller with 401', async () => {
    using sync = await createSyncApp()

    const response = await sync.call('POST', '/api/v1/registry/sync')

    expect(response.status).toBe(401)
  })

  test('starts a sync for an admin session that sends its XSRF token', async () => {
    using sync = await createSyncApp()
    const session = await sync.login('admin', 'admin-password')

    const response = await sync.call('POST', '/api/v1/registry/sync', {
      cookie: session.cookie,
      'x-xsrf-token': session.xsrf,
    })
    await sync.mirror.syncDone()

    expect(response.status).toBe(202)
  })

  test.each([
    ['a form', 'application/x-www-form-urlencoded', 'a=1'],
    ['an empty form', 'application/x-www-form-urlencoded', ''],
    ['a multipart form', 'multipart/form-data; boundary=x', '--x--'],
    ['plain text', 'text/plain', '{}'],
  ])('refuses %s with 415 and starts nothing', async (_, contentType, body) => {
    using sync = await createSyncApp()

    const response = await sync.app.handle(
      new Request('http://localhost/api/v1/registry/sync', {
        method: 'POST',
        headers: { ...admin, 'content-type': contentType },
        body,
      }),
    )

    expect(await answer(response)).toEqual({
      status: 415,
      body: {
        error: true,
        code: 'UNSUPPORTED_MEDIA_TYPE',
        message: `a sync is started with an empty body or a JSON one, not ${contentType.split(';')[0]}`,
        id: 0,
        data: null,
      },
    })
    expect(sync.mirror.syncStatus().running).toBe(false)
  })

  test('accepts a JSON body', async () => {
    using sync = await createSyncApp()

    const response = await sync.app.handle(
      new Request('http://localhost/api/v1/registry/sync', {
        method: 'POST',
        headers: { ...admin, 'content-type': 'application/json' },
        body: '{}',
      }),
    )
    await sync.mirror.syncDone()

    expect(response.status).toBe(202)
  })

  test('answers 503 when no registry is configured', async () => {
    using sync = await createSyncApp({ registry: null })

    const response = await sync.call('POST', '/api/v1/registry/sync', admin)

    expect(response.status).toBe(503)
  })
})

describe('GET /api/v1/registry/sync', () => {
  test('starts a sync for an admin by HTTP Basic', async () => {
    using sync = await createSyncApp()

    const response = await sync.call('GET', '/api/v1/registry/sync', admin)
    await sync.mirror.syncDone()

    expect(await answer(response)).toEqual({ status: 202, body: STARTED })
  })

  test('refuses a session cookie, so that a link cannot start a sync', async () => {
    using sync = await createSyncApp()
    const session = await sync.login('admin', 'admin-password')

    const response = await sync.call('GET', '/api/v1/registry/sync', { cookie: session.cookie })

    expect(response.status).toBe(403)
    expect(sync.mirror.syncStatus().running).toBe(false)
  })
})

describe('HEAD /api/v1/registry/sync', () => {
  test('starts nothing, in process or on a real listener', async () => {
    using sync = await createSyncApp()
    sync.app.listen({ hostname: '127.0.0.1', port: 0 })
    await sync.mirror.syncDone()
    const catalogReads = () => sync.registry.calls.filter(([call]) => call === 'listRepositories')
    const before = catalogReads().length

    const inProcess = await sync.call('HEAD', '/api/v1/registry/sync', admin)
    const listened = await fetch(`http://127.0.0.1:${sync.app.server?.port}/api/v1/registry/sync`, {
      method: 'HEAD',
      headers: admin,
    })
    const running = sync.mirror.syncStatus().running
    await sync.app.stop()

    expect([inProcess.status, listened.status, listened.headers.get('allow')]).toEqual([
      405,
      405,
      'GET, POST',
    ])
    expect([running, catalogReads().length - before]).toEqual([false, 0])
  })
})

describe('GET /api/v1/registry/sync/status', () => {
  test('shows no sync before the first one', async () => {
    using sync = await createSyncApp()

    const response = await sync.call('GET', '/api/v1/registry/sync/status', admin)

    expect(await answer(response)).toEqual({
      status: 200,
      body: { error: false, message: '', id: 0, data: { running: false, sync: null } },
    })
  })

  test('shows the running sync to a manager, then the finished one', async () => {
    using sync = await createSyncApp()
    await sync.addUser('boss', 'manager')
    pushImage(sync.registry, 'ns/app', '1.0')
    const release = holdCatalog(sync.registry)
    const manager = basic('boss', 'boss-password')

    await sync.call('POST', '/api/v1/registry/sync', admin)
    const during = await answer(await sync.call('GET', '/api/v1/registry/sync/status', manager))
    release()
    await sync.mirror.syncDone()
    const after = await answer(await sync.call('GET', '/api/v1/registry/sync/status', manager))

    expect(during.body.data).toEqual({
      running: true,
      sync: expect.objectContaining({ finishedAt: null, added: 0 }),
    })
    expect(after.body.data).toEqual({
      running: false,
      sync: {
        startedAt: expect.any(String),
        finishedAt: expect.any(String),
        catalogComplete: true,
        repositories: 1,
        repositoriesChecked: 1,
        repositoriesFailed: 0,
        tags: 1,
        added: 1,
        changed: 0,
        removed: 0,
        errorCount: 0,
        errors: [],
        dryRun: false,
      },
    })
  })

  test('refuses a user', async () => {
    using sync = await createSyncApp()
    await sync.addUser('someone', 'user')

    const response = await sync.call(
      'GET',
      '/api/v1/registry/sync/status',
      basic('someone', 'someone-password'),
    )

    expect(response.status).toBe(403)
  })
})

describe('gcCronPlugin schedule', () => {
  test('syncs when the server starts listening and clears its timer when it stops', async () => {
    using sync = await createSyncApp()
    pushImage(sync.registry, 'ns/app', '1.0')
    const clearTimer = spyOn(globalThis, 'clearInterval')

    sync.app.listen({ hostname: '127.0.0.1', port: 0 })
    const running = sync.mirror.syncStatus().running
    await sync.mirror.syncDone()
    await sync.app.stop()
    const cleared = clearTimer.mock.calls.length
    clearTimer.mockRestore()

    expect([running, cleared, sync.store.rows().map((row) => row.tag)]).toEqual([true, 1, ['1.0']])
  })
})
