import { describe, expect, test } from 'bun:test'

import { authorizeScopes, grantActions, matchesResource, type Caller } from './access.ts'
import { parseScopes } from './scope.ts'
import {
  ANONYMOUS_OWNER_ID,
  REGISTERED_OWNER_ID,
  type AccessRule,
  type Store,
  type User,
} from './store.ts'

const user = (id: number, role: User['role'] = 'user', group = 1): User => ({
  id,
  login: `u${id}`,
  name: `u${id}`,
  role,
  group,
  disabled: false,
  description: '',
})

let nextId = 1
const rule = (
  ownerId: number,
  resourceName: string,
  action: string,
  extra: Partial<AccessRule> = {},
): AccessRule => ({
  id: nextId++,
  ownerId,
  isGroup: false,
  name: 'rule',
  resourceType: 'repository',
  resourceName,
  action,
  disabled: false,
  ...extra,
})

// Only the one read the decision makes; the embedded engine's own tests cover the query itself.
const storeWith = (rules: AccessRule[]): Store =>
  ({
    findEnabledRules: (type, owners) =>
      rules.filter(
        (r) =>
          !r.disabled &&
          r.resourceType === type &&
          owners.some((o) => o.id === r.ownerId && o.isGroup === r.isGroup),
      ),
  }) as Partial<Store> as Store

const RULES = [
  rule(2, 'ns/app', 'pull'),
  rule(2, 'team/*', 'push'),
  rule(2, 'del/app', 'delete'),
  rule(2, 'all/app', '*'),
  rule(2, 'off/app', 'push', { disabled: true }),
  rule(7, 'grp/**', 'push', { isGroup: true }),
  rule(2, 'grp-as-user/app', 'pull', { isGroup: true }),
  rule(REGISTERED_OWNER_ID, 'shared/app', 'pull'),
  rule(ANONYMOUS_OWNER_ID, 'public/**', 'pull'),
  rule(3, 'catalog', '*', { resourceType: 'registry' }),
  rule(2, '**', 'bogus'),
]

const decide = (caller: Caller, scope: string) =>
  authorizeScopes(storeWith(RULES), caller, parseScopes([scope])).map((grant) => grant.actions)[0]

const anonymous: Caller = { kind: 'anonymous' }
const alice: Caller = { kind: 'user', user: user(2, 'user', 7) }
const carol: Caller = { kind: 'user', user: user(3, 'manager') }
const admin: Caller = { kind: 'user', user: user(1, 'admin') }

