import { describe, expect, test } from 'bun:test'
import { MANIFEST_ACCEPT, MEDIA_TYPES, parseManifest } from './manifest.ts'

const d = (char: string) => `sha256:${char.repeat(64)}`
const bytes = (value: unknown) => new TextEncoder().encode(JSON.stringify(value, null, 3))

/** A Docker schema 2 manifest as registry 2.8 stores what `skopeo copy --format v2s2` pushes. */
const DOCKER_V2 = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.dockerManifest,
  config: {
    mediaType: 'application/vnd.docker.container.image.v1+json',
    size: 285,
    digest: d('a'),
  },
  layers: [
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 116, digest: d('b') },
    { mediaType: 'application/vnd.docker.image.rootfs.diff.tar.gzip', size: 2000, digest: d('c') },
  ],
}

/** An OCI manifest without its optional `mediaType` field, with annotations. */
const OCI_IMAGE = {
  schemaVersion: 2,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d('1'), size: 10 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d('2'), size: 20 }],
  annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z', ignored: 5 },
}

/** A BuildKit-style index: two platforms plus an attestation entry without a real platform. */
const OCI_INDEX = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociIndex,
  manifests: [
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('3'),
      size: 480,
      platform: { architecture: 'amd64', os: 'linux' },
    },
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('4'),
      size: 481,
      platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
    },
    {
      mediaType: MEDIA_TYPES.ociManifest,
      digest: d('5'),
      size: 566,
      annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
      platform: { architecture: 'unknown', os: 'unknown' },
    },
  ],
}

const DOCKER_LIST = {
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.dockerManifestList,
  manifests: [
    {
      mediaType: MEDIA_TYPES.dockerManifest,
      digest: d('6'),
      size: 528,
      platform: { architecture: 'arm', os: 'linux', variant: 'v7' },
    },
    { mediaType: MEDIA_TYPES.dockerManifest, digest: d('7'), size: 528 },
  ],
}

/** A signed schema 1 manifest, trimmed. */
const SCHEMA1 = {
  schemaVersion: 1,
  name: 'ns/old',
  tag: 'latest',
  architecture: 'amd64',
  fsLayers: [{ blobSum: d('8') }],
  history: [{ v1Compatibility: '{}' }],
  signatures: [{ header: {}, signature: 'x', protected: 'y' }],
}

