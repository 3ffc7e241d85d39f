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

/** How `updateUser` and `deleteUser` guard the admin role. */
export interface UserChangeOptions {
  /**
   * Refuse, with `ConflictError`, a change that takes the last enabled admin away (by delete,
   * disable or demotion). The engine checks and changes in one write transaction, so two
   * processes cannot each remove one of the last two admins.
   */
  keepAnEnabledAdmin?: boolean
}

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

/** One platform of an image index or manifest list, as the mirror records it. */
export interface Platform {
  os: string
  architecture: string
  variant?: string
  /** Digest of the child manifest. */
  digest: string
  /** Config plus layers of the child. */
  size: number
}

/** A blob a tag refers to (config or layer, of the image or of an index's children). */
export interface BlobRef {
  digest: string
  size: number
}

/**
 * One tag of one repository as the registry serves it. The mirror keeps the legacy columns
 * (`repository_name`, `tag`, `digest`, `config_digest`, `size`, `pull_counter`, `timestamp`,
 * `raw`) so that old API clients keep working, and adds what the UI needs.
 */
export interface RepositoryEntry {
  id: number
  repositoryName: string
  tag: string
  /** Digest of the manifest (or index) the tag points at. */
  digest: string
  mediaType: string
  /** `null` for an image index or manifest list, which has no config. */
  configDigest: string | null
  /** Config plus layers; for an index, the sum over its platforms. */
  size: number
  /** Children of an index; empty for a single image. */
  platforms: Platform[]
  /** Every blob the tag refers to, to count a layer shared by several tags once. */
  blobs: BlobRef[]
  /** Image creation time from the config (unix seconds), when known. */
  createdAt: number | null
  /** When the tag was pushed or first seen by a sync (unix seconds); the legacy `timestamp`. */
  pushedAt: number
  pullCount: number
  /** JSON text kept for legacy API clients: the manifest as fetched. */
  raw: string
}

export type NewRepositoryEntry = Omit<RepositoryEntry, 'id' | 'pullCount'>

/** What an upsert did to the mirror. */
export type UpsertOutcome = 'added' | 'changed' | 'unchanged'

/** A catalog row grouped per repository. */
export interface RepositorySummary {
  /** Id of one of its tag rows, for legacy clients that need an id. */
  id: number
  repositoryName: string
  tagCount: number
  /** Size of the distinct blobs of all its tags: a shared layer counts once. */
  size: number
  pullCount: number
  /** Latest push (unix seconds). */
  pushedAt: number
}

export interface CatalogQuery extends ListQuery {
  /** Only these repositories (the ones a user may pull); absent means all, empty means none. */
  repositoryNames?: readonly string[]
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
  /** Every user that is not disabled, with the stored hash, by id; for the htpasswd file. */
  listEnabledUsersWithHash(): UserWithHash[]
  createUser(user: NewUser): User
  /**
   * Applies the defined fields of `patch`.
   * @throws ConflictError with `keepAnEnabledAdmin` when no enabled admin would remain; nothing
   * is changed then.
   */
  updateUser(id: number, patch: UserPatch, options?: UserChangeOptions): User
  /**
   * Deletes the user, their own access rules (never a group's) and their refresh tokens.
   * @throws ConflictError with `keepAnEnabledAdmin` when no enabled admin would remain; nothing
   * is deleted then.
   */
  deleteUser(id: number, options?: UserChangeOptions): void
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

  /**
   * Stores a new token. A user keeps a bounded number of tokens (50 in the embedded store):
   * the same transaction deletes the user's tokens that expired by `token.createdAt` and, beyond
   * the bound, the least recently used (by last use, or creation when never used); the new one
   * is always kept.
   */
  createRefreshToken(token: NewRefreshToken): RefreshToken
  /** Finds an unexpired token by its hash and records `now` as its last use. */
  useRefreshToken(tokenHash: string, now: number): RefreshToken | null
  listRefreshTokens(userId: number): RefreshToken[]
  deleteRefreshToken(userId: number, id: number): void
  deleteRefreshTokensOfUser(userId: number): void

  /**
   * Inserts or replaces the row of one tag; the id and pull count of an existing tag are kept.
   * `unchanged` when the digest, media type, config digest, size, platforms, blobs and (known)
   * creation time are all the same: then nothing is written, not even `pushedAt`, so a re-push
   * or a sync of the same digest keeps the time it was first seen. A `createdAt` of `null`
   * means unknown and keeps the stored one while the digest stays the same.
   * @throws ValidationError for an empty name, tag or digest, or a malformed number or list.
   */
  upsertRepositoryEntry(entry: NewRepositoryEntry): UpsertOutcome
  getRepositoryEntry(repositoryName: string, tag: string): RepositoryEntry | null
  /** Every tag row of one repository, by tag. */
  listRepositoryEntries(repositoryName: string): RepositoryEntry[]
  /** Names of every repository the mirror holds, sorted. */
  listRepositoryNames(): string[]
  /**
   * Tag rows; `q` searches repository_name and tag (filters and sort: id, repository_name, tag,
   * digest, config_digest, media_type, size, pull_counter, timestamp, created_at).
   */
  listCatalogTags(query: CatalogQuery): ListResult<RepositoryEntry>
  /**
   * One row per repository, with shared layers counted once (filters and sort: id,
   * repository_name, tag_count, size, pull_counter, timestamp). `q` matches a repository by its
   * name or by any of its tags; the row still sums up all its tags.
   */
  listCatalogRepositories(query: CatalogQuery): ListResult<RepositorySummary>
  /** Removes the named tags of a repository; returns how many rows went. */
  deleteRepositoryTags(repositoryName: string, tags: readonly string[]): number
  /** Removes every tag of a repository pointing at `digest`; returns the tags removed, sorted. */
  deleteRepositoryDigest(repositoryName: string, digest: string): string[]
  /** Removes every row of a repository; returns how many rows went. */
  deleteRepository(repositoryName: string): number
  /**
   * Adds to the pull count of a tag, or of every tag pointing at a digest, atomically. A tag or
   * digest the mirror does not hold is ignored.
   * @throws ValidationError when `count` is not a non-negative integer.
   */
  addPulls(
    repositoryName: string,
    target: { tag: string } | { digest: string },
    count: number,
  ): void
  /**
   * Records a notification event id; `false` when it was already recorded (a redelivery).
   * Ids received before `forgetBefore` (unix seconds) are dropped now and then (at most once a
   * minute of `now`, or after a thousand new ids), so such an id may still count as a
   * redelivery for up to a minute.
   */
  recordEventId(eventId: string, now: number, forgetBefore: number): boolean

  /** A small key/value area for server state, such as a generated session secret. */
  getSetting(key: string): string | null
  setSetting(key: string, value: string): void

  close(): void
  [Symbol.dispose](): void
}
