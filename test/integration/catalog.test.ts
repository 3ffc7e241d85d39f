/**
 * The catalog routes against Debian's real `docker-registry` 2.8 and `skopeo`: the mirror filled
 * by a sync of real pushes, config blobs and manifests read through this server, and deletes
 * that remove manifests from the registry (checked with skopeo) and their tags from the mirror.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'

import { join } from 'node:path'

import {
  ADMIN,
  basic,
  startTestServer,
  TEST_ISSUER,
  TEST_SERVICE,
  type TestServer,
  type LooseJson,
} from '../helpers.ts'
import { writeOciImage, writeOciIndex, type OciImage } from '../support/oci-image.ts'
import { startRegistry, type RunningRegistry } from '../support/registry.ts'
import { skopeoCopy, skopeoInspect } from '../support/skopeo.ts'
import { tempDir, type TempDir } from '../support/temp.ts'

const admin = { username: ADMIN.username, password: ADMIN.password }
const adminAuth = basic(ADMIN.username, ADMIN.password)

/** A server wired to its own registry with token auth. */
const startPair = async (work: TempDir, deleteEnabled: boolean) => {
  let registry: RunningRegistry | undefined
  const server = await startTestServer({
    beforeApp: async ({ realm, rootCertBundle }) => {
      registry = await startRegistry({
        auth: { token: { realm, service: TEST_SERVICE, issuer: TEST_ISSUER, rootCertBundle } },
        dataDir: join(work.path, `registry-${deleteEnabled ? 'delete' : 'keep'}`),
        deleteEnabled,
      })
      return [`--registry.host=${registry.url}`]
    },
  })
  if (registry === undefined) {
    throw new Error('the registry did not start')
  }
  return { server, registry }
}

/** Runs a sync to completion, after the one the server starts by itself. */
const sync = async (server: TestServer) => {
  await server.mirror.syncDone()
  const summary = await server.mirror.sync()
  expect(summary.errorCount).toBe(0)
}

const call = async (server: TestServer, method: string, path: string, auth = adminAuth) => {
  const response = await server.handle(path, { method, headers: { authorization: auth } })
  return { status: response.status, json: (await response.json()) as LooseJson }
}

const q = (params: Record<string, string>) => new URLSearchParams(params).toString()

const inspect = (registry: RunningRegistry, name: string) =>
  skopeoInspect(registry.ref(name), { creds: admin, noTags: true })

