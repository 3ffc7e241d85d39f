import 'reflect-metadata'

import { describe, expect, test } from 'bun:test'
import pino from 'pino'

import { createApp } from './app.ts'
import { loadConfig, type Config } from './config.ts'
import { Authenticator } from './core/authenticator.ts'
import { LoginThrottle } from './core/login-throttle.ts'
import { MirrorService } from './core/mirror/index.ts'
import { FakeRegistry, pushImage } from './core/mirror/test-fakes.ts'
import type { RegistryClient } from './core/registry-client/index.ts'
import { openTestStore } from './core/sqlite/test-store.ts'

const SESSION_SECRET = 'a-test-session-secret-that-is-long-enough-0123456789'

/** A config in basic mode against a registry that is never called. */
const basicConfig = (...flags: string[]): Config => {
  const loaded = loadConfig(
    [
      '--registry.host=http://127.0.0.1',
      '--registry.port=9',
      '--registry.auth-type=basic',
      '--registry.login=admin',
      '--registry.password=admin-password',
      '--registry.htpasswd=/nonexistent/htpasswd',
      ...flags,
    ],
    {},
  )
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  return loaded.config
}

/** A logger that keeps every message. */
const recordingLogger = () => {
  const messages: string[] = []
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) },
  )
  return { log, messages }
}

const adminAuth = `Basic ${Buffer.from('admin:admin-password').toString('base64')}`

/** The client calls of the catalog routes and the health check, over the mirror's fake registry. */
const catalogClient = (registry: FakeRegistry) =>
  ({
    listTags: (repository: string) => registry.listTags(repository),
    getManifest: (repository: string, reference: string) =>
      registry.getManifest(repository, reference),
    getBlob: (repository: string, digest: string, options: { maxBytes: number }) =>
      registry.getBlob(repository, digest, options),
    resolveTag: async (repository: string, tag: string) =>
      (await registry.headManifest(repository, tag))?.digest ?? null,
    deleteManifest: async (repository: string, digest: string) => {
      registry.deleteManifest(repository, digest)
      return true
    },
    ping: async () => ({ ok: true, status: 200, apiVersion: 'registry/2.0', error: null }),
  }) as unknown as RegistryClient

describe('createApp', () => {
  test('builds one registry client for the catalog routes, the health check and the mirror', async () => {
    using store = await openTestStore()
    const { log, messages } = recordingLogger()

    createApp({
      config: basicConfig(),
      log,
      store,
      authenticator: new Authenticator({ store, throttle: new LoginThrottle() }),
      signer: null,
      sessionSecret: SESSION_SECRET,
    })

    expect(messages.filter((message) => message === 'registry client ready')).toHaveLength(1)
  })

  test('queues a catalog delete behind the confirmation of the same repository', async () => {
    using store = await openTestStore()
    const registry = new FakeRegistry()
    const image = pushImage(registry, 'ns/app', '1.0')
    const silent = pino({ level: 'silent' })
    const mirror = new MirrorService({ store, registry, log: silent, ownActors: [] })
    const app = createApp({
      config: basicConfig(),
      log: silent,
      store,
      authenticator: new Authenticator({ store, throttle: new LoginThrottle() }),
      signer: null,
      sessionSecret: SESSION_SECRET,
      mirror,
      registry: catalogClient(registry),
    })
    // the confirmation has read the tag but not yet recorded it when the delete comes in
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    const get = registry.getManifest.bind(registry)
    registry.getManifest = async (repository, reference) => {
      const manifest = await get(repository, reference)
      await held
      return manifest
    }
    const event = {
      id: 'push-1',
      action: 'push',
      target: {
        mediaType: image.mediaType,
        repository: 'ns/app',
        tag: '1.0',
        digest: image.digest,
      },
    }
    mirror.acceptEvents([event], { trusted: true })

    let entered: () => void = () => undefined
    const queued = new Promise<void>((resolve) => (entered = resolve))
    const runExclusive = mirror.runExclusive.bind(mirror)
    mirror.runExclusive = (repository, task) => {
      entered()
      return runExclusive(repository, task)
    }

    const deleting = app.handle(
      new Request('http://localhost/api/v1/registry/catalog/tags?name=ns/app&tag=1.0', {
        method: 'DELETE',
        headers: { authorization: adminAuth },
      }),
    )
    // the confirmation goes on once the delete waits for it, or has finished without waiting
    await Promise.race([queued, deleting])
    release()
    const deleted = await deleting
    await mirror.idle()

    expect(deleted.status).toBe(200)
    expect(store.getRepositoryEntry('ns/app', '1.0')).toBeNull()
  })
})

const EVENTS_SECRET = 'events-secret-for-app-tests'

