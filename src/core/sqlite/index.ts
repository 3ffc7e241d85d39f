/**
 * The embedded store engine: the `Store` on `bun:sqlite`, compatible with the Go tool's
 * `data.db`.
 */
export { LATEST_SCHEMA_VERSION } from './migrations/index.ts'
export { MAX_REFRESH_TOKENS_PER_USER } from './refresh-tokens.ts'
export {
  openEmbedStore,
  type EmbedStoreLog,
  type EmbedStoreOptions,
  type OpenedEmbedStore,
} from './open-embed-store.ts'
