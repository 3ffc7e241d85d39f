import { isDigest } from './names.ts'

/** Manifest media types this client reads. */
export const MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const

/**
 * The `Accept` header of every manifest request. Without the OCI types registry 2.8 answers
 * 404 for OCI manifests, and without the list types it silently rewrites a manifest list into
 * its amd64 child. Schema 1 comes last, so such a manifest is still returned and reported as
 * unsupported instead of looking missing.
 */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPES.ociIndex,
  MEDIA_TYPES.ociManifest,
  MEDIA_TYPES.dockerManifestList,
  MEDIA_TYPES.dockerManifest,
  MEDIA_TYPES.dockerSchema1Signed,
  MEDIA_TYPES.dockerSchema1,
].join(', ')

const INDEX_TYPES = new Set<string>([MEDIA_TYPES.ociIndex, MEDIA_TYPES.dockerManifestList])
const IMAGE_TYPES = new Set<string>([MEDIA_TYPES.ociManifest, MEDIA_TYPES.dockerManifest])
const SCHEMA1_TYPES = new Set<string>([MEDIA_TYPES.dockerSchema1, MEDIA_TYPES.dockerSchema1Signed])

/** A content descriptor: what a manifest says about a blob or a child manifest. */
export interface Descriptor {
  mediaType: string
  digest: string
  size: number
  annotations?: Record<string, string>
  /** Set on artifact manifests and on index entries that point at one. */
  artifactType?: string
}

/** The platform an index entry was built for. */
export interface Platform {
  os: string
  architecture: string
  variant?: string
}

/** One child manifest of an index or manifest list. */
export interface IndexEntry extends Descriptor {
  /** `null` when the entry names no platform (attestations and other artifacts). */
  platform: Platform | null
}

/** An OCI image manifest or a Docker schema 2 manifest. */
export interface ImageManifest {
  type: 'image'
  mediaType: string
  config: Descriptor
  layers: Descriptor[]
  /** `config.size` plus the size of every layer: what the image costs in the registry. */
  totalSize: number
  artifactType?: string
  /** The manifest this one refers to (signatures, attestations), if any. */
  subject?: Descriptor
  annotations?: Record<string, string>
}

/** An OCI image index or a Docker manifest list. */
export interface IndexManifest {
  type: 'index'
  mediaType: string
  manifests: IndexEntry[]
  artifactType?: string
  subject?: Descriptor
  annotations?: Record<string, string>
}

/** A manifest this client does not interpret, such as Docker schema 1. */
export interface UnsupportedManifest {
  type: 'unsupported'
  mediaType: string
  reason: string
}

/** A manifest that claims a known type but cannot be read (not JSON, fields missing). */
export interface InvalidManifest {
  type: 'invalid'
  mediaType: string
  reason: string
}

/** What {@link parseManifest} makes of a manifest. */
export type ParsedManifest = ImageManifest | IndexManifest | UnsupportedManifest | InvalidManifest

/**
 * Normalises a manifest's bytes. Never throws: schema 1 and unknown types come back as
 * `unsupported`, broken documents as `invalid`, each with a reason.
 *
 * The type is taken from the document's own `mediaType` field, else from `mediaType` (the
 * `Content-Type` the registry sent, parameters allowed), else from the shape: a `manifests`
 * list is an index, `config` plus `layers` an image.
 */
export function parseManifest(bytes: Uint8Array, mediaType: string | null): ParsedManifest {
  const announced = bareMediaType(mediaType)
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes))
  } catch {
    return { type: 'invalid', mediaType: announced, reason: 'the manifest is not JSON' }
  }
  if (!isObject(json)) {
    return { type: 'invalid', mediaType: announced, reason: 'the manifest is not a JSON object' }
  }

  const type = typeOf(json, announced)
  if (SCHEMA1_TYPES.has(type) || json.schemaVersion === 1) {
    return {
      type: 'unsupported',
      mediaType: type,
      reason:
        'Docker schema 1 manifests are not supported; re-push the image with a current client',
    }
  }
  if (INDEX_TYPES.has(type)) {
    return parseIndex(json, type)
  }
  if (IMAGE_TYPES.has(type)) {
    return parseImage(json, type)
  }

  return {
    type: 'unsupported',
    mediaType: type,
    reason: `the manifest type '${type || 'unknown'}' is not supported`,
  }
}

