import { describe, expect, test } from 'bun:test'

import { buildEntry, createdOf, CreatedTimes, UnreadableManifestError } from './entry.ts'
import { FakeRegistry, pushImage, pushIndex } from './test-fakes.ts'

const PUSHED_AT = 1_700_000_000

const build = async (registry: FakeRegistry, repository: string, tag: string) => {
  const fetched = await registry.getManifest(repository, tag)
  if (fetched === null) {
    throw new Error('the manifest is missing')
  }

  return buildEntry(fetched, {
    registry,
    repository,
    tag,
    pushedAt: PUSHED_AT,
    createdTimes: new CreatedTimes(),
  })
}

describe('buildEntry', () => {
  test('records an OCI image with config plus layers as its size', async () => {
    const registry = new FakeRegistry()
    const image = pushImage(registry, 'ns/app', '1.0', { layers: ['a', 'bb'] })

    const entry = await build(registry, 'ns/app', '1.0')

    expect(entry).toEqual({
      repositoryName: 'ns/app',
      tag: '1.0',
      digest: image.digest,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      configDigest: image.config.digest,
      size: image.config.size + image.layers[0]!.size + image.layers[1]!.size,
      platforms: [],
      blobs: [image.config, ...image.layers],
      createdAt: Date.parse('2024-05-01T10:00:00Z') / 1000,
      pushedAt: PUSHED_AT,
      raw: entry.raw,
    })
    expect(JSON.parse(entry.raw)).toEqual(
      expect.objectContaining({ mediaType: 'application/vnd.oci.image.manifest.v1+json' }),
    )
  })

  test('records a Docker schema 2 image with its Docker media type', async () => {
    const registry = new FakeRegistry()
    const image = pushImage(registry, 'ns/app', 'v2s2', { format: 'v2s2' })

    const entry = await build(registry, 'ns/app', 'v2s2')

    expect({ ...entry, raw: '' }).toEqual({
      repositoryName: 'ns/app',
      tag: 'v2s2',
      digest: image.digest,
      mediaType: 'application/vnd.docker.distribution.manifest.v2+json',
      configDigest: image.config.digest,
      size: image.size,
      platforms: [],
      blobs: [image.config, ...image.layers],
      createdAt: image.createdAt,
      pushedAt: PUSHED_AT,
      raw: '',
    })
  })

  test('records an OCI index with one platform per child and the sum of their sizes', async () => {
    const registry = new FakeRegistry()
    const amd64 = pushImage(registry, 'ns/multi', undefined, {
      architecture: 'amd64',
      layers: ['amd64 layer'],
      created: '2024-01-01T00:00:00Z',
    })
    const arm64 = pushImage(registry, 'ns/multi', undefined, {
      architecture: 'arm64',
      layers: ['arm64 layer, a bit longer'],
      created: '2024-02-01T00:00:00Z',
    })
    const digest = pushIndex(registry, 'ns/multi', '1.0', [
      { digest: amd64.digest, size: amd64.manifestSize, architecture: 'amd64' },
      { digest: arm64.digest, size: arm64.manifestSize, architecture: 'arm64', variant: 'v8' },
    ])

    const entry = await build(registry, 'ns/multi', '1.0')

    expect({ ...entry, raw: '' }).toEqual({
      repositoryName: 'ns/multi',
      tag: '1.0',
      digest,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      configDigest: null,
      size: amd64.size + arm64.size,
      platforms: [
        { os: 'linux', architecture: 'amd64', digest: amd64.digest, size: amd64.size },
        {
          os: 'linux',
          architecture: 'arm64',
          variant: 'v8',
          digest: arm64.digest,
          size: arm64.size,
        },
      ],
      blobs: [amd64.config, ...amd64.layers, arm64.config, ...arm64.layers],
      createdAt: arm64.createdAt,
      pushedAt: PUSHED_AT,
      raw: '',
    })
  })

  test('counts a blob shared by two platforms once in the blob list', async () => {
    const registry = new FakeRegistry()
    const one = pushImage(registry, 'ns/multi', undefined, { architecture: 'amd64' })
    const two = pushImage(registry, 'ns/multi', undefined, { architecture: 'arm64' })
    pushIndex(registry, 'ns/multi', 'shared', [
      { digest: one.digest, size: one.manifestSize, architecture: 'amd64' },
      { digest: two.digest, size: two.manifestSize, architecture: 'arm64' },
    ])

    const entry = await build(registry, 'ns/multi', 'shared')

    expect(entry.blobs).toEqual([one.config, ...one.layers, two.config])
  })

  test('skips index children without a platform, such as attestations', async () => {
    const registry = new FakeRegistry()
    const image = pushImage(registry, 'ns/app', undefined)
    const digest = registry.putManifest(
      'ns/app',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: image.digest,
            size: image.manifestSize,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: `sha256:${'a'.repeat(64)}`,
            size: 500,
          },
        ],
      },
      'attested',
    )

    const entry = await build(registry, 'ns/app', 'attested')

    expect([entry.digest, entry.size, entry.platforms]).toEqual([
      digest,
      image.size,
      [{ os: 'linux', architecture: 'amd64', digest: image.digest, size: image.size }],
    ])
  })

  test('fails for an index whose child the registry does not have', async () => {
    const registry = new FakeRegistry()
    pushIndex(registry, 'ns/app', 'broken', [
      { digest: `sha256:${'b'.repeat(64)}`, size: 400, architecture: 'amd64' },
    ])

    const failure = await build(registry, 'ns/app', 'broken').catch((error: unknown) => error)

    expect(failure).toBeInstanceOf(UnreadableManifestError)
  })

  test('lists a schema 1 manifest with its digest and media type only', async () => {
    const registry = new FakeRegistry()
    const digest = registry.putManifest(
      'ns/old',
      {
        schemaVersion: 1,
        mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
        name: 'ns/old',
        tag: 'legacy',
        fsLayers: [],
      },
      'legacy',
    )

    const entry = await build(registry, 'ns/old', 'legacy')

    expect({ ...entry, raw: '' }).toEqual({
      repositoryName: 'ns/old',
      tag: 'legacy',
      digest,
      mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
      configDigest: null,
      size: 0,
      platforms: [],
      blobs: [],
      createdAt: null,
      pushedAt: PUSHED_AT,
      raw: '',
    })
  })

  test('leaves the creation time empty when the config blob is missing', async () => {
    const registry = new FakeRegistry()
    const layer = registry.putBlob('layer')
    registry.putManifest(
      'ns/app',
      {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: `sha256:${'c'.repeat(64)}`,
          size: 10,
        },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
      },
      'noconfig',
    )

    const entry = await build(registry, 'ns/app', 'noconfig')

    expect([entry.createdAt, entry.size]).toEqual([null, 10 + layer.size])
  })

  test('reads each config blob once for tags that share it', async () => {
    const registry = new FakeRegistry()
    const image = pushImage(registry, 'ns/app', '1.0')
    registry.tag('ns/app', '1.1', image.digest)
    const createdTimes = new CreatedTimes()

    for (const tag of ['1.0', '1.1']) {
      const fetched = (await registry.getManifest('ns/app', tag))!
      await buildEntry(fetched, { registry, repository: 'ns/app', tag, pushedAt: 1, createdTimes })
    }

    expect(registry.calls.filter(([operation]) => operation === 'getBlob')).toEqual([
      ['getBlob', 'ns/app', image.config.digest],
    ])
  })
})

describe('createdOf', () => {
  test.each([
    ['{"created":"2024-05-01T10:00:00Z"}', 1714557600],
    ['{"created":"2024-05-01T10:00:00.123456789Z"}', 1714557600],
    ['{"created":"yesterday"}', null],
    ['{"architecture":"amd64"}', null],
    ['not json', null],
    ['null', null],
  ])('reads %s as %p', (text, expected) => {
    expect(createdOf(new TextEncoder().encode(text))).toBe(expected)
  })
})
