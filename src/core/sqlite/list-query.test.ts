import { describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'

import { ANONYMOUS_OWNER_ID, type ListQuery, type NewUser, type Store } from '../store.ts'
import { escapeLike, StatementCache } from './list-query.ts'
import { errorOf, invalid, openTestStore } from './test-store.ts'

const USER_FIELDS = 'id, login, name, role, group, user_group, blocked, disabled, description'

function seedUsers(store: Store): void {
  const base: NewUser = {
    login: '',
    name: '',
    passwordHash: 'h',
    role: 'user',
    group: 1,
    disabled: false,
    description: '',
  }
  // User 1 is the seeded admin: admin / admin / admin / group 1 / enabled / 'Default user…'.
  store.createUser({
    ...base,
    login: 'zoe',
    name: 'Anna Zoe',
    group: 2,
    description: 'backend dev, works with bob',
  })
  store.createUser({
    ...base,
    login: 'carol',
    name: 'carol',
    role: 'manager',
    disabled: true,
    description: 'ops_lead 100%',
  })
  store.createUser({ ...base, login: 'bob', name: 'Bob', group: 3 })
  store.createUser({
    ...base,
    login: 'eve',
    name: 'Eve Adams',
    role: 'admin',
    group: 2,
    disabled: true,
    description: 'likes bob',
  })
}

async function listUserIds(query: ListQuery): Promise<{ total: number; ids: number[] }> {
  using store = await openTestStore()
  seedUsers(store)
  const { total, items } = store.listUsers(query)

  return { total, ids: items.map((user) => user.id) }
}

describe('list protocol on users', () => {
  test.each<[string, ListQuery, { total: number; ids: number[] }]>([
    ['everything by id', {}, { total: 5, ids: [1, 2, 3, 4, 5] }],
    ['q over login and description', { q: 'bob' }, { total: 3, ids: [2, 4, 5] }],
    ['q without case', { q: 'BOB' }, { total: 3, ids: [2, 4, 5] }],
    [
      'q with a range keeps the full total',
      { q: 'bob', range: { start: 0, end: 1 } },
      {
        total: 3,
        ids: [2, 4],
      },
    ],
    ['q over name', { q: 'adams' }, { total: 1, ids: [5] }],
    ['q with % matched literally', { q: '%' }, { total: 1, ids: [3] }],
    ['q with _ matched literally', { q: 's_l' }, { total: 1, ids: [3] }],
    ['q with the escape character', { q: '\\' }, { total: 0, ids: [] }],
    ['an empty q', { q: '' }, { total: 5, ids: [1, 2, 3, 4, 5] }],
    ['q with SQL in it', { q: "' OR 1=1 --" }, { total: 0, ids: [] }],
    ['ids', { ids: [5, 2, 99] }, { total: 2, ids: [2, 5] }],
    ['no ids', { ids: [] }, { total: 0, ids: [] }],
    [
      'ids with a filter',
      { ids: [2, 3, 4], filters: { role: 'user' } },
      {
        total: 2,
        ids: [2, 4],
      },
    ],
    [
      'ids with q and a filter',
      { ids: [2, 3, 4, 5], q: 'bob', filters: { role: 'user' } },
      {
        total: 2,
        ids: [2, 4],
      },
    ],
    ['filter group', { filters: { group: 2 } }, { total: 2, ids: [2, 5] }],
    ['filter user_group as text', { filters: { user_group: '2' } }, { total: 2, ids: [2, 5] }],
    ['filter blocked', { filters: { blocked: true } }, { total: 2, ids: [3, 5] }],
    ['filter disabled as 1', { filters: { disabled: 1 } }, { total: 2, ids: [3, 5] }],
    ['two filters', { filters: { role: 'admin', blocked: false } }, { total: 1, ids: [1] }],
    ['filter description empty', { filters: { description: '' } }, { total: 1, ids: [4] }],
    [
      'filter with SQL in the value',
      { filters: { login: "admin' OR '1'='1" } },
      {
        total: 0,
        ids: [],
      },
    ],
    ['range without sort', { range: { start: 1, end: 2 } }, { total: 5, ids: [2, 3] }],
    ['range past the end', { range: { start: 10, end: 20 } }, { total: 5, ids: [] }],
    [
      'sort without range',
      { sort: { field: 'login', order: 'DESC' } },
      {
        total: 5,
        ids: [2, 5, 3, 4, 1],
      },
    ],
    [
      'sort and range',
      { sort: { field: 'login', order: 'ASC' }, range: { start: 1, end: 3 } },
      {
        total: 5,
        ids: [4, 3, 5],
      },
    ],
  ])('%s', async (_, query, expected) => {
    expect(await listUserIds(query)).toEqual(expected)
  })

  test.each([
    ['id', [1, 2, 3, 4, 5]],
    ['login', [1, 4, 3, 5, 2]],
    ['name', [1, 2, 4, 3, 5]],
    ['role', [1, 5, 3, 2, 4]],
    ['group', [1, 3, 2, 5, 4]],
    ['user_group', [1, 3, 2, 5, 4]],
    ['blocked', [1, 2, 4, 3, 5]],
    ['disabled', [1, 2, 4, 3, 5]],
    ['description', [4, 2, 1, 5, 3]],
  ])('sorts by %s', async (field, ids) => {
    expect(await listUserIds({ sort: { field, order: 'ASC' } })).toEqual({ total: 5, ids })
  })

  test('returns whole users, without hashes', async () => {
    using store = await openTestStore()
    seedUsers(store)

    const { items } = store.listUsers({ ids: [3] })

    expect(items).toEqual([
      {
        id: 3,
        login: 'carol',
        name: 'carol',
        role: 'manager',
        group: 1,
        disabled: true,
        description: 'ops_lead 100%',
      },
    ])
  })

  test.each<[string, ListQuery, string]>([
    [
      'an unknown sort field',
      { sort: { field: 'password', order: 'ASC' } },
      `unknown sort field 'password' for users; allowed: ${USER_FIELDS}`,
    ],
    [
      'SQL as a sort field',
      { sort: { field: 'id; DROP TABLE users', order: 'ASC' } },
      `unknown sort field 'id; DROP TABLE users' for users; allowed: ${USER_FIELDS}`,
    ],
    [
      'an object key as a sort field',
      { sort: { field: 'constructor', order: 'ASC' } },
      `unknown sort field 'constructor' for users; allowed: ${USER_FIELDS}`,
    ],
    [
      'SQL as a sort order',
      { sort: { field: 'id', order: 'ASC, password' as 'ASC' } },
      "sort order must be ASC or DESC, not 'ASC, password'",
    ],
    [
      'an unknown filter field',
      { filters: { password: 'x' } },
      `unknown filter field 'password' for users; allowed: ${USER_FIELDS}`,
    ],
    [
      'SQL as a filter field',
      { filters: { '1=1 OR login': 'x' } },
      `unknown filter field '1=1 OR login' for users; allowed: ${USER_FIELDS}`,
    ],
    [
      'text for an integer filter',
      { filters: { group: 'two' } },
      "filter 'group' must be an integer",
    ],
    [
      'text for a flag filter',
      { filters: { blocked: 'yes' } },
      "filter 'blocked' must be true or false",
    ],
    [
      'an object as a filter value',
      { filters: { login: {} as string } },
      "filter 'login' must be a string",
    ],
    [
      'a negative range',
      { range: { start: -1, end: 3 } },
      'range must be [start, end] with integers 0 <= start <= end',
    ],
    [
      'a reversed range',
      { range: { start: 5, end: 2 } },
      'range must be [start, end] with integers 0 <= start <= end',
    ],
    [
      'a fractional range',
      { range: { start: 0, end: 1.5 } },
      'range must be [start, end] with integers 0 <= start <= end',
    ],
    [
      'ids that are not integers',
      { ids: ['1 OR 1=1' as unknown as number] },
      'ids must be a list of integers',
    ],
  ])('rejects %s', async (_, query, message) => {
    using store = await openTestStore()

    expect(errorOf(() => store.listUsers(query))).toEqual(invalid(message))
    expect(store.listUsers({}).total).toBe(1)
  })
})

describe('list protocol on groups', () => {
  async function listGroupIds(query: ListQuery): Promise<{ total: number; ids: number[] }> {
    using store = await openTestStore()
    store.createGroup({ name: 'ops', description: 'operators' })
    store.createGroup({ name: 'dev_team', description: '100% devs' })
    store.createGroup({ name: 'qa', description: 'tests ops' })
    const { total, items } = store.listGroups(query)

    return { total, ids: items.map((group) => group.id) }
  }

  test.each<[string, ListQuery, { total: number; ids: number[] }]>([
    ['q over name and description', { q: 'ops' }, { total: 2, ids: [2, 4] }],
    ['q with _ matched literally', { q: 'v_t' }, { total: 1, ids: [3] }],
    ['sort by name', { sort: { field: 'name', order: 'ASC' } }, { total: 4, ids: [1, 3, 2, 4] }],
    [
      'sort by description',
      { sort: { field: 'description', order: 'DESC' } },
      {
        total: 4,
        ids: [4, 2, 1, 3],
      },
    ],
    ['filter by name', { filters: { name: 'qa' } }, { total: 1, ids: [4] }],
  ])('%s', async (_, query, expected) => {
    expect(await listGroupIds(query)).toEqual(expected)
  })

  test('rejects a field that only users have', async () => {
    using store = await openTestStore()

    expect(errorOf(() => store.listGroups({ sort: { field: 'login', order: 'ASC' } }))).toEqual(
      invalid("unknown sort field 'login' for groups; allowed: id, name, description"),
    )
  })
})

describe('list protocol on access rules', () => {
  async function listRuleIds(query: ListQuery): Promise<{ total: number; ids: number[] }> {
    using store = await openTestStore()
    const rule = { resourceType: 'repository', action: 'pull', disabled: false }
    store.createAccessRule({
      ...rule,
      ownerId: 2,
      isGroup: false,
      name: 'bob pulls',
      resourceName: 'ns/app',
    })
    store.createAccessRule({
      ...rule,
      ownerId: 2,
      isGroup: true,
      name: 'group 2 pushes',
      resourceName: 'ns/app',
      action: 'push',
    })
    store.createAccessRule({
      ...rule,
      ownerId: ANONYMOUS_OWNER_ID,
      isGroup: false,
      name: 'anyone',
      resourceName: 'public/base',
    })
    store.createAccessRule({
      ...rule,
      ownerId: 2,
      isGroup: false,
      name: 'bob catalog',
      resourceType: 'registry',
      resourceName: 'catalog',
      action: '*',
      disabled: true,
    })
    store.createAccessRule({
      ...rule,
      ownerId: 3,
      isGroup: false,
      name: 'carol app',
      resourceName: 'team_x/app',
    })
    const { total, items } = store.listAccessRules(query)

    return { total, ids: items.map((item) => item.id) }
  }

  test.each<[string, ListQuery, { total: number; ids: number[] }]>([
    ['owner_id alone means a user', { filters: { owner_id: 2 } }, { total: 2, ids: [1, 4] }],
    ['owner_id of a group', { filters: { owner_id: 2, is_group: true } }, { total: 1, ids: [2] }],
    [
      'owner_id of a user, explicitly',
      { filters: { owner_id: '2', is_group: false } },
      {
        total: 2,
        ids: [1, 4],
      },
    ],
    ['the anonymous owner', { filters: { owner_id: ANONYMOUS_OWNER_ID } }, { total: 1, ids: [3] }],
    ['is_group alone', { filters: { is_group: true } }, { total: 1, ids: [2] }],
    ['type', { filters: { type: 'registry' } }, { total: 1, ids: [4] }],
    ['resource_type', { filters: { resource_type: 'registry' } }, { total: 1, ids: [4] }],
    ['disabled', { filters: { disabled: true } }, { total: 1, ids: [4] }],
    ['q over name and resource_name', { q: 'app' }, { total: 3, ids: [1, 2, 5] }],
    ['q counts what it lists', { q: 'bob', range: { start: 0, end: 0 } }, { total: 2, ids: [1] }],
    ['q with _ matched literally', { q: '_' }, { total: 1, ids: [5] }],
  ])('%s', async (_, query, expected) => {
    expect(await listRuleIds(query)).toEqual(expected)
  })

  test.each([
    ['id', [1, 2, 3, 4, 5]],
    ['owner_id', [3, 1, 2, 4, 5]],
    ['is_group', [1, 3, 4, 5, 2]],
    ['name', [3, 4, 1, 5, 2]],
    ['type', [4, 1, 2, 3, 5]],
    ['resource_type', [4, 1, 2, 3, 5]],
    ['resource_name', [4, 1, 2, 3, 5]],
    ['action', [4, 1, 3, 5, 2]],
    ['disabled', [1, 2, 3, 5, 4]],
  ])('sorts by %s', async (field, ids) => {
    expect(await listRuleIds({ sort: { field, order: 'ASC' } })).toEqual({ total: 5, ids })
  })
})

describe('escapeLike', () => {
  test.each([
    ['plain', 'plain'],
    ['100%', '100\\%'],
    ['a_b', 'a\\_b'],
    ['back\\slash', 'back\\\\slash'],
  ])('escapes %s', (input, expected) => {
    expect(escapeLike(input)).toBe(expected)
  })
})

describe('StatementCache', () => {
  test('reuses the statement of the same SQL and drops the least recently used one', () => {
    using db = new Database(':memory:')
    const cache = new StatementCache(db, 2)
    const one = cache.get<{ n: number }>('SELECT 1 AS n')
    const two = cache.get<{ n: number }>('SELECT 2 AS n')

    expect(cache.get('SELECT 1 AS n')).toBe(one)
    expect(cache.get<{ n: number }>('SELECT 3 AS n').get()).toEqual({ n: 3 })
    expect(cache.get('SELECT 1 AS n')).toBe(one)
    expect(cache.get('SELECT 2 AS n')).not.toBe(two)
    expect(one.get()).toEqual({ n: 1 })
    cache.finalize()
  })
})
