/**
 * Builds this plugin for its own tests: the real authenticator on a `:memory:` store (for
 * Basic users), the mirror on the fake mirror store and the fake registry, behind the app's
 * single error handler.
 */
import { Elysia } from 'elysia'
import pino from 'pino'

import { loadConfig } from '../../config.ts'
import { Authenticator } from '../../core/authenticator.ts'
import { LoginThrottle } from '../../core/login-throttle.ts'
import { MirrorService } from '../../core/mirror/index.ts'
import { fakeMirrorStore, FakeRegistry } from '../../core/mirror/test-fakes.ts'
import { fastHash, openTestStore } from '../../core/sqlite/test-store.ts'
import { handleError } from '../../http-errors.ts'
import { registryEventsPlugin } from './index.ts'

export const EVENTS_SECRET = 'notify-secret-for-tests'

const silent = pino({ level: 'silent' })

/** The plugin with a fresh store, registry and mirror. */
export async function createEventsApp() {
  const loaded = loadConfig([`--registry.events-secret=${EVENTS_SECRET}`], {})
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  const users = await openTestStore()
  const authenticator = new Authenticator({ store: users, throttle: new LoginThrottle() })
  const store = fakeMirrorStore()
  const registry = new FakeRegistry()
  const mirror = new MirrorService({
    store,
    registry,
    log: silent,
    ownActors: ['$registry-admin'],
    pushConfirmDelaysMs: [],
  })
  const app = new Elysia()
    .onError((context) => handleError(silent, context))
    .use(registryEventsPlugin({ mirror, authenticator, config: loaded.config, log: silent }))

  const post = (body: string | undefined, headers: Record<string, string> = {}) =>
    app.handle(
      new Request('http://localhost/api/v1/registry/events', { method: 'POST', headers, body }),
    )
  const addUser = async (
    login: string,
    password: string,
    extra: { role?: 'admin' | 'user'; disabled?: boolean } = {},
  ) =>
    users.createUser({
      login,
      name: login,
      passwordHash: await fastHash(password),
      role: extra.role ?? 'user',
      group: 1,
      disabled: extra.disabled ?? false,
      description: '',
    })

  return {
    store,
    registry,
    mirror,
    post,
    addUser,
    [Symbol.dispose]: () => users.close(),
  }
}