/** The whole app on a free loopback port, with the mirror on the fake registry. */
const listening = async () => {
  const store = await openTestStore()
  const registry = new FakeRegistry()
  const silent = pino({ level: 'silent' })
  const mirror = new MirrorService({
    store,
    registry,
    log: silent,
    ownActors: [],
    pushConfirmDelaysMs: [],
  })
  const app = createApp({
    config: basicConfig(`--registry.events-secret=${EVENTS_SECRET}`),
    log: silent,
    store,
    authenticator: new Authenticator({ store, throttle: new LoginThrottle() }),
    signer: null,
    sessionSecret: SESSION_SECRET,
    mirror,
    registry: catalogClient(registry),
  })
  app.listen({ hostname: '127.0.0.1', port: 0 })
  const port = app.server?.port ?? 0
  // the sync the app starts when it listens
  await mirror.syncDone()

  return {
    store,
    registry,
    mirror,
    port,
    url: `http://127.0.0.1:${port}`,
    [Symbol.asyncDispose]: async () => {
      await app.stop()
      await mirror.idle()
      store.close()
    },
  }
}

const calls = (registry: FakeRegistry, operation: string) =>
  registry.calls.filter(([name]) => name === operation).length

/** Sends one request on a raw socket (for a chunked body) and returns the status code. */
const rawStatus = async (port: number, head: string, body: string): Promise<number> => {
  const { promise, resolve, reject } = Promise.withResolvers<number>()
  let answer = ''
  const socket = await Bun.connect({
    hostname: '127.0.0.1',
    port,
    socket: {
      data(_, data) {
        answer += data.toString()
        const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)
        if (status) {
          resolve(Number(status[1]))
        }
      },
      error: (_, error) => reject(error),
      close: () => reject(new Error(`closed after ${JSON.stringify(answer)}`)),
    },
  })
  socket.write(`${head}\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n${body}`)
  try {
    return await promise
  } finally {
    socket.end()
  }
}

/** A body in chunked transfer coding, in chunks of 64 KiB. */
const chunked = (text: string): string => {
  const chunks: string[] = []
  for (let at = 0; at < text.length; at += 65_536) {
    const part = text.slice(at, at + 65_536)
    chunks.push(`${Buffer.byteLength(part).toString(16)}\r\n${part}\r\n`)
  }
  return `${chunks.join('')}0\r\n\r\n`
}

describe('request bodies on a real listener', () => {
  const pushOf = (digest: string, padding: number) =>
    JSON.stringify({
      events: [
        {
          id: crypto.randomUUID(),
          action: 'push',
          target: {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            repository: 'ns/app',
            tag: '1.0',
            digest,
            references: [{ annotations: { note: 'x'.repeat(padding) } }],
          },
        },
      ],
    })
  const notify = (url: string, body: string) =>
    fetch(`${url}/api/v1/registry/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${EVENTS_SECRET}`, 'content-type': 'application/json' },
      body,
    })

  test('takes a notification over 1 MiB', async () => {
    await using server = await listening()
    const image = pushImage(server.registry, 'ns/app', '1.0')

    const response = await notify(server.url, pushOf(image.digest, 1_200_000))
    await server.mirror.idle()

    expect(response.status).toBe(200)
    expect(server.store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(image.digest)
  })

  test('answers 200 to a notification too large to read, and starts a sync to catch up', async () => {
    await using server = await listening()
    const image = pushImage(server.registry, 'ns/app', '1.0')

    const response = await notify(server.url, pushOf(image.digest, 9 * 1024 * 1024))
    await server.mirror.syncDone()

    // the sync at start, then the one that catches up
    expect([response.status, calls(server.registry, 'listRepositories')]).toEqual([200, 2])
    expect(server.store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(image.digest)
  })

  test('takes a chunked notification', async () => {
    await using server = await listening()
    const image = pushImage(server.registry, 'ns/app', '1.0')
    const body = pushOf(image.digest, 1_500_000)

    const status = await rawStatus(
      server.port,
      `POST /api/v1/registry/events HTTP/1.1\r\nAuthorization: Bearer ${EVENTS_SECRET}\r\nTransfer-Encoding: chunked`,
      chunked(body),
    )
    await server.mirror.idle()

    expect(status).toBe(200)
    expect(server.store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(image.digest)
  })

  test('refuses a body over 1 MiB on every other route, before reading it', async () => {
    await using server = await listening()
    const big = JSON.stringify({ user: 'admin', passwd: 'x'.repeat(2 * 1024 * 1024) })

    const login = await fetch(`${server.url}/auth/local/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: big,
    })
    const user = await fetch(`${server.url}/api/v1/users`, {
      method: 'POST',
      headers: { authorization: adminAuth, 'content-type': 'application/json' },
      body: big,
    })

    expect([login.status, user.status]).toEqual([413, 413])
    expect(login.headers.get('connection')).toBe('close')
    expect(await login.json()).toEqual({
      error: 'the request body is larger than 1048576 bytes, the most this route reads',
    })
  })

  test('asks for a length on every other route instead of reading a chunked body', async () => {
    await using server = await listening()
    const form = chunked(`grant_type=password&username=admin&password=${'x'.repeat(100_000)}`)

    const realm = await rawStatus(
      server.port,
      'POST /api/v1/registry/auth HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked',
      form,
    )
    const login = await rawStatus(
      server.port,
      'POST /auth/local/login HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked',
      chunked('{"user":"admin","passwd":"admin-password"}'),
    )

    expect([realm, login]).toEqual([411, 411])
  })
})
