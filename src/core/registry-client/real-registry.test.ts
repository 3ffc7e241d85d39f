import 'reflect-metadata'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import pino from 'pino'
import type { CertsConfig, RegistryConfig } from '../../config.ts'
import { loadOrCreateSigningKeys } from '../../plugins/certs/index.ts'
import {
  writeOciImage,
  writeOciIndex,
  type OciImage,
  type OciIndex,
} from '../../../test/support/oci-image.ts'
import {
  startRegistry,
  writeHtpasswd,
  type RunningRegistry,
} from '../../../test/support/registry.ts'
import { skopeoCopy, type SkopeoCopyOptions } from '../../../test/support/skopeo.ts'
import { tempDir, type TempDir } from '../../../test/support/temp.ts'
import { Secret } from '../secret.ts'
import { createTokenSigner, type TokenSigner } from '../token-signer.ts'
import { createRegistryClient, type RegistryClient } from './client.ts'
import { BlobTooLargeError, RegistryError, RegistryUnavailableError } from './errors.ts'
import { MEDIA_TYPES } from './manifest.ts'
import { SERVER_SUBJECT } from './token-cache.ts'

const SERVICE = 'registry.test'
const ISSUER = 'registry-client-test'
const silent = pino({ level: 'silent' })

function registryConfig(registry: RunningRegistry, overrides: Partial<RegistryConfig> = {}) {
  const config: RegistryConfig = {
    host: 'http://127.0.0.1',
    port: registry.port,
    authType: 'token',
    login: '',
    password: new Secret(''),
    htpasswd: '',
    httpsInsecure: false,
    service: SERVICE,
    issuer: ISSUER,
    tokenTtl: 60,
    refreshTokenTtl: 60,
    gcInterval: 60,
    eventsSecret: new Secret(''),
    certs: { path: '', key: '', publicKey: '', caRoot: '', fqdns: [], ip: '', httpsCert: '' },
    ...overrides,
  }
  return config
}

/** Signing keys in a temp dir, and a token-mode registry that trusts them. */
async function tokenRegistry(work: TempDir, options: { deleteEnabled?: boolean } = {}) {
  const certs: CertsConfig = {
    path: join(work.path, 'certs'),
    key: join(work.path, 'certs', 'registry_auth.key'),
    publicKey: join(work.path, 'certs', 'registry_auth.pub'),
    caRoot: join(work.path, 'certs', 'registry_auth_ca.crt'),
    fqdns: [],
    ip: '',
    httpsCert: '',
  }
  const keys = await loadOrCreateSigningKeys(certs, silent)
  const signer = createTokenSigner({ keys, issuer: ISSUER })
  const registry = await startRegistry({
    auth: {
      token: {
        realm: 'http://127.0.0.1:1/token',
        service: SERVICE,
        issuer: ISSUER,
        rootCertBundle: certs.caRoot,
      },
    },
    deleteEnabled: options.deleteEnabled,
  })

  return { registry, signer }
}

