import { describe, expect, test } from 'bun:test'

import { Elysia } from 'elysia'
import pino from 'pino'

import { loadConfig } from '../../config.ts'
import { Authenticator } from '../../core/authenticator.ts'
import { LoginThrottle } from '../../core/login-throttle.ts'
import { CreatedTimes } from '../../core/mirror/entry.ts'
import { refreshTag } from '../../core/mirror/sync.ts'
import { FakeRegistry, pushImage, pushIndex } from '../../core/mirror/test-fakes.ts'
import { RegistryError, type PingResult } from '../../core/registry-client/index.ts'
import { fastHash, openTestStore } from '../../core/sqlite/test-store.ts'
import {
  ANONYMOUS_OWNER_ID,
  REGISTERED_OWNER_ID,
  type NewAccessRule,
  type Store,
  type User,
} from '../../core/store.ts'
import { handleError } from '../../http-errors.ts'
import type { CatalogRegistry, RepositoryLock } from './catalog.ts'
import { adminApiPlugin } from './index.ts'

const silent = pino({ level: 'silent' })
const PUSHED_AT = 1_750_000_000

const basic = (login: string, password: string): string =>
  `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`
const admin = basic('admin', 'admin-password')

/**
 * The client calls the catalog makes, over the fake registry of the mirror's tests: tags
 * resolved by HEAD, deletes that answer like registry 2.8, and a switch for deletion.
 */
class CatalogFake implements CatalogRegistry {
  deleteEnabled = true
  readonly deleted: string[] = []

  constructor(readonly registry: FakeRegistry) {}

  listTags = (repository: string) => this.registry.listTags(repository)
  getManifest = (repository: string, reference: string) =>
    this.registry.getManifest(repository, reference)
  getBlob = (repository: string, digest: string, options: { maxBytes: number }) =>
    this.registry.getBlob(repository, digest, options)

  async resolveTag(repository: string, tag: string): Promise<string | null> {
    return (await this.registry.headManifest(repository, tag))?.digest ?? null
  }

  async deleteManifest(repository: string, digest: string): Promise<boolean> {
    if (!this.deleteEnabled) {
      throw new RegistryError('deletion is disabled in the registry', {
        kind: 'registry',
        operation: 'deleteManifest',
        status: 405,
        code: 'UNSUPPORTED',
      })
    }
    const had = (await this.registry.headManifest(repository, digest)) !== null
    this.registry.deleteManifest(repository, digest)
    if (had) {
      this.deleted.push(`${repository}@${digest}`)
    }
    return had
  }

  async ping(): Promise<PingResult> {
    return { ok: true, status: 200, apiVersion: 'registry/2.0', error: null }
  }
}

interface Answer {
  status: number
  headers: Headers
  json: any
}

interface CatalogApi extends Disposable {
  store: Store
  registry: FakeRegistry
  client: CatalogFake
  call(method: string, path: string, auth?: string): Promise<Answer>
  addUser(login: string, extra?: Partial<User>): Promise<{ user: User; auth: string }>
  addRule(rule: Partial<NewAccessRule> & Pick<NewAccessRule, 'ownerId' | 'resourceName'>): void
  /** Records what the registry serves for a tag in the mirror, as a sync would. */
  mirror(repository: string, tag: string): Promise<void>
}

const createCatalogApi = async (
  options: { registry?: 'none'; lock?: RepositoryLock } = {},
): Promise<CatalogApi> => {
  const loaded = loadConfig([], {})
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  const store = await openTestStore()
  const registry = new FakeRegistry()
  const client = new CatalogFake(registry)
  const authenticator = new Authenticator({ store, throttle: new LoginThrottle() })
  const app = new Elysia()
    .onError((context) => handleError(silent, context))
    .use(
      adminApiPlugin({
        store,
        log: silent,
        config: loaded.config,
        authenticator,
        sessionSecret: 'a-test-session-secret-that-is-long-enough-0123456789',
        registry: options.registry === 'none' ? null : client,
        repositoryLock: options.lock,
      }),
    )
  const createdTimes = new CreatedTimes()

  return {
    store,
    registry,
    client,
    call: async (method, path, auth) => {
      const headers: Record<string, string> = auth ? { authorization: auth } : {}
      const response = await app.handle(new Request(`http://localhost${path}`, { method, headers }))
      const text = await response.text()
      return { status: response.status, headers: response.headers, json: JSON.parse(text) }
    },
    addUser: async (login, extra = {}) => {
      const user = store.createUser({
        login,
        name: login,
        passwordHash: await fastHash(`${login}-password`),
        role: 'user',
        group: 1,
        disabled: false,
        description: '',
        ...extra,
      })
      return { user, auth: basic(login, `${login}-password`) }
    },
    addRule: (rule) => {
      store.createAccessRule({
        isGroup: false,
        name: `${rule.resourceName} rule`,
        resourceType: 'repository',
        action: 'pull',
        disabled: false,
        ...rule,
      })
    },
    mirror: async (repository, tag) => {
      await refreshTag({ store, client: registry, createdTimes }, repository, tag, PUSHED_AT)
    },
    [Symbol.dispose]: () => store.close(),
  }
}

