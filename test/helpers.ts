/**
 * Builders shared by the whole-app tests: a server assembled exactly as `main.ts` does it, on a
 * temporary store and key folder, either listening on a free loopback port or only reachable
 * through `app.handle`.
 */
import 'reflect-metadata'

import { join } from 'node:path'

import pino from 'pino'

import { createApp, type App } from '../src/app.ts'
import { loadConfig, type Config } from '../src/config.ts'
import { Authenticator } from '../src/core/authenticator.ts'
import { startHtpasswd, type HtpasswdFile } from '../src/core/htpasswd.ts'
import { LoginThrottle } from '../src/core/login-throttle.ts'
import { createMirrorService, type MirrorService } from '../src/core/mirror/index.ts'
import { createRegistryClient } from '../src/core/registry-client/index.ts'
import { hashPassword } from '../src/core/passwords.ts'
import { openEmbedStore } from '../src/core/sqlite/index.ts'
import type { AccessRule, NewAccessRule, Store, User } from '../src/core/store.ts'
import { createTokenSigner } from '../src/core/token-signer.ts'
import { resolveSessionSecret } from '../src/plugins/admin-api/index.ts'
import { loadOrCreateSigningKeys } from '../src/plugins/certs/index.ts'
import { tempDir, type TempDir } from './support/temp.ts'

export const TEST_SERVICE = 'registry.test'
export const TEST_ISSUER = 'registry-admin-test'
export const ADMIN = { username: 'admin', password: 'admin-password' }

export interface TestServer extends AsyncDisposable {
  app: App
  config: Config
  store: Store
  /** The repository mirror the app runs, e.g. to wait for its confirmations with `idle()`. */
  mirror: MirrorService
  /** The htpasswd file in basic mode (wait for rewrites with `idle()`), else `null`. */
  htpasswd: HtpasswdFile | null
  /** `http://127.0.0.1:PORT` once `listen` was asked for, else `http://localhost`. */
  url: string
  /** Realm URL to give the registry. */
  realm: string
  /** The CA file the registry must trust. */
  rootCertBundle: string
  dir: TempDir
  /** Calls the app in process. */
  handle(path: string, init?: RequestInit): Promise<Response>
  addUser(login: string, password: string, extra?: Partial<User>): Promise<User>
  addRule(
    rule: Partial<NewAccessRule> & Pick<NewAccessRule, 'ownerId' | 'resourceName' | 'action'>,
  ): AccessRule
}

export interface TestServerOptions {
  /** Extra command-line flags, as an operator would pass them. */
  flags?: string[]
  /** Listen on a free loopback port. @default false */
  listen?: boolean
  /**
   * Runs before the app is built, once its URL, realm and CA bundle are known (the keys exist
   * and a free port is reserved), and returns more flags: start a registry here and pass its
   * URL back as `--registry.host`. Implies `listen`.
   */
  beforeApp?: (server: { url: string; realm: string; rootCertBundle: string }) => Promise<string[]>
}

const silent = pino({ level: 'silent' })

/** Starts the whole app on a temporary store with generated keys. */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dir = tempDir('ra-test-')
  const configWith = (more: string[]) =>
    loadConfig(
      [
        '--listen=127.0.0.1',
        '--port=8080',
        `--registry.service=${TEST_SERVICE}`,
        `--registry.issuer=${TEST_ISSUER}`,
        `--registry.certs.path=${join(dir.path, 'certs')}`,
        `--store.embed.path=${join(dir.path, 'data.db')}`,
        `--store.admin-password=${ADMIN.password}`,
        ...(options.flags ?? []),
        ...more,
      ],
      { HOME: dir.path },
    )
  const loaded = configWith([])
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  let { config } = loaded

  const { store } = await openEmbedStore({
    path: config.store.embed.path,
    adminPassword: config.store.adminPassword.reveal(),
    log: silent,
  })
  const keys =
    config.registry.authType === 'token'
      ? await loadOrCreateSigningKeys(config.registry.certs, silent)
      : null
  const signer = keys ? createTokenSigner({ keys, issuer: config.registry.issuer }) : null
  let port = 0
  if (options.beforeApp) {
    port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const more = await options.beforeApp({
      url: base,
      realm: `${base}/api/v1/registry/auth`,
      rootCertBundle: config.registry.certs.caRoot,
    })
    const reloaded = configWith(more)
    config = reloaded.kind === 'config' ? reloaded.config : config
  }
  const authenticator = new Authenticator({ store, throttle: new LoginThrottle() })
  const sessionSecret = await resolveSessionSecret(store, config, silent)
  // One registry client for the mirror and the catalog routes, as createApp builds it.
  const registry =
    config.registry.host === ''
      ? null
      : createRegistryClient({
          config: config.registry,
          signer,
          service: config.registry.service,
          log: silent,
        })
  const mirror = createMirrorService({ config, store, log: silent, signer, registry })
  const htpasswd = await startHtpasswd({ config, store, log: silent })
  const app = createApp({
    config,
    log: silent,
    store,
    authenticator,
    signer,
    sessionSecret,
    mirror,
    registry,
    htpasswd,
  })

  let url = 'http://localhost'
  if (options.listen || options.beforeApp) {
    app.listen({ hostname: '127.0.0.1', port })
    url = `http://127.0.0.1:${app.server?.port}`
  }

  const server: TestServer = {
    app,
    config,
    store,
    mirror,
    htpasswd,
    url,
    realm: `${url}/api/v1/registry/auth`,
    rootCertBundle: config.registry.certs.caRoot,
    dir,
    handle: (path, init) => app.handle(new Request(`${url}${path}`, init)),
    addUser: async (login, password, extra = {}) =>
      store.createUser({
        login,
        name: login,
        passwordHash: await hashPassword(password),
        role: 'user',
        group: 1,
        disabled: false,
        description: '',
        ...extra,
      }),
    addRule: (rule) =>
      store.createAccessRule({
        isGroup: false,
        name: `${rule.resourceName} ${rule.action}`,
        resourceType: 'repository',
        disabled: false,
        ...rule,
      }),
    [Symbol.asyncDispose]: async () => {
      if (app.server) {
        await app.stop()
      }
      await htpasswd?.idle()
      store.close()
      await dir.remove()
    },
  }
  return server
}

/** A loopback port that was free a moment ago. */
const freePort = async (): Promise<number> => {
  const probe = Bun.listen({ hostname: '127.0.0.1', port: 0, socket: { data: () => undefined } })
  const { port } = probe
  probe.stop(true)
  return port
}

/** An `Authorization: Basic` header value. */
export const basic = (username: string, password: string): string =>
  `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`

/**
 * A response body as tests read it: indexed freely, because each assertion then checks the shape
 * it needs with `toEqual` or `toMatchObject`, which fails on anything unexpected.
 */
export type LooseJson = any
