/**
 * Writes small OCI image layouts by hand, so tests can push real images without Docker.
 *
 * `writeOciImage(dir, { tag })` produces a one-layer image that `skopeo copy oci:DIR:TAG …`
 * accepts; `writeOciIndex(dir, { tag, platforms })` produces a multi-platform image index for
 * `skopeo copy --all`. The output is byte-for-byte deterministic for the same inputs (sorted
 * tar entries, mtime 0, fixed `created` times) unless `randomBytes` asks for random content.
 * Several tags can share one layout directory: `index.json` is merged, not overwritten.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'

export const OCI_MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json'
export const OCI_INDEX_TYPE = 'application/vnd.oci.image.index.v1+json'
export const OCI_CONFIG_TYPE = 'application/vnd.oci.image.config.v1+json'
export const OCI_LAYER_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip'

const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name'
const EPOCH = '1970-01-01T00:00:00Z'
const TAR_BLOCK = 512

/** Options of {@link writeOciImage}. */
export interface OciImageOptions {
  /** Tag stored as `org.opencontainers.image.ref.name`; address it as `oci:DIR:TAG`. */
  tag: string
  /**
   * Files of the single layer, by path inside the image (at most 100 bytes per path).
   * @default { 'hello.txt': 'hello from <tag>\n' }
   */
  files?: Record<string, string | Uint8Array>
  /** Adds `random.bin` with this many random bytes, so every call yields a new digest. */
  randomBytes?: number
  /** @default 'amd64' */
  arch?: string
  /** @default 'linux' */
  os?: string
  /** Architecture variant, for example `v8` for arm64. Omitted when not given. */
  variant?: string
}

/** Digests and sizes of what {@link writeOciImage} wrote. Digests are `sha256:<hex>`. */
export interface OciImage {
  /** `oci:<dir>:<tag>`, ready for skopeo. */
  ref: string
  manifestDigest: string
  configDigest: string
  layerDigests: string[]
  /** Digest of the uncompressed layer tar, as listed in the config's `rootfs.diff_ids`. */
  diffIds: string[]
  sizes: { manifest: number; config: number; layers: number[] }
}

/** One platform of an index written by {@link writeOciIndex}. */
export interface OciPlatform {
  arch: string
  os: string
  variant?: string
}

/** Options of {@link writeOciIndex}. */
export interface OciIndexOptions {
  /** Tag of the index; address it as `oci:DIR:TAG` and copy it with `skopeo copy --all`. */
  tag: string
  /** One image per platform, each with its own layer so the child digests differ. */
  platforms: OciPlatform[]
  /** Adds this many random bytes to every platform's layer. */
  randomBytes?: number
}

/** What {@link writeOciIndex} wrote. */
export interface OciIndex {
  /** `oci:<dir>:<tag>`, ready for skopeo. */
  ref: string
  indexDigest: string
  indexSize: number
  /** The child images, in the order of `platforms`. */
  manifests: Array<OciImage & { platform: OciPlatform }>
}

interface Descriptor {
  mediaType: string
  digest: string
  size: number
  platform?: { architecture: string; os: string; variant?: string }
  annotations?: Record<string, string>
}

/**
 * Writes a one-layer OCI image into the layout at `dir` (created if missing) and tags it.
 * An existing entry with the same tag in `index.json` is replaced; other tags are kept.
 *
 * @throws Error when a file path is empty or longer than 100 bytes.
 */
export async function writeOciImage(dir: string, options: OciImageOptions): Promise<OciImage> {
  const image = await writeImageBlobs(dir, options)
  await tagInLayout(dir, options.tag, {
    mediaType: OCI_MANIFEST_TYPE,
    digest: image.manifestDigest,
    size: image.sizes.manifest,
  })

  return { ...image, ref: ociRef(dir, options.tag) }
}

/**
 * Writes one image per platform plus an OCI image index over them into the layout at `dir`,
 * and tags the index. Only the index is tagged; the children are reachable through it.
 *
 * @throws Error when `platforms` is empty.
 */
export async function writeOciIndex(dir: string, options: OciIndexOptions): Promise<OciIndex> {
  if (options.platforms.length === 0) {
    throw new Error('writeOciIndex needs at least one platform')
  }

  const manifests: OciIndex['manifests'] = []
  for (const platform of options.platforms) {
    const name = [platform.os, platform.arch, platform.variant].filter(Boolean).join('/')
    const image = await writeImageBlobs(dir, {
      tag: options.tag,
      files: { 'platform.txt': `${options.tag} for ${name}\n` },
      randomBytes: options.randomBytes,
      arch: platform.arch,
      os: platform.os,
      variant: platform.variant,
    })
    manifests.push({ ...image, ref: ociRef(dir, options.tag), platform })
  }

  const index = jsonBytes({
    schemaVersion: 2,
    mediaType: OCI_INDEX_TYPE,
    manifests: manifests.map((m) => ({
      mediaType: OCI_MANIFEST_TYPE,
      digest: m.manifestDigest,
      size: m.sizes.manifest,
      platform: platformField(m.platform.arch, m.platform.os, m.platform.variant),
    })),
  })
  const indexDigest = await writeBlob(dir, index)
  await tagInLayout(dir, options.tag, {
    mediaType: OCI_INDEX_TYPE,
    digest: indexDigest,
    size: index.length,
  })

  return { ref: ociRef(dir, options.tag), indexDigest, indexSize: index.length, manifests }
}

/** The skopeo reference of a tag in an OCI layout: `oci:<dir>:<tag>`. */
export function ociRef(dir: string, tag: string): string {
  return `oci:${dir}:${tag}`
}