const q = (params: Record<string, unknown>): string =>
  new URLSearchParams(
    Object.entries(params).map(([key, value]): [string, string] => [
      key,
      typeof value === 'string' ? value : JSON.stringify(value),
    ]),
  ).toString()

describe('GET /api/v1/registry/catalog', () => {
  test('groups per repository by default and counts a shared layer once', async () => {
    using api = await createCatalogApi()
    const one = pushImage(api.registry, 'ns/app', '1.0', { layers: ['base layer', 'one'] })
    const two = pushImage(api.registry, 'ns/app', '2.0', {
      layers: ['base layer', 'two'],
      created: '2024-06-01T00:00:00Z',
    })
    pushImage(api.registry, 'zz/tool', 'latest')
    for (const [repository, tag] of [
      ['ns/app', '1.0'],
      ['ns/app', '2.0'],
      ['zz/tool', 'latest'],
    ] as const) {
      await api.mirror(repository, tag)
    }
    const blobs = new Map(
      [one.config, two.config, ...one.layers, ...two.layers].map((b) => [b.digest, b.size]),
    )
    const distinct = [...blobs.values()].reduce((sum, size) => sum + size, 0)

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog?${q({ sort: ['repository_name', 'ASC'], range: [0, 24] })}`,
      admin,
    )

    expect(answer.status).toBe(200)
    expect(answer.headers.get('content-range')).toBe('registry/catalog 0-25/2')
    expect(answer.json.total).toBe(2)
    expect(answer.json.data[0]).toEqual({
      id: expect.any(Number),
      repository_name: 'ns/app',
      tag: '',
      digest: '',
      config_digest: '',
      size: distinct,
      pull_counter: 0,
      timestamp: PUSHED_AT,
      raw: '',
      media_type: '',
      platforms: [],
      created_at: null,
      tag_count: 2,
    })
    expect(distinct).toBeLessThan(one.size + two.size)
    expect(answer.json.data[1].repository_name).toBe('zz/tool')
  })

  test('group_by=none lists one row per tag with the legacy fields and raw as a string', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')

    const answer = await api.call('GET', `/api/v1/registry/catalog?group_by=none`, admin)

    const raw = api.store.getRepositoryEntry('ns/app', '1.0')?.raw
    expect(answer.json).toEqual({
      total: 1,
      data: [
        {
          id: expect.any(Number),
          repository_name: 'ns/app',
          tag: '1.0',
          digest: image.digest,
          config_digest: image.config.digest,
          size: image.size,
          pull_counter: 0,
          timestamp: PUSHED_AT,
          raw,
          media_type: image.mediaType,
          platforms: [],
          created_at: image.createdAt,
        },
      ],
    })
    expect(typeof raw).toBe('string')
    expect(answer.headers.get('content-range')).toBe('registry/catalog 0-1/1')
  })

  test('an index row lists its platforms', async () => {
    using api = await createCatalogApi()
    const amd = pushImage(api.registry, 'ns/multi', undefined, { architecture: 'amd64' })
    const arm = pushImage(api.registry, 'ns/multi', undefined, { architecture: 'arm64' })
    const index = pushIndex(api.registry, 'ns/multi', '1.0', [
      { digest: amd.digest, size: amd.manifestSize, architecture: 'amd64' },
      { digest: arm.digest, size: arm.manifestSize, architecture: 'arm64', variant: 'v8' },
    ])
    await api.mirror('ns/multi', '1.0')

    const answer = await api.call('GET', `/api/v1/registry/catalog?group_by=none`, admin)

    const row = answer.json.data[0]
    expect([row.digest, row.config_digest, row.platforms]).toEqual([
      index,
      '',
      [
        { os: 'linux', architecture: 'amd64', digest: amd.digest, size: amd.size },
        { os: 'linux', architecture: 'arm64', variant: 'v8', digest: arm.digest, size: arm.size },
      ],
    ])
  })

  test('a user sees exactly the repositories its enabled rules let it pull, each once', async () => {
    using api = await createCatalogApi()
    const group = api.store.createGroup({ name: 'team', description: '' })
    const { user, auth } = await api.addUser('ann', { group: group.id })
    const { user: other } = await api.addUser('other')
    const names = ['mine/app', 'team/x/y', 'shared/app', 'public/lib', 'secret/app', 'other/app']
    for (const name of names) {
      pushImage(api.registry, name, '1.0')
      await api.mirror(name, '1.0')
    }
    pushImage(api.registry, 'mine/app', '2.0', { layers: ['second'] })
    await api.mirror('mine/app', '2.0')
    api.addRule({ ownerId: user.id, resourceName: 'mine/app', action: 'pull' })
    api.addRule({ ownerId: user.id, resourceName: 'mine/app', action: 'push' })
    api.addRule({ ownerId: user.id, resourceName: 'mine/*', action: 'delete' })
    api.addRule({ ownerId: group.id, isGroup: true, resourceName: 'team/**', action: 'push' })
    api.addRule({ ownerId: REGISTERED_OWNER_ID, resourceName: 'shared/app' })
    api.addRule({ ownerId: ANONYMOUS_OWNER_ID, resourceName: 'public/*' })
    api.addRule({ ownerId: user.id, resourceName: 'secret/app', disabled: true })
    api.addRule({ ownerId: other.id, resourceName: 'other/app' })

    const grouped = await api.call(
      'GET',
      `/api/v1/registry/catalog?${q({ sort: ['repository_name', 'ASC'] })}`,
      auth,
    )
    const tags = await api.call('GET', '/api/v1/registry/catalog?group_by=none', auth)

    expect(grouped.json.total).toBe(4)
    expect(
      grouped.json.data.map((row: any) => [row.repository_name, row.tag_count, row.size]),
    ).toEqual([
      ['mine/app', 2, expect.any(Number)],
      ['public/lib', 1, expect.any(Number)],
      ['shared/app', 1, expect.any(Number)],
      ['team/x/y', 1, expect.any(Number)],
    ])
    const mineTags = api.store.listRepositoryEntries('mine/app')
    const mineBlobs = new Map(mineTags.flatMap((e) => e.blobs).map((b) => [b.digest, b.size]))
    expect(grouped.json.data[0].size).toBe([...mineBlobs.values()].reduce((a, b) => a + b, 0))
    expect(tags.json.total).toBe(5)
    expect(tags.json.data.map((row: any) => `${row.repository_name}:${row.tag}`).sort()).toEqual([
      'mine/app:1.0',
      'mine/app:2.0',
      'public/lib:1.0',
      'shared/app:1.0',
      'team/x/y:1.0',
    ])
  })

  test('filters narrow what a user sees and never widen it', async () => {
    using api = await createCatalogApi()
    const { user, auth } = await api.addUser('ann')
    for (const name of ['mine/app', 'secret/app']) {
      pushImage(api.registry, name, '1.0')
      await api.mirror(name, '1.0')
    }
    api.addRule({ ownerId: user.id, resourceName: 'mine/app' })
    const secretId = api.store.getRepositoryEntry('secret/app', '1.0')?.id

    const byName = await api.call(
      'GET',
      `/api/v1/registry/catalog?${q({ filter: { repository_name: 'secret/app' } })}`,
      auth,
    )
    const byIds = await api.call(
      'GET',
      `/api/v1/registry/catalog?${q({ group_by: 'none', filter: { ids: [secretId] } })}`,
      auth,
    )
    const bySearch = await api.call(
      'GET',
      `/api/v1/registry/catalog?${q({ filter: { q: 'app' } })}`,
      auth,
    )

    expect([byName.json, byIds.json]).toEqual([
      { total: 0, data: [] },
      { total: 0, data: [] },
    ])
    expect(bySearch.json.data.map((row: any) => row.repository_name)).toEqual(['mine/app'])
  })

  test('a manager sees every repository, and nobody unauthenticated sees any', async () => {
    using api = await createCatalogApi()
    const { auth } = await api.addUser('boss', { role: 'manager' })
    for (const name of ['a/one', 'b/two']) {
      pushImage(api.registry, name, '1.0')
      await api.mirror(name, '1.0')
    }

    const manager = await api.call('GET', '/api/v1/registry/catalog', auth)
    const anonymous = await api.call('GET', '/api/v1/registry/catalog')

    expect(manager.json.total).toBe(2)
    expect(anonymous.status).toBe(401)
  })

  test('a bad list parameter is a 400 in the envelope', async () => {
    using api = await createCatalogApi()

    const answer = await api.call('GET', '/api/v1/registry/catalog?sort=nope', admin)

    expect(answer.status).toBe(400)
    expect(answer.json.error).toBe(true)
  })
})

describe('GET /api/v1/registry/catalog/blobs', () => {
  test('returns the config of an image base64-encoded in the legacy envelope', async () => {
    using api = await createCatalogApi()
    const { user, auth } = await api.addUser('ann')
    api.addRule({ ownerId: user.id, resourceName: 'ns/app' })
    const image = pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: image.config.digest })}`,
      auth,
    )

    expect(answer.status).toBe(200)
    expect(answer.json).toEqual({
      error: false,
      message: 'ok',
      id: 0,
      data: { id: 0, value: expect.any(String) },
    })
    const config = JSON.parse(Buffer.from(answer.json.data.value, 'base64').toString())
    expect(config.architecture).toBe('amd64')
  })

  test('refuses a layer digest: only configs are served', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')
    const layer = image.layers[0]?.digest as string
    api.registry.calls.length = 0

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: layer })}`,
      admin,
    )

    expect([answer.status, answer.json.code, answer.json.message]).toEqual([
      404,
      'NOT_FOUND',
      `${layer} is not the config of an image in ns/app`,
    ])
    expect(api.registry.calls.some(([operation]) => operation === 'getBlob')).toBe(false)
  })

  test('refuses a config larger than 4 MiB without reading it whole', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')
    const big = api.registry.putBlob('x'.repeat(4 * 1024 * 1024 + 1))
    const row = api.store.getRepositoryEntry('ns/app', '1.0')
    api.store.upsertRepositoryEntry({ ...row!, tag: 'big', configDigest: big.digest })

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: big.digest })}`,
      admin,
    )

    expect([answer.status, answer.json.code]).toEqual([422, 'TOO_LARGE'])
    expect(image.config.size).toBeLessThan(4 * 1024 * 1024)
  })

  test('serves the config of a platform of a tagged index', async () => {
    using api = await createCatalogApi()
    const arm = pushImage(api.registry, 'ns/multi', undefined, { architecture: 'arm64' })
    pushIndex(api.registry, 'ns/multi', '1.0', [
      { digest: arm.digest, size: arm.manifestSize, architecture: 'arm64' },
    ])
    await api.mirror('ns/multi', '1.0')

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/multi', digest: arm.config.digest })}`,
      admin,
    )

    expect(answer.status).toBe(200)
    const config = JSON.parse(Buffer.from(answer.json.data.value, 'base64').toString())
    expect(config.architecture).toBe('arm64')
  })

  test('a user who may not pull gets 403, whether the repository exists or not', async () => {
    using api = await createCatalogApi()
    const { auth } = await api.addUser('ann')
    const image = pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')

    const existing = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: image.config.digest })}`,
      auth,
    )
    const missing = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'no/such', digest: image.config.digest })}`,
      auth,
    )

    expect([existing.status, existing.json.code]).toEqual([403, 'DENIED'])
    expect([missing.status, missing.json.code]).toEqual([403, 'DENIED'])
  })

  test('missing or malformed parameters are 400s', async () => {
    using api = await createCatalogApi()

    const missing = await api.call('GET', '/api/v1/registry/catalog/blobs?name=ns/app', admin)
    const malformed = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: 'sha256:xyz' })}`,
      admin,
    )

    expect([missing.status, missing.json.message]).toEqual([
      400,
      'params name and digest must be set',
    ])
    expect(malformed.status).toBe(400)
  })

  test('answers 503 when no registry is configured', async () => {
    using api = await createCatalogApi({ registry: 'none' })

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: `sha256:${'a'.repeat(64)}` })}`,
      admin,
    )

    expect([answer.status, answer.json.message]).toEqual([
      503,
      'no registry is configured: set registry.host',
    ])
  })
})

