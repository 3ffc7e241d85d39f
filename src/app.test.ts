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
