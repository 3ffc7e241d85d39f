import { Elysia } from 'elysia'
import type { Logger } from 'pino'

import type { Config } from '../../config.ts'
import type { Authenticator } from '../../core/authenticator.ts'
import { parseEnvelope, type MirrorService } from '../../core/mirror/index.ts'
import { UnauthorizedError } from '../../errors.ts'
import { peerAddress } from '../../peer-address.ts'
import { BodyTooLargeError, readTextBody } from './body.ts'
import { authenticateSender, type EventSender } from './credentials.ts'

export { authenticateSender, type EventSender, type SenderCheck } from './credentials.ts'
export { BodyTooLargeError, readTextBody } from './body.ts'

/** Where the registry posts its notifications (`notifications.endpoints[].url`). */
export const EVENTS_PATH = '/api/v1/registry/events'

/**
 * Largest notification body kept. An envelope is a few kilobytes, but its events list every
 * layer of a manifest with their annotations, so one may come near the 4 MiB a manifest may
 * have. A larger body is read, thrown away and answered 200, and a sync catches up.
 */
export const MAX_EVENTS_BODY_BYTES = 8 * 1024 * 1024

/** Dependencies of {@link registryEventsPlugin}. */
export interface RegistryEventsDeps {
  mirror: MirrorService
  authenticator: Authenticator
  /** `registry.events_secret` is read from it. */
  config: Config
  log: Logger
}

/**
 * The registry's notification endpoint, `POST /api/v1/registry/events`.
 *
 * - Credentials: `Authorization: Bearer <registry.events_secret>` (the registry's static
 *   header) or HTTP Basic of an enabled user; anything else is 401.
 * - Any content type is read as JSON (registry 2.x sends `…events.v1+json`, 3.x `…events.v2+json`).
 * - Every well-formed envelope gets 200 at once, whatever its events (blob events, `mount`,
 *   unknown actions, redeliveries): any other status would stall the registry's queue, which
 *   retries forever. So does a body over `MAX_EVENTS_BODY_BYTES`, which is thrown away with a
 *   warning while a sync catches up. Only a body that is not an envelope gets 400.
 * - The mirror confirms each event with the registry in the background. Pull counts and push
 *   times are taken only from the registry itself (the secret) or an admin, since they cannot
 *   be confirmed; other users' pushes get the time of their confirmation.
 */
export const registryEventsPlugin = (deps: RegistryEventsDeps) => {
  const log = deps.log.child({ component: 'registry-events' })
  const check = { secret: deps.config.registry.eventsSecret, authenticator: deps.authenticator }

  return new Elysia({ name: 'registry-events' }).post(
    EVENTS_PATH,
    async ({ request, server }) => {
      const address = peerAddress(server, request)
      const sender = await authenticateSender(
        request.headers.get('authorization'),
        address,
        check,
      ).catch((error: unknown) => {
        if (error instanceof UnauthorizedError) {
          // the registry's notification header and registry.events_secret disagree
          log.warn({ address }, 'notification refused: wrong credentials')
        }
        throw error
      })

      let text: string
      try {
        text = await readTextBody(request, MAX_EVENTS_BODY_BYTES)
      } catch (error) {
        if (!(error instanceof BodyTooLargeError)) {
          throw error
        }
        // an error would be retried forever and block every later notification
        log.warn(
          { bytes: error.bytes, maxBytes: MAX_EVENTS_BODY_BYTES, via: sender.via },
          'notification too large to read; a sync will catch up',
        )
        void deps.mirror.requestSync()
        return OK
      }
      const events = parseEnvelope(text)
      const result = deps.mirror.acceptEvents(events, { trusted: isTrusted(sender) })
      log.debug({ ...result, via: sender.via }, 'notification accepted')

      return OK
    },
    // NOTE: the registry's own content types are unknown to the framework, which would hand
    // the handler no body at all; the body is read and parsed here instead.
    { parse: 'none' },
  )
}

/** The registry itself, or an admin: trusted with pull counts and push times. */
const OK = { error: false, message: 'ok', id: 0, data: null }

const isTrusted = (sender: EventSender): boolean => sender.via === 'secret' || sender.isAdmin
