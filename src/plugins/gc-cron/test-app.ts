/**
 * Builds this plugin for its own tests, next to the admin API (for UI logins): users on a
 * `:memory:` store, the mirror on the fake mirror store and the fake registry.
 */
import { Elysia } from 'elysia'
import pino from 'pino'

import { loadConfig } from '../../config.ts'
import { Authenticator } from '../../core/authenticator.ts'
import { LoginThrottle } from '../../core/login-throttle.ts'
import { MirrorService } from '../../core/mirror/index.ts'
import { fakeMirrorStore, FakeRegistry } from '../../core/mirror/test-fakes.ts'
import { fastHash, openTestStore } from '../../core/sqlite/test-store.ts'
import type { Role } from '../../core/store.ts'
import { handleError } from '../../http-errors.ts'
import { adminApiPlugin } from '../admin-api/index.ts'
import { gcCronPlugin } from './index.ts'

const SESSION_SECRET = 'a-test-session-secret-that-is-long-enough-0123456789'
const silent = pino({ level: 'silent' })

/** An `Authorization: Basic` header. */
export const basic = (login: string, password: string) => ({
  authorization: `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`,
})

/** The plugin with a fresh store and mirror; `registry: null` runs it without a registry. */
export async function createSyncApp(options: { registry?: FakeRegistry | null } = {}) {
  const loaded = loadConfig([], {})
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  const config = loaded.config
  const users = await openTestStore()
  const authenticator = new Authenticator({ store: users, throttle: new LoginThrottle() })
  const store = fakeMirrorStore()
  const registry = options.registry === undefined ? new FakeRegistry() : options.registry
  const mirror = new MirrorService({
    store,
    registry,
    log: silent,
    ownActors: [],
    pushConfirmDelaysMs: [],
  })
  const deps = { store: users, config, log: silent, authenticator, sessionSecret: SESSION_SECRET }
  const app = new Elysia()
    .onError((context) => handleError(silent, context))
    .use(adminApiPlugin(deps))
    .use(gcCronPlugin({ ...deps, mirror }))

  const call = (method: string, path: string, headers: Record<string, string> = {}) =>
    app.handle(new Request(`http://localhost${path}`, { method, headers }))

  const addUser = async (login: string, role: Role) =>
    users.createUser({
      login,
      name: login,
      passwordHash: await fastHash(`${login}-password`),
      role,
      group: 1,
      disabled: false,
      description: '',
    })

  /** Logs in through the UI route and returns the cookie header and XSRF token. */
  const login = async (loginName: string, password: string) => {
    const response = await app.handle(
      new Request('http://localhost/auth/local/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: loginName, passwd: password }),
      }),
    )
    const cookies = Object.fromEntries(
      response.headers.getSetCookie().map((line) => {
        const pair = line.split(';')[0] ?? ''
        return [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]
      }),
    )
    return {
      cookie: `JWT=${cookies.JWT}; XSRF-TOKEN=${cookies['XSRF-TOKEN']}`,
      xsrf: cookies['XSRF-TOKEN'] ?? '',
      jwt: cookies.JWT ?? '',
    }
  }

  return {
    app,
    store,
    registry: registry as FakeRegistry,
    mirror,
    call,
    addUser,
    login,
    [Symbol.dispose]: () => users.close(),
  }
}