describe('authorizeScopes', () => {
  test.each([
    ['admin gets what it asks', admin, 'repository:any/thing:pull,push', ['pull', 'push']],
    ['admin gets *', admin, 'repository:any/thing:*', ['*']],
    ['admin gets the catalog', admin, 'registry:catalog:*', ['*']],
    ['admin never gets unknown actions', admin, 'repository:a:pull,bogus', ['pull']],
    ['pull rule grants pull', alice, 'repository:ns/app:pull', ['pull']],
    ['pull rule does not grant push', alice, 'repository:ns/app:pull,push', ['pull']],
    ['push,pull order does not matter', alice, 'repository:ns/app:push,pull', ['pull']],
    ['pull rule is exact, not a prefix', alice, 'repository:ns/app2:pull', []],
    ['push implies pull', alice, 'repository:team/x:pull,push', ['pull', 'push']],
    ['* in a segment stops at /', alice, 'repository:team/x/y:pull,push', []],
    ['* pattern does not match the parent', alice, 'repository:team:pull', []],
    ['delete implies pull', alice, 'repository:del/app:pull,delete', ['pull', 'delete']],
    ['delete does not imply push', alice, 'repository:del/app:push', []],
    ['* rule grants *', alice, 'repository:all/app:*', ['*']],
    ['partial * is expanded', alice, 'repository:team/x:*', ['pull', 'push']],
    ['disabled rule grants nothing', alice, 'repository:off/app:push', []],
    ['group rule applies to members', alice, 'repository:grp/a/b:push', ['push']],
    ['group ** does not cover the group name itself', alice, 'repository:grp:pull', []],
    ['group rule is not a user rule', alice, 'repository:grp-as-user/app:pull', []],
    ['registered rule applies to users', alice, 'repository:shared/app:pull', ['pull']],
    ['anonymous rule applies to users', alice, 'repository:public/x:pull', ['pull']],
    [
      'anonymous rule applies to nobody signed in',
      anonymous,
      'repository:public/x/y:pull',
      ['pull'],
    ],
    ['anonymous gets no registered rules', anonymous, 'repository:shared/app:pull', []],
    ['anonymous push on public is refused', anonymous, 'repository:public/x:push', []],
    ['a repository rule never reaches the catalog', alice, 'registry:catalog:*', []],
    ['a registry rule grants the catalog', carol, 'registry:catalog:*', ['*']],
    ['manager has no implicit rights', carol, 'repository:ns/app:pull', []],
    ['unknown actions are never granted', alice, 'repository:ns/app:bogus', []],
    ['injection text is an unknown action', anonymous, "repository:public/x:x')OR('1'='1,push", []],
    ['empty actions grant nothing', alice, 'repository:ns/app:', []],
    ['plugin class is decided as repository', alice, 'repository(plugin):ns/app:pull', ['pull']],
  ])('%s', (_, caller, scope, expected) => {
    expect(decide(caller, scope)).toEqual(expected)
  })

  test('answers every scope, including those with nothing granted', () => {
    const scopes = parseScopes([
      'repository:ns/app:pull,push',
      'repository:nope:pull registry:catalog:*',
    ])

    expect(authorizeScopes(storeWith(RULES), alice, scopes)).toEqual([
      { type: 'repository', name: 'ns/app', actions: ['pull'] },
      { type: 'repository', name: 'nope', actions: [] },
      { type: 'registry', name: 'catalog', actions: [] },
    ])
  })
})

describe('grantActions', () => {
  test.each([
    [['*'], ['pull', 'push', 'delete'], ['*']],
    [['*'], ['pull'], ['pull']],
    [['*'], [], []],
    [['pull', '*'], ['pull', 'push', 'delete'], ['*']],
    [
      ['delete', 'pull'],
      ['pull', 'delete'],
      ['delete', 'pull'],
    ],
  ])('%j with %j allowed gives %j', (requested, allowed, expected) => {
    expect(grantActions(requested, new Set(allowed))).toEqual(expected)
  })
})

describe('matchesResource', () => {
  test.each([
    ['ns/app', 'ns/app', true],
    ['ns/app', 'ns/app/x', false],
    ['team/*', 'team/x', true],
    ['team/*', 'team/x/y', false],
    ['team/*', 'team', false],
    ['team/**', 'team/x', true],
    ['team/**', 'team/x/y', true],
    ['team/**', 'team', false],
    ['team/**', 'teams/x', false],
    ['**', 'anything/at/all', true],
    ['*', 'top', true],
    ['*', 'a/b', false],
    ['app-*', 'app-1', true],
    ['a.b/*', 'axb/c', false],
    ['*/app', 'ns/app', true],
    ['**/app', 'x/y/app', true],
  ])('%s covers %s: %p', (pattern, name, expected) => {
    expect(matchesResource(pattern, name)).toBe(expected)
  })
})

describe('matchesResource on hostile patterns', () => {
  test('matches patterns with many stars without backtracking', () => {
    const pattern = '*a'.repeat(30) + '*b'

    expect(matchesResource(pattern, 'a'.repeat(200))).toBe(false)
    expect(matchesResource(pattern, `${'a'.repeat(200)}b`)).toBe(true)
    expect(matchesResource('**a**a**a**a**a**a**a**b', `${'a/'.repeat(100)}c`)).toBe(false)
  })
})
