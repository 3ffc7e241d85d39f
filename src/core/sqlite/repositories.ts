import type { Database, SQLQueryBindings, Statement } from 'bun:sqlite'

import { ValidationError } from '../../errors.ts'
import type {
  BlobRef,
  CatalogQuery,
  ListResult,
  NewRepositoryEntry,
  Platform,
  RepositoryEntry,
  RepositorySummary,
  UpsertOutcome,
} from '../store.ts'
import { buildListSql, listFields, StatementCache, type ListTable } from './list-query.ts'
import { readInt, readText } from './rows.ts'

/** A `repositories` row; the legacy columns may be NULL in rows the Go tool wrote. */
interface EntryRow {
  id: number
  repository_name: string | number
  tag: string
  digest: string
  media_type: string
  config_digest: string | null
  size: number | null
  platforms: string
  blobs: string
  created_at: number | null
  timestamp: number | null
  pull_counter: number | null
  raw: string | null
}

interface SummaryRow {
  id: number
  repository_name: string | number
  tag_count: number
  size: number | null
  pull_counter: number | null
  timestamp: number | null
}

type EntryValues = {
  repositoryName: string
  tag: string
  digest: string
  mediaType: string
  configDigest: string | null
  size: number
  platforms: string
  blobs: string
  createdAt: number | null
  pushedAt: number
  raw: string
}

const COLUMNS =
  'id, repository_name, tag, digest, media_type, config_digest, size, platforms, blobs, created_at, timestamp, pull_counter, raw'

/** Tag rows through the list protocol; the names are the legacy API's column names. */
const TAGS: ListTable = {
  resource: 'repository tags',
  from: 'repositories',
  columns: COLUMNS,
  fields: listFields({
    id: { sql: 'id', kind: 'int' },
    repository_name: { sql: 'repository_name', kind: 'text' },
    tag: { sql: 'tag', kind: 'text' },
    digest: { sql: 'digest', kind: 'text' },
    config_digest: { sql: "COALESCE(config_digest, '')", kind: 'text' },
    media_type: { sql: 'media_type', kind: 'text' },
    size: { sql: 'COALESCE(size, 0)', kind: 'int' },
    pull_counter: { sql: 'COALESCE(pull_counter, 0)', kind: 'int' },
    timestamp: { sql: 'COALESCE(timestamp, 0)', kind: 'int' },
    created_at: { sql: 'created_at', kind: 'int' },
  }),
  search: ['repository_name', 'tag'],
}

/** Only the repositories named in one JSON array parameter, however long the list is. */
const RESTRICT_NAMES = 'repository_name IN (SELECT value FROM json_each(?))'

/**
 * The size of one repository (`name` is the SQL that names it): each distinct blob of its tags
 * counted once. The store writes every blob as the same canonical object `{digest, size}`, so
 * distinct objects are distinct digests; comparing the objects whole spares a JSON extraction
 * per blob. A row without blobs (written before blobs were recorded) counts as one blob, its
 * manifest digest with its stored size, so two such tags of one manifest still count once.
 * Blobs text that is not valid JSON counts as no blobs, instead of failing the whole list.
 */
function repositorySize(name: string): string {
  return `(SELECT COALESCE(SUM(CASE WHEN kind = 'object' THEN blob ->> 'size' END), 0) FROM (
      SELECT b.type AS kind, b.value AS blob
        FROM repositories t, json_each(CASE WHEN json_valid(t.blobs) THEN t.blobs ELSE '[]' END) b
       WHERE t.repository_name = ${name}
      UNION
      SELECT 'object', json_object('digest', t.digest, 'size', COALESCE(t.size, 0))
        FROM repositories t
       WHERE t.repository_name = ${name} AND (t.blobs = '[]' OR NOT json_valid(t.blobs))
    ))`
}

/**
 * One row per repository, before the list protocol's WHERE. With `withSize`, the size comes
 * from `temp.repository_sizes`, which `RepositorySizeCache.fill` has completed; without it the
 * size is left out, for a count or a page that neither filters nor sorts by it.
 */
