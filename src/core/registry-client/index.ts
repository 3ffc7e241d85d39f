/**
 * The client this server uses to talk to its registry (CNCF Distribution 2.8 and 3.x): catalog
 * and tag listings, manifest and blob reads, manifest deletes and a health ping, with the
 * server's own short-lived tokens or basic credentials.
 *
 * ```ts
 * const registry = createRegistryClient({ config: config.registry, signer, service, log })
 * const names = await registry.listRepositories()        // complete, or it throws
 * const image = await registry.getManifest('team/app', '1.0')
 * ```
 */
export { registryBaseUrl, resolveRegistryAddress, type RegistryAddress } from './base-url.ts'
export {
  createRegistryClient,
  MAX_LISTED_NAMES,
  type BlobResult,
  type CatalogPage,
  type GetBlobOptions,
  type ListOptions,
  type ManifestHead,
  type ManifestResult,
  type PingResult,
  type RegistryClient,
  type RegistryClientOptions,
} from './client.ts'
export {
  BlobTooLargeError,
  RegistryConfigError,
  RegistryError,
  registryErrorToAppError,
  RegistryUnavailableError,
  type RegistryErrorEntry,
  type RegistryErrorKind,
  type RegistryOperation,
} from './errors.ts'
export { parseChallenge, parseNextLink, type Challenge, type NextPage } from './headers.ts'
export {
  MANIFEST_ACCEPT,
  MEDIA_TYPES,
  parseManifest,
  type Descriptor,
  type ImageManifest,
  type IndexEntry,
  type IndexManifest,
  type InvalidManifest,
  type ParsedManifest,
  type Platform,
  type UnsupportedManifest,
} from './manifest.ts'
export { SERVER_SUBJECT, TOKEN_REFRESH_MARGIN_SECONDS, TOKEN_TTL_SECONDS } from './token-cache.ts'
export type { RegistryFetch } from './transport.ts'
