import { describe, expect, test } from 'bun:test'

import { isRepositoryName } from './names.ts'

describe('isRepositoryName', () => {
  test.each([
    ['app', true],
    ['ns/app', true],
    ['registry.example.com/team/app', true],
    ['a__b/c-d/e.f', true],
    ['127.0.0.1:5000/ns/app', false],
    ['localhost:5000/app', false],
    ['NS/app', false],
    ['ns//app', false],
    ['/ns/app', false],
    ['ns/app/', false],
    [`${'a'.repeat(255)}`, true],
    [`${'a'.repeat(256)}`, false],
  ])('%s → %p', (name, expected) => {
    expect(isRepositoryName(name)).toBe(expected)
  })
})