function summaryFrom(withSize: boolean, restrict: boolean): string {
  const size = withSize
    ? `COALESCE((SELECT c.size FROM temp.repository_sizes c
         WHERE c.repository_name = r.repository_name), 0) AS size,`
    : ''
  const where = restrict ? `WHERE r.${RESTRICT_NAMES}` : ''

  return `(SELECT MIN(r.id) AS id,
       r.repository_name AS repository_name,
       count(*) AS tag_count,
       ${size}
       SUM(COALESCE(r.pull_counter, 0)) AS pull_counter,
       MAX(COALESCE(r.timestamp, 0)) AS timestamp
  FROM repositories r ${where}
  GROUP BY r.repository_name) AS s`
}

/**
 * Sizes of whole repositories, kept in a connection-private TEMP table, for lists that filter
 * or sort by size: sizing every repository reads every blob list, which is too slow to repeat
 * on each request. This store forgets a repository's size whenever it writes one of its tags;
 * a write by another connection (seen through `PRAGMA data_version`) forgets them all.
 */
class RepositorySizeCache {
  readonly #dataVersion: Statement<{ data_version: number }, []>
  readonly #clear: Statement<unknown, []>
  readonly #forget: Statement<unknown, [{ repositoryName: string }]>
  readonly #fillAll: Statement<unknown, []>
  readonly #fillNamed: Statement<unknown, [string]>
  #seenVersion: number | null = null

  constructor(db: Database) {
    db.run(
      `CREATE TEMP TABLE IF NOT EXISTS repository_sizes (
         repository_name TEXT PRIMARY KEY,
         size INTEGER NOT NULL
       ) WITHOUT ROWID`,
    )
    this.#dataVersion = db.prepare('PRAGMA data_version')
    this.#clear = db.prepare('DELETE FROM temp.repository_sizes')
    this.#forget = db.prepare(
      'DELETE FROM temp.repository_sizes WHERE repository_name = $repositoryName',
    )
    const fill = (where: string) =>
      `INSERT INTO temp.repository_sizes (repository_name, size)
       SELECT n.name, ${repositorySize('n.name')}
         FROM (SELECT DISTINCT repository_name AS name FROM repositories ${where}) AS n
        WHERE NOT EXISTS (SELECT 1 FROM temp.repository_sizes c WHERE c.repository_name = n.name)`
    this.#fillAll = db.prepare(fill(''))
    this.#fillNamed = db.prepare(fill(`WHERE ${RESTRICT_NAMES}`))
  }

  /** Drops the size of one repository; call it in the transaction that changed its tags. */
  forget(repositoryName: string): void {
    this.#forget.run({ repositoryName })
  }

  /**
   * Sizes every repository (or every named one) that has no size yet. Call it first inside the
   * read transaction of the list: `PRAGMA data_version` opens the snapshot, so the sizes and
   * the list see the same rows.
   */
  fill(restriction: string | null): void {
    const version = this.#dataVersion.get()?.data_version ?? null
    if (version !== this.#seenVersion) {
      this.#clear.run()
      this.#seenVersion = version
    }

    if (restriction === null) {
      this.#fillAll.run()
    } else {
      this.#fillNamed.run(restriction)
    }
  }

  finalize(): void {
    for (const statement of [
      this.#dataVersion,
      this.#clear,
      this.#forget,
      this.#fillAll,
      this.#fillNamed,
    ]) {
      statement.finalize()
    }
  }
}

/** Pages up to this many repositories are sized directly rather than through the cache. */
const PAGE_SIZED_DIRECTLY = 200

const SUMMARY_COLUMNS = 'id, repository_name, tag_count, size, pull_counter, timestamp'
const SUMMARY_COLUMNS_BUT_SIZE = 'id, repository_name, tag_count, pull_counter, timestamp'

/** Repositories through the list protocol; `from` is chosen per query by `summaryFrom`. */
const REPOSITORIES: ListTable = {
  resource: 'repositories',
  from: summaryFrom(true, false),
  columns: SUMMARY_COLUMNS,
  fields: listFields({
    id: { sql: 'id', kind: 'int' },
    repository_name: { sql: 'repository_name', kind: 'text' },
    tag_count: { sql: 'tag_count', kind: 'int' },
    size: { sql: 'size', kind: 'int' },
    pull_counter: { sql: 'pull_counter', kind: 'int' },
    timestamp: { sql: 'timestamp', kind: 'int' },
  }),
  // A repository matches by its name or by any of its tags; its summary still covers every tag.
  search: [
    'repository_name',
    {
      predicate: (like) =>
        `EXISTS (SELECT 1 FROM repositories t WHERE t.repository_name = s.repository_name AND t.tag ${like})`,
    },
  ],
}

