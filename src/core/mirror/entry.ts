import type { ImageManifest, IndexManifest, ManifestResult } from '../registry-client/index.ts'
import { RegistryError } from '../registry-client/index.ts'
import type { BlobRef, NewRepositoryEntry, Platform } from '../store.ts'
import type { MirrorRegistry } from './types.ts'

/** Largest image config read for its creation time. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024

/** Config creation times remembered by digest (a digest names fixed content). */
const CREATED_CACHE_ENTRIES = 10_000

/** A manifest the registry serves but the mirror cannot record: it names no readable content. */
export class UnreadableManifestError extends Error {
  constructor(message: string) {
    super(message)
    this.name = new.target.name
  }
}

/**
 * Remembers the creation time read from each image config, so that a config shared by many
 * tags (or seen again by the next sync) is fetched once.
 */
export class CreatedTimes {
  readonly #times = new Map<string, number | null>()

  /**
   * The `created` time (unix seconds) of a config blob, or `null` when the blob is missing, too
   * large, not JSON or without a valid `created`.
   * @throws RegistryError when the registry cannot be read (the caller retries later)
   */
  async of(registry: MirrorRegistry, repository: string, digest: string): Promise<number | null> {
    if (this.#times.has(digest)) {
      return this.#times.get(digest) ?? null
    }
    const created = await readCreated(registry, repository, digest)
    if (this.#times.size >= CREATED_CACHE_ENTRIES) {
      this.#times.clear()
    }
    this.#times.set(digest, created)

    return created
  }
}

/** What {@link buildEntry} needs besides the manifest. */
export interface BuildEntryOptions {
  registry: MirrorRegistry
  repository: string
  tag: string
  /** When the tag was pushed or first seen, in unix seconds. */
  pushedAt: number
  createdTimes: CreatedTimes
}

/**
 * Turns the manifest a tag points at into its mirror row:
 * - an image (OCI or Docker schema 2): size = config plus layers, its config digest, the
 *   creation time from the config blob, and every blob;
 * - an index or manifest list: one platform per child that names one (each child manifest is
 *   fetched for its size), size = the sum over platforms, no config digest, the newest creation
 *   time of the children, and the blobs of every child;
 * - a manifest the mirror does not interpret (Docker schema 1): listed with its digest and
 *   media type only, size 0.
 *
 * NOTE: index children without a platform (build attestations, signatures) are neither platforms
 * nor fetched, so their blobs do not count in the sizes.
 *
 * @throws UnreadableManifestError for a manifest that is not valid JSON of its type, or an index
 * whose child is missing; RegistryError when the registry cannot be read.
 */
export async function buildEntry(
  fetched: ManifestResult,
  options: BuildEntryOptions,
): Promise<NewRepositoryEntry> {
  const base = {
    repositoryName: options.repository,
    tag: options.tag,
    digest: fetched.digest,
    mediaType: fetched.manifest.mediaType || fetched.mediaType,
    pushedAt: options.pushedAt,
    raw: new TextDecoder().decode(fetched.bytes),
  }
  const { manifest } = fetched

  switch (manifest.type) {
    case 'image':
      return { ...base, ...(await imageFields(manifest, options)), platforms: [] }
    case 'index':
      return { ...base, ...(await indexFields(manifest, options)) }
    case 'unsupported':
      return { ...base, configDigest: null, size: 0, platforms: [], blobs: [], createdAt: null }
    case 'invalid':
      throw new UnreadableManifestError(`the manifest cannot be read: ${manifest.reason}`)
  }
}

async function imageFields(manifest: ImageManifest, options: BuildEntryOptions) {
  const { registry, repository, createdTimes } = options

  return {
    configDigest: manifest.config.digest,
    size: manifest.totalSize,
    blobs: blobsOf(manifest),
    createdAt: await createdTimes.of(registry, repository, manifest.config.digest),
  }
}

async function indexFields(manifest: IndexManifest, options: BuildEntryOptions) {
  const platforms: Platform[] = []
  const blobs = new Map<string, BlobRef>()
  let createdAt: number | null = null

  for (const child of manifest.manifests) {
    if (child.platform === null) {
      continue
    }
    const image = await childImage(child.digest, options)
    const platform: Platform = {
      os: child.platform.os,
      architecture: child.platform.architecture,
      digest: child.digest,
      size: image?.totalSize ?? child.size,
    }
    if (child.platform.variant !== undefined) {
      platform.variant = child.platform.variant
    }
    platforms.push(platform)
    if (image === null) {
      continue
    }
    for (const blob of blobsOf(image)) {
      blobs.set(blob.digest, blob)
    }
    const created = await options.createdTimes.of(
      options.registry,
      options.repository,
      image.config.digest,
    )
    if (created !== null && (createdAt === null || created > createdAt)) {
      createdAt = created
    }
  }

  return {
    configDigest: null,
    size: platforms.reduce((sum, platform) => sum + platform.size, 0),
    platforms,
    blobs: [...blobs.values()],
    createdAt,
  }
}

/** The child as an image; `null` for a child that is itself an index or not understood. */
async function childImage(digest: string, options: BuildEntryOptions) {
  const child = await options.registry.getManifest(options.repository, digest)
  if (child === null) {
    throw new UnreadableManifestError(`the index names ${digest}, which the registry does not have`)
  }

  return child.manifest.type === 'image' ? child.manifest : null
}

function blobsOf(manifest: ImageManifest): BlobRef[] {
  return [manifest.config, ...manifest.layers].map(({ digest, size }) => ({ digest, size }))
}

async function readCreated(
  registry: MirrorRegistry,
  repository: string,
  digest: string,
): Promise<number | null> {
  let blob
  try {
    blob = await registry.getBlob(repository, digest, { maxBytes: MAX_CONFIG_BYTES })
  } catch (error) {
    // a config too big or with the wrong bytes is not worth failing the tag for
    if (
      error instanceof RegistryError &&
      (error.kind === 'too-large' || error.kind === 'invalid')
    ) {
      return null
    }
    throw error
  }
  if (blob === null) {
    return null
  }

  return createdOf(blob.bytes)
}

/** The `created` field of an image config, in unix seconds; `null` when absent or unreadable. */
export function createdOf(bytes: Uint8Array): number | null {
  let config: unknown
  try {
    config = JSON.parse(new TextDecoder().decode(bytes))
  } catch {
    return null
  }
  const created = (config as { created?: unknown } | null)?.created
  if (typeof created !== 'string') {
    return null
  }
  const ms = Date.parse(created)

  return Number.isFinite(ms) ? Math.floor(ms / 1000) : null
}