/** `sha256:<hex>` of `data`. */
export function sha256Digest(data: Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher('sha256').update(data).digest('hex')}`
}

/**
 * Builds an uncompressed ustar archive of regular files (mode 0644, uid/gid 0, mtime 0),
 * sorted by path so the bytes depend only on the contents.
 *
 * @throws Error when a path is empty or longer than 100 bytes.
 */
export function buildTar(files: Record<string, string | Uint8Array>): Uint8Array<ArrayBuffer> {
  const encoder = new TextEncoder()
  const parts: Uint8Array[] = []
  const names = Object.keys(files).sort()

  for (const name of names) {
    const raw = files[name] as string | Uint8Array
    const body = typeof raw === 'string' ? encoder.encode(raw) : raw
    parts.push(tarHeader(name, body.length))
    parts.push(body)
    parts.push(new Uint8Array(padding(body.length)))
  }
  parts.push(new Uint8Array(TAR_BLOCK * 2))

  return concat(parts)
}

async function writeImageBlobs(
  dir: string,
  options: OciImageOptions,
): Promise<Omit<OciImage, 'ref'>> {
  const { tag, arch = 'amd64', os = 'linux', variant } = options
  const files: Record<string, string | Uint8Array> = {
    ...(options.files ?? { 'hello.txt': `hello from ${tag}\n` }),
  }
  if (options.randomBytes !== undefined && options.randomBytes > 0) {
    files['random.bin'] = randomContent(options.randomBytes)
  }

  const tar = buildTar(files)
  const layer = Bun.gzipSync(tar)
  const diffId = sha256Digest(tar)
  const config = jsonBytes({
    created: EPOCH,
    ...platformField(arch, os, variant),
    config: {},
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: EPOCH, created_by: 'writeOciImage' }],
  })

  const layerDigest = await writeBlob(dir, layer)
  const configDigest = await writeBlob(dir, config)
  const manifest = jsonBytes({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST_TYPE,
    config: { mediaType: OCI_CONFIG_TYPE, digest: configDigest, size: config.length },
    layers: [{ mediaType: OCI_LAYER_TYPE, digest: layerDigest, size: layer.length }],
  })
  const manifestDigest = await writeBlob(dir, manifest)

  return {
    manifestDigest,
    configDigest,
    layerDigests: [layerDigest],
    diffIds: [diffId],
    sizes: { manifest: manifest.length, config: config.length, layers: [layer.length] },
  }
}

/** Adds or replaces the `index.json` entry for `tag` and makes sure `oci-layout` exists. */
async function tagInLayout(dir: string, tag: string, descriptor: Descriptor): Promise<void> {
  const indexFile = Bun.file(join(dir, 'index.json'))
  const existing: { manifests?: Descriptor[] } = (await indexFile.exists())
    ? await indexFile.json()
    : {}
  const others = (existing.manifests ?? []).filter(
    (m) => m.annotations?.[REF_NAME_ANNOTATION] !== tag,
  )
  const entry = { ...descriptor, annotations: { [REF_NAME_ANNOTATION]: tag } }

  await Bun.write(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }))
  await Bun.write(
    indexFile,
    JSON.stringify({ schemaVersion: 2, mediaType: OCI_INDEX_TYPE, manifests: [...others, entry] }),
  )
}

async function writeBlob(dir: string, data: Uint8Array): Promise<string> {
  const digest = sha256Digest(data)
  const blobDir = join(dir, 'blobs', 'sha256')
  await mkdir(blobDir, { recursive: true })
  await Bun.write(join(blobDir, digest.slice('sha256:'.length)), data)

  return digest
}

function platformField(architecture: string, os: string, variant?: string) {
  return variant === undefined ? { architecture, os } : { architecture, os, variant }
}

function tarHeader(name: string, size: number): Uint8Array {
  const encoder = new TextEncoder()
  const nameBytes = encoder.encode(name)
  if (nameBytes.length === 0 || nameBytes.length > 100) {
    throw new Error(`tar entry name must be 1 to 100 bytes, got ${nameBytes.length}: ${name}`)
  }

  const header = new Uint8Array(TAR_BLOCK)
  const put = (offset: number, text: string) => header.set(encoder.encode(text), offset)
  const octal = (value: number, width: number) => value.toString(8).padStart(width - 1, '0')
  header.set(nameBytes, 0)
  put(100, octal(0o644, 8))
  put(108, octal(0, 8))
  put(116, octal(0, 8))
  put(124, octal(size, 12))
  put(136, octal(0, 12))
  put(148, ' '.repeat(8))
  put(156, '0')
  put(257, 'ustar\u000000')

  // The checksum is the byte sum of the header with its own field read as spaces.
  const checksum = header.reduce((sum, byte) => sum + byte, 0)
  put(148, `${octal(checksum, 7)}\u0000 `)

  return header
}

function padding(length: number): number {
  return (TAR_BLOCK - (length % TAR_BLOCK)) % TAR_BLOCK
}

function randomContent(length: number): Uint8Array {
  const out = new Uint8Array(length)
  // getRandomValues fills at most 65536 bytes per call.
  for (let offset = 0; offset < length; offset += 65536) {
    crypto.getRandomValues(out.subarray(offset, Math.min(offset + 65536, length)))
  }

  return out
}

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value))
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((sum, p) => sum + p.length, 0))
  let offset = 0
  for (const part of parts) {
    out.set(part, offset)
    offset += part.length
  }

  return out
}