describe('catalog with a real registry', () => {
  let work: TempDir
  let server: TestServer
  let registry: RunningRegistry
  let image: OciImage
  let other: OciImage

  beforeAll(async () => {
    work = tempDir('ra-catalog-e2e-')
    ;({ server, registry } = await startPair(work, true))
    image = await writeOciImage(join(work.path, 'app'), { tag: '1.0' })
    other = await writeOciImage(join(work.path, 'other'), { tag: '1.0', randomBytes: 64 })
    const index = await writeOciIndex(join(work.path, 'multi'), {
      tag: '1.0',
      platforms: [
        { os: 'linux', arch: 'amd64' },
        { os: 'linux', arch: 'arm64', variant: 'v8' },
      ],
    })
    const pushes: [string, string, boolean][] = [
      [image.ref, 'ns/app:1.0', false],
      [image.ref, 'ns/app:latest', false],
      [other.ref, 'ns/app:2.0', false],
      [other.ref, 'team/lib:1.0', false],
      [index.ref, 'ns/multi:1.0', true],
    ]
    for (const [source, name, all] of pushes) {
      const pushed = await skopeoCopy(source, registry.ref(name), { destCreds: admin, all })
      expect(pushed.exitCode).toBe(0)
    }
    await sync(server)
  })

  afterAll(async () => {
    await registry?.stop()
    await server?.[Symbol.asyncDispose]()
    await work?.remove()
  })

  test('lists what the registry holds, per repository and per tag', async () => {
    const grouped = await call(
      server,
      'GET',
      `/api/v1/registry/catalog?${q({ sort: '["repository_name","ASC"]' })}`,
    )
    const tags = await call(
      server,
      'GET',
      `/api/v1/registry/catalog?${q({ group_by: 'none', filter: '{"repository_name":"ns/app"}' })}`,
    )

    expect(grouped.json.data.map((row: any) => [row.repository_name, row.tag_count])).toEqual([
      ['ns/app', 3],
      ['ns/multi', 1],
      ['team/lib', 1],
    ])
    const appSize = image.sizes.config + image.sizes.layers.reduce((a, b) => a + b, 0)
    const otherSize = other.sizes.config + other.sizes.layers.reduce((a, b) => a + b, 0)
    expect(grouped.json.data[0].size).toBe(appSize + otherSize)
    expect(
      tags.json.data.map((row: any) => [row.tag, row.digest, row.config_digest]).sort(),
    ).toEqual([
      ['1.0', image.manifestDigest, image.configDigest],
      ['2.0', other.manifestDigest, other.configDigest],
      ['latest', image.manifestDigest, image.configDigest],
    ])
  })

  test('a user sees only the repositories it may pull', async () => {
    const user = await server.addUser('reader', 'reader-password')
    server.addRule({ ownerId: user.id, resourceName: 'team/*', action: 'pull' })

    const answer = await call(
      server,
      'GET',
      '/api/v1/registry/catalog',
      basic('reader', 'reader-password'),
    )

    expect(answer.json.data.map((row: any) => row.repository_name)).toEqual(['team/lib'])
  })

  test('reads an image config and an index with its platforms through this server', async () => {
    const blob = await call(
      server,
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: image.configDigest })}`,
    )
    const manifest = await call(
      server,
      'GET',
      `/api/v1/registry/catalog/manifest?${q({ name: 'ns/multi', reference: '1.0' })}`,
    )
    const layer = await call(
      server,
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: 'ns/app', digest: image.layerDigests[0] as string })}`,
    )

    const config = JSON.parse(Buffer.from(blob.json.data.value, 'base64').toString())
    expect([config.os, config.architecture]).toEqual(['linux', 'amd64'])
    expect(
      manifest.json.data.platforms.map((p: any) => [p.os, p.architecture, p.variant ?? null]),
    ).toEqual([
      ['linux', 'amd64', null],
      ['linux', 'arm64', 'v8'],
    ])
    expect(layer.status).toBe(404)
  })

  test('answers 404 for a manifest read by the digest of a layer or a config', async () => {
    const read = (reference: string) =>
      call(server, 'GET', `/api/v1/registry/catalog/manifest?${q({ name: 'ns/app', reference })}`)

    const layer = await read(image.layerDigests[0] as string)
    const config = await read(image.configDigest)

    expect([layer.status, layer.json.code, config.status, config.json.code]).toEqual([
      404,
      'NOT_FOUND',
      404,
      'NOT_FOUND',
    ])
    expect(layer.json.message).toBe(
      `${image.layerDigests[0]} is a blob (a layer or a config) of ns/app, not a manifest`,
    )
  })

  test('answers 400 for a repository name with a registry host in front', async () => {
    const manifest = await call(
      server,
      'GET',
      `/api/v1/registry/catalog/manifest?${q({ name: '127.0.0.1:1/ns/app', reference: '1.0' })}`,
    )
    const blob = await call(
      server,
      'GET',
      `/api/v1/registry/catalog/blobs?${q({ name: '127.0.0.1:1/ns/app', digest: image.configDigest })}`,
    )

    expect([manifest.status, manifest.json.message, blob.status]).toEqual([
      400,
      "'127.0.0.1:1/ns/app' is not a valid repository name",
      400,
    ])
  })

  test('delete by tag removes the manifest from the registry and its tags from the mirror', async () => {
    const answer = await call(
      server,
      'DELETE',
      `/api/v1/registry/catalog/tags?${q({ name: 'ns/app', tag: '1.0' })}`,
    )

    expect(answer.status).toBe(200)
    expect(answer.json.data).toEqual({
      name: 'ns/app',
      digest: image.manifestDigest,
      tags: ['1.0', 'latest'],
      mirror_tags: ['1.0', 'latest'],
      registry_tags: ['1.0', 'latest'],
      deleted_in_registry: true,
    })
    expect((await inspect(registry, 'ns/app:1.0')).stderr).toContain('manifest unknown')
    expect((await inspect(registry, 'ns/app:latest')).exitCode).toBe(1)
    expect((await inspect(registry, 'ns/app:2.0')).exitCode).toBe(0)
    expect(server.store.listRepositoryEntries('ns/app').map((entry) => entry.tag)).toEqual(['2.0'])
  })

  test('delete of a repository removes every manifest it has', async () => {
    const answer = await call(
      server,
      'DELETE',
      `/api/v1/registry/catalog/repository?${q({ name: 'ns/multi' })}`,
    )

    expect(answer.status).toBe(200)
    expect(answer.json.data.tags).toEqual(['1.0'])
    expect((await inspect(registry, 'ns/multi:1.0')).exitCode).toBe(1)
    expect(server.store.listRepositoryEntries('ns/multi')).toEqual([])
  })

  test('the health check sees a registry that accepts this server', async () => {
    const answer = await call(server, 'GET', '/api/v1/registry/health')

    expect([answer.status, answer.json.healthy, answer.json.registry]).toEqual([
      200,
      true,
      { configured: true, reachable: true, acceptsTokens: true, status: 200 },
    ])
    expect(answer.json.lastSync.catalogComplete).toBe(true)
  })
})

describe('catalog with a registry that has deletion disabled', () => {
  let work: TempDir
  let server: TestServer
  let registry: RunningRegistry
  let image: OciImage

  beforeAll(async () => {
    work = tempDir('ra-catalog-nodelete-e2e-')
    ;({ server, registry } = await startPair(work, false))
    image = await writeOciImage(join(work.path, 'app'), { tag: '1.0' })
    expect(
      (await skopeoCopy(image.ref, registry.ref('ns/app:1.0'), { destCreds: admin })).exitCode,
    ).toBe(0)
    await sync(server)
  })

  afterAll(async () => {
    await registry?.stop()
    await server?.[Symbol.asyncDispose]()
    await work?.remove()
  })

  test('a delete answers 405 with the setting to change, and nothing is removed', async () => {
    const answer = await call(
      server,
      'DELETE',
      `/api/v1/registry/catalog/tags?${q({ name: 'ns/app', tag: '1.0' })}`,
    )

    expect([answer.status, answer.json.code]).toEqual([405, 'UNSUPPORTED'])
    expect(answer.json.message).toContain('storage.delete.enabled')
    expect((await inspect(registry, 'ns/app:1.0')).exitCode).toBe(0)
    expect(server.store.listRepositoryEntries('ns/app').map((entry) => entry.tag)).toEqual(['1.0'])
  })
})
