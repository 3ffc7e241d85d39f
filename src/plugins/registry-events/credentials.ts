import { createHash, timingSafeEqual } from 'node:crypto'

import { parseBasicAuth, type Authenticator } from '../../core/authenticator.ts'
import type { Secret } from '../../core/secret.ts'
import { UnauthorizedError } from '../../errors.ts'

/** Who sent a notification, and so what it may do. */
export type EventSender =
  /** The registry, with the notification secret: trusted with pull counts. */
  | { via: 'secret' }
  /** An enabled user by HTTP Basic; only an admin is trusted with pull counts. */
  | { via: 'basic'; login: string; isAdmin: boolean }

/** What {@link authenticateSender} checks against. */
export interface SenderCheck {
  /** `registry.events_secret`; an empty secret accepts no bearer at all. */
  secret: Secret
  authenticator: Authenticator
}

const BEARER = /^bearer\s+(\S+)\s*$/i

/**
 * Authenticates a notification delivery by `Authorization: Bearer <events secret>` (compared in
 * constant time) or by HTTP Basic of an enabled user.
 *
 * @param address the peer's address, for the login throttle
 * @throws UnauthorizedError for anything else (no header, a wrong secret, wrong or malformed
 * Basic credentials, a disabled user); TooManyRequestsError while Basic logins are throttled
 */
export async function authenticateSender(
  header: string | null,
  address: string,
  check: SenderCheck,
): Promise<EventSender> {
  const bearer = BEARER.exec(header ?? '')
  if (bearer) {
    // the secret matches, compared as digests so neither length nor content leaks by timing
    if (check.secret.isEmpty || !sameSecret(bearer[1] ?? '', check.secret.reveal())) {
      throw new UnauthorizedError('the notification secret is not correct')
    }
    return { via: 'secret' }
  }

  const basic = parseBasicAuth(header)
  if (basic === null || basic === 'malformed') {
    throw new UnauthorizedError(
      'notifications need Authorization: Bearer <registry.events_secret> or HTTP Basic',
    )
  }
  // the user exists, the password is right and the account is enabled
  const outcome = await check.authenticator.authenticate(address, basic.login, basic.password)
  if (outcome.kind !== 'ok') {
    throw new UnauthorizedError('incorrect login or password')
  }

  return { via: 'basic', login: outcome.user.login, isAdmin: outcome.user.role === 'admin' }
}

function sameSecret(presented: string, expected: string): boolean {
  const a = createHash('sha256').update(presented).digest()
  const b = createHash('sha256').update(expected).digest()
  return timingSafeEqual(a, b)
}
