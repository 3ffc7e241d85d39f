import { describe, expect, test } from 'bun:test'

import type { LooseJson } from '../../../test/helpers.ts'
import { Elysia } from 'elysia'
import pino from 'pino'

import { loadConfig } from '../../config.ts'
import { Authenticator } from '../../core/authenticator.ts'
import { LoginThrottle } from '../../core/login-throttle.ts'
import {
  RegistryError,
  RegistryUnavailableError,
  type PingResult,
} from '../../core/registry-client/index.ts'
import { fastHash, openTestStore } from '../../core/sqlite/test-store.ts'
import { handleError } from '../../http-errors.ts'
import { checkHealth, type HealthRegistry, type MirrorHealth, type SyncReport } from './health.ts'
import { adminApiPlugin } from './index.ts'

const silent = pino({ level: 'silent' })

const OK: PingResult = { ok: true, status: 200, apiVersion: 'registry/2.0', error: null }

const SYNC: SyncReport & Record<string, unknown> = {
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: '2026-01-01T00:00:02.000Z',
  catalogComplete: true,
  repositories: 2,
  repositoriesChecked: 2,
  repositoriesFailed: 0,
  tags: 3,
  added: 3,
  changed: 0,
  removed: 0,
  errorCount: 0,
  errors: [],
  dryRun: false,
}

const pinging = (answer: PingResult | Error): HealthRegistry => ({
  ping: () => (answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer)),
})

const mirrorOf = (lastEventAt: number | null, sync: SyncReport | null, running = false) =>
  ({ lastEventAt, syncStatus: () => ({ running, sync }) }) satisfies MirrorHealth

describe('checkHealth', () => {
  test('is healthy when the registry accepts this server and the last sync read everything', async () => {
    const at = Date.UTC(2026, 0, 1, 12)

    const report = await checkHealth({ registry: pinging(OK), mirror: mirrorOf(at, SYNC) })

    expect(report).toEqual({
      healthy: true,
      registry: { configured: true, reachable: true, acceptsTokens: true, status: 200 },
      lastNotificationAt: '2026-01-01T12:00:00.000Z',
      lastSync: { ...SYNC, running: false },
      reasons: [],
      warnings: [],
    })
  })

  test('a registry that cannot be reached is unhealthy', async () => {
    const refused = new RegistryUnavailableError('connection refused', {
      kind: 'unreachable',
      operation: 'ping',
      code: 'UNREACHABLE',
    })

    const report = await checkHealth({ registry: pinging(refused) })

    expect(report).toEqual({
      healthy: false,
      registry: {
        configured: true,
        reachable: false,
        acceptsTokens: false,
        error: 'the registry cannot be reached: connection refused',
      },
      lastNotificationAt: null,
      lastSync: null,
      reasons: ['the registry cannot be reached: connection refused'],
      warnings: [],
    })
  })

  test("a registry that refuses this server's token is unhealthy and says why", async () => {
    const error = new RegistryError('unauthorized', {
      kind: 'registry',
      operation: 'ping',
      status: 401,
      code: 'UNAUTHORIZED',
    })

    const report = await checkHealth({
      registry: pinging({ ok: false, status: 401, apiVersion: 'registry/2.0', error }),
    })

    expect(report.healthy).toBe(false)
    expect(report.registry).toEqual({
      configured: true,
      reachable: true,
      acceptsTokens: false,
      status: 401,
      error:
        "the registry refuses this server's credentials (HTTP 401); check that it trusts this server's tokens (auth.token settings) or, in basic mode, registry.login and registry.password",
    })
  })

  test('a registry error answer is reachable but unhealthy', async () => {
    const report = await checkHealth({
      registry: pinging({ ok: false, status: 503, apiVersion: null, error: null }),
    })

    expect([report.healthy, report.registry.reachable, report.reasons]).toEqual([
      false,
      true,
      ['the registry answered HTTP 503'],
    ])
  })

  test('a last sync that could not read the catalog is unhealthy; a running one is reported', async () => {
    const failed = { ...SYNC, catalogComplete: false, errorCount: 1 }
    const running = { ...SYNC, finishedAt: null, catalogComplete: false }

    const bad = await checkHealth({ registry: pinging(OK), mirror: mirrorOf(null, failed) })
    const busy = await checkHealth({ registry: pinging(OK), mirror: mirrorOf(null, running, true) })

    expect([bad.healthy, bad.reasons]).toEqual([
      false,
      ['the last sync could not read the whole registry catalog'],
    ])
    expect([busy.healthy, busy.lastSync?.running]).toEqual([true, true])
  })

  test('a last sync that failed on some repositories warns, and on more than half is unhealthy', async () => {
    const errors = [
      { repository: 'ns/a', message: 'internal error' },
      { repository: 'ns/b', tag: '1.0', message: 'timed out' },
    ]
    const some = { ...SYNC, repositoriesChecked: 4, repositoriesFailed: 2, errorCount: 2, errors }
    const most = { ...some, repositoriesFailed: 3, errorCount: 3 }

    const warned = await checkHealth({ registry: pinging(OK), mirror: mirrorOf(null, some) })
    const failed = await checkHealth({ registry: pinging(OK), mirror: mirrorOf(null, most) })

    expect([warned.healthy, warned.reasons, warned.warnings]).toEqual([
      true,
      [],
      ['the last sync could not read 2 of 4 repositories (2 errors; first: ns/a: internal error)'],
    ])
    expect([failed.healthy, failed.reasons, failed.warnings]).toEqual([
      false,
      ['the last sync could not read 3 of 4 repositories (3 errors; first: ns/a: internal error)'],
      [],
    ])
  })

  test('a last sync from an older version with errors only warns', async () => {
    const old = {
      startedAt: SYNC.startedAt,
      finishedAt: SYNC.finishedAt,
      catalogComplete: true,
      errorCount: 1,
      errors: [{ repository: 'ns/a', tag: '1.0', message: 'timed out' }],
    }

    const report = await checkHealth({ registry: pinging(OK), mirror: mirrorOf(null, old) })

    expect([report.healthy, report.warnings]).toEqual([
      true,
      ['the last sync could not read everything (1 errors; first: ns/a:1.0: timed out)'],
    ])
  })

  test('an htpasswd file that could not be written is unhealthy until a write succeeds', async () => {
    const htpasswd = { writeError: 'EROFS: read-only file system' as string | null }

    const failing = await checkHealth({ registry: pinging(OK), htpasswd })
    htpasswd.writeError = null
    const written = await checkHealth({ registry: pinging(OK), htpasswd })

    expect([failing.healthy, failing.reasons, written.healthy]).toEqual([
      false,
      ['the htpasswd file could not be written: EROFS: read-only file system'],
      true,
    ])
  })

  test('without a registry configured it is unhealthy', async () => {
    const report = await checkHealth({ registry: null })

    expect([report.healthy, report.reasons]).toEqual([
      false,
      ['no registry is configured: set registry.host'],
    ])
  })
})

