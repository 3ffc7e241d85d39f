/**
 * Builders for this plugin's own tests: the plugin on a fresh `:memory:` store behind the app's
 * single error handler, a settable clock, and request helpers that fail the test whenever a
 * response body contains something that looks like a bcrypt hash.
 */
import { expect } from 'bun:test'

import { Elysia } from 'elysia'
import pino from 'pino'

import { loadConfig, type Config } from '../../config.ts'
import { Authenticator } from '../../core/authenticator.ts'
import { LoginThrottle } from '../../core/login-throttle.ts'
import { openEmbedStore } from '../../core/sqlite/index.ts'
import type { Store, User } from '../../core/store.ts'
import { handleError } from '../../http-errors.ts'
import { adminApiPlugin } from './index.ts'

export const ADMIN_PASSWORD = 'admin-password'
export const SESSION_SECRET = 'a-test-session-secret-that-is-long-enough-0123456789'

/** Epoch milliseconds the clock starts at: 2026-01-01T00:00:00Z. */
export const START_MS = Date.UTC(2026, 0, 1)

export interface TestApiOptions {
  /** Extra command-line flags, as an operator would pass them. */
  flags?: string[]
  /** Changes the loaded configuration (it is copied first). */
  adjust?: (config: Config) => Config
  onUsersChanged?: () => void
}

export interface CallOptions {
  /** `Authorization` header value. */
  auth?: string
  /** Sent as JSON unless it is a string or bytes (sent as they are). */
  body?: unknown
  headers?: Record<string, string>
}

export interface Answer {
  status: number
  headers: Headers
  text: string
  /** The parsed JSON body, or `undefined` when the body is not JSON. */
  json: any
}

/** A logged-in UI session: the cookie header to send and the XSRF token. */
export interface TestSession {
  cookie: string
  xsrf: string
  jwt: string
}

export interface TestApi extends Disposable {
  store: Store
  config: Config
  authenticator: Authenticator
  /** The clock every component reads, in epoch milliseconds; tests move it. */
  clock: { now: number }
  call(method: string, path: string, options?: CallOptions): Promise<Answer>
  addUser(login: string, password: string, extra?: Partial<User>): Promise<User>
  login(login: string, password: string): Promise<TestSession>
}

const silent = pino({ level: 'silent' })

// Cheap bcrypt for users made by the tests themselves, so that each check costs a millisecond
// instead of sixty; passwords set through the API still get the real cost.
const quickHash = (password: string): Promise<string> =>
  Bun.password.hash(password, { algorithm: 'bcrypt', cost: 4 })

/** The plugin on a fresh `:memory:` store whose `admin` has `ADMIN_PASSWORD`. */
export const createTestApi = async (options: TestApiOptions = {}): Promise<TestApi> => {
  const loaded = loadConfig(options.flags ?? [], {})
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  const config = options.adjust ? options.adjust(structuredCopy(loaded.config)) : loaded.config
  const { store } = await openEmbedStore({
    path: ':memory:',
    adminPassword: ADMIN_PASSWORD,
    log: silent,
    hashPassword: quickHash,
  })
  const clock = { now: START_MS }
  const now = () => clock.now
  const authenticator = new Authenticator({ store, throttle: new LoginThrottle({ now }), now })
  const app = new Elysia()
    .onError((context) => handleError(silent, context))
    .use(
      adminApiPlugin({
        store,
        log: silent,
        config,
        authenticator,
        sessionSecret: SESSION_SECRET,
        onUsersChanged: options.onUsersChanged,
        now,
      }),
    )

  const call = async (method: string, path: string, callOptions: CallOptions = {}) => {
    const headers: Record<string, string> = { ...callOptions.headers }
    if (callOptions.auth) {
      headers.authorization = callOptions.auth
    }
    let body: string | Uint8Array | undefined
    if (callOptions.body !== undefined) {
      const raw = callOptions.body
      body = typeof raw === 'string' || raw instanceof Uint8Array ? raw : JSON.stringify(raw)
      headers['content-type'] ??= 'application/json'
    }
    const response = await app.handle(
      new Request(`http://localhost${path}`, { method, headers, body }),
    )
    const text = await response.text()
    // No answer may ever carry a bcrypt hash.
    expect(text).not.toContain('$2')
    return { status: response.status, headers: response.headers, text, json: parseJson(text) }
  }

  const login = async (loginName: string, password: string): Promise<TestSession> => {
    const answer = await call('POST', '/auth/local/login', {
      body: { user: loginName, passwd: password },
    })
    if (answer.status !== 200) {
      throw new Error(`login failed with ${answer.status}: ${answer.text}`)
    }
    return sessionOf(answer.headers)
  }

  return {
    store,
    config,
    authenticator,
    clock,
    call,
    login,
    addUser: async (loginName, password, extra = {}) =>
      store.createUser({
        login: loginName,
        name: loginName,
        passwordHash: await quickHash(password),
        role: 'user',
        group: 1,
        disabled: false,
        description: '',
        ...extra,
      }),
    [Symbol.dispose]: () => store.close(),
  }
}

/** Reads the session cookies a response set. */
export const sessionOf = (headers: Headers): TestSession => {
  const cookies = cookiesOf(headers)
  const jwt = cookies.JWT?.value ?? ''
  const xsrf = cookies['XSRF-TOKEN']?.value ?? ''
  return { jwt, xsrf, cookie: `JWT=${jwt}; XSRF-TOKEN=${xsrf}` }
}

/** The `Set-Cookie` values of a response by cookie name, with their attributes. */
export const cookiesOf = (
  headers: Headers,
): Record<string, { value: string; attributes: string[] }> => {
  const result: Record<string, { value: string; attributes: string[] }> = {}
  for (const line of headers.getSetCookie()) {
    const [pair = '', ...attributes] = line.split(';').map((part) => part.trim())
    const eq = pair.indexOf('=')
    result[pair.slice(0, eq)] = { value: pair.slice(eq + 1), attributes }
  }
  return result
}

/** An `Authorization: Basic` header value. */
export const basic = (login: string, password: string): string =>
  `Basic ${Buffer.from(`${login}:${password}`).toString('base64')}`

export const adminAuth = basic('admin', ADMIN_PASSWORD)

const parseJson = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** Copies a config one level deep per section, keeping `Secret` values as they are. */
const structuredCopy = (config: Config): Config => ({
  ...config,
  registry: { ...config.registry },
  auth: { ...config.auth },
  ssl: { ...config.ssl },
})
