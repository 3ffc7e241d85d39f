import { describe, expect, test } from 'bun:test'

import { SignJWT, decodeJwt } from 'jose'
import pino from 'pino'

import { loadConfig, type Config } from '../../config.ts'
import { Secret } from '../../core/secret.ts'
import { openEmbedStore } from '../../core/sqlite/index.ts'
import type { Store, User } from '../../core/store.ts'
import {
  SESSION_SECRET_SETTING,
  SessionManager,
  localUserId,
  readCookie,
  resolveSessionSecret,
  revokeSessions,
} from './session.ts'

const SECRET = 'session-test-secret-session-test-secret'
const START = Date.UTC(2026, 0, 1)
const JWT_TTL = 600
const COOKIE_TTL = 3600

const openStore = async () =>
  (await openEmbedStore({ path: ':memory:', adminPassword: 'admin-password', log: silent })).store

const silent = pino({ level: 'silent' })

const setUp = async () => {
  const store = await openStore()
  const clock = { now: START }
  const sessions = new SessionManager({
    store,
    secret: SECRET,
    issuer: 'zebox',
    jwtTtl: JWT_TTL,
    cookieTtl: COOKIE_TTL,
    secure: false,
    now: () => clock.now,
  })
  const admin = store.getUser(1) as User
  return { store, clock, sessions, admin, [Symbol.dispose]: () => store.close() }
}

const seconds = (n: number) => n * 1000

describe('SessionManager', () => {
  test('signs the claims of the Go tool plus the login time', async () => {
    using env = await setUp()

    const session = await env.sessions.start(env.admin)

    expect(decodeJwt(session.token)).toEqual({
      iss: 'zebox',
      iat: START / 1000,
      exp: START / 1000 + JWT_TTL,
      jti: session.jti,
      login_at: START / 1000,
      session_gen: 0,
      user: { name: 'admin', id: localUserId('admin'), attrs: { uid: 1 } },
    })
  })

  test('sets an HttpOnly JWT cookie and a readable XSRF cookie holding the jti', async () => {
    using env = await setUp()

    const session = await env.sessions.start(env.admin)

    expect(session.cookies).toEqual([
      `JWT=${session.token}; Path=/; Max-Age=${COOKIE_TTL}; HttpOnly; SameSite=Lax`,
      `XSRF-TOKEN=${session.jti}; Path=/; Max-Age=${COOKIE_TTL}; SameSite=Lax`,
    ])
  })

  test('marks cookies Secure when asked', async () => {
    using env = await setUp()
    const sessions = new SessionManager({
      store: env.store,
      secret: SECRET,
      issuer: 'zebox',
      jwtTtl: JWT_TTL,
      cookieTtl: COOKIE_TTL,
      secure: true,
      now: () => env.clock.now,
    })

    const session = await sessions.start(env.admin)

    expect(session.cookies.every((cookie) => cookie.endsWith('; Secure'))).toBe(true)
  })

  test('accepts a fresh token without renewing it', async () => {
    using env = await setUp()
    const session = await env.sessions.start(env.admin)
    env.clock.now += seconds(JWT_TTL / 2 - 1)

    const verified = await env.sessions.verify(session.token, 'cookie')

    expect(verified).toEqual({
      user: env.admin,
      source: 'cookie',
      jti: session.jti,
      loginAt: START / 1000,
      refreshed: null,
    })
  })

  test('renews a cookie token older than half its lifetime, keeping jti and login time', async () => {
    using env = await setUp()
    const session = await env.sessions.start(env.admin)
    env.clock.now += seconds(JWT_TTL / 2)

    const verified = await env.sessions.verify(session.token, 'cookie')
    const renewed = decodeJwt(verified?.refreshed?.token ?? '')

    expect(renewed.jti).toBe(session.jti)
    expect(renewed.login_at).toBe(START / 1000)
    expect(renewed.exp).toBe(START / 1000 + JWT_TTL / 2 + JWT_TTL)
    expect(verified?.refreshed?.cookies[0]).toContain(`Max-Age=${COOKIE_TTL - JWT_TTL / 2}`)
  })

  test('renews an expired cookie token within the session lifetime', async () => {
    using env = await setUp()
    const session = await env.sessions.start(env.admin)
    env.clock.now += seconds(JWT_TTL * 2)

    const verified = await env.sessions.verify(session.token, 'cookie')

    expect(verified?.refreshed).not.toBeNull()
  })

  test('refuses an expired token sent in the X-JWT header', async () => {
    using env = await setUp()
    const session = await env.sessions.start(env.admin)
    env.clock.now += seconds(JWT_TTL)

    expect(await env.sessions.verify(session.token, 'header')).toBeNull()
  })

  test('never lets a session outlive the cookie lifetime after login', async () => {
    using env = await setUp()
    let token = (await env.sessions.start(env.admin)).token

    // Renew every few minutes, as an active UI would.
    for (let elapsed = 0; elapsed < COOKIE_TTL - 300; elapsed += 300) {
      env.clock.now += seconds(300)
      const verified = await env.sessions.verify(token, 'cookie')
      token = verified?.refreshed?.token ?? token
    }
    const last = decodeJwt(token)
    env.clock.now = START + seconds(COOKIE_TTL)

    expect(last.exp).toBeLessThanOrEqual(START / 1000 + COOKIE_TTL)
    expect(await env.sessions.verify(token, 'cookie')).toBeNull()
  })

  test('refuses a token of a disabled, deleted or renamed user at once', async () => {
    using env = await setUp()
    const bob = env.store.createUser({
      login: 'bob',
      name: 'Bob',
      passwordHash: 'x',
      role: 'user',
      group: 1,
      disabled: false,
      description: '',
    })
    const token = (await env.sessions.start(bob)).token
    const forged = await new SignJWT({ user: { id: localUserId('eve'), attrs: { uid: bob.id } } })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('zebox')
      .setIssuedAt(START / 1000)
      .setExpirationTime(START / 1000 + 60)
      .setJti('j')
      .sign(new TextEncoder().encode(SECRET))

    expect(await env.sessions.verify(forged, 'cookie')).toBeNull()
    env.store.updateUser(bob.id, { disabled: true })
    expect(await env.sessions.verify(token, 'cookie')).toBeNull()
    env.store.deleteUser(bob.id)
    expect(await env.sessions.verify(token, 'cookie')).toBeNull()
  })

  test('refuses sessions started before a revocation', async () => {
    using env = await setUp()
    const old = await env.sessions.start(env.admin)

    revokeSessions(env.store, env.admin.id)
    const fresh = await env.sessions.start(env.admin)

    expect(await env.sessions.verify(old.token, 'cookie')).toBeNull()
    expect(await env.sessions.verify(fresh.token, 'cookie')).not.toBeNull()
  })

  test('refuses tokens with another key, another issuer or another algorithm', async () => {
    using env = await setUp()
    const sign = (key: string, issuer: string) =>
      new SignJWT({ login_at: START / 1000, user: { id: localUserId('admin'), attrs: { uid: 1 } } })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer(issuer)
        .setIssuedAt(START / 1000)
        .setExpirationTime(START / 1000 + 60)
        .setJti('j')
        .sign(new TextEncoder().encode(key))
    const unsigned = `${btoa('{"alg":"none"}')}.${btoa('{"user":{"attrs":{"uid":1}}}')}.`

    expect(await env.sessions.verify(await sign(SECRET, 'zebox'), 'cookie')).not.toBeNull()
    expect(await env.sessions.verify(await sign('another-secret', 'zebox'), 'cookie')).toBeNull()
    expect(await env.sessions.verify(await sign(SECRET, 'someone'), 'cookie')).toBeNull()
    expect(await env.sessions.verify(unsigned, 'cookie')).toBeNull()
    expect(await env.sessions.verify('garbage', 'cookie')).toBeNull()
  })

  test('clears both cookies', async () => {
    using env = await setUp()

    expect(env.sessions.clearCookies()).toEqual([
      'JWT=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
      'XSRF-TOKEN=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax',
    ])
  })
})

