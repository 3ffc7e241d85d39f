import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import {
  buildTar,
  OCI_CONFIG_TYPE,
  OCI_INDEX_TYPE,
  OCI_LAYER_TYPE,
  OCI_MANIFEST_TYPE,
  sha256Digest,
  writeOciImage,
  writeOciIndex,
} from './oci-image.ts'
import { skopeoInspect } from './skopeo.ts'
import { tempDir } from './temp.ts'

const blob = (dir: string, digest: string) =>
  Bun.file(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)))

describe('buildTar', () => {
  test('writes a ustar archive that GNU tar lists and extracts', async () => {
    await using dir = tempDir('tar-')
    const archive = join(dir.path, 'a.tar')
    await Bun.write(archive, buildTar({ 'b/nested.txt': 'nested\n', 'a.txt': 'x'.repeat(600) }))

    const listing = Bun.spawnSync(['tar', '-tvf', archive]).stdout.toString()
    const extracted = Bun.spawnSync(['tar', '-xOf', archive, 'b/nested.txt']).stdout.toString()

    expect(listing.split('\n').filter(Boolean)).toEqual([
      expect.stringMatching(/^-rw-r--r-- 0\/0 +600 1970-01-01 00:00 a\.txt$/),
      expect.stringMatching(/^-rw-r--r-- 0\/0 +7 1970-01-01 00:00 b\/nested\.txt$/),
    ])
    expect(extracted).toBe('nested\n')
  })

  test('rejects a path longer than 100 bytes', () => {
    expect(() => buildTar({ ['x'.repeat(101)]: '' })).toThrow('1 to 100 bytes, got 101')
  })
})

describe('writeOciImage', () => {
  test('writes a layout whose blobs match the returned digests', async () => {
    await using dir = tempDir('oci-')

    const image = await writeOciImage(dir.path, { tag: '1.0', arch: 'arm64' })

    const manifest = await blob(dir.path, image.manifestDigest).json()
    const config = await blob(dir.path, image.configDigest).json()
    const layer = await blob(dir.path, image.layerDigests[0] as string).bytes()
    expect(manifest).toEqual({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST_TYPE,
      config: { mediaType: OCI_CONFIG_TYPE, digest: image.configDigest, size: image.sizes.config },
      layers: [
        { mediaType: OCI_LAYER_TYPE, digest: image.layerDigests[0], size: image.sizes.layers[0] },
      ],
    })
    expect(config.architecture).toBe('arm64')
    expect(config.os).toBe('linux')
    expect(config.rootfs).toEqual({ type: 'layers', diff_ids: image.diffIds })
    expect(sha256Digest(Bun.gunzipSync(layer))).toBe(image.diffIds[0] as string)
    expect(await Bun.file(join(dir.path, 'oci-layout')).json()).toEqual({
      imageLayoutVersion: '1.0.0',
    })
    expect(image.ref).toBe(`oci:${dir.path}:1.0`)
  })

  test('gives the same digests for the same inputs and new ones with randomBytes', async () => {
    await using a = tempDir('oci-')
    await using b = tempDir('oci-')
    const files = { 'etc/motd': 'hi\n', bin: new Uint8Array([0, 1, 2]) }

    const first = await writeOciImage(a.path, { tag: 't', files })
    const second = await writeOciImage(b.path, { tag: 't', files })
    const random1 = await writeOciImage(a.path, { tag: 't', files, randomBytes: 70_000 })
    const random2 = await writeOciImage(b.path, { tag: 't', files, randomBytes: 70_000 })

    expect(second).toEqual({ ...first, ref: `oci:${b.path}:t` })
    expect(random1.manifestDigest).not.toBe(first.manifestDigest)
    expect(random2.manifestDigest).not.toBe(random1.manifestDigest)
  })

  test('keeps other tags of the layout and replaces the same tag', async () => {
    await using dir = tempDir('oci-')

    await writeOciImage(dir.path, { tag: 'old' })
    const a = await writeOciImage(dir.path, { tag: 'a' })
    const replaced = await writeOciImage(dir.path, { tag: 'old', files: { f: 'new' } })

    const index = await Bun.file(join(dir.path, 'index.json')).json()
    expect(index.manifests.map((m: { digest: string }) => m.digest)).toEqual([
      a.manifestDigest,
      replaced.manifestDigest,
    ])
  })

  test('is accepted by skopeo inspect', async () => {
    await using dir = tempDir('oci-')
    const image = await writeOciImage(dir.path, { tag: '1.0', os: 'linux', arch: 'amd64' })

    const result = await skopeoInspect(image.ref)

    expect(result.exitCode).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      Digest: image.manifestDigest,
      Architecture: 'amd64',
      Os: 'linux',
      Layers: image.layerDigests,
    })
  })
})

describe('writeOciIndex', () => {
  test('writes an index with one child per platform', async () => {
    await using dir = tempDir('oci-')

    const index = await writeOciIndex(dir.path, {
      tag: 'multi',
      platforms: [
        { arch: 'amd64', os: 'linux' },
        { arch: 'arm64', os: 'linux', variant: 'v8' },
      ],
    })

    const stored = await blob(dir.path, index.indexDigest).json()
    const [amd64, arm64] = index.manifests
    expect(stored).toEqual({
      schemaVersion: 2,
      mediaType: OCI_INDEX_TYPE,
      manifests: [
        {
          mediaType: OCI_MANIFEST_TYPE,
          digest: amd64?.manifestDigest,
          size: amd64?.sizes.manifest,
          platform: { architecture: 'amd64', os: 'linux' },
        },
        {
          mediaType: OCI_MANIFEST_TYPE,
          digest: arm64?.manifestDigest,
          size: arm64?.sizes.manifest,
          platform: { architecture: 'arm64', os: 'linux', variant: 'v8' },
        },
      ],
    })
    expect(amd64?.layerDigests).not.toEqual(arm64?.layerDigests)
  })

  test('lets skopeo pick a platform from the index', async () => {
    await using dir = tempDir('oci-')
    const index = await writeOciIndex(dir.path, {
      tag: 'multi',
      platforms: [
        { arch: 'amd64', os: 'linux' },
        { arch: 'arm64', os: 'linux' },
      ],
    })

    const result = await skopeoInspect(index.ref, { overrideArch: 'arm64' })

    // skopeo reports the index digest, with the chosen child's platform and layers.
    expect(result.exitCode).toBe(0)
    expect(JSON.parse(result.stdout)).toMatchObject({
      Digest: index.indexDigest,
      Architecture: 'arm64',
      Layers: index.manifests[1]?.layerDigests,
    })
  })

  test('rejects an empty platform list', async () => {
    await using dir = tempDir('oci-')

    await expect(writeOciIndex(dir.path, { tag: 'x', platforms: [] })).rejects.toThrow(
      'at least one platform',
    )
  })
})