describe('parseManifest', () => {
  test('reads a Docker schema 2 image and sums config and layers', () => {
    expect(parseManifest(bytes(DOCKER_V2), MEDIA_TYPES.dockerManifest)).toEqual({
      type: 'image',
      mediaType: MEDIA_TYPES.dockerManifest,
      config: DOCKER_V2.config,
      layers: DOCKER_V2.layers,
      totalSize: 285 + 116 + 2000,
    })
  })

  test('reads an OCI image without a mediaType field from the Content-Type', () => {
    expect(parseManifest(bytes(OCI_IMAGE), `${MEDIA_TYPES.ociManifest}; charset=utf-8`)).toEqual({
      type: 'image',
      mediaType: MEDIA_TYPES.ociManifest,
      config: OCI_IMAGE.config,
      layers: OCI_IMAGE.layers,
      totalSize: 30,
      annotations: { 'org.opencontainers.image.created': '2026-01-01T00:00:00Z' },
    })
  })

  test('recognises an image by its shape when no type is given', () => {
    expect(parseManifest(bytes(OCI_IMAGE), 'application/json')).toMatchObject({
      type: 'image',
      mediaType: MEDIA_TYPES.ociManifest,
    })
    expect(parseManifest(bytes({ schemaVersion: 2, manifests: [] }), null)).toEqual({
      type: 'index',
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [],
    })
  })

  test('lists the platforms of an OCI index', () => {
    expect(parseManifest(bytes(OCI_INDEX), MEDIA_TYPES.ociIndex)).toEqual({
      type: 'index',
      mediaType: MEDIA_TYPES.ociIndex,
      manifests: [
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: d('3'),
          size: 480,
          platform: { os: 'linux', architecture: 'amd64' },
        },
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: d('4'),
          size: 481,
          platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
        },
        {
          mediaType: MEDIA_TYPES.ociManifest,
          digest: d('5'),
          size: 566,
          annotations: { 'vnd.docker.reference.type': 'attestation-manifest' },
          platform: { os: 'unknown', architecture: 'unknown' },
        },
      ],
    })
  })

  test('reads a Docker manifest list, with null for an entry without platform', () => {
    expect(parseManifest(bytes(DOCKER_LIST), MEDIA_TYPES.dockerManifestList)).toEqual({
      type: 'index',
      mediaType: MEDIA_TYPES.dockerManifestList,
      manifests: [
        {
          mediaType: MEDIA_TYPES.dockerManifest,
          digest: d('6'),
          size: 528,
          platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
        },
        { mediaType: MEDIA_TYPES.dockerManifest, digest: d('7'), size: 528, platform: null },
      ],
    })
  })

  test('keeps artifactType and subject of an artifact manifest', () => {
    const artifact = {
      ...OCI_IMAGE,
      mediaType: MEDIA_TYPES.ociManifest,
      artifactType: 'application/vnd.example.sbom',
      subject: { mediaType: MEDIA_TYPES.ociManifest, digest: d('9'), size: 400 },
      annotations: undefined,
    }

    expect(parseManifest(bytes(artifact), MEDIA_TYPES.ociManifest)).toEqual({
      type: 'image',
      mediaType: MEDIA_TYPES.ociManifest,
      config: OCI_IMAGE.config,
      layers: OCI_IMAGE.layers,
      totalSize: 30,
      artifactType: 'application/vnd.example.sbom',
      subject: { mediaType: MEDIA_TYPES.ociManifest, digest: d('9'), size: 400 },
    })
  })

  test.each([[MEDIA_TYPES.dockerSchema1Signed], [MEDIA_TYPES.dockerSchema1], ['application/json']])(
    'reports a schema 1 manifest served as %s as unsupported',
    (mediaType) => {
      expect(parseManifest(bytes(SCHEMA1), mediaType)).toEqual({
        type: 'unsupported',
        mediaType: mediaType === 'application/json' ? 'application/json' : mediaType,
        reason:
          'Docker schema 1 manifests are not supported; re-push the image with a current client',
      })
    },
  )

  test('reports an unknown manifest type as unsupported', () => {
    const helm = { schemaVersion: 2, mediaType: 'application/vnd.example.thing+json' }

    expect(parseManifest(bytes(helm), null)).toEqual({
      type: 'unsupported',
      mediaType: 'application/vnd.example.thing+json',
      reason: "the manifest type 'application/vnd.example.thing+json' is not supported",
    })
  })

  test.each([
    ['not json', 'the manifest is not JSON'],
    ['[1,2]', 'the manifest is not a JSON object'],
    [
      JSON.stringify({ ...DOCKER_V2, config: { mediaType: 'x', digest: 'md5:abc', size: 1 } }),
      'the image manifest has no valid config descriptor',
    ],
    [JSON.stringify({ ...DOCKER_V2, layers: 'none' }), 'the image manifest has no layers list'],
    [
      JSON.stringify({ ...DOCKER_V2, layers: [{ mediaType: 'x', digest: d('a'), size: -1 }] }),
      'layer 0 is not a valid descriptor',
    ],
    [
      JSON.stringify({ ...DOCKER_V2, layers: [{ mediaType: 'x', digest: d('a'), size: 1.5 }] }),
      'layer 0 is not a valid descriptor',
    ],
  ])('reports %p as invalid', (text, reason) => {
    const result = parseManifest(new TextEncoder().encode(text), MEDIA_TYPES.dockerManifest)

    expect(result).toEqual({ type: 'invalid', mediaType: MEDIA_TYPES.dockerManifest, reason })
  })

  test('reports an index with a broken entry as invalid', () => {
    const broken = { ...OCI_INDEX, manifests: [{ mediaType: 'x', size: 1 }] }

    expect(parseManifest(bytes(broken), null)).toEqual({
      type: 'invalid',
      mediaType: MEDIA_TYPES.ociIndex,
      reason: 'index entry 0 is not a valid descriptor',
    })
  })

  test('reports bytes that are not UTF-8 as invalid', () => {
    expect(parseManifest(new Uint8Array([0xff, 0xfe, 0x7b]), null)).toEqual({
      type: 'invalid',
      mediaType: '',
      reason: 'the manifest is not JSON',
    })
  })
})

describe('MANIFEST_ACCEPT', () => {
  test('asks for indexes and images of both families, schema 1 last', () => {
    expect(MANIFEST_ACCEPT.split(', ')).toEqual([
      'application/vnd.oci.image.index.v1+json',
      'application/vnd.oci.image.manifest.v1+json',
      'application/vnd.docker.distribution.manifest.list.v2+json',
      'application/vnd.docker.distribution.manifest.v2+json',
      'application/vnd.docker.distribution.manifest.v1+prettyjws',
      'application/vnd.docker.distribution.manifest.v1+json',
    ])
  })
})