/** Pushes with a token signed here, so no realm is needed. */
async function push(
  signer: TokenSigner,
  registry: RunningRegistry,
  source: string,
  target: string,
  options: SkopeoCopyOptions = {},
): Promise<void> {
  const repository = target.split(':')[0] as string
  const { token } = await signer.sign({
    subject: 'pusher',
    audience: SERVICE,
    access: [{ type: 'repository', name: repository, actions: ['pull', 'push'] }],
    ttlSeconds: 300,
  })
  const result = await skopeoCopy(source, registry.ref(target), {
    ...options,
    destCreds: { token },
  })
  if (result.exitCode !== 0) {
    throw new Error(`push of ${target} failed: ${result.stderr}`)
  }
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('registry client against registry 2.8 in token mode', () => {
  const work = tempDir('registry-client-e2e-')
  let registry: RunningRegistry
  let signer: TokenSigner
  let client: RegistryClient
  let image: OciImage
  let index: OciIndex

  beforeAll(async () => {
    ;({ registry, signer } = await tokenRegistry(work))
    client = createRegistryClient({
      config: registryConfig(registry),
      signer,
      service: SERVICE,
      log: silent,
    })

    const oci = join(work.path, 'oci')
    image = await writeOciImage(oci, { tag: '1.0' })
    index = await writeOciIndex(oci, {
      tag: 'multi',
      platforms: [
        { arch: 'amd64', os: 'linux' },
        { arch: 'arm64', os: 'linux', variant: 'v8' },
      ],
    })
    const del = await writeOciImage(oci, { tag: 'del', randomBytes: 32 })

    for (const repository of ['a/one', 'b/two', 'c/three', 'd/four', 'e/five']) {
      await push(signer, registry, image.ref, `${repository}:1.0`)
    }
    await push(signer, registry, image.ref, 'ns/oci:1.0')
    await push(signer, registry, image.ref, 'ns/oci:latest')
    await push(signer, registry, image.ref, 'ns/v2s2:1.0', { format: 'v2s2' })
    await push(signer, registry, index.ref, 'ns/multi:1.0', { all: true })
    await push(signer, registry, del.ref, 'ns/del:1.0')
  })

  afterAll(async () => {
    await registry.stop()
    await work.remove()
  })

  test('pings with a token that grants nothing', async () => {
    expect(await client.ping()).toEqual({
      ok: true,
      status: 200,
      apiVersion: 'registry/2.0',
      error: null,
    })
  })

  test('reports a ping whose token is for another service', async () => {
    const wrong = createRegistryClient({
      config: registryConfig(registry),
      signer,
      service: 'wrong.service',
      log: silent,
    })

    const result = await wrong.ping()

    expect({ ok: result.ok, status: result.status, code: result.error?.code }).toEqual({
      ok: false,
      status: 401,
      code: 'UNAUTHORIZED',
    })
    expect(result.error?.message).toContain(
      "it expects the service 'registry.test' but tokens are for 'wrong.service'",
    )
  })

  test('lists the whole catalog two names at a time', async () => {
    const names = await client.listRepositories({ pageSize: 2 })
    const first = await client.catalogPage({ n: 2 })

    expect(names).toEqual([
      'a/one',
      'b/two',
      'c/three',
      'd/four',
      'e/five',
      'ns/del',
      'ns/multi',
      'ns/oci',
      'ns/v2s2',
    ])
    expect(first).toEqual({ repositories: ['a/one', 'b/two'], next: 'b/two' })
  })

  test('lists tags, and refuses an unknown repository with NAME_UNKNOWN as the server subject', async () => {
    const tags = await client.listTags('ns/oci')
    const error = (await caught(client.listTags('ns/missing'))) as RegistryError

    expect(tags).toEqual(['1.0', 'latest'])
    // The registry logs the token's subject on failed requests, once its log line is written.
    expect(await registry.waitForLog(`auth.user.name="${SERVER_SUBJECT}"`)).toContain(
      SERVER_SUBJECT,
    )
    expect(error).toBeInstanceOf(RegistryError)
    expect({ kind: error.kind, status: error.status, code: error.code }).toEqual({
      kind: 'registry',
      status: 404,
      code: 'NAME_UNKNOWN',
    })
  })

  test('heads and reads an OCI image', async () => {
    const head = await client.headManifest('ns/oci', '1.0')
    const result = await client.getManifest('ns/oci', '1.0')
    const byDigest = await client.getManifest('ns/oci', image.manifestDigest)

    expect(head).toEqual({
      digest: image.manifestDigest,
      mediaType: MEDIA_TYPES.ociManifest,
      size: image.sizes.manifest,
    })
    expect(result?.digest).toBe(image.manifestDigest)
    expect(result?.manifest).toEqual({
      type: 'image',
      mediaType: MEDIA_TYPES.ociManifest,
      config: {
        mediaType: 'application/vnd.oci.image.config.v1+json',
        digest: image.configDigest,
        size: image.sizes.config,
      },
      layers: [
        {
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: image.layerDigests[0] as string,
          size: image.sizes.layers[0] as number,
        },
      ],
      totalSize: image.sizes.config + (image.sizes.layers[0] as number),
    })
    expect(byDigest?.bytes).toEqual(result?.bytes as Uint8Array)
  })

  test('reads a Docker schema 2 image', async () => {
    const result = await client.getManifest('ns/v2s2', '1.0')

    expect(result?.mediaType).toBe(MEDIA_TYPES.dockerManifest)
    expect(result?.manifest).toMatchObject({
      type: 'image',
      mediaType: MEDIA_TYPES.dockerManifest,
      config: { mediaType: 'application/vnd.docker.container.image.v1+json' },
    })
    expect(await client.resolveTag('ns/v2s2', '1.0')).toBe(result?.digest as string)
  })

  test('reads the platforms of a two-platform OCI index', async () => {
    const result = await client.getManifest('ns/multi', '1.0')

    expect(result?.digest).toBe(index.indexDigest)
    expect(result?.manifest).toEqual({
      type: 'index',
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: index.manifests.map((child) => ({
        mediaType: MEDIA_TYPES.ociManifest,
        digest: child.manifestDigest,
        size: child.sizes.manifest,
        platform: child.platform.variant
          ? { os: 'linux', architecture: child.platform.arch, variant: child.platform.variant }
          : { os: 'linux', architecture: child.platform.arch },
      })),
    })
  })

  test('fetches a config blob within maxBytes and refuses it below its size', async () => {
    const size = image.sizes.config

    const blob = await client.getBlob('ns/oci', image.configDigest, { maxBytes: size })
    const error = await caught(client.getBlob('ns/oci', image.configDigest, { maxBytes: size - 1 }))

    expect(blob?.size).toBe(size)
    expect(JSON.parse(new TextDecoder().decode(blob?.bytes))).toMatchObject({ os: 'linux' })
    expect(error).toBeInstanceOf(BlobTooLargeError)
  })

  test('deletes a manifest by digest, then finds it gone', async () => {
    const digest = (await client.resolveTag('ns/del', '1.0')) as string

    const deleted = await client.deleteManifest('ns/del', digest)
    const again = await client.deleteManifest('ns/del', digest)

    expect(deleted).toBe(true)
    expect(again).toBe(false)
    expect(await client.resolveTag('ns/del', '1.0')).toBeNull()
    expect(await client.listTags('ns/del')).toEqual([])
  })
})

describe('registry client against a registry with deletion disabled', () => {
  const work = tempDir('registry-client-e2e-')
  let registry: RunningRegistry
  let signer: TokenSigner
  let image: OciImage

  beforeAll(async () => {
    ;({ registry, signer } = await tokenRegistry(work, { deleteEnabled: false }))
    image = await writeOciImage(join(work.path, 'oci'), { tag: '1.0' })
    await push(signer, registry, image.ref, 'ns/app:1.0')
  })

  afterAll(async () => {
    await registry.stop()
    await work.remove()
  })

  test('explains that deletion is disabled', async () => {
    const client = createRegistryClient({
      config: registryConfig(registry),
      signer,
      service: SERVICE,
      log: silent,
    })

    const error = (await caught(
      client.deleteManifest('ns/app', image.manifestDigest),
    )) as RegistryError

    expect({ status: error.status, code: error.code }).toEqual({ status: 405, code: 'UNSUPPORTED' })
    expect(error.message).toBe(
      `registry deleteManifest ns/app@${image.manifestDigest}: deletion is disabled in the registry (set storage.delete.enabled: true in its config) (HTTP 405 UNSUPPORTED)`,
    )
    expect(await client.resolveTag('ns/app', '1.0')).toBe(image.manifestDigest)
  })
})

describe('registry client against a stopped registry', () => {
  test('fails at once with RegistryUnavailableError', async () => {
    const registry = await startRegistry({ auth: 'none' })
    const client = createRegistryClient({
      config: registryConfig(registry, {
        authType: 'basic',
        login: 'x',
        password: new Secret('y'),
      }),
      signer: null,
      service: '',
      log: silent,
    })
    await registry.stop()

    const started = performance.now()
    const errors = await Promise.all([caught(client.ping()), caught(client.listRepositories())])

    expect(errors.map((error) => error instanceof RegistryUnavailableError)).toEqual([true, true])
    expect(errors.map((error) => (error as RegistryUnavailableError).kind)).toEqual([
      'unreachable',
      'unreachable',
    ])
    expect(performance.now() - started).toBeLessThan(2000)
  })
})

describe('registry client against a registry with basic auth', () => {
  const work = tempDir('registry-client-e2e-')
  const admin = { username: 'admin', password: 'admin-pw' }
  let registry: RunningRegistry
  let image: OciImage

  beforeAll(async () => {
    const htpasswd = join(work.path, 'htpasswd')
    await writeHtpasswd(htpasswd, { [admin.username]: admin.password }, { cost: 4 })
    registry = await startRegistry({ auth: { htpasswd: { path: htpasswd } } })
    image = await writeOciImage(join(work.path, 'oci'), { tag: '1.0' })
    const result = await skopeoCopy(image.ref, registry.ref('ns/app:1.0'), { destCreds: admin })
    if (result.exitCode !== 0) {
      throw new Error(`push failed: ${result.stderr}`)
    }
  })

  afterAll(async () => {
    await registry.stop()
    await work.remove()
  })

  const basic = (password: string) =>
    createRegistryClient({
      config: registryConfig(registry, {
        authType: 'basic',
        login: admin.username,
        password: new Secret(password),
      }),
      signer: null,
      service: '',
      log: silent,
    })

  test('lists and reads with registry.login and registry.password', async () => {
    const client = basic(admin.password)

    expect(await client.listRepositories()).toEqual(['ns/app'])
    expect(await client.listTags('ns/app')).toEqual(['1.0'])
    expect((await client.getManifest('ns/app', '1.0'))?.digest).toBe(image.manifestDigest)
  })

  test('reports a wrong password', async () => {
    const result = await basic('wrong').ping()

    expect({ ok: result.ok, status: result.status, message: result.error?.message }).toEqual({
      ok: false,
      status: 401,
      message:
        'registry ping: the registry refused registry.login and registry.password (HTTP 401 UNAUTHORIZED)',
    })
  })
})
