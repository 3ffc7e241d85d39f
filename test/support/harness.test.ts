import 'reflect-metadata'
import { X509CertificateGenerator } from '@peculiar/x509'
import { describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { OCI_INDEX_TYPE, OCI_MANIFEST_TYPE, writeOciImage, writeOciIndex } from './oci-image.ts'
import { startRegistry, writeHtpasswd, type RunningRegistry } from './registry.ts'
import {
  skopeoCopy,
  skopeoDelete,
  skopeoInspect,
  skopeoListTags,
  skopeoLogin,
  type SkopeoResult,
} from './skopeo.ts'
import { tempDir } from './temp.ts'
import { INSTALL_HINT, requireTool } from './tools.ts'

const alice = { username: 'alice', password: 'wonderland' }

/**
 * A registry with basic auth for `alice`, plus a scratch dir; both go away on disposal. The
 * registry checks bcrypt on every request, so the default cost 4 keeps pushes fast.
 */
async function htpasswdRegistry(options: { cost?: number } = {}) {
  const dir = tempDir('harness-')
  const htpasswd = join(dir.path, 'htpasswd')
  await writeHtpasswd(htpasswd, { [alice.username]: alice.password }, { cost: options.cost ?? 4 })
  const registry = await startRegistry({ auth: { htpasswd: { path: htpasswd } } })

  return {
    registry,
    dir: dir.path,
    async [Symbol.asyncDispose]() {
      await registry.stop()
      await dir.remove()
    },
  }
}

/** Tags of `repo` as skopeo lists them, sorted (the registry returns them unordered). */
async function tagsOf(registry: RunningRegistry, repo: string): Promise<string[]> {
  const result = ok(await skopeoListTags(registry.ref(repo), { creds: alice }))

  return (JSON.parse(result.stdout).Tags as string[]).sort()
}

/** Writes a PEM bundle with one self-signed P-256 certificate, enough for token auth to start. */
async function writeBundle(path: string): Promise<void> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=harness',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: algorithm,
  })
  await Bun.write(path, cert.toString('pem'))
}

function ok(result: SkopeoResult): SkopeoResult {
  if (result.exitCode !== 0) {
    throw new Error(`skopeo failed with ${result.exitCode}: ${result.stderr}`)
  }

  return result
}

