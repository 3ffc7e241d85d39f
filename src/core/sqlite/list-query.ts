import type { Database, SQLQueryBindings, Statement } from 'bun:sqlite'

import { ValidationError } from '../../errors.ts'
import type { ListQuery, ListResult } from '../store.ts'

/** How a filter value is checked and bound: integers, 0/1 flags or text. */
export type FieldKind = 'int' | 'bool' | 'text'

/** One field of the list protocol: the SQL expression it stands for and its kind. */
export interface ListField {
  /** A column name or an expression over columns; never built from input. */
  sql: string
  kind: FieldKind
}

/** What the list protocol may touch in one table. */
export interface ListTable {
  /** The resource word used in error messages, such as `users`. */
  resource: string
  /** The table, quoted if needed. */
  from: string
  /** The select list of the data query. */
  columns: string
  /** API field name → SQL; the only names a filter or a sort may use. */
  fields: ReadonlyMap<string, ListField>
  /** What `q` searches, joined with OR: columns, or predicates built around the LIKE. */
  search: readonly SearchTerm[]
  /** Filters implied by the ones given, such as `is_group = false` beside a bare `owner_id`. */
  impliedFilters?: (filters: Readonly<Record<string, unknown>>) => Record<string, boolean>
}

/**
 * One thing `q` searches: a column (or expression) that is matched with LIKE, or a predicate
 * built around the LIKE part it is given (`LIKE ? ESCAPE …`, binding the pattern once), such as
 * an EXISTS over another table.
 */
export type SearchTerm = string | { predicate: (like: string) => string }

/** The WHERE, ORDER BY and LIMIT parts of one list, with their bound values in order. */
export interface ListSql {
  where: string
  whereParams: SQLQueryBindings[]
  orderBy: string
  limit: string
  limitParams: SQLQueryBindings[]
}

const LIKE_ESCAPE = '\\'

/** Escapes `%`, `_` and the escape character so that `text` matches itself in a LIKE. */
export function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (c) => LIKE_ESCAPE + c)
}

/** Builds a field map from a plain object. */
export function listFields(fields: Record<string, ListField>): ReadonlyMap<string, ListField> {
  return new Map(Object.entries(fields))
}

/**
 * Turns a decoded list query into SQL parts for `table`. Field names come only from the
 * table's whitelist and every value is a bound parameter.
 *
 * @throws ValidationError for an unknown filter or sort field, a value of the wrong kind, a
 * sort order other than ASC/DESC, or a negative or reversed range.
 */
export function buildListSql(table: ListTable, query: ListQuery): ListSql {
  const conditions: string[] = []
  const whereParams: SQLQueryBindings[] = []

  if (query.q !== undefined && query.q !== null) {
    addSearch(table, query.q, conditions, whereParams)
  }

  if (query.ids !== undefined && query.ids !== null) {
    conditions.push('id IN (SELECT value FROM json_each(?))')
    whereParams.push(JSON.stringify(checkIds(query.ids)))
  }

  const filters = checkFilterObject(query.filters)
  const implied = table.impliedFilters?.(filters) ?? {}
  for (const [name, value] of [...Object.entries(filters), ...Object.entries(implied)]) {
    const field = lookupField(table, name, 'filter')
    conditions.push(`${field.sql} = ?`)
    whereParams.push(bindValue(name, field.kind, value))
  }

  const where = conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : ''
  const { limit, limitParams } = buildLimit(query.range)

  return { where, whereParams, orderBy: buildOrderBy(table, query.sort), limit, limitParams }
}

/**
 * Runs a list: one count over the search and filters, and one data query with the sort and
 * range, both with the same WHERE.
 */
export function runList<Row, T>(
  db: Database,
  table: ListTable,
  query: ListQuery,
  toItem: (row: Row) => T,
): ListResult<T> {
  const sql = buildListSql(table, query)
  const countSql = `SELECT count(*) AS total FROM ${table.from} ${sql.where}`
  const dataSql = `SELECT ${table.columns} FROM ${table.from} ${sql.where} ${sql.orderBy} ${sql.limit}`

  const countStatement = db.prepare<{ total: number }, SQLQueryBindings[]>(countSql)
  const dataStatement = db.prepare<Row, SQLQueryBindings[]>(dataSql)
  try {
    const read = db.transaction(() => ({
      total: countStatement.get(...sql.whereParams)?.total ?? 0,
      rows: dataStatement.all(...sql.whereParams, ...sql.limitParams),
    }))
    const { total, rows } = read()

    return { total, items: rows.map(toItem) }
  } finally {
    countStatement.finalize()
    dataStatement.finalize()
  }
}

/**
 * Prepared statements kept by SQL text, for lists whose SQL varies with the query (filters,
 * sort, range) but repeats from one request to the next. At most `limit` are kept; the least
 * recently used one is finalized first.
 */
export class StatementCache {
  readonly #db: Database
  readonly #limit: number
  readonly #statements = new Map<string, Statement<unknown, SQLQueryBindings[]>>()