/**
 * The `repositories` aggregate: the mirror of the registry, one row per repository and tag.
 *
 * An upsert that brings nothing new writes nothing: not even the push time, so a sync that sees
 * an unchanged registry does not churn the file, and re-pushing the same digest keeps the time
 * of its first push.
 */
export class RepositoryTable {
  readonly #db: Database
  readonly #lists: StatementCache
  readonly #sizes: RepositorySizeCache
  readonly #exists: Statement<{ id: number }, [{ repositoryName: string; tag: string }]>
  readonly #upsert: Statement<{ id: number }, [EntryValues]>
  readonly #get: Statement<EntryRow, [{ repositoryName: string; tag: string }]>
  readonly #listOfRepository: Statement<EntryRow, [{ repositoryName: string }]>
  readonly #names: Statement<{ repository_name: string | number }, []>
  readonly #deleteTags: Statement<unknown, [{ repositoryName: string; tags: string }]>
  readonly #deleteDigest: Statement<{ tag: string }, [{ repositoryName: string; digest: string }]>
  readonly #deleteRepository: Statement<unknown, [{ repositoryName: string }]>
  readonly #pullsByTag: Statement<unknown, [{ repositoryName: string; tag: string; n: number }]>
  readonly #pullsByDigest: Statement<
    unknown,
    [{ repositoryName: string; digest: string; n: number }]
  >