describe('startRegistry', () => {
  test('listens on a free port and challenges anonymous clients', async () => {
    await using env = await htpasswdRegistry()

    const response = await fetch(`${env.registry.url}/v2/`)

    expect(env.registry.hostPort).toMatch(/^127\.0\.0\.1:\d+$/)
    expect(env.registry.port).toBeGreaterThan(0)
    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe('Basic realm="registry"')
  })

  test('runs without auth when asked', async () => {
    await using registry = await startRegistry({ auth: 'none' })

    const response = await fetch(`${registry.url}/v2/_catalog`)

    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ repositories: [] })
  })

  test('challenges with the configured token realm and service', async () => {
    await using dir = tempDir('harness-')
    const rootCertBundle = join(dir.path, 'bundle.pem')
    await writeBundle(rootCertBundle)
    const realm = 'http://127.0.0.1:1/token'
    await using registry = await startRegistry({
      auth: { token: { realm, service: 'registry.test', issuer: 'harness', rootCertBundle } },
    })

    const response = await fetch(`${registry.url}/v2/ns/app/tags/list`)

    expect(response.status).toBe(401)
    expect(response.headers.get('www-authenticate')).toBe(
      `Bearer realm="${realm}",service="registry.test",scope="repository:ns/app:pull"`,
    )
  })

  test('delivers notifications with the configured headers', async () => {
    const deliveries: Array<{ authorization: string | null; actions: string[] }> = []
    let manifestPushed: () => void = () => {}
    const done = new Promise<void>((resolve) => (manifestPushed = resolve))
    using listener = Bun.serve({
      port: 0,
      hostname: '127.0.0.1',
      async fetch(request) {
        const body = (await request.json()) as {
          events: Array<{ action: string; target: { mediaType: string } }>
        }
        deliveries.push({
          authorization: request.headers.get('authorization'),
          actions: body.events.map((e) => `${e.action} ${e.target.mediaType}`),
        })
        if (body.events.some((e) => e.target.mediaType === OCI_MANIFEST_TYPE)) {
          manifestPushed()
        }
        return new Response(null, { status: 200 })
      },
    })
    await using registry = await startRegistry({
      auth: 'none',
      notifications: { url: `${listener.url}events`, headers: { Authorization: ['Bearer n'] } },
    })
    await using oci = tempDir('oci-')
    const image = await writeOciImage(oci.path, { tag: '1.0' })

    ok(await skopeoCopy(image.ref, registry.ref('ns/app:1.0')))
    await done

    expect(deliveries).toEqual([
      { authorization: 'Bearer n', actions: ['push application/octet-stream'] },
      { authorization: 'Bearer n', actions: ['push application/octet-stream'] },
      { authorization: 'Bearer n', actions: [`push ${OCI_MANIFEST_TYPE}`] },
    ])
  })

  test('fails with the registry log when start-up fails', async () => {
    await using dir = tempDir('harness-')
    const rootCertBundle = join(dir.path, 'missing.pem')

    const start = startRegistry({
      auth: {
        token: { realm: 'http://127.0.0.1:1/token', service: 's', issuer: 'i', rootCertBundle },
      },
    })

    await expect(start).rejects.toThrow(/registry exited while waiting for .*missing\.pem/s)
  })

  test('keeps its data and port across a restart', async () => {
    await using env = await htpasswdRegistry()
    await using oci = tempDir('oci-')
    const image = await writeOciImage(oci.path, { tag: '1.0' })
    ok(await skopeoCopy(image.ref, env.registry.ref('ns/app:1.0'), { destCreds: alice }))
    const before = env.registry.hostPort

    await env.registry.restart()

    expect(env.registry.hostPort).toBe(before)
    expect(await tagsOf(env.registry, 'ns/app')).toEqual(['1.0'])
  })

  test('waits for a log line written after a mark', async () => {
    await using env = await htpasswdRegistry()
    const mark = env.registry.logs().length

    const line = env.registry.waitForLog(/"GET \/v2\/_catalog HTTP\/1.1" 401/, { after: mark })
    await fetch(`${env.registry.url}/v2/_catalog`)

    expect(await line).toStartWith('127.0.0.1 - - [')
  })

  test('rejects a pending log wait when the registry stops', async () => {
    const env = await htpasswdRegistry()

    const wait = Promise.allSettled([env.registry.waitForLog('never logged')])
    await env[Symbol.asyncDispose]()

    expect((await wait)[0]).toMatchObject({
      status: 'rejected',
      reason: expect.objectContaining({
        message: expect.stringContaining('registry exited while waiting for a log line'),
      }),
    })
  })
})

