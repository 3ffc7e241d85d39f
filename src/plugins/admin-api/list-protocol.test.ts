import { describe, expect, test } from 'bun:test'

import { ValidationError } from '../../errors.ts'
import { contentRange, parseListQuery } from './list-protocol.ts'

const parse = (query: Record<string, string>) => parseListQuery(new URLSearchParams(query))

describe('parseListQuery', () => {
  test('reads filter, sort and range together', () => {
    const query = parse({
      filter: '{"q":"ali","ids":[1,"2"],"role":"user","blocked":false,"group":3}',
      sort: '["group","desc"]',
      range: '[10,19]',
    })

    expect(query).toEqual({
      q: 'ali',
      ids: [1, 2],
      filters: { role: 'user', blocked: false, group: 3 },
      sort: { field: 'group', order: 'DESC' },
      range: { start: 10, end: 19 },
    })
  })

  test('accepts each parameter on its own', () => {
    expect(parse({})).toEqual({})
    expect(parse({ range: '[0,24]' })).toEqual({ range: { start: 0, end: 24 } })
    expect(parse({ sort: '["name","ASC"]' })).toEqual({ sort: { field: 'name', order: 'ASC' } })
    expect(parse({ filter: '{}' })).toEqual({})
  })

  test('drops an empty search text', () => {
    expect(parse({ filter: '{"q":""}' })).toEqual({})
  })

  test.each([
    [{ filter: '{bad' }, 'the filter parameter is not valid JSON'],
    [{ filter: '[1]' }, 'the filter parameter must be a JSON object'],
    [{ filter: '"x"' }, 'the filter parameter must be a JSON object'],
    [{ filter: '{"q":{"a":1}}' }, 'filter.q must be a string'],
    [{ filter: '{"ids":[1.5]}' }, 'filter.ids must be a list of integer ids'],
    [{ filter: '{"role":null}' }, 'filter.role must be a string, a number or a boolean'],
    [{ filter: '{"role":["a"]}' }, 'filter.role must be a string, a number or a boolean'],
    [{ sort: 'name' }, 'the sort parameter is not valid JSON'],
    [{ sort: '["name"]' }, 'the sort parameter must be'],
    [{ sort: '["name","UP"]' }, 'the sort parameter must be'],
    [{ sort: '[1,"ASC"]' }, 'the sort parameter must be'],
    [{ range: '[0]' }, 'the range parameter must be [start,end]'],
    [{ range: '{"a":1}' }, 'the range parameter must be [start,end]'],
    [{ range: '[5,2]' }, 'the range parameter must hold two integers'],
    [{ range: '[-1,2]' }, 'the range parameter must hold two integers'],
    [{ range: '[0,1e400]' }, 'the range parameter must hold two integers'],
    [{ range: '[0,"9"]' }, 'the range parameter must hold two integers'],
  ])('rejects %o', (query, message) => {
    expect(() => parse(query)).toThrow(ValidationError)
    expect(() => parse(query)).toThrow(message)
  })

  test('rejects a parameter given twice', () => {
    const params = new URLSearchParams([
      ['range', '[0,1]'],
      ['range', '[2,3]'],
    ])

    expect(() => parseListQuery(params)).toThrow('the range parameter is given more than once')
  })
})

describe('contentRange', () => {
  test('writes one past the last requested index, as the Go tool did', () => {
    expect(contentRange('users', { range: { start: 0, end: 24 } }, 1)).toBe('users 0-25/1')
    expect(contentRange('accesses', { range: { start: 10, end: 19 } }, 42)).toBe(
      'accesses 10-20/42',
    )
  })

  test('covers the whole list when there is no range', () => {
    expect(contentRange('groups', {}, 3)).toBe('groups 0-3/3')
  })
})
