/**
 * In-memory stand-ins for the store's mirror methods and for the registry, for the mirror's
 * unit tests. The fake registry serves manifests and blobs from maps and can be told to fail
 * particular calls, the way a real registry fails (a 401, a refused connection).
 */
import type { NewRepositoryEntry, RepositoryEntry, Store, UpsertOutcome } from '../store.ts'
import {
  BlobTooLargeError,
  RegistryError,
  RegistryUnavailableError,
} from '../registry-client/errors.ts'
import { parseManifest } from '../registry-client/manifest.ts'
import { digestOf } from '../registry-client/names.ts'
import type { BlobResult, ManifestHead, ManifestResult } from '../registry-client/index.ts'
import type { MirrorRegistry } from './types.ts'

/** The mirror methods of the store, kept in maps; every other method throws. */
export function fakeMirrorStore(): Store & { rows: () => RepositoryEntry[] } {
  const rows = new Map<string, RepositoryEntry>()
  const settings = new Map<string, string>()
  const events = new Map<string, number>()
  let nextId = 1
  const key = (repository: string, tag: string) => `${repository}\0${tag}`
  const sorted = () =>
    [...rows.values()].sort(
      (a, b) => a.repositoryName.localeCompare(b.repositoryName) || a.tag.localeCompare(b.tag),
    )

  const mirror = {
    rows: sorted,
    upsertRepositoryEntry(entry: NewRepositoryEntry): UpsertOutcome {
      const old = rows.get(key(entry.repositoryName, entry.tag))
      if (old === undefined) {
        rows.set(key(entry.repositoryName, entry.tag), { ...entry, id: nextId++, pullCount: 0 })
        return 'added'
      }
      const next = { ...entry, id: old.id, pullCount: old.pullCount }
      rows.set(key(entry.repositoryName, entry.tag), next)
      return JSON.stringify(next) === JSON.stringify(old) ? 'unchanged' : 'changed'
    },
    getRepositoryEntry: (repository: string, tag: string) => rows.get(key(repository, tag)) ?? null,
    listRepositoryEntries: (repository: string) =>
      sorted().filter((row) => row.repositoryName === repository),
    listRepositoryNames: () => [...new Set(sorted().map((row) => row.repositoryName))],
    deleteRepositoryTags(repository: string, tags: readonly string[]): number {
      return tags.filter((tag) => rows.delete(key(repository, tag))).length
    },
    deleteRepositoryDigest(repository: string, digest: string): string[] {
      const gone = sorted().filter((r) => r.repositoryName === repository && r.digest === digest)
      gone.forEach((row) => rows.delete(key(repository, row.tag)))
      return gone.map((row) => row.tag)
    },
    deleteRepository(repository: string): number {
      const gone = sorted().filter((row) => row.repositoryName === repository)
      gone.forEach((row) => rows.delete(key(repository, row.tag)))
      return gone.length
    },
    addPulls(repository: string, target: { tag: string } | { digest: string }, count: number) {
      for (const row of rows.values()) {
        const hit = 'tag' in target ? row.tag === target.tag : row.digest === target.digest
        if (row.repositoryName === repository && hit) {
          row.pullCount += count
        }
      }
    },
    recordEventId(eventId: string, now: number, forgetBefore: number): boolean {
      for (const [id, at] of events) {
        if (at < forgetBefore) {
          events.delete(id)
        }
      }
      if (events.has(eventId)) {
        return false
      }
      events.set(eventId, now)
      return true
    },
    getSetting: (name: string) => settings.get(name) ?? null,
    setSetting: (name: string, value: string) => void settings.set(name, value),
    close: () => undefined,
    [Symbol.dispose]: () => undefined,
  }

  return new Proxy(mirror, {
    get(target, property) {
      if (property in target) {
        return target[property as keyof typeof target]
      }
      throw new Error(`the fake mirror store has no ${String(property)}`)
    },
  }) as unknown as Store & { rows: () => RepositoryEntry[] }
}

/** A failure the fake registry can be told to produce. */
export type FakeFailure = 'unauthorized' | 'server-error' | 'refused' | 'timeout'

/** One call the fake registry received, for assertions on what was read. */
export type FakeCall = [operation: string, ...args: string[]]

/**
 * A registry in memory. Manifests are pushed as JSON values (kept as the exact text), tags point
 * at digests, and `fail` makes one operation, optionally for one repository or reference, fail.
 */