describe('skopeo against the registry', () => {
  test('pushes, lists, pulls and deletes an image with basic credentials', async () => {
    await using env = await htpasswdRegistry()
    await using oci = tempDir('oci-')
    const image = await writeOciImage(oci.path, { tag: '1.0' })
    const other = await writeOciImage(oci.path, { tag: '2.0', randomBytes: 64 })

    const push = await skopeoCopy(image.ref, env.registry.ref('ns/app:1.0'), { destCreds: alice })
    ok(await skopeoCopy(other.ref, env.registry.ref('ns/app:2.0'), { destCreds: alice }))
    const tags = await tagsOf(env.registry, 'ns/app')
    const pull = await skopeoCopy(env.registry.ref('ns/app:1.0'), `oci:${oci.path}:pulled`, {
      srcCreds: alice,
    })
    const remote = await skopeoInspect(env.registry.ref('ns/app:1.0'), { creds: alice })
    const removed = await skopeoDelete(env.registry.ref('ns/app:2.0'), { creds: alice })

    expect(push).toMatchObject({ exitCode: 0 })
    expect(tags).toEqual(['1.0', '2.0'])
    expect(pull).toMatchObject({ exitCode: 0 })
    expect(JSON.parse((await skopeoInspect(`oci:${oci.path}:pulled`)).stdout).Digest).toBe(
      image.manifestDigest,
    )
    expect(JSON.parse(remote.stdout)).toMatchObject({
      Digest: image.manifestDigest,
      Layers: image.layerDigests,
    })
    expect(removed).toMatchObject({ exitCode: 0 })
    expect(await tagsOf(env.registry, 'ns/app')).toEqual(['1.0'])
  })

  test('garbage-collects the blobs of a deleted image', async () => {
    await using env = await htpasswdRegistry()
    await using oci = tempDir('oci-')
    const kept = await writeOciImage(oci.path, { tag: 'kept' })
    const dropped = await writeOciImage(oci.path, { tag: 'dropped', randomBytes: 64 })
    ok(await skopeoCopy(kept.ref, env.registry.ref('ns/app:kept'), { destCreds: alice }))
    ok(await skopeoCopy(dropped.ref, env.registry.ref('ns/app:dropped'), { destCreds: alice }))
    ok(await skopeoDelete(env.registry.ref('ns/app:dropped'), { creds: alice }))
    const blobPath = (digest: string) => {
      const hex = digest.slice('sha256:'.length)
      return join(env.registry.dataDir, 'docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex)
    }

    const gc = await env.registry.garbageCollect()

    expect(gc.exitCode).toBe(0)
    expect(existsSync(blobPath(dropped.layerDigests[0] as string))).toBe(false)
    expect(existsSync(blobPath(kept.layerDigests[0] as string))).toBe(true)
  })

  test('copies a two-platform index with --all', async () => {
    await using env = await htpasswdRegistry()
    await using oci = tempDir('oci-')
    const index = await writeOciIndex(oci.path, {
      tag: 'multi',
      platforms: [
        { arch: 'amd64', os: 'linux' },
        { arch: 'arm64', os: 'linux', variant: 'v8' },
      ],
    })

    const push = await skopeoCopy(index.ref, env.registry.ref('ns/multi:1.0'), {
      destCreds: alice,
      all: true,
    })
    const raw = await skopeoInspect(env.registry.ref('ns/multi:1.0'), { creds: alice, raw: true })

    expect(push).toMatchObject({ exitCode: 0 })
    expect(JSON.parse(raw.stdout)).toEqual({
      schemaVersion: 2,
      mediaType: OCI_INDEX_TYPE,
      manifests: index.manifests.map((m) => ({
        mediaType: OCI_MANIFEST_TYPE,
        digest: m.manifestDigest,
        size: m.sizes.manifest,
        platform: { architecture: m.platform.arch, os: m.platform.os, variant: m.platform.variant },
      })),
    })
  })

  test('fails a push and a login with a wrong password against a cost-10 hash', async () => {
    await using env = await htpasswdRegistry({ cost: 10 })
    await using oci = tempDir('oci-')
    const image = await writeOciImage(oci.path, { tag: '1.0' })
    const wrong = { username: alice.username, password: 'not-it' }

    const push = await skopeoCopy(image.ref, env.registry.ref('ns/app:1.0'), { destCreds: wrong })
    const login = await skopeoLogin(env.registry.hostPort, wrong)

    expect(push.exitCode).not.toBe(0)
    expect(push.stderr).toContain('authentication required')
    expect(login.exitCode).not.toBe(0)
    expect(login.stderr).toContain('invalid username/password')
  })

  test('reuses a login stored in the given auth file', async () => {
    await using env = await htpasswdRegistry()
    await using oci = tempDir('oci-')
    const authfile = join(env.dir, 'auth.json')
    const image = await writeOciImage(oci.path, { tag: '1.0' })

    const login = await skopeoLogin(env.registry.hostPort, alice, { authfile })
    const push = await skopeoCopy(image.ref, env.registry.ref('ns/app:1.0'), { authfile })
    const isolated = await skopeoListTags(env.registry.ref('ns/app'))

    expect(login).toMatchObject({ exitCode: 0 })
    expect(push).toMatchObject({ exitCode: 0 })
    expect(isolated.exitCode).not.toBe(0)
    expect(await Bun.file(authfile).text()).not.toContain(alice.password)
  })
})

describe('requireTool', () => {
  test('names the install command when a program is missing', () => {
    expect(() => requireTool('docker-registry', '/nonexistent')).toThrow(
      `docker-registry is not installed (not found on PATH); the end-to-end tests need it. ` +
        `Install it with: ${INSTALL_HINT}`,
    )
    expect(INSTALL_HINT).toBe('apt-get install -y docker-registry skopeo')
  })
})