/** `application/vnd.oci.image.manifest.v1+json; charset=utf-8` → the part before `;`, lowercased. */
export function bareMediaType(value: string | null): string {
  return (value ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

function typeOf(json: Record<string, unknown>, announced: string): string {
  if (typeof json.mediaType === 'string' && json.mediaType !== '') {
    return bareMediaType(json.mediaType)
  }
  if (announced !== '' && announced !== 'application/json') {
    return announced
  }
  if (Array.isArray(json.manifests)) {
    return MEDIA_TYPES.ociIndex
  }
  if (isObject(json.config) && Array.isArray(json.layers)) {
    return MEDIA_TYPES.ociManifest
  }
  return announced
}

function parseImage(json: Record<string, unknown>, mediaType: string): ParsedManifest {
  const config = descriptorOf(json.config)
  if (config === null) {
    return invalid(mediaType, 'the image manifest has no valid config descriptor')
  }
  if (!Array.isArray(json.layers)) {
    return invalid(mediaType, 'the image manifest has no layers list')
  }
  const layers: Descriptor[] = []
  for (const [index, raw] of json.layers.entries()) {
    const layer = descriptorOf(raw)
    if (layer === null) {
      return invalid(mediaType, `layer ${index} is not a valid descriptor`)
    }
    layers.push(layer)
  }

  const manifest: ImageManifest = {
    type: 'image',
    mediaType,
    config,
    layers,
    totalSize: layers.reduce((sum, layer) => sum + layer.size, config.size),
  }
  return withCommonFields(manifest, json)
}

function parseIndex(json: Record<string, unknown>, mediaType: string): ParsedManifest {
  if (!Array.isArray(json.manifests)) {
    return invalid(mediaType, 'the index has no manifests list')
  }
  const manifests: IndexEntry[] = []
  for (const [index, raw] of json.manifests.entries()) {
    const descriptor = descriptorOf(raw)
    if (descriptor === null) {
      return invalid(mediaType, `index entry ${index} is not a valid descriptor`)
    }
    manifests.push({
      ...descriptor,
      platform: platformOf((raw as { platform?: unknown }).platform),
    })
  }

  return withCommonFields({ type: 'index', mediaType, manifests }, json)
}

function withCommonFields<T extends ImageManifest | IndexManifest>(
  manifest: T,
  json: Record<string, unknown>,
): T {
  if (typeof json.artifactType === 'string') {
    manifest.artifactType = json.artifactType
  }
  const subject = descriptorOf(json.subject)
  if (subject !== null) {
    manifest.subject = subject
  }
  const annotations = annotationsOf(json.annotations)
  if (annotations !== undefined) {
    manifest.annotations = annotations
  }
  return manifest
}

function descriptorOf(value: unknown): Descriptor | null {
  if (!isObject(value)) {
    return null
  }
  const { mediaType, digest, size } = value
  if (typeof mediaType !== 'string' || typeof digest !== 'string' || !isDigest(digest)) {
    return null
  }
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
    return null
  }

  const descriptor: Descriptor = { mediaType, digest, size }
  const annotations = annotationsOf(value.annotations)
  if (annotations !== undefined) {
    descriptor.annotations = annotations
  }
  if (typeof value.artifactType === 'string') {
    descriptor.artifactType = value.artifactType
  }
  return descriptor
}

function platformOf(value: unknown): Platform | null {
  if (!isObject(value) || typeof value.os !== 'string' || typeof value.architecture !== 'string') {
    return null
  }
  const platform: Platform = { os: value.os, architecture: value.architecture }
  if (typeof value.variant === 'string' && value.variant !== '') {
    platform.variant = value.variant
  }
  return platform
}

function annotationsOf(value: unknown): Record<string, string> | undefined {
  if (!isObject(value)) {
    return undefined
  }
  const entries = Object.entries(value).filter((entry): entry is [string, string] => {
    return typeof entry[1] === 'string'
  })
  return entries.length === 0 ? undefined : Object.fromEntries(entries)
}

function invalid(mediaType: string, reason: string): InvalidManifest {
  return { type: 'invalid', mediaType, reason }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