export class FakeRegistry implements MirrorRegistry {
  readonly calls: FakeCall[] = []
  readonly #manifests = new Map<string, Map<string, string>>()
  readonly #tags = new Map<string, Map<string, string>>()
  readonly #blobs = new Map<string, Uint8Array>()
  readonly #failures: { operation: string; target?: string; failure: FakeFailure }[] = []

  /** Stores a manifest in `repository` and, with `tag`, points the tag at it; returns its digest. */
  putManifest(repository: string, manifest: unknown, tag?: string): string {
    const text = JSON.stringify(manifest, null, 3)
    const digest = digestOf(new TextEncoder().encode(text))
    this.#repo(this.#manifests, repository).set(digest, text)
    if (tag !== undefined) {
      this.#repo(this.#tags, repository).set(tag, digest)
    }
    return digest
  }

  /** Points `tag` at a manifest already stored. */
  tag(repository: string, tag: string, digest: string): void {
    this.#repo(this.#tags, repository).set(tag, digest)
  }

  /** Byte size of a stored manifest, as an index entry names it. */
  sizeOf(repository: string, digest: string): number {
    return new TextEncoder().encode(this.#manifests.get(repository)?.get(digest) ?? '').length
  }

  /** Stores a blob (shared by every repository); returns its digest. */
  putBlob(content: unknown): { digest: string; size: number } {
    const bytes = new TextEncoder().encode(JSON.stringify(content))
    const digest = digestOf(bytes)
    this.#blobs.set(digest, bytes)
    return { digest, size: bytes.length }
  }

  /** Deletes a manifest and every tag pointing at it, as registry 2.8 does. */
  deleteManifest(repository: string, digest: string): void {
    this.#manifests.get(repository)?.delete(digest)
    for (const [tag, target] of this.#tags.get(repository) ?? []) {
      if (target === digest) {
        this.#tags.get(repository)?.delete(tag)
      }
    }
  }

  /** Forgets a repository altogether, so that its tag list answers `NAME_UNKNOWN`. */
  removeRepository(repository: string): void {
    this.#manifests.delete(repository)
    this.#tags.delete(repository)
  }

  /** Removes one tag only. */
  untag(repository: string, tag: string): void {
    this.#tags.get(repository)?.delete(tag)
  }

  /**
   * Makes `operation` fail from now on, for every call or only for those whose first argument
   * (the repository) or second (the reference) equals `target`.
   */
  fail(operation: keyof MirrorRegistry, failure: FakeFailure, target?: string): void {
    this.#failures.push({ operation, failure, target })
  }

  /** Undoes every `fail`. */
  heal(): void {
    this.#failures.length = 0
  }

  async listRepositories(): Promise<string[]> {
    this.#call('listRepositories')
    return [...new Set([...this.#manifests.keys(), ...this.#tags.keys()])].sort()
  }

  async listTags(repository: string): Promise<string[]> {
    this.#call('listTags', repository)
    const tags = this.#tags.get(repository)
    if (tags === undefined && !this.#manifests.has(repository)) {
      throw notFound('listTags', 'NAME_UNKNOWN', repository)
    }
    return [...(tags?.keys() ?? [])]
  }

  async headManifest(repository: string, reference: string): Promise<ManifestHead | null> {
    this.#call('headManifest', repository, reference)
    const found = this.#resolve(repository, reference)
    if (found === null) {
      return null
    }
    return { digest: found.digest, mediaType: mediaTypeOf(found.text), size: found.text.length }
  }

  async getManifest(repository: string, reference: string): Promise<ManifestResult | null> {
    this.#call('getManifest', repository, reference)
    const found = this.#resolve(repository, reference)
    if (found === null) {
      return null
    }
    const bytes = new TextEncoder().encode(found.text)
    const mediaType = mediaTypeOf(found.text)
    return {
      digest: found.digest,
      mediaType,
      size: bytes.length,
      bytes,
      json: JSON.parse(found.text),
      manifest: parseManifest(bytes, mediaType),
    }
  }

  async getBlob(
    repository: string,
    digest: string,
    options: { maxBytes: number },
  ): Promise<BlobResult | null> {
    this.#call('getBlob', repository, digest)
    const bytes = this.#blobs.get(digest)
    if (bytes === undefined) {
      return null
    }
    if (bytes.length > options.maxBytes) {
      throw new BlobTooLargeError('blob too large', {
        operation: 'getBlob',
        maxBytes: options.maxBytes,
        size: bytes.length,
      })
    }
    return { digest, size: bytes.length, mediaType: 'application/octet-stream', bytes }
  }

  #resolve(repository: string, reference: string): { digest: string; text: string } | null {
    const digest = reference.includes(':') ? reference : this.#tags.get(repository)?.get(reference)
    const text = digest === undefined ? undefined : this.#manifests.get(repository)?.get(digest)
    if (digest === undefined || text === undefined) {
      return null
    }
    return { digest, text }
  }

  #call(operation: string, ...args: string[]): void {
    this.calls.push([operation, ...args])
    const hit = this.#failures.find(
      (f) => f.operation === operation && (f.target === undefined || args.includes(f.target)),
    )
    if (hit) {
      throw failureError(operation, hit.failure)
    }
  }

  #repo(map: Map<string, Map<string, string>>, repository: string): Map<string, string> {
    let inner = map.get(repository)
    if (inner === undefined) {
      inner = new Map()
      map.set(repository, inner)
    }
    return inner
  }
}