describe('GET /api/v1/registry/health', () => {
  const createApp = async (registry: HealthRegistry | null, mirror?: MirrorHealth) => {
    const loaded = loadConfig([], {})
    if (loaded.kind !== 'config') {
      throw new Error('unexpected help output')
    }
    const store = await openTestStore()
    store.createUser({
      login: 'ann',
      name: 'ann',
      passwordHash: await fastHash('ann-password'),
      role: 'user',
      group: 1,
      disabled: false,
      description: '',
    })
    const app = new Elysia()
      .onError((context) => handleError(silent, context))
      .use(
        adminApiPlugin({
          store,
          log: silent,
          config: loaded.config,
          authenticator: new Authenticator({ store, throttle: new LoginThrottle() }),
          sessionSecret: 'a-test-session-secret-that-is-long-enough-0123456789',
          registry: registry === null ? null : { ...registry, ...noCatalog },
          mirror,
        }),
      )
    const call = async (auth?: string) => {
      const headers: Record<string, string> = auth ? { authorization: auth } : {}
      const response = await app.handle(
        new Request('http://localhost/api/v1/registry/health', { headers }),
      )
      return { status: response.status, json: (await response.json()) as LooseJson }
    }
    return { call, [Symbol.dispose]: () => store.close() }
  }
  const noCatalog = {
    listTags: () => Promise.reject(new Error('not used')),
    resolveTag: () => Promise.reject(new Error('not used')),
    getManifest: () => Promise.reject(new Error('not used')),
    getBlob: () => Promise.reject(new Error('not used')),
    deleteManifest: () => Promise.reject(new Error('not used')),
  }
  const ann = `Basic ${Buffer.from('ann:ann-password').toString('base64')}`

  test('answers 200 with the report to any authenticated user when healthy', async () => {
    using app = await createApp(pinging(OK), mirrorOf(null, SYNC))

    const answer = await app.call(ann)

    expect(answer).toEqual({
      status: 200,
      json: {
        error: false,
        message: 'ok',
        healthy: true,
        registry: { configured: true, reachable: true, acceptsTokens: true, status: 200 },
        lastNotificationAt: null,
        lastSync: { ...SYNC, running: false },
        reasons: [],
        warnings: [],
      },
    })
  })

  test('answers 503 with the reason when unhealthy', async () => {
    using app = await createApp(null)

    const answer = await app.call(ann)

    expect([answer.status, answer.json.error, answer.json.healthy, answer.json.message]).toEqual([
      503,
      true,
      false,
      'no registry is configured: set registry.host',
    ])
  })

  test('needs authentication', async () => {
    using app = await createApp(pinging(OK))

    const answer = await app.call()

    expect(answer.status).toBe(401)
  })
})