describe('readCookie', () => {
  test.each([
    ['JWT=abc; XSRF-TOKEN=def', 'JWT', 'abc'],
    ['a=1;XSRF-TOKEN="def"', 'XSRF-TOKEN', 'def'],
    ['JWT=first; JWT=second', 'JWT', 'first'],
    ['XJWT=abc', 'JWT', null],
    ['JWT=', 'JWT', null],
    ['', 'JWT', null],
  ])('reads %p for %s', (header, name, expected) => {
    expect(readCookie(header, name)).toBe(expected)
  })
})

describe('resolveSessionSecret', () => {
  const loaded = loadConfig([], {})
  const base = (loaded.kind === 'config' ? loaded.config : undefined) as Config
  const withSecret = (secret: string): Config => ({
    ...base,
    auth: { ...base.auth, tokenSecret: new Secret(secret) },
  })

  const recordingLog = () => {
    const lines: string[] = []
    const log = pino({ level: 'warn' }, { write: (line: string) => void lines.push(line) })
    return { log, lines }
  }

  test('uses the configured secret', async () => {
    using store = await openStore()
    const { log } = recordingLog()

    expect(resolveSessionSecret(store, withSecret('c'.repeat(40)), log)).toBe('c'.repeat(40))
    expect(store.getSetting(SESSION_SECRET_SETTING)).toBeNull()
  })

  test('generates a secret once, keeps it in the store and never logs it', async () => {
    using store = await openStore()
    const { log, lines } = recordingLog()

    const first = resolveSessionSecret(store, withSecret(''), log)
    const second = resolveSessionSecret(store, withSecret(''), log)

    expect(first).toBe(second)
    expect(Buffer.from(first, 'base64url').length).toBe(64)
    expect(store.getSetting(SESSION_SECRET_SETTING)).toBe(first)
    expect(lines.length).toBe(2)
    expect(lines.join('')).not.toContain(first)
  })
})
