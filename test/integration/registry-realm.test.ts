/**
 * The token realm against Debian's real `docker-registry` 2.8, driven by the real `skopeo`:
 * every rule below is enforced by the registry, from tokens this server decided.
 */
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'

import { ANONYMOUS_OWNER_ID, REGISTERED_OWNER_ID } from '../../src/core/store.ts'
import {
  ADMIN,
  basic,
  startTestServer,
  TEST_ISSUER,
  TEST_SERVICE,
  type TestServer,
} from '../helpers.ts'
import { writeOciImage, type OciImage } from '../support/oci-image.ts'
import { startRegistry, type RunningRegistry } from '../support/registry.ts'
import { skopeoCopy, skopeoDelete, skopeoInspect, skopeoLogin } from '../support/skopeo.ts'
import { tempDir, type TempDir } from '../support/temp.ts'

let server: TestServer
let registry: RunningRegistry
let work: TempDir
let image: OciImage
let otherImage: OciImage

const creds = (username: string, password: string) => ({ username, password })
const admin = creds(ADMIN.username, ADMIN.password)
const reader = creds('reader', 'reader-password')
const pusher = creds('pusher', 'pusher-password')
const nobody = creds('nobody', 'nobody-password')
const blocked = creds('blocked', 'blocked-password')
const teammate = creds('teammate', 'teammate-password')
const deleter = creds('deleter', 'deleter-password')

beforeAll(async () => {
  server = await startTestServer({ listen: true })
  registry = await startRegistry({
    auth: {
      token: {
        realm: server.realm,
        service: TEST_SERVICE,
        issuer: TEST_ISSUER,
        rootCertBundle: server.rootCertBundle,
      },
    },
  })
  work = tempDir('ra-e2e-')
  image = await writeOciImage(`${work.path}/app`, { tag: '1.0' })
  otherImage = await writeOciImage(`${work.path}/other`, { tag: '1.0', randomBytes: 64 })

  const readerUser = await server.addUser(reader.username, reader.password)
  server.addRule({ ownerId: readerUser.id, resourceName: 'ns/app', action: 'pull' })
  const pusherUser = await server.addUser(pusher.username, pusher.password)
  server.addRule({ ownerId: pusherUser.id, resourceName: 'team/*', action: 'push' })
  await server.addUser(nobody.username, nobody.password)
  const blockedUser = await server.addUser(blocked.username, blocked.password, { disabled: true })
  server.addRule({ ownerId: blockedUser.id, resourceName: 'ns/app', action: 'pull' })
  const group = server.store.createGroup({ name: 'builders', description: '' })
  await server.addUser(teammate.username, teammate.password, { group: group.id })
  server.addRule({ ownerId: group.id, isGroup: true, resourceName: 'builders/**', action: 'push' })
  const deleterUser = await server.addUser(deleter.username, deleter.password)
  server.addRule({ ownerId: deleterUser.id, resourceName: 'scratch/**', action: '*' })
  server.addRule({ ownerId: ANONYMOUS_OWNER_ID, resourceName: 'public/**', action: 'pull' })
  server.addRule({ ownerId: REGISTERED_OWNER_ID, resourceName: 'shared/app', action: 'pull' })

  for (const name of ['ns/app:1.0', 'public/lib/app:1.0', 'shared/app:1.0', 'scratch/app:1.0']) {
    const pushed = await skopeoCopy(image.ref, registry.ref(name), { destCreds: admin })
    expect(pushed.stderr).toBe('')
    expect(pushed.exitCode).toBe(0)
  }
})

afterAll(async () => {
  await registry?.stop()
  await server?.[Symbol.asyncDispose]()
  await work?.remove()
})

const digestOf = async (name: string, who: ReturnType<typeof creds> | 'anonymous') => {
  const inspected = await skopeoInspect(registry.ref(name), { creds: who, noTags: true })
  return {
    ...inspected,
    digest: inspected.exitCode === 0 ? JSON.parse(inspected.stdout).Digest : null,
  }
}

