import type { Database } from 'bun:sqlite'

import type {
  AccessRule,
  CatalogQuery,
  Group,
  ListQuery,
  ListResult,
  NewAccessRule,
  NewGroup,
  NewRefreshToken,
  NewRepositoryEntry,
  NewUser,
  RefreshToken,
  RepositoryEntry,
  RepositorySummary,
  RuleOwner,
  Store,
  UpsertOutcome,
  User,
  UserChangeOptions,
  UserPatch,
  UserWithHash,
} from '../store.ts'
import { AccessRuleTable } from './access-rules.ts'
import { ProcessedEventTable } from './events.ts'
import { GroupTable } from './groups.ts'
import { RefreshTokenTable } from './refresh-tokens.ts'
import { RepositoryTable } from './repositories.ts'
import { SettingTable } from './settings.ts'
import { UserTable } from './users.ts'

/**
 * The `Store` on one open, migrated `bun:sqlite` database. Build it through `openEmbedStore`,
 * which prepares the schema; the statements are prepared once here.
 */
export class SqliteStore implements Store {
  readonly #db: Database
  readonly #users: UserTable
  readonly #groups: GroupTable
  readonly #access: AccessRuleTable
  readonly #tokens: RefreshTokenTable
  readonly #settings: SettingTable
  readonly #repositories: RepositoryTable
  readonly #events: ProcessedEventTable
  #closed = false

  constructor(db: Database) {
    this.#db = db
    this.#users = new UserTable(db)
    this.#groups = new GroupTable(db)
    this.#access = new AccessRuleTable(db)
    this.#tokens = new RefreshTokenTable(db)
    this.#settings = new SettingTable(db)
    this.#repositories = new RepositoryTable(db)
    this.#events = new ProcessedEventTable(db)
  }

  listUsers(query: ListQuery): ListResult<User> {
    return this.#users.list(query)
  }

  getUser(id: number): User | null {
    return this.#users.get(id)
  }

  getUserByLogin(login: string): UserWithHash | null {
    return this.#users.getByLogin(login)
  }

  getUserWithHash(id: number): UserWithHash | null {
    return this.#users.getWithHash(id)
  }

  listEnabledUsersWithHash(): UserWithHash[] {
    return this.#users.listEnabledWithHash()
  }

  createUser(user: NewUser): User {
    return this.#users.create(user)
  }

  updateUser(id: number, patch: UserPatch, options?: UserChangeOptions): User {
    return this.#users.update(id, patch, options)
  }

  deleteUser(id: number, options?: UserChangeOptions): void {
    this.#users.delete(id, options)
  }

  countEnabledAdmins(): number {
    return this.#users.countEnabledAdmins()
  }

  listGroups(query: ListQuery): ListResult<Group> {
    return this.#groups.list(query)
  }

  getGroup(id: number): Group | null {
    return this.#groups.get(id)
  }

  createGroup(group: NewGroup): Group {
    return this.#groups.create(group)
  }

  updateGroup(id: number, patch: Partial<NewGroup>): Group {
    return this.#groups.update(id, patch)
  }

  deleteGroup(id: number): void {
    this.#groups.delete(id)
  }

  listAccessRules(query: ListQuery): ListResult<AccessRule> {
    return this.#access.list(query)
  }

  getAccessRule(id: number): AccessRule | null {
    return this.#access.get(id)
  }

  createAccessRule(rule: NewAccessRule): AccessRule {
    return this.#access.create(rule)
  }

  updateAccessRule(id: number, patch: Partial<NewAccessRule>): AccessRule {
    return this.#access.update(id, patch)
  }

  deleteAccessRule(id: number): void {
    this.#access.delete(id)
  }

  findEnabledRules(resourceType: string, owners: readonly RuleOwner[]): AccessRule[] {
    return this.#access.findEnabled(resourceType, owners)
  }

  createRefreshToken(token: NewRefreshToken): RefreshToken {
    return this.#tokens.create(token)
  }

  useRefreshToken(tokenHash: string, now: number): RefreshToken | null {
    return this.#tokens.use(tokenHash, now)
  }

  listRefreshTokens(userId: number): RefreshToken[] {
    return this.#tokens.listByUser(userId)
  }

  deleteRefreshToken(userId: number, id: number): void {
    this.#tokens.delete(userId, id)
  }

  deleteRefreshTokensOfUser(userId: number): void {
    this.#tokens.deleteOfUser(userId)
  }

  upsertRepositoryEntry(entry: NewRepositoryEntry): UpsertOutcome {
    return this.#repositories.upsert(entry)
  }

  getRepositoryEntry(repositoryName: string, tag: string): RepositoryEntry | null {
    return this.#repositories.get(repositoryName, tag)
  }

  listRepositoryEntries(repositoryName: string): RepositoryEntry[] {
    return this.#repositories.listOfRepository(repositoryName)
  }

  listRepositoryNames(): string[] {
    return this.#repositories.names()
  }

  listCatalogTags(query: CatalogQuery): ListResult<RepositoryEntry> {
    return this.#repositories.listTags(query)
  }

  listCatalogRepositories(query: CatalogQuery): ListResult<RepositorySummary> {
    return this.#repositories.listRepositories(query)
  }

  deleteRepositoryTags(repositoryName: string, tags: readonly string[]): number {
    return this.#repositories.deleteTags(repositoryName, tags)
  }

  deleteRepositoryDigest(repositoryName: string, digest: string): string[] {
    return this.#repositories.deleteDigest(repositoryName, digest)
  }

  deleteRepository(repositoryName: string): number {
    return this.#repositories.deleteRepository(repositoryName)
  }

  addPulls(
    repositoryName: string,
    target: { tag: string } | { digest: string },
    count: number,
  ): void {
    this.#repositories.addPulls(repositoryName, target, count)
  }

  recordEventId(eventId: string, now: number, forgetBefore: number): boolean {
    return this.#events.record(eventId, now, forgetBefore)
  }

  getSetting(key: string): string | null {
    return this.#settings.get(key)
  }

  setSetting(key: string, value: string): void {
    this.#settings.set(key, value)
  }

  /** Finalizes the statements and closes the database; later calls do nothing. */
  close(): void {
    if (this.#closed) {
      return
    }

    this.#closed = true
    for (const table of [
      this.#users,
      this.#groups,
      this.#access,
      this.#tokens,
      this.#settings,
      this.#repositories,
      this.#events,
    ]) {
      table.finalize()
    }
    this.#db.close()
  }

  [Symbol.dispose](): void {
    this.close()
  }
}
