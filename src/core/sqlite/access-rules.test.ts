import { describe, expect, test } from 'bun:test'

import {
  ANONYMOUS_OWNER_ID,
  REGISTERED_OWNER_ID,
  type NewAccessRule,
  type Store,
} from '../store.ts'
import { conflict, errorOf, notFound, openTestStore } from './test-store.ts'

const PULL_APP: NewAccessRule = {
  ownerId: 2,
  isGroup: false,
  name: 'bob pulls app',
  resourceType: 'repository',
  resourceName: 'ns/app',
  action: 'pull',
  disabled: false,
}

describe('access rules', () => {
  test('creates, reads, updates and deletes a rule', async () => {
    using store = await openTestStore()

    const rule = store.createAccessRule(PULL_APP)
    const updated = store.updateAccessRule(rule.id, { action: 'push', disabled: true })
    const read = store.getAccessRule(rule.id)
    store.deleteAccessRule(rule.id)

    expect(rule).toEqual({ id: 1, ...PULL_APP })
    expect(updated).toEqual({ ...rule, action: 'push', disabled: true })
    expect(read).toEqual(updated)
    expect(store.getAccessRule(rule.id)).toBeNull()
  })

  test('the same owner, resource and action twice is a conflict', async () => {
    using store = await openTestStore()
    store.createAccessRule(PULL_APP)
    const push = store.createAccessRule({ ...PULL_APP, action: 'push' })

    const message = "this owner already has a 'pull' rule on repository 'ns/app'"
    expect(errorOf(() => store.createAccessRule({ ...PULL_APP, name: 'again' }))).toEqual(
      conflict(message),
    )
    expect(errorOf(() => store.updateAccessRule(push.id, { action: 'pull' }))).toEqual(
      conflict(message),
    )
  })

  test('a user and a group with the same id are different owners', async () => {
    using store = await openTestStore()
    store.createAccessRule(PULL_APP)

    const groupRule = store.createAccessRule({ ...PULL_APP, isGroup: true })

    expect(groupRule.isGroup).toBe(true)
  })

  test('update and delete of a missing rule are not-found errors', async () => {
    using store = await openTestStore()

    expect(errorOf(() => store.updateAccessRule(5, { action: 'push' }))).toEqual(
      notFound('access rule 5 not found'),
    )
    expect(errorOf(() => store.deleteAccessRule(5))).toEqual(notFound('access rule 5 not found'))
  })
})

describe('findEnabledRules', () => {
  function seed(store: Store): Record<string, number> {
    const add = (name: string, patch: Partial<NewAccessRule>): [string, number] => [
      name,
      store.createAccessRule({ ...PULL_APP, name, ...patch }).id,
    ]

    return Object.fromEntries([
      add('user 2 pull', {}),
      add('user 2 push disabled', { action: 'push', disabled: true }),
      add('user 2 registry', { resourceType: 'registry', resourceName: 'catalog', action: '*' }),
      add('group 2 pull', { isGroup: true }),
      add('group 5 push', { ownerId: 5, isGroup: true, action: 'push' }),
      add('user 3 pull', { ownerId: 3 }),
      add('anonymous pull', { ownerId: ANONYMOUS_OWNER_ID }),
      add('registered pull', { ownerId: REGISTERED_OWNER_ID }),
    ])
  }

  test.each([
    ['user 2 alone', [{ id: 2, isGroup: false }], ['user 2 pull']],
    ['group 2 alone', [{ id: 2, isGroup: true }], ['group 2 pull']],
    [
      'user 2, group 5 and the registered owner',
      [
        { id: 2, isGroup: false },
        { id: 5, isGroup: true },
        { id: REGISTERED_OWNER_ID, isGroup: false },
      ],
      ['user 2 pull', 'group 5 push', 'registered pull'],
    ],
    ['the anonymous owner', [{ id: ANONYMOUS_OWNER_ID, isGroup: false }], ['anonymous pull']],
    ['nobody', [], []],
    ['an owner without rules', [{ id: 42, isGroup: false }], []],
  ])('finds the enabled repository rules of %s', async (_, owners, expected) => {
    using store = await openTestStore()
    seed(store)

    const rules = store.findEnabledRules('repository', owners)

    expect(rules.map((rule) => rule.name)).toEqual(expected)
  })

  test('filters by resource type', async () => {
    using store = await openTestStore()
    const ids = seed(store)

    const rules = store.findEnabledRules('registry', [{ id: 2, isGroup: false }])

    expect(rules).toEqual([
      {
        ...PULL_APP,
        id: ids['user 2 registry'] as number,
        name: 'user 2 registry',
        resourceType: 'registry',
        resourceName: 'catalog',
        action: '*',
      },
    ])
  })
})