describe('GET /api/v1/registry/catalog/manifest', () => {
  test('returns an image manifest as parsed JSON', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', '1.0')

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog/manifest?${q({ name: 'ns/app', reference: '1.0' })}`,
      admin,
    )

    expect(answer.json).toEqual({
      error: false,
      message: 'ok',
      id: 0,
      data: {
        name: 'ns/app',
        reference: '1.0',
        digest: image.digest,
        media_type: image.mediaType,
        type: 'image',
        size: image.manifestSize,
        total_size: image.size,
        manifest: expect.objectContaining({ schemaVersion: 2, layers: expect.any(Array) }),
        platforms: [],
      },
    })
  })

  test('lists the platforms of an index', async () => {
    using api = await createCatalogApi()
    const arm = pushImage(api.registry, 'ns/multi', undefined, { architecture: 'arm64' })
    const index = pushIndex(api.registry, 'ns/multi', '1.0', [
      { digest: arm.digest, size: arm.manifestSize, architecture: 'arm64', variant: 'v8' },
    ])

    const answer = await api.call(
      'GET',
      `/api/v1/registry/catalog/manifest?${q({ name: 'ns/multi', reference: index })}`,
      admin,
    )

    expect([
      answer.json.data.type,
      answer.json.data.total_size,
      answer.json.data.platforms,
    ]).toEqual([
      'index',
      null,
      [
        {
          digest: arm.digest,
          media_type: 'application/vnd.oci.image.manifest.v1+json',
          size: arm.manifestSize,
          os: 'linux',
          architecture: 'arm64',
          variant: 'v8',
        },
      ],
    ])
  })

  test('a missing manifest is 404 and a repository the user may not pull is 403', async () => {
    using api = await createCatalogApi()
    const { user, auth } = await api.addUser('ann')
    api.addRule({ ownerId: user.id, resourceName: 'ns/*' })

    const missing = await api.call(
      'GET',
      `/api/v1/registry/catalog/manifest?${q({ name: 'ns/app', reference: '9.9' })}`,
      auth,
    )
    const denied = await api.call(
      'GET',
      `/api/v1/registry/catalog/manifest?${q({ name: 'other/app', reference: '1.0' })}`,
      auth,
    )

    expect([missing.status, missing.json.message]).toEqual([
      404,
      'manifest 9.9 not found in ns/app',
    ])
    expect(denied.status).toBe(403)
  })
})

describe('DELETE in the catalog', () => {
  test('by tag resolves the digest in the registry now, never from a stale mirror row', async () => {
    using api = await createCatalogApi()
    const old = pushImage(api.registry, 'ns/app', '1.0', { layers: ['old'] })
    await api.mirror('ns/app', '1.0')
    const fresh = pushImage(api.registry, 'ns/app', '1.0', { layers: ['new'] })
    api.registry.tag('ns/app', 'latest', fresh.digest)
    await api.mirror('ns/app', 'latest')
    expect(api.store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(old.digest)

    const answer = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/tags?${q({ name: 'ns/app', tag: '1.0' })}`,
      admin,
    )

    expect(answer.status).toBe(200)
    expect(answer.json.data).toEqual({
      name: 'ns/app',
      digest: fresh.digest,
      tags: ['1.0', 'latest'],
      mirror_tags: ['1.0', 'latest'],
      registry_tags: ['1.0', 'latest'],
      deleted_in_registry: true,
    })
    expect(api.client.deleted).toEqual([`ns/app@${fresh.digest}`])
    expect(api.store.listRepositoryEntries('ns/app')).toEqual([])
    expect(answer.json.message).toBe(
      "manifest deleted with tags 1.0, latest; disk space is freed only when the registry's garbage-collect runs",
    )
  })

  test('the legacy route deletes by digest whatever the path tail, with the tags that went', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', '1.0')
    api.registry.tag('ns/app', 'stable', image.digest)
    const other = pushImage(api.registry, 'ns/app', '2.0', { layers: ['two'] })
    for (const tag of ['1.0', 'stable', '2.0']) {
      await api.mirror('ns/app', tag)
    }

    const answer = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/1.0?${q({ name: 'ns/app', digest: image.digest })}`,
      admin,
    )

    expect([answer.status, answer.json.data.tags]).toEqual([200, ['1.0', 'stable']])
    expect(api.store.listRepositoryEntries('ns/app').map((e) => [e.tag, e.digest])).toEqual([
      ['2.0', other.digest],
    ])
    expect(await api.registry.listTags('ns/app')).toEqual(['2.0'])
  })

  test('a tag literally named tags, sent the legacy way, is still a delete by digest', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', 'tags')
    await api.mirror('ns/app', 'tags')

    const answer = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/tags?${q({ name: 'ns/app', digest: image.digest })}`,
      admin,
    )

    expect([answer.status, answer.json.data.tags]).toEqual([200, ['tags']])
  })

  test('a registry with deletion disabled gives a 405 that says so, and the mirror stays', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')
    api.client.deleteEnabled = false

    const byDigest = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/x?${q({ name: 'ns/app', digest: image.digest })}`,
      admin,
    )
    const byTag = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/tags?${q({ name: 'ns/app', tag: '1.0' })}`,
      admin,
    )
    const repository = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/repository?${q({ name: 'ns/app' })}`,
      admin,
    )

    for (const answer of [byDigest, byTag, repository]) {
      expect([answer.status, answer.json.error, answer.json.code]).toEqual([
        405,
        true,
        'UNSUPPORTED',
      ])
      expect(answer.json.message).toContain('storage.delete.enabled')
    }
    expect(api.store.listRepositoryEntries('ns/app').length).toBe(1)
  })

  test('deletes every manifest of a repository, resolved now, and its mirror rows', async () => {
    using api = await createCatalogApi()
    const one = pushImage(api.registry, 'ns/app', '1.0')
    api.registry.tag('ns/app', 'latest', one.digest)
    const two = pushImage(api.registry, 'ns/app', '2.0', { layers: ['two'] })
    for (const tag of ['1.0', 'latest', '2.0']) {
      await api.mirror('ns/app', tag)
    }
    // a row the registry no longer has
    api.store.upsertRepositoryEntry({
      ...api.store.getRepositoryEntry('ns/app', '2.0')!,
      tag: 'gone',
    })
    api.registry.untag('ns/app', 'gone')

    const answer = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/repository?${q({ name: 'ns/app' })}`,
      admin,
    )

    expect(answer.status).toBe(200)
    expect(answer.json.data).toEqual({
      name: 'ns/app',
      manifests: [
        { digest: one.digest, tags: ['1.0', 'latest'] },
        { digest: two.digest, tags: ['2.0', 'gone'].sort() },
      ].sort((a, b) => a.digest.localeCompare(b.digest)),
      tags: ['1.0', '2.0', 'gone', 'latest'],
      remaining: [],
    })
    expect(await api.registry.listTags('ns/app')).toEqual([])
    expect(api.store.listRepositoryEntries('ns/app')).toEqual([])
  })

  test('a tag the registry does not have is 404, and its stale mirror row goes', async () => {
    using api = await createCatalogApi()
    pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')
    api.registry.untag('ns/app', '1.0')

    const answer = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/tags?${q({ name: 'ns/app', tag: '1.0' })}`,
      admin,
    )

    expect([answer.status, answer.json.message]).toEqual([
      404,
      'the registry has no tag 1.0 in ns/app; its mirror row was removed',
    ])
    expect(api.store.listRepositoryEntries('ns/app')).toEqual([])
  })

  test('a manifest the registry lost already only leaves the mirror', async () => {
    using api = await createCatalogApi()
    const image = pushImage(api.registry, 'ns/app', '1.0')
    await api.mirror('ns/app', '1.0')
    api.registry.removeRepository('ns/app')

    const gone = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/x?${q({ name: 'ns/app', digest: image.digest })}`,
      admin,
    )
    const again = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/x?${q({ name: 'ns/app', digest: image.digest })}`,
      admin,
    )

    expect([gone.status, gone.json.data.deleted_in_registry, gone.json.data.tags]).toEqual([
      200,
      false,
      ['1.0'],
    ])
    expect(again.status).toBe(404)
  })

  test('only admins delete', async () => {
    using api = await createCatalogApi()
    const { auth } = await api.addUser('boss', { role: 'manager' })
    const image = pushImage(api.registry, 'ns/app', '1.0')

    const answer = await api.call(
      'DELETE',
      `/api/v1/registry/catalog/x?${q({ name: 'ns/app', digest: image.digest })}`,
      auth,
    )

    expect(answer.status).toBe(403)
    expect(api.client.deleted).toEqual([])
  })

  test('deletes run under the repository lock of the mirror', async () => {
    const locked: string[] = []
    const lock: RepositoryLock = {
      runExclusive: async (repository, task) => {
        locked.push(repository)
        return task()
      },
    }
    using api = await createCatalogApi({ lock })
    pushImage(api.registry, 'ns/app', '1.0')

    await api.call(
      'DELETE',
      `/api/v1/registry/catalog/tags?${q({ name: 'ns/app', tag: '1.0' })}`,
      admin,
    )

    expect(locked).toEqual(['ns/app'])
  })
})
