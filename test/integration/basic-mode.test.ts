/**
 * Basic-auth mode against Debian's real `docker-registry` 2.8 and `skopeo`: the registry checks
 * passwords in the htpasswd file this server writes, and users created, disabled or deleted
 * through the admin API can or cannot push accordingly, without restarting the registry.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'

import { mkdir, readFile, rm, rmdir, stat } from 'node:fs/promises'
import { join } from 'node:path'

import pino from 'pino'

import { createApp, type App } from '../../src/app.ts'
import { loadConfig, type Config } from '../../src/config.ts'
import { Authenticator } from '../../src/core/authenticator.ts'
import { startHtpasswd, type HtpasswdFile } from '../../src/core/htpasswd.ts'
import { LoginThrottle } from '../../src/core/login-throttle.ts'
import { openEmbedStore } from '../../src/core/sqlite/index.ts'
import type { Store } from '../../src/core/store.ts'
import { resolveSessionSecret } from '../../src/plugins/admin-api/index.ts'
import { ADMIN, basic, startTestServer, type TestServer, type LooseJson } from '../helpers.ts'
import { writeOciImage, type OciImage } from '../support/oci-image.ts'
import { startRegistry, type RunningRegistry } from '../support/registry.ts'
import { skopeoCopy, skopeoInspect } from '../support/skopeo.ts'
import { tempDir, type TempDir } from '../support/temp.ts'

const adminAuth = basic(ADMIN.username, ADMIN.password)

let work: TempDir
let htpasswd: string
let server: TestServer
let registry: RunningRegistry
let image: OciImage

beforeAll(async () => {
  work = tempDir('ra-basic-e2e-')
  htpasswd = join(work.path, 'auth', 'htpasswd')
  server = await startTestServer({
    flags: [
      '--registry.auth-type=basic',
      `--registry.htpasswd=${htpasswd}`,
      `--registry.login=${ADMIN.username}`,
      `--registry.password=${ADMIN.password}`,
    ],
    listen: true,
  })
  registry = await startRegistry({ auth: { htpasswd: { path: htpasswd } } })
  image = await writeOciImage(join(work.path, 'image'), { tag: '1.0' })
})

afterAll(async () => {
  await registry?.stop()
  await server?.[Symbol.asyncDispose]()
  await work?.remove()
})

/** Calls the admin API as admin and waits until the htpasswd rewrite it caused is on disk. */
const api = async (method: string, path: string, body?: unknown) => {
  const response = await server.handle(path, {
    method,
    headers: { authorization: adminAuth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  await server.htpasswd?.idle()
  return { status: response.status, json: (await response.json()) as LooseJson }
}

const createUser = async (login: string, password: string): Promise<number> => {
  const created = await api('POST', '/api/v1/users', {
    login,
    name: login,
    password,
    role: 'user',
  })
  expect(created.status).toBe(200)
  return created.json.id
}

const push = (name: string, username: string, password: string) =>
  skopeoCopy(image.ref, registry.ref(name), { destCreds: { username, password } })

describe('basic mode with a real registry', () => {
  test('the file written at start lets this server itself into the registry', async () => {
    const file = await readFile(htpasswd, 'utf8')
    const pushed = await push('admin/app:1.0', ADMIN.username, ADMIN.password)

    expect(file.split('\n').map((line) => line.split(':')[0])).toEqual(['admin', ''])
    expect((await stat(htpasswd)).mode & 0o777).toBe(0o600)
    expect(pushed.exitCode).toBe(0)
  })

  test('a user created through the API can push at once', async () => {
    await createUser('alice', 'alice-password')

    const pushed = await push('alice/app:1.0', 'alice', 'alice-password')
    const inspected = await skopeoInspect(registry.ref('alice/app:1.0'), {
      creds: { username: 'alice', password: 'alice-password' },
      noTags: true,
    })

    expect(pushed.stderr).toBe('')
    expect(pushed.exitCode).toBe(0)
    expect(JSON.parse(inspected.stdout).Digest).toBe(image.manifestDigest)
  })

  test('a user disabled through the API can no longer push or pull', async () => {
    const id = await createUser('bob', 'bob-password')
    expect((await push('bob/app:1.0', 'bob', 'bob-password')).exitCode).toBe(0)

    const disabled = await api('PUT', `/api/v1/users/${id}`, { blocked: true })
    const pushed = await push('bob/app:2.0', 'bob', 'bob-password')
    const pulled = await skopeoInspect(registry.ref('bob/app:1.0'), {
      creds: { username: 'bob', password: 'bob-password' },
      noTags: true,
    })

    expect(disabled.status).toBe(200)
    expect(await readFile(htpasswd, 'utf8')).not.toContain('bob:')
    expect(pushed.exitCode).toBe(1)
    expect(pushed.stderr).toContain('unauthorized')
    expect(pulled.exitCode).toBe(1)
  })

  test('a deleted user can no longer push', async () => {
    const id = await createUser('carol', 'carol-password')
    expect((await push('carol/app:1.0', 'carol', 'carol-password')).exitCode).toBe(0)

    const deleted = await api('DELETE', `/api/v1/users/${id}`)
    const pushed = await push('carol/app:2.0', 'carol', 'carol-password')

    expect(deleted.status).toBe(200)
    expect(pushed.exitCode).toBe(1)
    expect(pushed.stderr).toContain('unauthorized')
  })

  test('a new password replaces the old one in the registry', async () => {
    const id = await createUser('dave', 'dave-password')

    const changed = await api('PUT', `/api/v1/users/${id}`, { password: 'dave-new-password' })
    const withOld = await push('dave/app:1.0', 'dave', 'dave-password')
    const withNew = await push('dave/app:1.0', 'dave', 'dave-new-password')

    expect(changed.status).toBe(200)
    expect(withOld.exitCode).toBe(1)
    expect(withNew.exitCode).toBe(0)
  })

  test('the token endpoint is off and access rules say they do not apply', async () => {
    const realm = await server.handle('/api/v1/registry/auth?service=x', {
      headers: { authorization: adminAuth },
    })
    const rule = await api('POST', '/api/v1/access', {
      owner_id: 1,
      name: 'rule',
      resource_name: 'alice/app',
      action: 'pull',
    })

    expect(realm.status).toBe(404)
    expect(rule.json.message).toContain('do not apply until it uses token auth')
  })
})

describe('basic mode when the htpasswd file cannot be written', () => {
  const silent = pino({ level: 'silent' })
  let work: TempDir
  let path: string
  let store: Store
  let file: HtpasswdFile
  let app: App
  let registry: RunningRegistry
  let source: OciImage

  beforeAll(async () => {
    work = tempDir('ra-basic-readonly-e2e-')
    path = join(work.path, 'auth', 'htpasswd')
    const configWith = (...more: string[]): Config => {
      const loaded = loadConfig(
        [
          '--registry.auth-type=basic',
          `--registry.htpasswd=${path}`,
          `--registry.login=${ADMIN.username}`,
          `--registry.password=${ADMIN.password}`,
          `--store.embed.path=${join(work.path, 'data.db')}`,
          `--store.admin-password=${ADMIN.password}`,
          ...more,
        ],
        { HOME: work.path },
      )
      if (loaded.kind !== 'config') {
        throw new Error('unexpected help output')
      }
      return loaded.config
    }
    let config = configWith()
    ;({ store } = await openEmbedStore({
      path: config.store.embed.path,
      adminPassword: ADMIN.password,
      log: silent,
    }))
    file = (await startHtpasswd({ config, store, log: silent })) as HtpasswdFile
    registry = await startRegistry({ auth: { htpasswd: { path } } })
    config = configWith(`--registry.host=${registry.url}`)
    app = createApp({
      config,
      log: silent,
      store,
      authenticator: new Authenticator({ store, throttle: new LoginThrottle() }),
      signer: null,
      sessionSecret: resolveSessionSecret(store, config, silent),
      htpasswd: file,
    })
    source = await writeOciImage(join(work.path, 'image'), { tag: '1.0' })
  })

  afterAll(async () => {
    file?.stop()
    await file?.idle()
    await registry?.stop()
    store?.close()
    await work?.remove()
  })

  const call = async (method: string, route: string, body?: unknown) => {
    const response = await app.handle(
      new Request(`http://localhost${route}`, {
        method,
        headers: { authorization: adminAuth, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    )
    return { status: response.status, json: (await response.json()) as LooseJson }
  }

  test('reports the failure, and the retry removes a disabled user once the file can be written', async () => {
    const created = await call('POST', '/api/v1/users', {
      login: 'erin',
      name: 'erin',
      password: 'erin-password',
      role: 'user',
    })
    expect(created.status).toBe(200)
    // the file's place is taken by a folder, so the rename onto it fails
    await rm(path)
    await mkdir(path)

    const blocked = await call('PUT', `/api/v1/users/${created.json.id}`, { blocked: true })
    const unhealthy = await call('GET', '/api/v1/registry/health')
    await rmdir(path)
    await until('the retry to write the file', async () => {
      const health = await call('GET', '/api/v1/registry/health')
      return health.status === 200
    })
    const lines = await readFile(path, 'utf8')
    const pushed = await skopeoCopy(source.ref, registry.ref('erin/app:1.0'), {
      destCreds: { username: 'erin', password: 'erin-password' },
    })
    const byAdmin = await skopeoCopy(source.ref, registry.ref('admin/app:1.0'), {
      destCreds: { username: ADMIN.username, password: ADMIN.password },
    })

    expect([blocked.status, blocked.json.data.blocked]).toEqual([200, true])
    expect(blocked.json.message).toStartWith(
      "ok; the registry's htpasswd file could not be updated yet (EISDIR",
    )
    // the registry, which cannot read its file either, refuses the health check's ping too
    expect([unhealthy.status, unhealthy.json.reasons]).toEqual([
      503,
      expect.arrayContaining([
        expect.stringMatching(/^the htpasswd file could not be written: EISDIR/),
      ]),
    ])
    expect(lines.split('\n').map((line) => line.split(':')[0])).toEqual(['admin', ''])
    expect([pushed.exitCode, byAdmin.exitCode]).toEqual([1, 0])
  })
})

/** Polls `check` until it is true; fails after 4 s with `what`. */
async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 4_000
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`)
    }
    await Bun.sleep(50)
  }
}