  constructor(db: Database, limit = 64) {
    this.#db = db
    this.#limit = limit
  }

  /** The prepared statement for `sql`, prepared on first use. */
  get<Row>(sql: string): Statement<Row, SQLQueryBindings[]> {
    let statement = this.#statements.get(sql)
    if (statement !== undefined) {
      // Re-inserting moves it to the end, the most recently used place.
      this.#statements.delete(sql)
    } else {
      statement = this.#db.prepare<unknown, SQLQueryBindings[]>(sql)
    }
    this.#statements.set(sql, statement)
    this.#evict()

    return statement as Statement<Row, SQLQueryBindings[]>
  }

  finalize(): void {
    for (const statement of this.#statements.values()) {
      statement.finalize()
    }
    this.#statements.clear()
  }

  #evict(): void {
    while (this.#statements.size > this.#limit) {
      const [sql, oldest] = this.#statements.entries().next().value as [
        string,
        Statement<unknown, SQLQueryBindings[]>,
      ]
      this.#statements.delete(sql)
      oldest.finalize()
    }
  }
}

function addSearch(
  table: ListTable,
  q: unknown,
  conditions: string[],
  params: SQLQueryBindings[],
): void {
  if (typeof q !== 'string') {
    throw new ValidationError('the search text q must be a string')
  }
  if (q === '') {
    return
  }

  // NOTE: SQLite's LIKE folds case for ASCII letters only.
  const pattern = `%${escapeLike(q)}%`
  const like = `LIKE ? ESCAPE '${LIKE_ESCAPE}'`
  const parts = table.search.map((term) =>
    typeof term === 'string' ? `${term} ${like}` : term.predicate(like),
  )
  conditions.push(`(${parts.join(' OR ')})`)
  params.push(...table.search.map(() => pattern))
}

function checkIds(ids: unknown): number[] {
  if (!Array.isArray(ids) || !ids.every((id) => Number.isSafeInteger(id))) {
    throw new ValidationError('ids must be a list of integers')
  }

  return ids as number[]
}

function checkFilterObject(filters: unknown): Record<string, unknown> {
  if (filters === undefined || filters === null) {
    return {}
  }
  if (typeof filters !== 'object' || Array.isArray(filters)) {
    throw new ValidationError('filters must be an object')
  }

  return filters as Record<string, unknown>
}

function lookupField(table: ListTable, name: string, use: 'filter' | 'sort'): ListField {
  const field = table.fields.get(name)
  if (field === undefined) {
    const allowed = [...table.fields.keys()].join(', ')
    throw new ValidationError(
      `unknown ${use} field '${clip(name)}' for ${table.resource}; allowed: ${allowed}`,
    )
  }

  return field
}

function bindValue(name: string, kind: FieldKind, value: unknown): SQLQueryBindings {
  switch (kind) {
    case 'int':
      return bindInt(name, value)
    case 'bool':
      return bindBool(name, value)
    case 'text':
      return bindText(name, value)
  }
}

function bindInt(name: string, value: unknown): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) {
    return value
  }
  if (typeof value === 'string' && /^-?\d{1,15}$/.test(value)) {
    return Number(value)
  }

  throw new ValidationError(`filter '${name}' must be an integer`)
}

function bindBool(name: string, value: unknown): number {
  if (value === true || value === 1 || value === 'true' || value === '1') {
    return 1
  }
  if (value === false || value === 0 || value === 'false' || value === '0') {
    return 0
  }

  throw new ValidationError(`filter '${name}' must be true or false`)
}

function bindText(name: string, value: unknown): string {
  if (typeof value === 'string') {
    return value
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value)
  }

  throw new ValidationError(`filter '${name}' must be a string`)
}

function buildOrderBy(table: ListTable, sort: ListQuery['sort']): string {
  if (sort === undefined || sort === null) {
    return 'ORDER BY id ASC'
  }

  const field = lookupField(table, String(sort.field), 'sort')
  const order = String(sort.order).toUpperCase()
  if (order !== 'ASC' && order !== 'DESC') {
    throw new ValidationError(`sort order must be ASC or DESC, not '${clip(String(sort.order))}'`)
  }

  const collate = field.kind === 'text' ? ' COLLATE NOCASE' : ''
  // The id breaks ties so that pages never overlap or skip rows.
  const tieBreak = field.sql === 'id' ? '' : ', id ASC'

  return `ORDER BY ${field.sql}${collate} ${order}${tieBreak}`
}

function buildLimit(range: ListQuery['range']): Pick<ListSql, 'limit' | 'limitParams'> {
  if (range === undefined || range === null) {
    return { limit: '', limitParams: [] }
  }

  const { start, end } = range
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new ValidationError('range must be [start, end] with integers 0 <= start <= end')
  }

  return { limit: 'LIMIT ? OFFSET ?', limitParams: [end - start + 1, start] }
}

/** Keeps echoed input short in error messages. */
function clip(text: string): string {
  return text.length > 40 ? `${text.slice(0, 40)}…` : text
}
