import type { ListQuery, SortOrder } from '../../core/store.ts'
import { ValidationError } from '../../errors.ts'

/** The word a list names itself by in `Content-Range`, as the Go tool wrote it. */
export type ListResource = 'users' | 'groups' | 'accesses' | 'refresh-tokens'

/**
 * Decodes the react-admin "simple REST" list parameters: `filter` (a JSON object with `q`, `ids`
 * and exact-match fields), `sort` (`["field","ASC"|"DESC"]`) and `range` (`[start,end]`,
 * inclusive). Each parameter may be absent on its own. Which fields exist is the store's
 * business; this only checks shapes.
 *
 * @throws ValidationError naming the parameter when one is not valid JSON or has the wrong shape.
 */
export const parseListQuery = (params: URLSearchParams): ListQuery => {
  const query: ListQuery = {}

  const filter = readJsonParam(params, 'filter', '{"q":"text","ids":[1,2],"role":"user"}')
  if (filter !== undefined) {
    Object.assign(query, parseFilter(filter))
  }

  const sort = readJsonParam(params, 'sort', '["name","ASC"]')
  if (sort !== undefined) {
    query.sort = parseSort(sort)
  }

  const range = readJsonParam(params, 'range', '[0,24]')
  if (range !== undefined) {
    query.range = parseRange(range)
  }

  return query
}

/**
 * The `Content-Range` value of a list, with the Go tool's arithmetic: the upper bound is one
 * past the last requested index (`users 0-25/1` for `range=[0,24]`), and a list without a range
 * reads as `0-<total>`.
 */
export const contentRange = (resource: ListResource, query: ListQuery, total: number): string => {
  const start = query.range?.start ?? 0
  const end = query.range ? query.range.end + 1 : total

  return `${resource} ${start}-${end}/${total}`
}

const readJsonParam = (params: URLSearchParams, name: string, example: string): unknown => {
  const values = params.getAll(name)
  if (values.length === 0) {
    return undefined
  }
  if (values.length > 1) {
    throw new ValidationError(`the ${name} parameter is given more than once`)
  }
  const text = values[0] as string
  if (text === '') {
    return undefined
  }
  try {
    return JSON.parse(text)
  } catch {
    throw new ValidationError(`the ${name} parameter is not valid JSON; expected e.g. ${example}`)
  }
}

const parseFilter = (value: unknown): Pick<ListQuery, 'q' | 'ids' | 'filters'> => {
  if (!isPlainObject(value)) {
    throw new ValidationError('the filter parameter must be a JSON object, e.g. {"q":"text"}')
  }

  const result: Pick<ListQuery, 'q' | 'ids' | 'filters'> = {}
  const filters: Record<string, string | number | boolean> = {}
  for (const [key, field] of Object.entries(value)) {
    if (key === 'q') {
      const q = parseSearch(field)
      if (q !== '') {
        result.q = q
      }
    } else if (key === 'ids') {
      result.ids = parseIds(field)
    } else {
      filters[key] = parseExact(key, field)
    }
  }
  if (Object.keys(filters).length > 0) {
    result.filters = filters
  }

  return result
}

const parseSearch = (value: unknown): string => {
  if (typeof value === 'string') {
    return value
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return String(value)
  }
  throw new ValidationError('filter.q must be a string')
}

const parseIds = (value: unknown): number[] => {
  const list = Array.isArray(value) ? value : [value]
  return list.map((id) => {
    if (typeof id === 'number' && Number.isSafeInteger(id)) {
      return id
    }
    if (typeof id === 'string' && /^-?\d{1,15}$/.test(id)) {
      return Number(id)
    }
    throw new ValidationError('filter.ids must be a list of integer ids')
  })
}

const parseExact = (key: string, value: unknown): string | number | boolean => {
  if (typeof value === 'string' || typeof value === 'boolean') {
    return value
  }
  if (typeof value === 'number' && Number.isFinite(value)) {
    return value
  }
  throw new ValidationError(`filter.${clip(key)} must be a string, a number or a boolean`)
}

const parseSort = (value: unknown): NonNullable<ListQuery['sort']> => {
  const shape = 'the sort parameter must be ["field","ASC"] or ["field","DESC"]'
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ValidationError(shape)
  }
  const [field, order] = value as unknown[]
  if (typeof field !== 'string' || field === '' || typeof order !== 'string') {
    throw new ValidationError(shape)
  }
  const upper = order.toUpperCase()
  if (upper !== 'ASC' && upper !== 'DESC') {
    throw new ValidationError(shape)
  }

  return { field, order: upper satisfies SortOrder }
}

const parseRange = (value: unknown): NonNullable<ListQuery['range']> => {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ValidationError('the range parameter must be [start,end], e.g. [0,24]')
  }
  const [start, end] = value as unknown[]
  if (!isIndex(start) || !isIndex(end) || end < start) {
    throw new ValidationError(
      'the range parameter must hold two integers with 0 <= start <= end, e.g. [0,24]',
    )
  }

  return { start, end }
}

const isIndex = (value: unknown): value is number =>
  typeof value === 'number' && Number.isSafeInteger(value) && value >= 0

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const clip = (text: string): string => (text.length > 40 ? `${text.slice(0, 40)}…` : text)
