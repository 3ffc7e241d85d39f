import type { RegistryClient } from '../registry-client/index.ts'

/** The registry calls the mirror makes: lists, manifest HEAD and GET, blob GET. */
export type MirrorRegistry = Pick<
  RegistryClient,
  'listRepositories' | 'listTags' | 'headManifest' | 'getManifest' | 'getBlob'
>
