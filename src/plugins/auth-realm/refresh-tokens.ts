import { createHash, randomBytes } from 'node:crypto'

import type { Store, User } from '../../core/store.ts'

/** Hash under which a refresh token is stored; the token itself is never kept. */
export const hashRefreshToken = (token: string): string =>
  createHash('sha256').update(token).digest('base64url')

export interface IssueRefreshTokenInput {
  user: User
  service: string
  clientId: string
  ttlSeconds: number
  now: number
}

/** Creates a refresh token bound to one user and one service and returns its secret value. */
export const issueRefreshToken = (store: Store, input: IssueRefreshTokenInput): string => {
  const token = randomBytes(32).toString('base64url')
  const now = Math.floor(input.now / 1000)
  store.createRefreshToken({
    userId: input.user.id,
    service: input.service,
    clientId: input.clientId.slice(0, 200),
    tokenHash: hashRefreshToken(token),
    createdAt: now,
    expiresAt: now + input.ttlSeconds,
  })
  return token
}

/**
 * Resolves a presented refresh token to its user, or `null` when the token is unknown, expired,
 * bound to another service, or its user is gone or disabled. Tokens are not rotated on use:
 * Docker does not store a replacement, so a rotated token would break its next pull.
 */
export const redeemRefreshToken = (
  store: Store,
  token: string,
  service: string,
  now: number,
): User | null => {
  const stored = store.useRefreshToken(hashRefreshToken(token), Math.floor(now / 1000))
  if (!stored || stored.service !== service) {
    return null
  }
  const user = store.getUser(stored.userId)
  return user && !user.disabled ? user : null
}