describe('token realm with a real registry', () => {
  test('admin pushed ns/app:1.0 and reads it back', async () => {
    expect((await digestOf('ns/app:1.0', admin)).digest).toBe(image.manifestDigest)
  })

  test('a user with a pull rule pulls and cannot push', async () => {
    const pulled = await skopeoCopy(registry.ref('ns/app:1.0'), `oci:${work.path}/pulled:1.0`, {
      srcCreds: reader,
    })
    const pushed = await skopeoCopy(otherImage.ref, registry.ref('ns/app:2.0'), {
      destCreds: reader,
    })

    expect(pulled.exitCode).toBe(0)
    expect(pushed.exitCode).toBe(1)
    expect(pushed.stderr).toContain('requested access to the resource is denied')
  })

  test('a user with a push rule on team/* pushes team/x:1 and not team/x/y:1', async () => {
    const pushed = await skopeoCopy(image.ref, registry.ref('team/x:1'), { destCreds: pusher })
    const nested = await skopeoCopy(image.ref, registry.ref('team/x/y:1'), { destCreds: pusher })

    expect(pushed.exitCode).toBe(0)
    expect((await digestOf('team/x:1', pusher)).digest).toBe(image.manifestDigest)
    expect(nested.exitCode).toBe(1)
  })

  test('a group rule lets its members push below the pattern', async () => {
    const pushed = await skopeoCopy(image.ref, registry.ref('builders/tools/app:1'), {
      destCreds: teammate,
    })

    expect(pushed.exitCode).toBe(0)
  })

  test('a user without rules cannot pull', async () => {
    const result = await digestOf('ns/app:1.0', nobody)

    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('denied')
  })

  test('an anonymous pull rule on public/** lets anyone pull without credentials', async () => {
    expect((await digestOf('public/lib/app:1.0', 'anonymous')).digest).toBe(image.manifestDigest)
    expect((await digestOf('ns/app:1.0', 'anonymous')).exitCode).toBe(1)
  })

  test('a registered-users rule applies to any user but not to anonymous callers', async () => {
    expect((await digestOf('shared/app:1.0', nobody)).digest).toBe(image.manifestDigest)
    expect((await digestOf('shared/app:1.0', 'anonymous')).exitCode).toBe(1)
  })

  test('a disabled user is refused', async () => {
    const result = await digestOf('ns/app:1.0', blocked)

    expect(result.exitCode).toBe(1)
    expect(result.stderr).toContain('invalid username/password')
  })

  test('a wrong password makes skopeo report invalid credentials', async () => {
    const inspected = await digestOf('ns/app:1.0', creds(reader.username, 'wrong-password'))
    const login = await skopeoLogin(registry.hostPort, creds(reader.username, 'wrong-password'))

    expect(inspected.stderr).toContain('invalid username/password')
    expect(login.exitCode).toBe(1)
    expect(login.stderr).toContain('invalid username/password')
    expect((await skopeoLogin(registry.hostPort, reader)).exitCode).toBe(0)
  })

  test('delete needs the delete right: * rules delete, pull rules do not', async () => {
    const denied = await skopeoDelete(registry.ref('ns/app:1.0'), { creds: reader })
    const deleted = await skopeoDelete(registry.ref('scratch/app:1.0'), { creds: deleter })

    expect(denied.exitCode).toBe(1)
    expect(deleted.exitCode).toBe(0)
    expect((await digestOf('scratch/app:1.0', admin)).stderr).toContain('manifest unknown')
    expect((await digestOf('ns/app:1.0', admin)).digest).toBe(image.manifestDigest)
  })

  test('the catalog works with an admin token and not with a user token', async () => {
    const catalog = async (authorization: string) => {
      const tokenResponse = await fetch(
        `${server.realm}?service=${TEST_SERVICE}&scope=registry:catalog:*`,
        { headers: { authorization } },
      )
      const { token } = (await tokenResponse.json()) as { token: string }
      return fetch(`${registry.url}/v2/_catalog`, { headers: { authorization: `Bearer ${token}` } })
    }

    const asAdmin = await catalog(basic(admin.username, admin.password))
    const asUser = await catalog(basic(reader.username, reader.password))

    expect(asAdmin.status).toBe(200)
    expect(((await asAdmin.json()) as { repositories: string[] }).repositories).toContain('ns/app')
    expect(asUser.status).toBe(401)
    expect(asUser.headers.get('www-authenticate')).toContain('insufficient_scope')
  })

  test('a token from the OAuth2 POST flow is accepted by the registry', async () => {
    const response = await fetch(server.realm, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' },
      body: new URLSearchParams({
        grant_type: 'password',
        username: reader.username,
        password: reader.password,
        service: TEST_SERVICE,
        client_id: 'containerd-client',
        scope: 'repository:ns/app:pull',
        access_type: 'offline',
      }),
    })
    const body = (await response.json()) as {
      access_token: string
      refresh_token: string
      scope: string
    }
    const tags = await fetch(`${registry.url}/v2/ns/app/tags/list`, {
      headers: { authorization: `Bearer ${body.access_token}` },
    })
    const refreshed = await fetch(server.realm, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'refresh_token',
        refresh_token: body.refresh_token,
        service: TEST_SERVICE,
        client_id: 'containerd-client',
        scope: 'repository:ns/app:pull',
      }),
    })
    const again = (await refreshed.json()) as { access_token: string; refresh_token: string }
    const tagsAgain = await fetch(`${registry.url}/v2/ns/app/tags/list`, {
      headers: { authorization: `Bearer ${again.access_token}` },
    })

    expect(response.status).toBe(200)
    expect(body.scope).toBe('repository:ns/app:pull')
    expect(tags.status).toBe(200)
    expect(await tags.json()).toEqual({ name: 'ns/app', tags: ['1.0'] })
    expect(refreshed.status).toBe(200)
    expect(again.refresh_token).toBe(body.refresh_token)
    expect(tagsAgain.status).toBe(200)
  })
})
