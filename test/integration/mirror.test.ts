/**
 * The repository mirror against Debian's real `docker-registry` 2.8 and `skopeo`: pushes,
 * re-pushes and deletes reach the mirror through the registry's own notifications, forged
 * notifications change nothing, syncs catch up on what notifications missed and never remove
 * what they could not read, and pulls are counted from real client reads only.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'

import { mkdir, readFile, rename, rmdir, writeFile } from 'node:fs/promises'

import type { SyncStatus } from '../../src/core/mirror/index.ts'
import type { RepositoryEntry } from '../../src/core/store.ts'
import { ANONYMOUS_OWNER_ID } from '../../src/core/store.ts'
import {
  ADMIN,
  basic,
  startTestServer,
  TEST_ISSUER,
  TEST_SERVICE,
  type TestServer,
} from '../helpers.ts'
import { sha256Digest, writeOciImage, writeOciIndex, type OciImage } from '../support/oci-image.ts'
import { startRegistry, type RegistryAuth, type RunningRegistry } from '../support/registry.ts'
import { skopeoCopy, skopeoDelete, skopeoInspect } from '../support/skopeo.ts'
import { tempDir, type TempDir } from '../support/temp.ts'

const SECRET = 'notify-secret-e2e'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'
const ACCEPT = [OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST].join(', ')
const admin = { username: ADMIN.username, password: ADMIN.password }
const adminAuth = basic(ADMIN.username, ADMIN.password)

let server: TestServer
let registry: RunningRegistry
let auth: RegistryAuth
let work: TempDir
let counter = 0

beforeAll(async () => {
  work = tempDir('ra-mirror-e2e-')
  server = await startTestServer({
    flags: [`--registry.events-secret=${SECRET}`],
    beforeApp: async ({ url, realm, rootCertBundle }) => {
      auth = { token: { realm, service: TEST_SERVICE, issuer: TEST_ISSUER, rootCertBundle } }
      registry = await startRegistry({
        auth,
        dataDir: `${work.path}/registry-data`,
        notifications: {
          url: `${url}/api/v1/registry/events`,
          headers: { Authorization: [`Bearer ${SECRET}`] },
          backoff: '200ms',
        },
      })
      return [`--registry.host=${registry.url}`]
    },
  })
  // rules for repositories nobody has pushed yet, which no sync or delete may touch
  server.addRule({ ownerId: ANONYMOUS_OWNER_ID, resourceName: 'future/app', action: 'pull' })
  server.addRule({ ownerId: 1, resourceName: 'future/**', action: 'push' })
  await until('the start-up sync', () => syncIdle())
})

afterAll(async () => {
  await registry?.stop()
  await server?.[Symbol.asyncDispose]()
  await work?.remove()
})

/** Polls `read` until it gives something truthy; fails after 4 s with `what`. */
async function until<T>(what: string, read: () => T | null | undefined | false): Promise<T> {
  const deadline = Date.now() + 4_000
  for (;;) {
    const value = read()
    if (value) {
      return value
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`)
    }
    await Bun.sleep(20)
  }
}

const row = (repository: string, tag: string) => server.store.getRepositoryEntry(repository, tag)
const syncIdle = () => !server.mirror.syncStatus().running

const image = (name: string, extra: { randomBytes?: number } = {}): Promise<OciImage> =>
  writeOciImage(`${work.path}/${name}-${++counter}`, { tag: 'src', ...extra })

const push = async (
  source: string,
  target: string,
  options: { format?: 'v2s2'; all?: boolean; to?: RunningRegistry } = {},
) => {
  const pushed = await skopeoCopy(source, (options.to ?? registry).ref(target), {
    destCreds: admin,
    format: options.format,
    all: options.all,
  })
  expect(pushed.stderr).toBe('')
  expect(pushed.exitCode).toBe(0)
}

/**
 * Gives the layer of an image in its OCI layout an annotation of `bytes` characters, which the
 * registry repeats in its push notification; returns the new manifest digest.
 */
const annotateLayer = async (ref: string, bytes: number): Promise<string> => {
  const dir = ref.slice('oci:'.length, ref.lastIndexOf(':'))
  const indexPath = `${dir}/index.json`
  const index = JSON.parse(await readFile(indexPath, 'utf8')) as {
    manifests: { digest: string; size: number }[]
  }
  const entry = index.manifests[0]!
  const manifest = JSON.parse(
    await readFile(`${dir}/blobs/sha256/${entry.digest.slice(7)}`, 'utf8'),
  )
  manifest.layers[0].annotations = { 'org.example.note': 'x'.repeat(bytes) }
  const text = new TextEncoder().encode(JSON.stringify(manifest))
  const digest = sha256Digest(text)
  await writeFile(`${dir}/blobs/sha256/${digest.slice(7)}`, text)
  index.manifests[0] = { ...entry, digest, size: text.length }
  await writeFile(indexPath, JSON.stringify(index))
  return digest
}

/** A registry token from the realm, for reads done by hand. */
const tokenFor = async (repository: string): Promise<string> => {
  const response = await server.handle(
    `/api/v1/registry/auth?service=${TEST_SERVICE}&scope=repository:${repository}:pull`,
    { headers: { authorization: adminAuth } },
  )
  return ((await response.json()) as { token: string }).token
}

/** What the registry serves for a manifest: its digest and bytes. */
const served = async (repository: string, reference: string) => {
  const response = await fetch(`${registry.url}/v2/${repository}/manifests/${reference}`, {
    method: 'HEAD',
    headers: { authorization: `Bearer ${await tokenFor(repository)}`, accept: ACCEPT },
  })
  return { status: response.status, digest: response.headers.get('docker-content-digest') }
}

/** Posts an envelope as the registry would. */
const notify = async (...events: object[]) => {
  const response = await server.handle('/api/v1/registry/events', {
    method: 'POST',
    headers: {
      authorization: `Bearer ${SECRET}`,
      'content-type': 'application/vnd.docker.distribution.events.v1+json',
    },
    body: JSON.stringify({ events }),
  })
  expect(response.status).toBe(200)
  await server.mirror.idle()
}

const pushEvent = (repository: string, tag: string, digest: string) => ({
  id: crypto.randomUUID(),
  timestamp: new Date().toISOString(),
  action: 'push',
  target: { mediaType: OCI_MANIFEST, repository, tag, digest },
  request: { method: 'PUT' },
  actor: { name: 'admin' },
})

/** Runs a sync through the API and returns its summary once finished. */
const syncNow = async () => {
  const response = await server.handle('/api/v1/registry/sync', {
    method: 'POST',
    headers: { authorization: adminAuth },
  })
  expect(response.status).toBe(202)
  await until('the sync to finish', () => syncIdle())
  const status = await server.handle('/api/v1/registry/sync/status', {
    headers: { authorization: adminAuth },
  })
  return ((await status.json()) as { data: SyncStatus }).data.sync
}

/**
 * Pushes a new tag into `repository` and waits until its notification is applied: the registry
 * delivers in order and the mirror applies a repository's events in order, so every event the
 * registry queued before it has been handled too.
 */
const settle = async (repository: string) => {
  const tag = `sentinel-${++counter}`
  await push((await image('sentinel', { randomBytes: 16 })).ref, `${repository}:${tag}`)
  await until(`the ${tag} notification`, () => row(repository, tag))
}

const snapshot = () =>
  server.store
    .listRepositoryNames()
    .flatMap((name) => server.store.listRepositoryEntries(name))
    .map((entry: RepositoryEntry) => `${entry.repositoryName}:${entry.tag}@${entry.digest}`)

describe('the mirror with a real registry', () => {
  test('records a pushed OCI image with its digest, media type, size and blobs', async () => {
    const oci = await image('oci')

    await push(oci.ref, 'ns/oci:1.0')
    const entry = await until('ns/oci:1.0', () => row('ns/oci', '1.0'))

    expect({ ...entry, id: 0, raw: '', createdAt: 0, pushedAt: 0 }).toEqual({
      id: 0,
      repositoryName: 'ns/oci',
      tag: '1.0',
      digest: oci.manifestDigest,
      mediaType: OCI_MANIFEST,
      configDigest: oci.configDigest,
      size: oci.sizes.config + oci.sizes.layers[0]!,
      platforms: [],
      blobs: [
        { digest: oci.configDigest, size: oci.sizes.config },
        { digest: oci.layerDigests[0]!, size: oci.sizes.layers[0]! },
      ],
      createdAt: 0,
      pushedAt: 0,
      pullCount: 0,
      raw: '',
    })
    expect(JSON.parse(entry.raw).config.digest).toBe(oci.configDigest)
  })

  test('records a Docker schema 2 image with what the registry serves', async () => {
    await push((await image('docker')).ref, 'ns/docker:1.0', { format: 'v2s2' })

    const entry = await until('ns/docker:1.0', () => row('ns/docker', '1.0'))
    const manifest = JSON.parse(entry.raw) as {
      config: { digest: string; size: number }
      layers: { size: number }[]
    }

    expect({
      digest: entry.digest,
      mediaType: entry.mediaType,
      configDigest: entry.configDigest,
      size: entry.size,
    }).toEqual({
      digest: (await served('ns/docker', '1.0')).digest!,
      mediaType: DOCKER_MANIFEST,
      configDigest: manifest.config.digest,
      size: manifest.config.size + manifest.layers.reduce((sum, layer) => sum + layer.size, 0),
    })
    expect(`sha256:${new Bun.CryptoHasher('sha256').update(entry.raw).digest('hex')}`).toBe(
      entry.digest,
    )
  })

  test('records a two-platform OCI index with its platforms, and no rows for its children', async () => {
    const index = await writeOciIndex(`${work.path}/multi`, {
      tag: 'src',
      platforms: [
        { os: 'linux', arch: 'amd64' },
        { os: 'linux', arch: 'arm64', variant: 'v8' },
      ],
    })

    await push(index.ref, 'ns/multi:1.0', { all: true })
    const entry = await until('ns/multi:1.0', () => row('ns/multi', '1.0'))

    const [amd64, arm64] = index.manifests.map((m) => ({
      digest: m.manifestDigest,
      size: m.sizes.config + m.sizes.layers.reduce((sum, size) => sum + size, 0),
    }))
    expect({
      digest: entry.digest,
      mediaType: entry.mediaType,
      configDigest: entry.configDigest,
      size: entry.size,
      platforms: entry.platforms,
    }).toEqual({
      digest: index.indexDigest,
      mediaType: OCI_INDEX,
      configDigest: null,
      size: amd64!.size + arm64!.size,
      platforms: [
        { os: 'linux', architecture: 'amd64', ...amd64! },
        { os: 'linux', architecture: 'arm64', variant: 'v8', ...arm64! },
      ],
    })
    expect(server.store.listRepositoryEntries('ns/multi').map((e) => e.tag)).toEqual(['1.0'])
  })

  test('replaces the digest and size of a tag pushed again with new content', async () => {
    await until('ns/oci:1.0', () => row('ns/oci', '1.0'))
    const next = await image('oci', { randomBytes: 512 })

    await push(next.ref, 'ns/oci:1.0')
    const entry = await until('the new digest', () => {
      const current = row('ns/oci', '1.0')
      return current?.digest === next.manifestDigest ? current : null
    })

    expect(entry.size).toBe(next.sizes.config + next.sizes.layers[0]!)
  })

  test('removes every tag of a manifest deleted with skopeo, only in its own repository', async () => {
    const shared = await image('del')
    for (const name of ['ns/del:1.0', 'ns/del:1.1', 'ns/keep:1.0']) {
      await push(shared.ref, name)
    }
    await until(
      'the three tags',
      () => row('ns/del', '1.0') && row('ns/del', '1.1') && row('ns/keep', '1.0'),
    )

    const deleted = await skopeoDelete(registry.ref('ns/del:1.0'), { creds: admin })
    await until('the delete', () => server.store.listRepositoryEntries('ns/del').length === 0)

    expect(deleted.exitCode).toBe(0)
    expect(row('ns/keep', '1.0')?.digest).toBe(shared.manifestDigest)
  })

  test('records a push whose notification is larger than 1 MiB', async () => {
    const big = await image('annotated')
    const digest = await annotateLayer(big.ref, 1_200_000)

    await push(big.ref, 'big/app:1.0')
    const entry = await until('big/app:1.0', () => row('big/app', '1.0'))

    expect([entry.digest, (await served('big/app', '1.0')).digest]).toEqual([digest, digest])
  })

  test('records every event of an envelope', async () => {
    const a = await image('env-a')
    const b = await image('env-b')
    await push(a.ref, 'env/a:1.0')
    await push(b.ref, 'env/b:1.0')
    await until('both tags', () => row('env/a', '1.0') && row('env/b', '1.0'))
    await server.mirror.idle()
    server.store.deleteRepository('env/a')
    server.store.deleteRepository('env/b')

    await notify(
      pushEvent('env/a', '1.0', a.manifestDigest),
      pushEvent('env/b', '1.0', b.manifestDigest),
    )

    expect([row('env/a', '1.0')?.digest, row('env/b', '1.0')?.digest]).toEqual([
      a.manifestDigest,
      b.manifestDigest,
    ])
  })

  test('applies a repeated event id once', async () => {
    const pulled = await until('ns/keep:1.0', () => row('ns/keep', '1.0'))
    const before = pulled.pullCount
    const event = {
      id: crypto.randomUUID(),
      action: 'pull',
      target: { mediaType: OCI_MANIFEST, repository: 'ns/keep', tag: '1.0', digest: pulled.digest },
      request: { method: 'GET' },
      actor: { name: 'someone' },
    }

    await notify(event)
    await notify(event)

    expect(row('ns/keep', '1.0')?.pullCount).toBe(before + 1)
  })

  test('records nothing for a forged push of a manifest the registry does not have', async () => {
    const fake = `sha256:${'0'.repeat(64)}`

    await notify(pushEvent('ns/ghost', '1.0', fake))

    expect(row('ns/ghost', '1.0')).toBeNull()
  })

  test('keeps what the registry serves for a forged push of an existing tag', async () => {
    const current = await until('ns/keep:1.0', () => row('ns/keep', '1.0'))

    await notify(pushEvent('ns/keep', '1.0', `sha256:${'1'.repeat(64)}`))

    expect(row('ns/keep', '1.0')?.digest).toBe(current.digest)
  })

  test("a user's flood of forged pushes neither stalls the registry's own notifications nor fills the mirror's memory", async () => {
    await server.addUser('flooder', 'flooder-password')
    const forged = Array.from({ length: 6000 }, (_, index) =>
      pushEvent('flood/app', `forged-${index}`, `sha256:${'0'.repeat(64)}`),
    )

    const response = await server.handle('/api/v1/registry/events', {
      method: 'POST',
      headers: { authorization: basic('flooder', 'flooder-password') },
      body: JSON.stringify({ events: forged }),
    })
    const pending = server.mirror.pending
    const real = await image('flood')
    await push(real.ref, 'flood/app:real')
    const recorded = await until('the real push', () => row('flood/app', 'real'))
    await server.mirror.idle()
    await until('the catch-up sync', () => syncIdle())

    expect(response.status).toBe(200)
    expect(pending).toBeLessThanOrEqual(100)
    expect(recorded.digest).toBe(real.manifestDigest)
    expect(server.store.listRepositoryEntries('flood/app').map((entry) => entry.tag)).toEqual([
      'real',
    ])
  })

  test('confirms an event again once the registry stops failing for longer than a push takes', async () => {
    const retried = await image('retry')
    await push(retried.ref, 'retry/app:1.0')
    await until('retry/app:1.0', () => row('retry/app', '1.0'))
    await server.mirror.idle()
    server.store.deleteRepository('retry/app')
    // a tag link the registry cannot read makes it answer 500 for the tag
    const link = `${registry.dataDir}/docker/registry/v2/repositories/retry/app/_manifests/tags/1.0/current/link`
    await rename(link, `${link}.aside`)
    await mkdir(link)
    const failures = () =>
      registry
        .logs()
        .split('\n')
        .filter((line) => line.includes('"GET /v2/retry/app/manifests/1.0 HTTP/1.1" 500')).length

    const response = await server.handle('/api/v1/registry/events', {
      method: 'POST',
      headers: { authorization: `Bearer ${SECRET}` },
      body: JSON.stringify({ events: [pushEvent('retry/app', '1.0', retried.manifestDigest)] }),
    })
    // every quick re-read of the push has failed before the registry heals
    await until('the re-reads of the push', () => failures() >= 7)
    await rmdir(link)
    await rename(`${link}.aside`, link)
    const entry = await until('the confirmation after the failure', () => row('retry/app', '1.0'))

    expect(response.status).toBe(200)
    expect(entry.digest).toBe(retried.manifestDigest)
  })

  test('removes nothing for forged deletes of a manifest the registry still has', async () => {
    const current = await until('ns/keep:1.0', () => row('ns/keep', '1.0'))

    await notify(
      {
        id: crypto.randomUUID(),
        action: 'delete',
        target: { repository: 'ns/keep', digest: current.digest },
      },
      { id: crypto.randomUUID(), action: 'delete', target: { repository: 'ns/keep', tag: '1.0' } },
    )

    expect(row('ns/keep', '1.0')?.digest).toBe(current.digest)
  })

  test('adds images pushed while notifications were off at the next sync', async () => {
    const quiet = await image('quiet')
    const silentRegistry = await startRegistry({ auth, dataDir: registry.dataDir })
    try {
      await push(quiet.ref, 'quiet/app:1.0', { to: silentRegistry })
    } finally {
      await silentRegistry.stop()
    }
    expect(row('quiet/app', '1.0')).toBeNull()

    const summary = await syncNow()

    expect(row('quiet/app', '1.0')?.digest).toBe(quiet.manifestDigest)
    expect([summary?.added, summary?.errorCount, summary?.catalogComplete]).toEqual([1, 0, true])
  })

  test("counts real pulls by tag and by digest, and none of the sync's own reads", async () => {
    const pulled = await image('pulls')
    const silentRegistry = await startRegistry({ auth, dataDir: registry.dataDir })
    try {
      await push(pulled.ref, 'pulls/app:1.0', { to: silentRegistry })
      await push(pulled.ref, 'pulls/app:latest', { to: silentRegistry })
    } finally {
      await silentRegistry.stop()
    }
    // the sync reads both manifests for the first time, which the registry reports as pulls
    await syncNow()
    const digest = row('pulls/app', '1.0')?.digest ?? ''

    const byTag = await skopeoInspect(registry.ref('pulls/app:1.0'), {
      creds: admin,
      noTags: true,
      raw: true,
    })
    expect((await served('pulls/app', 'latest')).status).toBe(200)
    const byDigest = await skopeoInspect(registry.ref(`pulls/app@${digest}`), {
      creds: admin,
      noTags: true,
      raw: true,
    })
    await settle('pulls/app')

    expect([byTag.exitCode, byDigest.exitCode]).toEqual([0, 0])
    expect([row('pulls/app', '1.0')?.pullCount, row('pulls/app', 'latest')?.pullCount]).toEqual([
      2, 1,
    ])
  })

  test('keeps every row through a sync that overlaps a registry restart', async () => {
    await until('quiet events', () => server.mirror.pending === 0)
    const before = snapshot()

    const restarting = registry.restart()
    const summary = await syncNow()
    await restarting

    expect(snapshot()).toEqual(before)
    expect(summary?.finishedAt).toBeString()
  })

  test('keeps the access rules of repositories not pushed yet through every sync and delete', () => {
    const rules = server.store
      .listAccessRules({})
      .items.filter((rule) => rule.resourceName.startsWith('future/'))
      .map((rule) => [rule.resourceName, rule.action])

    expect(rules).toEqual([
      ['future/app', 'pull'],
      ['future/**', 'push'],
    ])
  })

  test('removes nothing and reports the failure when the registry is down during a sync', async () => {
    await until('quiet events', () => server.mirror.pending === 0)
    const before = snapshot()
    await registry.stop()

    const summary = await syncNow()

    expect(snapshot()).toEqual(before)
    expect([summary?.catalogComplete, summary?.errorCount, summary?.errors[0]?.repository]).toEqual(
      [false, 1, null],
    )
  })
})
