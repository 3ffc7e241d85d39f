import 'reflect-metadata'

import { describe, expect, test } from 'bun:test'
import pino from 'pino'

import { createApp } from './app.ts'
import { loadConfig, type Config } from './config.ts'
import { Authenticator } from './core/authenticator.ts'
import { LoginThrottle } from './core/login-throttle.ts'
import { openTestStore } from './core/sqlite/test-store.ts'

const SESSION_SECRET = 'a-test-session-secret-that-is-long-enough-0123456789'

/** A config in basic mode against a registry that is never called. */
const basicConfig = (...flags: string[]): Config => {
  const loaded = loadConfig(
    [
      '--registry.host=http://127.0.0.1',
      '--registry.port=9',
      '--registry.auth-type=basic',
      '--registry.login=admin',
      '--registry.password=admin-password',
      '--registry.htpasswd=/nonexistent/htpasswd',
      ...flags,
    ],
    {},
  )
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  return loaded.config
}

/** A logger that keeps every message. */
const recordingLogger = () => {
  const messages: string[] = []
  const log = pino(
    { level: 'debug' },
    { write: (line: string) => void messages.push((JSON.parse(line) as { msg: string }).msg) },
  )
  return { log, messages }
}

describe('createApp', () => {
  test('builds one registry client for the catalog routes, the health check and the mirror', async () => {
    using store = await openTestStore()
    const { log, messages } = recordingLogger()

    createApp({
      config: basicConfig(),
      log,
      store,
      authenticator: new Authenticator({ store, throttle: new LoginThrottle() }),
      signer: null,
      sessionSecret: SESSION_SECRET,
    })

    expect(messages.filter((message) => message === 'registry client ready')).toHaveLength(1)
  })
})
