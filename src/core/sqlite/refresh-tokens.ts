import type { Database, Statement } from 'bun:sqlite'

import { ConflictError, NotFoundError } from '../../errors.ts'
import type { NewRefreshToken, RefreshToken } from '../store.ts'
import { readText } from './rows.ts'
import { isForeignKeyViolation, isUniqueViolation } from './sqlite-errors.ts'

interface TokenRow {
  id: number
  user_id: number
  service: string
  client_id: string
  created_at: number
  expires_at: number
  last_used_at: number | null
}

type TokenValues = {
  userId: number
  service: string
  clientId: string
  tokenHash: string
  createdAt: number
  expiresAt: number
}

const COLUMNS = 'id, user_id, service, client_id, created_at, expires_at, last_used_at'

/**
 * The most refresh tokens one user keeps. Creating one more deletes the least recently used
 * (by last use, or creation when never used); without a cap, every `offline_token` request
 * would add a row for good.
 */
export const MAX_REFRESH_TOKENS_PER_USER = 50

/** The `refresh_tokens` aggregate. Only hashes are stored; no method returns one. */
export class RefreshTokenTable {
  readonly #db: Database
  readonly #insert: Statement<TokenRow, [TokenValues]>
  readonly #use: Statement<TokenRow, [{ hash: string; now: number }]>
  readonly #listByUser: Statement<TokenRow, [{ userId: number }]>
  readonly #deleteOne: Statement<unknown, [{ userId: number; id: number }]>
  readonly #deleteOfUser: Statement<unknown, [{ userId: number }]>
  readonly #deleteExpired: Statement<unknown, [{ userId: number; now: number }]>
  readonly #deleteBeyondCap: Statement<
    unknown,
    [{ userId: number; keepId: number; others: number }]
  >

  constructor(db: Database) {
    this.#db = db
    this.#insert = db.prepare(
      `INSERT INTO refresh_tokens (user_id, service, client_id, token_hash, created_at, expires_at)
       VALUES ($userId, $service, $clientId, $tokenHash, $createdAt, $expiresAt)
       RETURNING ${COLUMNS}`,
    )
    // Check and use in one statement, so two requests cannot both see a token as unused.
    this.#use = db.prepare(
      `UPDATE refresh_tokens SET last_used_at = $now
       WHERE token_hash = $hash AND expires_at > $now
       RETURNING ${COLUMNS}`,
    )
    this.#listByUser = db.prepare(
      `SELECT ${COLUMNS} FROM refresh_tokens WHERE user_id = $userId
       ORDER BY created_at DESC, id DESC`,
    )
    this.#deleteOne = db.prepare('DELETE FROM refresh_tokens WHERE id = $id AND user_id = $userId')
    this.#deleteOfUser = db.prepare('DELETE FROM refresh_tokens WHERE user_id = $userId')
    // Expired as `use` sees it: a token is valid while `expires_at > now`.
    this.#deleteExpired = db.prepare(
      'DELETE FROM refresh_tokens WHERE user_id = $userId AND expires_at <= $now',
    )
    this.#deleteBeyondCap = db.prepare(
      `DELETE FROM refresh_tokens
       WHERE user_id = $userId AND id != $keepId AND id NOT IN (
         SELECT id FROM refresh_tokens WHERE user_id = $userId AND id != $keepId
         ORDER BY COALESCE(last_used_at, created_at) DESC, created_at DESC, id DESC
         LIMIT $others
       )`,
    )
  }

  /**
   * Inserts the token and, in the same transaction, deletes the user's tokens that expired by
   * its `createdAt` and their least recently used ones beyond `MAX_REFRESH_TOKENS_PER_USER`.
   * The new token is always kept.
   */
  create(token: NewRefreshToken): RefreshToken {
    const { userId } = token
    try {
      return this.#db
        .transaction(() => {
          this.#deleteExpired.run({ userId, now: token.createdAt })
          const row = this.#insert.get({
            userId,
            service: token.service,
            clientId: token.clientId,
            tokenHash: token.tokenHash,
            createdAt: token.createdAt,
            expiresAt: token.expiresAt,
          }) as TokenRow
          this.#deleteBeyondCap.run({
            userId,
            keepId: row.id,
            others: MAX_REFRESH_TOKENS_PER_USER - 1,
          })

          return toToken(row)
        })
        .immediate()
    } catch (error) {
      if (isForeignKeyViolation(error)) {
        throw new NotFoundError(`user ${userId} not found`, { cause: error })
      }
      if (isUniqueViolation(error)) {
        throw new ConflictError('a refresh token with the same hash already exists', {
          cause: error,
        })
      }
      throw error
    }
  }

  use(tokenHash: string, now: number): RefreshToken | null {
    const row = this.#use.get({ hash: tokenHash, now })

    return row ? toToken(row) : null
  }

  listByUser(userId: number): RefreshToken[] {
    return this.#listByUser.all({ userId }).map(toToken)
  }

  delete(userId: number, id: number): void {
    if (this.#deleteOne.run({ userId, id }).changes === 0) {
      throw new NotFoundError(`refresh token ${id} of user ${userId} not found`)
    }
  }

  deleteOfUser(userId: number): void {
    this.#deleteOfUser.run({ userId })
  }

  finalize(): void {
    for (const statement of [
      this.#insert,
      this.#use,
      this.#listByUser,
      this.#deleteOne,
      this.#deleteOfUser,
      this.#deleteExpired,
      this.#deleteBeyondCap,
    ]) {
      statement.finalize()
    }
  }
}

function toToken(row: TokenRow): RefreshToken {
  return {
    id: row.id,
    userId: row.user_id,
    service: readText(row.service),
    clientId: readText(row.client_id),
    createdAt: row.created_at,
    expiresAt: row.expires_at,
    lastUsedAt: row.last_used_at ?? null,
  }
}