  constructor(db: Database) {
    this.#db = db
    this.#lists = new StatementCache(db)
    this.#sizes = new RepositorySizeCache(db)
    this.#exists = db.prepare(
      'SELECT id FROM repositories WHERE repository_name = $repositoryName AND tag = $tag',
    )
    // The pull count and the id of an existing tag are kept. A missing creation time means
    // "unknown" and keeps the stored one while the digest stays the same.
    this.#upsert = db.prepare(
      `INSERT INTO repositories (repository_name, tag, digest, media_type, config_digest, size,
         platforms, blobs, created_at, timestamp, pull_counter, raw)
       VALUES ($repositoryName, $tag, $digest, $mediaType, $configDigest, $size,
         $platforms, $blobs, $createdAt, $pushedAt, 0, $raw)
       ON CONFLICT (repository_name, tag) DO UPDATE SET
         digest = excluded.digest,
         media_type = excluded.media_type,
         config_digest = excluded.config_digest,
         size = excluded.size,
         platforms = excluded.platforms,
         blobs = excluded.blobs,
         created_at = CASE WHEN digest = excluded.digest
           THEN COALESCE(excluded.created_at, created_at) ELSE excluded.created_at END,
         raw = excluded.raw,
         timestamp = excluded.timestamp
       WHERE digest IS NOT excluded.digest
         OR media_type IS NOT excluded.media_type
         OR config_digest IS NOT excluded.config_digest
         OR size IS NOT excluded.size
         OR platforms IS NOT excluded.platforms
         OR blobs IS NOT excluded.blobs
         OR (excluded.created_at IS NOT NULL AND created_at IS NOT excluded.created_at)
       RETURNING id`,
    )
    this.#get = db.prepare(
      `SELECT ${COLUMNS} FROM repositories WHERE repository_name = $repositoryName AND tag = $tag`,
    )
    this.#listOfRepository = db.prepare(
      `SELECT ${COLUMNS} FROM repositories WHERE repository_name = $repositoryName ORDER BY tag`,
    )
    this.#names = db.prepare(
      'SELECT DISTINCT repository_name FROM repositories ORDER BY repository_name',
    )
    this.#deleteTags = db.prepare(
      `DELETE FROM repositories
       WHERE repository_name = $repositoryName AND tag IN (SELECT value FROM json_each($tags))`,
    )
    this.#deleteDigest = db.prepare(
      `DELETE FROM repositories WHERE repository_name = $repositoryName AND digest = $digest
       RETURNING tag`,
    )
    this.#deleteRepository = db.prepare(
      'DELETE FROM repositories WHERE repository_name = $repositoryName',
    )
    // One statement each, so concurrent pulls never lose a count.
    this.#pullsByTag = db.prepare(
      `UPDATE repositories SET pull_counter = COALESCE(pull_counter, 0) + $n
       WHERE repository_name = $repositoryName AND tag = $tag`,
    )
    this.#pullsByDigest = db.prepare(
      `UPDATE repositories SET pull_counter = COALESCE(pull_counter, 0) + $n
       WHERE repository_name = $repositoryName AND digest = $digest`,
    )
  }

  /** @throws ValidationError for an entry with a missing name, tag or digest, or bad numbers. */
  upsert(entry: NewRepositoryEntry): UpsertOutcome {
    const values = toValues(entry)

    // Immediate: the write lock is taken before the existence check, so the outcome is exact
    // even with another process writing to the same file.
    return this.#db
      .transaction((): UpsertOutcome => {
        const existed = this.#exists.get(values) !== null
        const written = this.#upsert.get(values) !== null
        if (written) {
          this.#sizes.forget(values.repositoryName)
        }
        if (!existed) {
          return 'added'
        }

        return written ? 'changed' : 'unchanged'
      })
      .immediate()
  }

  get(repositoryName: string, tag: string): RepositoryEntry | null {
    const row = this.#get.get({ repositoryName, tag })

    return row ? toEntry(row) : null
  }

  listOfRepository(repositoryName: string): RepositoryEntry[] {
    return this.#listOfRepository.all({ repositoryName }).map(toEntry)
  }

  names(): string[] {
    return this.#names.all().map((row) => readText(row.repository_name))
  }

  /** @throws ValidationError for an unknown field or a bad query (see `buildListSql`). */
  listTags(query: CatalogQuery): ListResult<RepositoryEntry> {
    const sql = buildListSql(TAGS, query)
    const restriction = restrictionOf(query)
    const where = restriction === null ? sql.where : andWhere(sql.where, RESTRICT_NAMES)
    const params = restriction === null ? sql.whereParams : [...sql.whereParams, restriction]
    // With a range, the page is chosen on ids first, so the sort does not carry whole rows.
    const dataSql =
      sql.limit === ''
        ? `SELECT ${COLUMNS} FROM repositories ${where} ${sql.orderBy}`
        : `SELECT ${COLUMNS} FROM repositories
           WHERE id IN (SELECT id FROM repositories ${where} ${sql.orderBy} ${sql.limit})
           ${sql.orderBy}`

    return this.#db.transaction(() =>
      this.#runList<EntryRow, RepositoryEntry>(
        `SELECT count(*) AS total FROM repositories ${where}`,
        dataSql,
        params,
        sql.limitParams,
        toEntry,
      ),
    )()
  }

  /**
   * A repository matches `q` by its name or by any of its tags, and its summary always covers
   * all its tags.
   *
   * @throws ValidationError for an unknown field or a bad query (see `buildListSql`).
   */
  listRepositories(query: CatalogQuery): ListResult<RepositorySummary> {
    const sql = buildListSql(REPOSITORIES, query)
    const restriction = restrictionOf(query)
    const restrict = restriction !== null
    const params = restrict ? [restriction, ...sql.whereParams] : sql.whereParams
    // Sizes for every repository come from the cache; a page of a list that neither filters
    // nor sorts by size sizes just its own repositories.
    const needsSize =
      query.sort?.field === 'size' ||
      Object.hasOwn(checkedFilters(query.filters), 'size') ||
      sql.limit === '' ||
      (sql.limitParams[0] as number) > PAGE_SIZED_DIRECTLY
    const from = summaryFrom(needsSize, restrict)
    // The outer ORDER BY keeps the page's order.
    const dataSql = needsSize
      ? `SELECT ${SUMMARY_COLUMNS} FROM ${from} ${sql.where} ${sql.orderBy} ${sql.limit}`
      : `SELECT p.id, p.repository_name, p.tag_count, ${repositorySize('p.repository_name')} AS size,
           p.pull_counter, p.timestamp
         FROM (SELECT ${SUMMARY_COLUMNS_BUT_SIZE} FROM ${from} ${sql.where} ${sql.orderBy} ${sql.limit}) AS p
         ${sql.orderBy}`

    return this.#db.transaction(() => {
      if (needsSize) {
        this.#sizes.fill(restriction)
      }

      return this.#runList<SummaryRow, RepositorySummary>(
        `SELECT count(*) AS total FROM ${from} ${sql.where}`,
        dataSql,
        params,
        sql.limitParams,
        toSummary,
      )
    })()
  }

  /** @throws ValidationError when `tags` is not a list of strings. */
  deleteTags(repositoryName: string, tags: readonly string[]): number {
    if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === 'string')) {
      throw new ValidationError('tags must be a list of strings')
    }
    if (tags.length === 0) {
      return 0
    }

    return this.#changing(
      repositoryName,
      () => this.#deleteTags.run({ repositoryName, tags: JSON.stringify(tags) }).changes,
    )
  }

  deleteDigest(repositoryName: string, digest: string): string[] {
    const tags = this.#changing(repositoryName, () =>
      this.#deleteDigest.all({ repositoryName, digest }).map((row) => readText(row.tag)),
    )

    return tags.sort()
  }

  deleteRepository(repositoryName: string): number {
    return this.#changing(
      repositoryName,
      () => this.#deleteRepository.run({ repositoryName }).changes,
    )
  }

  /** @throws ValidationError when `count` is not a non-negative integer or the target is bad. */
  addPulls(
    repositoryName: string,
    target: { tag: string } | { digest: string },
    count: number,
  ): void {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new ValidationError('a pull count must be a non-negative integer')
    }
    if (count === 0) {
      return
    }

    if ('tag' in target && typeof target.tag === 'string') {
      this.#pullsByTag.run({ repositoryName, tag: target.tag, n: count })
      return
    }
    if ('digest' in target && typeof target.digest === 'string') {
      this.#pullsByDigest.run({ repositoryName, digest: target.digest, n: count })
      return
    }

    throw new ValidationError('pulls are counted by tag or by digest')
  }

  finalize(): void {
    this.#lists.finalize()
    this.#sizes.finalize()
    for (const statement of [
      this.#exists,
      this.#upsert,
      this.#get,
      this.#listOfRepository,
      this.#names,
      this.#deleteTags,
      this.#deleteDigest,
      this.#deleteRepository,
      this.#pullsByTag,
      this.#pullsByDigest,
    ]) {
      statement.finalize()
    }
  }

  /** Runs a write to the tags of one repository together with forgetting its size. */
  #changing<T>(repositoryName: string, write: () => T): T {
    return this.#db.transaction(() => {
      const result = write()
      this.#sizes.forget(repositoryName)

      return result
    })()
  }

  /** The count and the page; the caller holds one transaction so both see the same rows. */
  #runList<Row, T>(
    countSql: string,
    dataSql: string,
    params: SQLQueryBindings[],
    limitParams: SQLQueryBindings[],
    toItem: (row: Row) => T,
  ): ListResult<T> {
    const total = this.#lists.get<{ total: number }>(countSql).get(...params)?.total ?? 0
    const rows = this.#lists.get<Row>(dataSql).all(...params, ...limitParams)

    return { total, items: rows.map(toItem) }
  }
}

