import { ValidationError } from '../../errors.ts'
import { isDigest, isRepositoryName } from '../registry-client/names.ts'

/** The notification actions of distribution (`notifications/event.go`). */
export type EventAction = 'push' | 'pull' | 'delete' | 'mount'

/** The media type of blob events. */
export const BLOB_MEDIA_TYPE = 'application/octet-stream'

/** The fields of one notification event this server reads; every field may be missing. */
export interface RegistryEvent {
  id?: unknown
  timestamp?: unknown
  action?: unknown
  target?: {
    mediaType?: unknown
    digest?: unknown
    repository?: unknown
    tag?: unknown
  }
  request?: { method?: unknown }
  actor?: { name?: unknown }
}

/** What one event asks of the mirror, before the registry confirms it. */
export type EventWork =
  /**
   * Re-read the tag: a push or a tag delete. A push names the digest it claims, which the
   * registry may not serve yet: its notification can arrive before the tag is written.
   */
  | { kind: 'tag'; repository: string; tag: string; pushedAt: number; claimedDigest?: string }
  /** Drop the rows of a manifest if the registry no longer has it. */
  | { kind: 'digest-delete'; repository: string; digest: string }
  /** Count one manifest pull. */
  | { kind: 'pull'; repository: string; target: { tag: string } | { digest: string } }

/** Why an event changes nothing. */
export type IgnoreReason =
  'blob' | 'untagged push' | 'head' | 'own read' | 'untrusted pull' | 'unused action' | 'malformed'

/** How to read pull events. */
export interface EventRules {
  /** Actor names of the server's own registry calls, whose pulls never count. */
  ownActors: ReadonlySet<string>
  /** Count pulls at all: only for deliveries the registry itself authenticated. */
  countPulls: boolean
  /** Now, in unix seconds: the latest push time an event may claim. */
  nowSeconds: number
}

const MAX_ENVELOPE_EVENTS = 10_000
const TAG = /^\w[\w.-]{0,127}$/

/**
 * Reads a notification body: `{"events": [...]}`. Entries that are not objects are kept as
 * empty events (and later ignored as malformed), so that one odd entry never rejects the rest.
 *
 * @throws ValidationError when the body is not JSON or not an envelope
 */
export function parseEnvelope(text: string): RegistryEvent[] {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch (error) {
    throw new ValidationError('the notification body is not JSON', { cause: error })
  }
  const events = (body as { events?: unknown } | null)?.events
  if (typeof body !== 'object' || body === null || !Array.isArray(events)) {
    throw new ValidationError('the notification body is not an envelope {"events": [...]}')
  }
  if (events.length > MAX_ENVELOPE_EVENTS) {
    throw new ValidationError(`a notification envelope holds at most ${MAX_ENVELOPE_EVENTS} events`)
  }

  return events.map((event) => (isObject(event) ? (event as RegistryEvent) : {}))
}

/**
 * Decides what an event asks for:
 * - a manifest `push` with a tag, or a `delete` with a tag: re-read that tag;
 * - a `delete` with a digest only: drop that manifest's rows once the registry confirms;
 * - a manifest `pull` by GET, from someone other than this server, in a trusted delivery: count
 *   it, by tag or, for a pull by digest, for every tag pointing at the digest;
 * - anything else (blob events, pushes by digest, HEADs, `mount`, unknown actions): nothing.
 */
export function classifyEvent(event: RegistryEvent, rules: EventRules): EventWork | IgnoreReason {
  const target = isObject(event.target) ? event.target : {}
  const repository = stringOf(target.repository)
  const tag = stringOf(target.tag)
  const digest = stringOf(target.digest)
  if (!isRepositoryName(repository)) {
    return 'malformed'
  }
  if ((tag !== '' && !TAG.test(tag)) || (digest !== '' && !isDigest(digest))) {
    return 'malformed'
  }
  const isBlob = stringOf(target.mediaType) === BLOB_MEDIA_TYPE

  switch (event.action) {
    case 'push':
      if (isBlob) {
        return 'blob'
      }
      if (tag === '') {
        return 'untagged push'
      }
      return {
        kind: 'tag',
        repository,
        tag,
        pushedAt: pushTime(event.timestamp, rules),
        ...(digest === '' ? {} : { claimedDigest: digest }),
      }
    case 'delete':
      if (tag !== '') {
        return { kind: 'tag', repository, tag, pushedAt: rules.nowSeconds }
      }
      return digest === '' ? 'malformed' : { kind: 'digest-delete', repository, digest }
    case 'pull':
      return classifyPull(event, rules, { repository, tag, digest, isBlob })
    default:
      return 'unused action'
  }
}

function classifyPull(
  event: RegistryEvent,
  rules: EventRules,
  target: { repository: string; tag: string; digest: string; isBlob: boolean },
): EventWork | IgnoreReason {
  if (target.isBlob) {
    return 'blob'
  }
  if (target.tag === '' && target.digest === '') {
    return 'malformed'
  }
  const method = isObject(event.request) ? stringOf(event.request.method) : ''
  if (method.toUpperCase() !== 'GET') {
    return 'head'
  }
  const actor = isObject(event.actor) ? stringOf(event.actor.name) : ''
  if (rules.ownActors.has(actor)) {
    return 'own read'
  }
  if (!rules.countPulls) {
    return 'untrusted pull'
  }
  const { repository, tag, digest } = target

  return { kind: 'pull', repository, target: tag !== '' ? { tag } : { digest } }
}

/** The event's time in unix seconds, never later than now; now when it cannot be read. */
function pushTime(timestamp: unknown, rules: EventRules): number {
  const ms = typeof timestamp === 'string' ? Date.parse(timestamp) : NaN
  if (!Number.isFinite(ms)) {
    return rules.nowSeconds
  }

  return Math.min(Math.floor(ms / 1000), rules.nowSeconds)
}

/** The event's `id`, when it has a usable one. */
export function eventIdOf(event: RegistryEvent): string | null {
  const id = stringOf(event.id)
  return id !== '' && id.length <= 200 ? id : null
}

function stringOf(value: unknown): string {
  return typeof value === 'string' ? value : ''
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
