/**
 * The repository mirror: one row per repository and tag, kept in step with the registry by
 * confirmed notification events and by periodic syncs.
 *
 * ```ts
 * const mirror = createMirrorService({ config, store, log, signer })
 * mirror.acceptEvents(parseEnvelope(body), { trusted: true })
 * mirror.startSync()
 * ```
 */
export {
  CONFIRMATION_LIMITS,
  FAILURE_RETRY_DELAYS_MS,
  type ConfirmationLimits,
} from './confirmations.ts'
export {
  buildEntry,
  createdOf,
  CreatedTimes,
  MAX_CONFIG_BYTES,
  UnreadableManifestError,
  type BuildEntryOptions,
} from './entry.ts'
export {
  BLOB_MEDIA_TYPE,
  classifyEvent,
  eventIdOf,
  parseEnvelope,
  type EventAction,
  type EventRules,
  type EventWork,
  type IgnoreReason,
  type RegistryEvent,
} from './events.ts'
export { KeyedQueue, Limiter, mapLimited } from './keyed-queue.ts'
export {
  CATCH_UP_INTERVAL_MS,
  createMirrorService,
  EVENT_ID_RETENTION_SECONDS,
  LAST_SYNC_SETTING,
  MirrorService,
  PUSH_CONFIRM_DELAYS_MS,
  type AcceptResult,
  type CreateMirrorServiceOptions,
  type Delivery,
  type MirrorServiceOptions,
  type SyncStatus,
} from './service.ts'
export {
  emptySummary,
  MAX_REPORTED_ERRORS,
  recordTag,
  refreshTag,
  runSync,
  type ReadTag,
  type SyncDeps,
  type SyncError,
  type SyncOptions,
  type SyncSummary,
  type TagContext,
  type TagOutcome,
} from './sync.ts'
export type { MirrorRegistry } from './types.ts'