/** The filters object, already checked by `buildListSql`. */
function checkedFilters(filters: CatalogQuery['filters']): object {
  return typeof filters === 'object' && filters !== null ? filters : {}
}

/** The `repositoryNames` restriction as one JSON parameter, or `null` when there is none. */
function restrictionOf(query: CatalogQuery): string | null {
  const names: unknown = query.repositoryNames
  if (names === undefined || names === null) {
    return null
  }
  if (!Array.isArray(names) || !names.every((name) => typeof name === 'string')) {
    throw new ValidationError('repositoryNames must be a list of strings')
  }

  return JSON.stringify(names)
}

function andWhere(where: string, condition: string): string {
  return where === '' ? `WHERE ${condition}` : `${where} AND ${condition}`
}

function toValues(entry: NewRepositoryEntry): EntryValues {
  return {
    repositoryName: requireText('repositoryName', entry.repositoryName),
    tag: requireText('tag', entry.tag),
    digest: requireText('digest', entry.digest),
    mediaType: optionalText('mediaType', entry.mediaType),
    configDigest:
      entry.configDigest === null ? null : requireText('configDigest', entry.configDigest),
    size: requireCount('size', entry.size),
    platforms: JSON.stringify(checkList('platforms', entry.platforms).map(checkPlatform)),
    blobs: JSON.stringify(checkList('blobs', entry.blobs).map(checkBlob)),
    createdAt: entry.createdAt === null ? null : requireInt('createdAt', entry.createdAt),
    pushedAt: requireInt('pushedAt', entry.pushedAt),
    raw: optionalText('raw', entry.raw),
  }
}

