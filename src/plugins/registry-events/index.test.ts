import { describe, expect, test } from 'bun:test'

import { pushImage } from '../../core/mirror/test-fakes.ts'
import { MAX_EVENTS_BODY_BYTES } from './index.ts'
import { createEventsApp, EVENTS_SECRET } from './test-app.ts'

const V1 = 'application/vnd.docker.distribution.events.v1+json'
const V2 = 'application/vnd.docker.distribution.events.v2+json'
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OK = { error: false, message: 'ok', id: 0, data: null }
const bearer = { authorization: `Bearer ${EVENTS_SECRET}`, 'content-type': V1 }
const basic = (login: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`,
  'content-type': V1,
})

let counter = 0
const envelope = (...events: object[]) => JSON.stringify({ events }, null, 3)
const pushEvent = (repository: string, tag: string, digest: string) => ({
  id: `e-${++counter}`,
  action: 'push',
  target: { mediaType: MANIFEST, repository, tag, digest },
  request: { method: 'PUT' },
  actor: { name: 'alice' },
})
const pullEvent = (repository: string, tag: string, digest: string) => ({
  id: `e-${++counter}`,
  action: 'pull',
  target: { mediaType: MANIFEST, repository, tag, digest },
  request: { method: 'GET' },
  actor: { name: 'bob' },
})

const answer = async (response: Response) => ({
  status: response.status,
  body: (await response.json()) as unknown,
})

describe('POST /api/v1/registry/events', () => {
  test('accepts the notification secret and confirms the push with the registry', async () => {
    using events = await createEventsApp()
    const image = pushImage(events.registry, 'ns/app', '1.0')

    const response = await events.post(envelope(pushEvent('ns/app', '1.0', image.digest)), bearer)
    await events.mirror.idle()

    expect(await answer(response)).toEqual({ status: 200, body: OK })
    expect(events.store.rows().map((row) => [row.tag, row.digest])).toEqual([['1.0', image.digest]])
  })

  test.each([
    ['a wrong secret', { authorization: 'Bearer not-the-secret' }],
    ['a secret with a different length', { authorization: `Bearer ${EVENTS_SECRET}x` }],
    ['no credentials', {}],
    ['a wrong Basic password', basic('admin', 'wrong')],
    ['malformed Basic credentials', { authorization: 'Basic !!!' }],
    ['another scheme', { authorization: `Token ${EVENTS_SECRET}` }],
  ])('refuses %s with 401', async (_, headers) => {
    using events = await createEventsApp()

    const response = await events.post(envelope(), headers)

    expect(response.status).toBe(401)
    expect(events.mirror.lastEventAt).toBeNull()
  })

  test('refuses a disabled user with 401', async () => {
    using events = await createEventsApp()
    await events.addUser('gone', 'gone-password', { disabled: true })

    const response = await events.post(envelope(), basic('gone', 'gone-password'))

    expect(response.status).toBe(401)
  })

  test('accepts an enabled user by Basic but does not take pull counts from them', async () => {
    using events = await createEventsApp()
    await events.addUser('ci', 'ci-password')
    const image = pushImage(events.registry, 'ns/app', '1.0')

    const pushed = await events.post(
      envelope(pushEvent('ns/app', '1.0', image.digest)),
      basic('ci', 'ci-password'),
    )
    const pulled = await events.post(
      envelope(pullEvent('ns/app', '1.0', image.digest)),
      basic('ci', 'ci-password'),
    )
    await events.mirror.idle()

    expect([pushed.status, pulled.status]).toEqual([200, 200])
    expect(events.store.getRepositoryEntry('ns/app', '1.0')?.pullCount).toBe(0)
  })

  test("takes a push time from an admin's event but not from a user's", async () => {
    using events = await createEventsApp()
    await events.addUser('ci', 'ci-password')
    const a = pushImage(events.registry, 'ns/app', '1.0')
    const b = pushImage(events.registry, 'ns/app', '2.0')
    const old = '2020-01-01T00:00:00Z'
    const before = Math.floor(Date.now() / 1000)

    await events.post(
      envelope({ ...pushEvent('ns/app', '1.0', a.digest), timestamp: old }),
      basic('admin', 'admin-password'),
    )
    await events.post(
      envelope({ ...pushEvent('ns/app', '2.0', b.digest), timestamp: old }),
      basic('ci', 'ci-password'),
    )
    await events.mirror.idle()

    expect(events.store.getRepositoryEntry('ns/app', '1.0')?.pushedAt).toBe(Date.parse(old) / 1000)
    expect(events.store.getRepositoryEntry('ns/app', '2.0')?.pushedAt).toBeGreaterThanOrEqual(
      before,
    )
  })

  test('takes pull counts from an admin by Basic', async () => {
    using events = await createEventsApp()
    const image = pushImage(events.registry, 'ns/app', '1.0')
    const admin = basic('admin', 'admin-password')

    await events.post(envelope(pushEvent('ns/app', '1.0', image.digest)), admin)
    await events.post(envelope(pullEvent('ns/app', '1.0', image.digest)), admin)
    await events.mirror.idle()

    expect(events.store.getRepositoryEntry('ns/app', '1.0')?.pullCount).toBe(1)
  })

  test.each([
    ['registry 2.x', V1],
    ['registry 3.x', V2],
    ['plain JSON', 'application/json'],
    ['no content type', undefined],
    ['text/plain', 'text/plain'],
  ])('reads the body sent as %s', async (_, contentType) => {
    using events = await createEventsApp()
    const image = pushImage(events.registry, 'ns/app', '1.0')
    const headers: Record<string, string> = { authorization: `Bearer ${EVENTS_SECRET}` }
    if (contentType !== undefined) {
      headers['content-type'] = contentType
    }

    const response = await events.post(envelope(pushEvent('ns/app', '1.0', image.digest)), headers)
    await events.mirror.idle()

    expect(response.status).toBe(200)
    expect(events.store.rows().map((row) => row.tag)).toEqual(['1.0'])
  })

  test('handles every event of an envelope', async () => {
    using events = await createEventsApp()
    const a = pushImage(events.registry, 'ns/a', '1.0')
    const b = pushImage(events.registry, 'ns/b', '2.0')

    await events.post(
      envelope(pushEvent('ns/a', '1.0', a.digest), pushEvent('ns/b', '2.0', b.digest)),
      bearer,
    )
    await events.mirror.idle()

    expect(events.store.rows().map((row) => `${row.repositoryName}:${row.tag}`)).toEqual([
      'ns/a:1.0',
      'ns/b:2.0',
    ])
  })

  test.each([
    [
      'a blob push',
      {
        action: 'push',
        target: {
          mediaType: 'application/octet-stream',
          repository: 'ns/app',
          digest: `sha256:${'a'.repeat(64)}`,
        },
      },
    ],
    ['a mount', { action: 'mount', target: { repository: 'ns/app', fromRepository: 'ns/other' } }],
    ['an unknown action', { action: 'scan', target: { repository: 'ns/app' } }],
    ['an event without fields', {}],
    ['an entry that is no object', 'text'],
  ])('answers 200 for %s', async (_, event) => {
    using events = await createEventsApp()

    const response = await events.post(JSON.stringify({ events: [event] }), bearer)

    expect(await answer(response)).toEqual({ status: 200, body: OK })
  })

  test.each([
    ['a body that is not JSON', '{"events": [', 'the notification body is not JSON'],
    ['an empty body', undefined, 'the notification body is not JSON'],
    [
      'JSON that is no envelope',
      '{"event": {}}',
      'the notification body is not an envelope {"events": [...]}',
    ],
  ])('answers 400 for %s', async (_, body, message) => {
    using events = await createEventsApp()

    const response = await events.post(body, bearer)

    expect(await answer(response)).toEqual({
      status: 400,
      body: { error: true, code: 'VALIDATION', message, id: 0, data: null },
    })
  })

  test('answers 200 to a body over the size limit, reads none of it, and asks for a sync', async () => {
    using events = await createEventsApp()
    const image = pushImage(events.registry, 'ns/app', '1.0')
    const huge = envelope({
      ...pushEvent('ns/app', '1.0', image.digest),
      pad: 'x'.repeat(MAX_EVENTS_BODY_BYTES),
    })

    const response = await events.post(huge, bearer)
    await events.mirror.syncDone()

    expect(await answer(response)).toEqual({ status: 200, body: OK })
    expect(events.registry.calls.map(([call]) => call)).toEqual([
      'listRepositories',
      'listTags',
      'getManifest',
      'getBlob',
    ])
  })

  test('refuses a body over the size limit from a sender it does not know, unread', async () => {
    using events = await createEventsApp()

    const response = await events.post('x'.repeat(MAX_EVENTS_BODY_BYTES + 1), {})

    expect([response.status, events.registry.calls]).toEqual([401, []])
  })

  test('remembers when the last notification arrived', async () => {
    using events = await createEventsApp()

    await events.post(envelope(), bearer)

    expect(events.mirror.lastEventAt).toBeNumber()
  })
})
