import { beforeAll, describe, expect, test } from 'bun:test'

import { TooManyRequestsError } from '../errors.ts'
import { Authenticator, parseBasicAuth } from './authenticator.ts'
import { LoginThrottle } from './login-throttle.ts'
import { hashPassword } from './passwords.ts'
import type { Store, UserWithHash } from './store.ts'

let bobHash: string

beforeAll(async () => {
  bobHash = await hashPassword('bob-secret')
})

// The two reads the authenticator makes; the engine's own tests cover the store.
const fakeStore = (users: UserWithHash[]) =>
  ({
    getUserByLogin: (login: string) => users.find((u) => u.login === login) ?? null,
    getUserWithHash: (id: number) => users.find((u) => u.id === id) ?? null,
  }) as Partial<Store> as Store

const bob = (): UserWithHash => ({
  id: 2,
  login: 'bob',
  name: 'Bob',
  role: 'user',
  group: 1,
  disabled: false,
  description: '',
  passwordHash: bobHash,
})

const setup = (user = bob()) => {
  const authenticator = new Authenticator({
    store: fakeStore([user]),
    throttle: new LoginThrottle(),
  })
  return { user, authenticator }
}

describe('Authenticator', () => {
  test('accepts the right password and refuses others', async () => {
    const { authenticator } = setup()

    expect((await authenticator.authenticate('a', 'bob', 'bob-secret')).kind).toBe('ok')
    expect(await authenticator.authenticate('a', 'bob', 'wrong')).toEqual({ kind: 'invalid' })
    expect(await authenticator.authenticate('a', 'nobody', 'bob-secret')).toEqual({
      kind: 'invalid',
    })
  })

  test('says disabled only after the right password', async () => {
    const { user, authenticator } = setup({ ...bob(), disabled: true })

    expect(await authenticator.authenticate('a', 'bob', 'wrong')).toEqual({ kind: 'invalid' })
    expect(await authenticator.authenticate('a', 'bob', 'bob-secret')).toEqual({
      kind: 'disabled',
      user,
    })
  })

  test('a remembered check ends when the password changes or the user is disabled', async () => {
    const { user, authenticator } = setup()
    expect((await authenticator.authenticate('a', 'bob', 'bob-secret')).kind).toBe('ok')

    user.disabled = true
    expect((await authenticator.authenticate('a', 'bob', 'bob-secret')).kind).toBe('disabled')

    user.disabled = false
    user.passwordHash = await hashPassword('new-secret')
    expect((await authenticator.authenticate('a', 'bob', 'bob-secret')).kind).toBe('invalid')
    expect((await authenticator.authenticate('a', 'bob', 'new-secret')).kind).toBe('ok')
  })

  test('throttles repeated failures of one pair but not a remembered success', async () => {
    const { authenticator } = setup()
    await authenticator.authenticate('a', 'bob', 'bob-secret')
    for (let i = 0; i < 5; i++) {
      await authenticator.authenticate('a', 'bob', `wrong-${i}`)
    }

    expect(authenticator.authenticate('a', 'bob', 'wrong')).rejects.toBeInstanceOf(
      TooManyRequestsError,
    )
    expect((await authenticator.authenticate('a', 'bob', 'bob-secret')).kind).toBe('ok')
    expect((await authenticator.authenticate('b', 'bob', 'wrong')).kind).toBe('invalid')
  })
})

describe('parseBasicAuth', () => {
  const basic = (text: string) => `Basic ${Buffer.from(text).toString('base64')}`

  test.each([
    [undefined, null],
    ['', null],
    ['Bearer abc', null],
    [basic('bob:pa:ss'), { login: 'bob', password: 'pa:ss' }],
    [basic('bob:'), { login: 'bob', password: '' }],
    [basic(':secret'), 'malformed'],
    [basic('nocolon'), 'malformed'],
    ['Basic', 'malformed'],
    ['Basic !!!', 'malformed'],
    [`Basic ${Buffer.from([0x62, 0x3a, 0xff, 0xfe]).toString('base64')}`, 'malformed'],
    [`basic   ${Buffer.from('x:y').toString('base64')}`, { login: 'x', password: 'y' }],
  ])('%j reads as %j', (header, expected) => {
    expect(parseBasicAuth(header)).toEqual(expected as never)
  })
})

describe('Authenticator under parallel requests', () => {
  test('checks guesses of one pair one at a time, so the throttle stops a burst', async () => {
    const { authenticator } = setup()

    const outcomes = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) => authenticator.authenticate('a', 'bob', `wrong-${i}`)),
    )
    const throttled = outcomes.filter(
      (outcome) => outcome.status === 'rejected' && outcome.reason instanceof TooManyRequestsError,
    )

    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(5)
    expect(throttled).toHaveLength(15)
  })

  test('a burst of correct requests all succeed', async () => {
    const { authenticator } = setup()

    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () => authenticator.authenticate('a', 'bob', 'bob-secret')),
    )

    expect(outcomes.map((outcome) => outcome.kind)).toEqual(Array(20).fill('ok'))
  })
})