function requireText(name: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') {
    throw new ValidationError(`a repository entry needs a non-empty ${name}`)
  }

  return value
}

function optionalText(name: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new ValidationError(`the ${name} of a repository entry must be a string`)
  }

  return value
}

function requireInt(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value)) {
    throw new ValidationError(`the ${name} of a repository entry must be an integer`)
  }

  return value as number
}

function requireCount(name: string, value: unknown): number {
  if (!Number.isSafeInteger(value) || (value as number) < 0) {
    throw new ValidationError(`the ${name} of a repository entry must be a non-negative integer`)
  }

  return value as number
}

function checkList(name: string, value: unknown): unknown[] {
  if (!Array.isArray(value)) {
    throw new ValidationError(`the ${name} of a repository entry must be a list`)
  }

  return value
}

/** Copies a platform with its keys in a fixed order, so equal platforms store equal text. */
function checkPlatform(value: unknown): Platform {
  const platform = readPlatform(value)
  if (platform === null) {
    throw new ValidationError(
      'a platform needs text os, architecture and digest, a non-negative integer size and an optional text variant',
    )
  }

  return platform
}

function checkBlob(value: unknown): BlobRef {
  const blob = readBlob(value)
  if (blob === null) {
    throw new ValidationError('a blob needs a text digest and a non-negative integer size')
  }

  return blob
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function isSize(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0
}

function readPlatform(value: unknown): Platform | null {
  if (!isRecord(value)) {
    return null
  }

  const { os, architecture, variant, digest, size } = value
  if (
    typeof os !== 'string' ||
    typeof architecture !== 'string' ||
    typeof digest !== 'string' ||
    !isSize(size) ||
    (variant !== undefined && typeof variant !== 'string')
  ) {
    return null
  }

  return variant === undefined
    ? { os, architecture, digest, size }
    : { os, architecture, variant, digest, size }
}

function readBlob(value: unknown): BlobRef | null {
  if (!isRecord(value)) {
    return null
  }

  const { digest, size } = value
  if (typeof digest !== 'string' || !isSize(size)) {
    return null
  }

  return { digest, size }
}

/** Reads a JSON array column; text that is not a JSON array reads as empty, never a crash. */
function readJsonList<T>(text: unknown, read: (value: unknown) => T | null): T[] {
  if (typeof text !== 'string') {
    return []
  }

  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return []
  }
  if (!Array.isArray(parsed)) {
    return []
  }

  return parsed.map(read).filter((item): item is T => item !== null)
}

function toEntry(row: EntryRow): RepositoryEntry {
  return {
    id: row.id,
    repositoryName: readText(row.repository_name),
    tag: readText(row.tag),
    digest: readText(row.digest),
    mediaType: readText(row.media_type),
    configDigest: row.config_digest === null ? null : readText(row.config_digest),
    size: readInt(row.size, 0),
    platforms: readJsonList(row.platforms, readPlatform),
    blobs: readJsonList(row.blobs, readBlob),
    createdAt: row.created_at === null ? null : readInt(row.created_at, 0),
    pushedAt: readInt(row.timestamp, 0),
    pullCount: readInt(row.pull_counter, 0),
    raw: readText(row.raw),
  }
}

function toSummary(row: SummaryRow): RepositorySummary {
  return {
    id: row.id,
    repositoryName: readText(row.repository_name),
    tagCount: readInt(row.tag_count, 0),
    size: readInt(row.size, 0),
    pullCount: readInt(row.pull_counter, 0),
    pushedAt: readInt(row.timestamp, 0),
  }
}
