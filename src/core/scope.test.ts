import { describe, expect, test } from 'bun:test'

import { MAX_SCOPES, parseScopes } from './scope.ts'

describe('parseScopes', () => {
  test.each([
    [['repository:ns/app:pull'], [{ type: 'repository', name: 'ns/app', actions: ['pull'] }]],
    [
      ['repository:ns/app:pull,push'],
      [{ type: 'repository', name: 'ns/app', actions: ['pull', 'push'] }],
    ],
    [[' repository:ns/app: pull , push ,pull'], 'malformed'],
    [['repository:ns/app:pull, push'], 'malformed'],
    [
      ['repository:ns/app:pull,\tpush\t,pull'],
      [{ type: 'repository', name: 'ns/app', actions: ['pull', 'push'] }],
    ],
    [
      ['repository(plugin):vieux/sshfs:pull'],
      [{ type: 'repository', class: 'plugin', name: 'vieux/sshfs', actions: ['pull'] }],
    ],
    [
      ['repository:reg.example.com:5000/team/app:push'],
      [{ type: 'repository', name: 'reg.example.com:5000/team/app', actions: ['push'] }],
    ],
    [['registry:catalog:*'], [{ type: 'registry', name: 'catalog', actions: ['*'] }]],
    [
      ['repository:a/b:pull repository:c:push'],
      [
        { type: 'repository', name: 'a/b', actions: ['pull'] },
        { type: 'repository', name: 'c', actions: ['push'] },
      ],
    ],
    [
      ['repository:a:pull', 'repository:b:delete'],
      [
        { type: 'repository', name: 'a', actions: ['pull'] },
        { type: 'repository', name: 'b', actions: ['delete'] },
      ],
    ],
    [['repository:ns/app:'], [{ type: 'repository', name: 'ns/app', actions: [] }]],
    [['repository:ns/app:,,'], [{ type: 'repository', name: 'ns/app', actions: [] }]],
    [['', '  '], []],
    [
      ["repository:ns/app:x')OR('1'='1,push,pull"],
      [{ type: 'repository', name: 'ns/app', actions: ["x')OR('1'='1", 'push', 'pull'] }],
    ],
    [
      ['repository:my_app/x__y.z-w:pull'],
      [{ type: 'repository', name: 'my_app/x__y.z-w', actions: ['pull'] }],
    ],
  ])('%j parses to %j', (values, expected) => {
    if (expected === 'malformed') {
      expect(() => parseScopes(values)).toThrow('malformed scope')
    } else {
      expect(parseScopes(values)).toEqual(expected as never)
    }
  })

  test.each([
    'repository',
    'repository:ns/app',
    ':ns/app:pull',
    'Repository:ns/app:pull',
    'repository:NS/App:pull',
    'repository::pull',
    'repository:ns//app:pull',
    'repository:team/*:pull',
    'repository:ns/app\u0000:pull',
    'repository:ns/app\ufffd:pull',
    'repo(sitory:ns/app:pull',
    `repository:${'a'.repeat(300)}:pull`,
  ])('rejects %j', (value) => {
    expect(() => parseScopes([value])).toThrow('malformed scope')
  })

  test('rejects more than the scope limit', () => {
    const values = Array.from({ length: MAX_SCOPES + 1 }, (_, i) => `repository:r${i}:pull`)

    expect(() => parseScopes(values)).toThrow('too many scopes')
    expect(parseScopes(values.slice(0, MAX_SCOPES))).toHaveLength(MAX_SCOPES)
  })
})