function mediaTypeOf(text: string): string {
  const parsed = JSON.parse(text) as { mediaType?: string }
  return parsed.mediaType ?? ''
}

function notFound(operation: string, code: string, repository: string, reference?: string) {
  return new RegistryError(`${code.toLowerCase()}`, {
    kind: 'registry',
    operation: operation as never,
    status: 404,
    code,
    repository,
    reference,
  })
}

function failureError(operation: string, failure: FakeFailure): RegistryError {
  const op = operation as never
  switch (failure) {
    case 'unauthorized':
      return new RegistryError('unauthorized', {
        kind: 'registry',
        operation: op,
        status: 401,
        code: 'UNAUTHORIZED',
      })
    case 'server-error':
      return new RegistryError('internal error', {
        kind: 'registry',
        operation: op,
        status: 500,
        code: 'INTERNAL',
      })
    case 'refused':
      return new RegistryUnavailableError('connection refused', {
        kind: 'unreachable',
        operation: op,
        code: 'UNREACHABLE',
      })
    case 'timeout':
      return new RegistryUnavailableError('timed out', {
        kind: 'timeout',
        operation: op,
        code: 'TIMEOUT',
      })
  }
}

/** Options of {@link pushImage}. */
export interface FakeImageOptions {
  /** @default 'oci' */
  format?: 'oci' | 'v2s2'
  /** The config's `created`. @default '2024-05-01T10:00:00Z' */
  created?: string
  /** Layer contents; each becomes a blob. @default one layer named after the tag */
  layers?: string[]
  architecture?: string
}

const TYPES = {
  oci: {
    manifest: 'application/vnd.oci.image.manifest.v1+json',
    config: 'application/vnd.oci.image.config.v1+json',
    layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
  },
  v2s2: {
    manifest: 'application/vnd.docker.distribution.manifest.v2+json',
    config: 'application/vnd.docker.container.image.v1+json',
    layer: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  },
}

/**
 * Pushes an image the way skopeo lays it out (config and layer blobs, then the manifest), and
 * tags it when `tag` is given. Returns the manifest digest and what the mirror should record.
 */
export function pushImage(
  registry: FakeRegistry,
  repository: string,
  tag: string | undefined,
  options: FakeImageOptions = {},
) {
  const types = TYPES[options.format ?? 'oci']
  const created = options.created ?? '2024-05-01T10:00:00Z'
  const config = registry.putBlob({
    created,
    architecture: options.architecture ?? 'amd64',
    os: 'linux',
    rootfs: { type: 'layers', diff_ids: [] },
  })
  const layers = (options.layers ?? [`layer of ${tag ?? 'untagged'}`]).map((content) =>
    registry.putBlob(content),
  )
  const manifest = {
    schemaVersion: 2,
    mediaType: types.manifest,
    config: { mediaType: types.config, ...config },
    layers: layers.map((layer) => ({ mediaType: types.layer, ...layer })),
  }
  const digest = registry.putManifest(repository, manifest, tag)

  return {
    digest,
    manifestSize: registry.sizeOf(repository, digest),
    mediaType: types.manifest,
    config,
    layers,
    size: layers.reduce((sum, layer) => sum + layer.size, config.size),
    createdAt: Math.floor(Date.parse(created) / 1000),
  }
}

/** Pushes a two-level index of images pushed by digest, tagged `tag`. */
export function pushIndex(
  registry: FakeRegistry,
  repository: string,
  tag: string,
  children: { digest: string; size: number; architecture: string; variant?: string }[],
) {
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: children.map((child) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: child.digest,
      size: child.size,
      platform: {
        architecture: child.architecture,
        os: 'linux',
        ...(child.variant === undefined ? {} : { variant: child.variant }),
      },
    })),
  }

  return registry.putManifest(repository, manifest, tag)
}
