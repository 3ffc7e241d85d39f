/**
 * The store: every piece of state the server keeps, behind domain verbs. Engines (today only
 * the embedded `bun:sqlite` one in `./sqlite/`) implement this interface; nothing outside an
 * engine sees SQL, table names or column names.
 *
 * Conventions shared by every method:
 * - ids are positive integers; `get*` returns `null` for a missing row;
 * - `update*` and `delete*` throw `NotFoundError` for a missing row;
 * - a write that would break a uniqueness rule throws `ConflictError` with a message that names
 *   the clashing value;
 * - list fields (filters and sort) are the API's JSON names, never column names; an unknown
 *   field throws `ValidationError`.
 */

export type Role = 'admin' | 'manager' | 'user'

export const ROLES: readonly Role[] = ['admin', 'manager', 'user']

/** Owner id of access rules that apply to everybody, signed in or not. */
export const ANONYMOUS_OWNER_ID = -1000

/** Owner id of access rules that apply to every authenticated user. */
export const REGISTERED_OWNER_ID = -999

/** A user as the API shows it: never with the password hash. */
export interface User {
  id: number
  login: string
  name: string
  role: Role
  /** Id of the user's group; 1 (`default`) unless set. */
  group: number
  disabled: boolean
  description: string
}

/** A user with the stored bcrypt hash, for password checks only. */
export interface UserWithHash extends User {
  passwordHash: string
}

export interface NewUser {
  login: string
  name: string
  passwordHash: string
  role: Role
  group: number
  disabled: boolean
  description: string
}

/** Fields an update may change; the login never changes. */
export type UserPatch = Partial<Omit<NewUser, 'login'>>

export interface Group {
  id: number
  name: string
  description: string
}

export type NewGroup = Omit<Group, 'id'>

/**
 * One stored access rule: `action` on resources of `resourceType` whose name matches
 * `resourceName` (an exact name or a `*` / `**` pattern), for one owner. The owner is a user id,
 * a group id when `isGroup`, or one of `ANONYMOUS_OWNER_ID` and `REGISTERED_OWNER_ID`.
 */
export interface AccessRule {
  id: number
  ownerId: number
  isGroup: boolean
  name: string
  resourceType: string
  resourceName: string
  action: string
  disabled: boolean
}

export type NewAccessRule = Omit<AccessRule, 'id'>

/** An owner whose rules count for a caller. */
export interface RuleOwner {
  id: number
  isGroup: boolean
}

/** A refresh token as it is listed: the secret itself is only ever stored as a hash. */
export interface RefreshToken {
  id: number
  userId: number
  service: string
  clientId: string
  /** Unix seconds. */
  createdAt: number
  /** Unix seconds. */
  expiresAt: number
  /** Unix seconds, or `null` when never used after issue. */
  lastUsedAt: number | null
}

export interface NewRefreshToken {
  userId: number
  service: string
  clientId: string
  tokenHash: string
  createdAt: number
  expiresAt: number
}

export type SortOrder = 'ASC' | 'DESC'

/**
 * The list protocol of the admin API, already decoded: a free-text search, an id list, exact
 * matches by field, a sort and an inclusive range.
 */
export interface ListQuery {
  q?: string
  ids?: number[]
  filters?: Record<string, string | number | boolean>
  sort?: { field: string; order: SortOrder }
  /** Inclusive bounds, as react-admin sends them. */
  range?: { start: number; end: number }
}

export interface ListResult<T> {
  /** Rows matching the search and filters, before the range is applied. */
  total: number
  items: T[]
}

export interface Store {
  listUsers(query: ListQuery): ListResult<User>
  getUser(id: number): User | null
  /** Looks up by login only: a numeric login is a login, never an id. */
  getUserByLogin(login: string): UserWithHash | null
  getUserWithHash(id: number): UserWithHash | null
  createUser(user: NewUser): User
  updateUser(id: number, patch: UserPatch): User
  /** Deletes the user, their own access rules (never a group's) and their refresh tokens. */
  deleteUser(id: number): void
  /** Number of users with role `admin` that are not disabled. */
  countEnabledAdmins(): number

  listGroups(query: ListQuery): ListResult<Group>
  getGroup(id: number): Group | null
  createGroup(group: NewGroup): Group
  updateGroup(id: number, patch: Partial<NewGroup>): Group
  /** Deletes the group and the access rules it owns. Users keep their group number. */
  deleteGroup(id: number): void

  listAccessRules(query: ListQuery): ListResult<AccessRule>
  getAccessRule(id: number): AccessRule | null
  createAccessRule(rule: NewAccessRule): AccessRule
  updateAccessRule(id: number, patch: Partial<NewAccessRule>): AccessRule
  deleteAccessRule(id: number): void
  /** The enabled rules of one resource type owned by any of `owners`. */
  findEnabledRules(resourceType: string, owners: readonly RuleOwner[]): AccessRule[]

  createRefreshToken(token: NewRefreshToken): RefreshToken
  /** Finds an unexpired token by its hash and records `now` as its last use. */
  useRefreshToken(tokenHash: string, now: number): RefreshToken | null
  listRefreshTokens(userId: number): RefreshToken[]
  deleteRefreshToken(userId: number, id: number): void
  deleteRefreshTokensOfUser(userId: number): void

  /** A small key/value area for server state, such as a generated session secret. */
  getSetting(key: string): string | null
  setSetting(key: string, value: string): void

  close(): void
  [Symbol.dispose](): void
}
