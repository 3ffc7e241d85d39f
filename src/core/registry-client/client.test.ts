import 'reflect-metadata'
import { X509CertificateGenerator } from '@peculiar/x509'
import { describe, expect, test } from 'bun:test'
import { rootCertificates } from 'node:tls'
import pino from 'pino'
import type { RegistryConfig } from '../../config.ts'
import { ConflictError, NotFoundError, UnavailableError, ValidationError } from '../../errors.ts'
import { tempDir } from '../../../test/support/temp.ts'
import { Secret } from '../secret.ts'
import type { TokenRequest, TokenSigner } from '../token-signer.ts'
import { createRegistryClient, type RegistryClientOptions } from './client.ts'
import {
  BlobTooLargeError,
  RegistryConfigError,
  RegistryError,
  registryErrorToAppError,
  RegistryUnavailableError,
} from './errors.ts'
import { MANIFEST_ACCEPT, MEDIA_TYPES } from './manifest.ts'
import { SERVER_SUBJECT } from './token-cache.ts'
import type { RegistryFetch } from './transport.ts'

const T0 = Date.parse('2026-06-01T12:00:00Z')

function registryConfig(overrides: Partial<RegistryConfig> = {}): RegistryConfig {
  return {
    host: 'http://registry',
    port: 5000,
    authType: 'token',
    login: '',
    password: new Secret(''),
    htpasswd: '',
    httpsInsecure: false,
    service: 'registry.test',
    issuer: 'test-issuer',
    tokenTtl: 60,
    refreshTokenTtl: 86400,
    gcInterval: 60,
    eventsSecret: new Secret(''),
    certs: { path: '', key: '', publicKey: '', caRoot: '', fqdns: [], ip: '', httpsCert: '' },
    ...overrides,
  }
}

interface Sent {
  method: string
  url: string
  headers: Record<string, string>
  tls: unknown
}

type Handler = (request: Sent) => Response | Promise<Response>

interface Harness {
  client: ReturnType<typeof createRegistryClient>
  sent: Sent[]
  signed: TokenRequest[]
  clock: { now: number }
  logs: Array<Record<string, unknown>>
}

function harness(
  handler: Handler,
  options: Partial<Omit<RegistryClientOptions, 'config'>> & {
    config?: Partial<RegistryConfig>
  } = {},
): Harness {
  const sent: Sent[] = []
  const signed: TokenRequest[] = []
  const clock = { now: T0 }
  const logs: Array<Record<string, unknown>> = []
  const fetch: RegistryFetch = async (url, init) => {
    const request = {
      method: init.method ?? 'GET',
      url,
      headers: { ...(init.headers as Record<string, string>) },
      tls: init.tls,
    }
    sent.push(request)
    return handler(request)
  }
  const signer: TokenSigner = {
    async sign(request) {
      signed.push(request)
      const issuedAt = new Date(Math.floor(clock.now / 1000) * 1000)
      return { token: `token-${signed.length}`, issuedAt, expiresIn: request.ttlSeconds }
    },
  }
  const log = pino({ level: 'debug' }, { write: (line: string) => logs.push(JSON.parse(line)) })

  const client = createRegistryClient({
    signer,
    service: 'registry.test',
    log,
    fetch,
    now: () => clock.now,
    ...options,
    config: registryConfig(options.config),
  })
  return { client, sent, signed, clock, logs }
}

function json(body: unknown, init: ResponseInit = {}): Response {
  return new Response(JSON.stringify(body), {
    ...init,
    headers: { 'content-type': 'application/json', ...init.headers },
  })
}

function registryError(status: number, code: string, message: string, headers = {}): Response {
  return json({ errors: [{ code, message, detail: null }] }, { status, headers })
}

function pathOf(request: Sent): string {
  const url = new URL(request.url)
  return `${url.pathname}${url.search}`
}

async function caught(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

const sha = (text: string) => `sha256:${new Bun.CryptoHasher('sha256').update(text).digest('hex')}`
const MANIFEST = JSON.stringify({
  schemaVersion: 2,
  mediaType: MEDIA_TYPES.ociManifest,
  config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha('config'), size: 6 },
  layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha('l'), size: 1 }],
})
const MANIFEST_DIGEST = sha(MANIFEST)

describe('token mode', () => {
  test('signs a token per scope with the server subject, for exactly what each call needs', async () => {
    const h = harness((request) => {
      if (request.url.endsWith('/v2/')) {
        return new Response('{}', { status: 200 })
      }
      if (request.url.includes('_catalog')) {
        return json({ repositories: [] })
      }
      if (request.method === 'DELETE') {
        return new Response(null, { status: 202 })
      }
      return json({ name: 'ns/app', tags: ['1.0'] })
    })

    await h.client.ping()
    await h.client.listRepositories()
    await h.client.listTags('ns/app')
    await h.client.deleteManifest('ns/app', MANIFEST_DIGEST)

    expect(h.signed).toEqual([
      { subject: SERVER_SUBJECT, audience: 'registry.test', access: [], ttlSeconds: 300 },
      {
        subject: SERVER_SUBJECT,
        audience: 'registry.test',
        access: [{ type: 'registry', name: 'catalog', actions: ['*'] }],
        ttlSeconds: 300,
      },
      {
        subject: SERVER_SUBJECT,
        audience: 'registry.test',
        access: [{ type: 'repository', name: 'ns/app', actions: ['pull'] }],
        ttlSeconds: 300,
      },
      {
        subject: SERVER_SUBJECT,
        audience: 'registry.test',
        access: [{ type: 'repository', name: 'ns/app', actions: ['delete'] }],
        ttlSeconds: 300,
      },
    ])
    expect(h.sent.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-3',
      'Bearer token-4',
    ])
  })

  test('reuses a token for the same scope without a round trip', async () => {
    const h = harness(() => json({ name: 'ns/app', tags: [] }))

    await h.client.listTags('ns/app')
    await h.client.listTags('ns/app')
    await h.client.listTags('ns/other')
    await h.client.listTags('ns/app')

    expect(h.signed.length).toBe(2)
    expect(h.sent.length).toBe(4)
    expect(h.sent.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-1',
    ])
  })

  test('shares one signing between concurrent calls for the same scope', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>((resolve) => (release = resolve))
    let signings = 0
    const signer: TokenSigner = {
      async sign(request) {
        signings++
        await gate
        return { token: 'shared', issuedAt: new Date(T0), expiresIn: request.ttlSeconds }
      },
    }
    const h = harness(() => json({ name: 'ns/app', tags: [] }), { signer })

    const calls = Promise.all([1, 2, 3, 4, 5].map(() => h.client.listTags('ns/app')))
    release()
    await calls

    expect(signings).toBe(1)
    expect(h.sent.map((request) => request.headers.authorization)).toEqual(
      Array(5).fill('Bearer shared'),
    )
  })

  test('signs a new token 30 seconds before the cached one expires', async () => {
    const h = harness(() => json({ name: 'ns/app', tags: [] }))

    await h.client.listTags('ns/app')
    h.clock.now = T0 + 269_999
    await h.client.listTags('ns/app')
    h.clock.now = T0 + 270_000
    await h.client.listTags('ns/app')
    h.clock.now = T0 + 300_000
    await h.client.listTags('ns/app')

    expect(h.signed.length).toBe(2)
    expect(h.sent.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-2',
    ])
  })

  test('retries a challenged call once with a fresh token for the challenged scope', async () => {
    const h = harness((request) => {
      if (request.headers.authorization === 'Bearer token-1') {
        return registryError(401, 'UNAUTHORIZED', 'authentication required', {
          'www-authenticate':
            'Bearer realm="http://realm/token",service="registry.test",scope="repository:ns/app:pull,push",error="invalid_token"',
        })
      }
      return json({ name: 'ns/app', tags: ['b', 'a'] })
    })

    const tags = await h.client.listTags('ns/app')
    await h.client.listTags('ns/app')

    expect(tags).toEqual(['a', 'b'])
    expect(h.signed.map((request) => request.access)).toEqual([
      [{ type: 'repository', name: 'ns/app', actions: ['pull'] }],
      [{ type: 'repository', name: 'ns/app', actions: ['pull', 'push'] }],
    ])
    expect(h.sent.map((request) => request.headers.authorization)).toEqual([
      'Bearer token-1',
      'Bearer token-2',
      'Bearer token-2',
    ])
  })

  test('never widens a token to resources the call does not touch', async () => {
    const h = harness((request) => {
      if (request.headers.authorization === 'Bearer token-1') {
        return registryError(401, 'UNAUTHORIZED', 'authentication required', {
          'www-authenticate':
            'Bearer realm="r",service="registry.test",scope="repository:ns/app:pull repository:secret/x:pull"',
        })
      }
      return json({ name: 'ns/app', tags: [] })
    })

    await h.client.listTags('ns/app')

    expect(h.signed.map((request) => request.access)).toEqual([
      [{ type: 'repository', name: 'ns/app', actions: ['pull'] }],
      [{ type: 'repository', name: 'ns/app', actions: ['pull'] }],
    ])
  })

  test('reports a token the registry keeps refusing, naming a service mismatch', async () => {
    const h = harness(() =>
      registryError(401, 'UNAUTHORIZED', 'authentication required', {
        'www-authenticate': 'Bearer realm="r",service="other.service",error="invalid_token"',
      }),
    )

    const error = (await caught(h.client.listTags('ns/app'))) as RegistryError

    expect(h.sent.length).toBe(2)
    expect(error).toBeInstanceOf(RegistryError)
    expect({ kind: error.kind, status: error.status, code: error.code }).toEqual({
      kind: 'registry',
      status: 401,
      code: 'UNAUTHORIZED',
    })
    expect(error.message).toBe(
      "registry listTags ns/app: the registry refused this server's token (invalid_token); it expects the service 'other.service' but tokens are for 'registry.test' (HTTP 401 UNAUTHORIZED)",
    )
  })

  test('reads the service from the registry challenge when none is configured', async () => {
    const h = harness(
      (request) => {
        if (request.headers.authorization === undefined) {
          return registryError(401, 'UNAUTHORIZED', 'authentication required', {
            'www-authenticate': 'Bearer realm="r",service="discovered.registry"',
          })
        }
        return json({ name: 'ns/app', tags: [] })
      },
      { service: '' },
    )

    await h.client.listTags('ns/app')
    await h.client.listTags('ns/other')

    expect(h.sent.map(pathOf)).toEqual(['/v2/', '/v2/ns/app/tags/list', '/v2/ns/other/tags/list'])
    expect(h.signed.map((request) => request.audience)).toEqual([
      'discovered.registry',
      'discovered.registry',
    ])
  })

  test('refuses token mode without a signer', () => {
    expect(() => harness(() => json({}), { signer: null })).toThrow(RegistryConfigError)
  })

  test('never logs a token', async () => {
    const h = harness(() => json({ name: 'ns/app', tags: [] }))

    await h.client.listTags('ns/app')

    expect(h.logs.map((line) => line.msg)).toEqual(['registry client ready', 'registry request'])
    expect(JSON.stringify(h.logs)).not.toContain('token-1')
    expect(h.logs[1]).toMatchObject({ method: 'GET', path: '/v2/ns/app/tags/list', status: 200 })
  })
})

describe('basic mode', () => {
  const basic = { authType: 'basic' as const, login: 'admin', password: new Secret('s3cret') }

  test('sends the configured login on every call and signs nothing', async () => {
    const h = harness(() => json({ name: 'ns/app', tags: [] }), { config: basic, signer: null })

    await h.client.listTags('ns/app')
    await h.client.ping()

    const expected = `Basic ${Buffer.from('admin:s3cret').toString('base64')}`
    expect(h.sent.map((request) => request.headers.authorization)).toEqual([expected, expected])
    expect(h.signed).toEqual([])
  })

  test('reports refused credentials without retrying', async () => {
    const h = harness(
      () =>
        registryError(401, 'UNAUTHORIZED', 'authentication required', {
          'www-authenticate': 'Basic realm="registry"',
        }),
      { config: basic },
    )

    const error = (await caught(h.client.listTags('ns/app'))) as RegistryError

    expect(h.sent.length).toBe(1)
    expect(error.message).toBe(
      'registry listTags ns/app: the registry refused registry.login and registry.password (HTTP 401 UNAUTHORIZED)',
    )
  })

  test('says when the registry wants tokens instead', async () => {
    const h = harness(
      () =>
        registryError(401, 'UNAUTHORIZED', 'authentication required', {
          'www-authenticate': 'Bearer realm="r",service="s"',
        }),
      { config: basic },
    )

    const result = await h.client.ping()

    expect({ ok: result.ok, status: result.status, message: result.error?.message }).toEqual({
      ok: false,
      status: 401,
      message:
        'registry ping: the registry wants bearer tokens, not basic auth; set registry.auth_type to token (HTTP 401 UNAUTHORIZED)',
    })
  })
})

describe('failures', () => {
  test('turns a fetch that never answers into a timeout error', async () => {
    const h = harness(() => new Promise<Response>(() => {}), { timeoutMs: 50 })

    const error = (await caught(h.client.listTags('ns/app'))) as RegistryUnavailableError

    expect(error).toBeInstanceOf(RegistryUnavailableError)
    expect({ kind: error.kind, code: error.code, operation: error.operation }).toEqual({
      kind: 'timeout',
      code: 'TIMEOUT',
      operation: 'listTags',
    })
    expect(error.message).toBe(
      'registry listTags ns/app: the registry at http://registry:5000 did not answer within 50 ms',
    )
  })

  test('turns a body that stops arriving into a timeout error', async () => {
    const stalled = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"name":'))
      },
    })
    const h = harness(() => new Response(stalled, { status: 200 }), { timeoutMs: 50 })

    const error = (await caught(h.client.listTags('ns/app'))) as RegistryUnavailableError

    expect(error).toBeInstanceOf(RegistryUnavailableError)
    expect(error.kind).toBe('timeout')
  })

  test('turns a refused connection into an unreachable error, never a bare TypeError', async () => {
    const h = harness(() => {
      throw Object.assign(
        new TypeError('Unable to connect. Is the computer able to access the url?'),
        {
          code: 'ECONNREFUSED',
        },
      )
    })

    const error = (await caught(h.client.ping())) as RegistryUnavailableError

    expect(error).toBeInstanceOf(RegistryUnavailableError)
    expect({ kind: error.kind, status: error.status, code: error.code }).toEqual({
      kind: 'unreachable',
      status: 0,
      code: 'UNREACHABLE',
    })
    expect(error.message).toBe(
      'registry ping: cannot reach the registry at http://registry:5000 (ECONNREFUSED: Unable to connect. Is the computer able to access the url?)',
    )
    expect(error.cause).toBeInstanceOf(TypeError)
  })

  test('hints at the CA file on a certificate error and at an assumed scheme', async () => {
    const h = harness(
      () => {
        throw Object.assign(new Error('self signed certificate'), {
          code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
        })
      },
      { config: { host: 'registry' } },
    )

    const error = (await caught(h.client.ping())) as RegistryUnavailableError

    expect(error.message).toBe(
      'registry ping: cannot reach the registry at https://registry:5000 (DEPTH_ZERO_SELF_SIGNED_CERT: self signed certificate); if it uses a private CA, name that CA in registry.certs.https_cert; registry.host has no scheme, so https was assumed',
    )
  })

  test.each([
    [
      'a registry error body',
      registryError(404, 'NAME_UNKNOWN', 'repository name not known to registry'),
      { status: 404, code: 'NAME_UNKNOWN' },
      'registry listTags ns/app: repository name not known to registry (HTTP 404 NAME_UNKNOWN)',
    ],
    [
      'a body that is not JSON',
      new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
      { status: 502, code: 'UNKNOWN' },
      'registry listTags ns/app: Bad Gateway (HTTP 502 UNKNOWN)',
    ],
    [
      'a denial without a body',
      new Response(null, { status: 403 }),
      { status: 403, code: 'DENIED' },
      'registry listTags ns/app: error (HTTP 403 DENIED)',
    ],
  ])('maps %s to a RegistryError', async (_, response, fields, message) => {
    const h = harness(() => response)

    const error = (await caught(h.client.listTags('ns/app'))) as RegistryError

    expect(error).toBeInstanceOf(RegistryError)
    expect(error).not.toBeInstanceOf(RegistryUnavailableError)
    expect({ status: error.status, code: error.code, kind: error.kind }).toEqual({
      ...fields,
      kind: 'registry',
    })
    expect(error.message).toBe(message)
  })

  test('keeps every entry of the error body', async () => {
    const body = {
      errors: [
        { code: 'DENIED', message: 'requested access to the resource is denied', detail: null },
        { code: 'UNAUTHORIZED', message: 'authentication required', detail: [{ Name: 'ns/app' }] },
      ],
    }
    const h = harness(() => json(body, { status: 403 }))

    const error = (await caught(h.client.listTags('ns/app'))) as RegistryError

    expect(error.errors).toEqual(body.errors)
    expect(error.code).toBe('DENIED')
  })

  test('rejects a bad repository name, tag or digest before any request', async () => {
    const h = harness(() => json({}))

    const errors = await Promise.all([
      caught(h.client.listTags('../etc')),
      caught(h.client.listTags('NS/App')),
      caught(h.client.getManifest('ns/app', 'bad tag')),
      caught(h.client.resolveTag('ns/app', MANIFEST_DIGEST)),
      caught(h.client.deleteManifest('ns/app', 'latest')),
      caught(h.client.getBlob('ns/app', 'sha256:abc', { maxBytes: 10 })),
      caught(h.client.catalogPage({ n: 1001 })),
    ])

    expect(errors.map((error) => error instanceof ValidationError)).toEqual(Array(7).fill(true))
    expect((errors[0] as Error).message).toBe("'../etc' is not a valid repository name")
    expect(h.sent).toEqual([])
  })

  test('explains a page size the registry refuses', async () => {
    const h = harness(() =>
      registryError(400, 'PAGINATION_NUMBER_INVALID', 'invalid number of results requested'),
    )

    const error = (await caught(h.client.listRepositories({ pageSize: 500 }))) as RegistryError

    expect(error.message).toBe(
      'registry listRepositories: invalid number of results requested; the page size is above what the registry allows (catalog.maxentries) (HTTP 400 PAGINATION_NUMBER_INVALID)',
    )
  })
})

describe('catalog', () => {
  test('follows relative, percent-encoded Link headers below a path prefix', async () => {
    const pages: Record<string, Response> = {
      '/registry/v2/_catalog?n=2': json(
        { repositories: ['a/one', 'ns/app'] },
        { headers: { link: '</v2/_catalog?last=ns%2Fapp&n=2>; rel="next"' } },
      ),
      '/registry/v2/_catalog?n=2&last=ns%2Fapp': json(
        { repositories: ['ns/other', 'ns/r1'] },
        { headers: { link: '<http://internal:5000/v2/_catalog?last=ns%2Fr1&n=2>; rel="next"' } },
      ),
      '/registry/v2/_catalog?n=2&last=ns%2Fr1': json({ repositories: ['zz/last'] }),
    }
    const h = harness((request) => pages[pathOf(request)] ?? new Response(null, { status: 500 }), {
      config: { host: 'http://proxy.example/registry', port: 8080 },
    })

    const names = await h.client.listRepositories({ pageSize: 2 })

    expect(names).toEqual(['a/one', 'ns/app', 'ns/other', 'ns/r1', 'zz/last'])
    expect(h.sent.map((request) => request.url)).toEqual([
      'http://proxy.example:8080/registry/v2/_catalog?n=2',
      'http://proxy.example:8080/registry/v2/_catalog?n=2&last=ns%2Fapp',
      'http://proxy.example:8080/registry/v2/_catalog?n=2&last=ns%2Fr1',
    ])
    expect(h.signed.length).toBe(1)
  })

  test('throws instead of returning a partial list when a later page fails', async () => {
    const h = harness((request) =>
      pathOf(request) === '/v2/_catalog?n=2'
        ? json(
            { repositories: ['a', 'b'] },
            { headers: { link: '</v2/_catalog?last=b&n=2>; rel="next"' } },
          )
        : new Response('oops', { status: 500, statusText: 'Internal Server Error' }),
    )

    const error = (await caught(h.client.listRepositories({ pageSize: 2 }))) as RegistryError

    expect(error.message).toBe(
      'registry listRepositories: Internal Server Error (HTTP 500 UNKNOWN)',
    )
  })

  test('throws when the pagination repeats itself', async () => {
    const h = harness(() =>
      json({ repositories: ['a'] }, { headers: { link: '</v2/_catalog?last=a&n=1>; rel="next"' } }),
    )

    const error = (await caught(h.client.listRepositories({ pageSize: 1 }))) as RegistryError

    expect({ kind: error.kind, message: error.message }).toEqual({
      kind: 'invalid',
      message: "registry listRepositories: the catalog pagination repeats after 'a'",
    })
  })

  test('throws when the catalog keeps paging past the names it may hold', async () => {
    let page = 0
    const h = harness(() => {
      page++
      return json(
        { repositories: [`r${page}a`, `r${page}b`] },
        { headers: { link: `</v2/_catalog?last=r${page}b&n=2>; rel="next"` } },
      )
    })

    const error = (await caught(
      h.client.listRepositories({ pageSize: 2, maxNames: 10 }),
    )) as RegistryError

    expect({ kind: error.kind, message: error.message, pages: h.sent.length }).toEqual({
      kind: 'invalid',
      message:
        'registry listRepositories: the catalog goes on past 10 names or 6 pages; it is not read, so nothing is removed',
      pages: 6,
    })
  })

  test('caps the pages of a catalog that sends one name a page', async () => {
    let page = 0
    const h = harness(() => {
      page++
      return json(
        { repositories: [`r${page}`] },
        { headers: { link: `</v2/_catalog?last=r${page}&n=100>; rel="next"` } },
      )
    })

    const error = (await caught(
      h.client.listRepositories({ pageSize: 100, maxNames: 1000 }),
    )) as RegistryError

    expect([error.kind, h.sent.length]).toEqual(['invalid', 11])
  })

  test('reads a catalog of exactly the most names it may hold', async () => {
    const h = harness((request) =>
      pathOf(request) === '/v2/_catalog?n=2'
        ? json(
            { repositories: ['a', 'b'] },
            { headers: { link: '</v2/_catalog?last=b&n=2>; rel="next"' } },
          )
        : json({ repositories: ['c', 'd'] }),
    )

    const names = await h.client.listRepositories({ pageSize: 2, maxNames: 4 })

    expect(names).toEqual(['a', 'b', 'c', 'd'])
  })

  test('throws when the body is not a catalog', async () => {
    const h = harness(() => json({ repositories: 'everything' }))

    const error = (await caught(h.client.listRepositories())) as RegistryError

    expect({ kind: error.kind, code: error.code }).toEqual({
      kind: 'invalid',
      code: 'INVALID_RESPONSE',
    })
  })

  test('returns one page with the last entry to continue from', async () => {
    const h = harness(() =>
      json(
        { repositories: ['c', 'd'] },
        { headers: { link: '</v2/_catalog?last=d&n=2>; rel="next"' } },
      ),
    )

    const page = await h.client.catalogPage({ last: 'b', n: 2 })

    expect(page).toEqual({ repositories: ['c', 'd'], next: 'd' })
    expect(h.sent.map(pathOf)).toEqual(['/v2/_catalog?n=2&last=b'])
  })
})

describe('listTags', () => {
  test('asks for everything at once and reads null tags as none', async () => {
    const h = harness(() => json({ name: 'ns/empty', tags: null }))

    const tags = await h.client.listTags('ns/empty')

    expect(tags).toEqual([])
    expect(h.sent.map(pathOf)).toEqual(['/v2/ns/empty/tags/list'])
  })

  test('follows Link pagination when asked for pages', async () => {
    const h = harness((request) =>
      pathOf(request) === '/v2/ns/app/tags/list?n=2'
        ? json(
            { name: 'ns/app', tags: ['v2', 'v1'] },
            { headers: { link: '</v2/ns/app/tags/list?last=v2&n=2>; rel="next"' } },
          )
        : json({ name: 'ns/app', tags: ['v3'] }),
    )

    const tags = await h.client.listTags('ns/app', { pageSize: 2 })

    expect(tags).toEqual(['v1', 'v2', 'v3'])
    expect(h.sent.map(pathOf)).toEqual([
      '/v2/ns/app/tags/list?n=2',
      '/v2/ns/app/tags/list?n=2&last=v2',
    ])
  })

  test('throws when the tags keep paging past the names it may hold', async () => {
    let page = 0
    const h = harness(() => {
      page++
      return json(
        { name: 'ns/app', tags: [`t${page}`] },
        { headers: { link: `</v2/ns/app/tags/list?last=t${page}&n=1>; rel="next"` } },
      )
    })

    const error = (await caught(
      h.client.listTags('ns/app', { pageSize: 1, maxNames: 5 }),
    )) as RegistryError

    expect({ kind: error.kind, message: error.message, pages: h.sent.length }).toEqual({
      kind: 'invalid',
      message:
        'registry listTags ns/app: the tags list goes on past 5 names or 6 pages; it is not read, so nothing is removed',
      pages: 6,
    })
  })
})

describe('manifests', () => {
  test('reads a manifest with the full Accept list and checks its digest', async () => {
    const h = harness(
      () =>
        new Response(MANIFEST, {
          headers: {
            'content-type': MEDIA_TYPES.ociManifest,
            'docker-content-digest': MANIFEST_DIGEST,
          },
        }),
    )

    const result = await h.client.getManifest('ns/app', '1.0')

    expect(h.sent[0]?.headers.accept).toBe(MANIFEST_ACCEPT)
    expect(result).toEqual({
      digest: MANIFEST_DIGEST,
      mediaType: MEDIA_TYPES.ociManifest,
      size: MANIFEST.length,
      bytes: new TextEncoder().encode(MANIFEST),
      json: JSON.parse(MANIFEST),
      manifest: {
        type: 'image',
        mediaType: MEDIA_TYPES.ociManifest,
        config: {
          mediaType: 'application/vnd.oci.image.config.v1+json',
          digest: sha('config'),
          size: 6,
        },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha('l'), size: 1 },
        ],
        totalSize: 7,
      },
    })
  })

  test('computes the digest when the registry sends none', async () => {
    const h = harness(
      () => new Response(MANIFEST, { headers: { 'content-type': MEDIA_TYPES.ociManifest } }),
    )

    const result = await h.client.getManifest('ns/app', '1.0')

    expect(result?.digest).toBe(MANIFEST_DIGEST)
  })

  test.each([
    ['a digest reference', MANIFEST_DIGEST.replace(/.$/, '0'), {}],
    ['the Docker-Content-Digest header', '1.0', { 'docker-content-digest': sha('other') }],
  ])('refuses bytes that do not match %s', async (_, reference, headers) => {
    const h = harness(() => new Response(MANIFEST, { headers }))

    const error = (await caught(h.client.getManifest('ns/app', reference))) as RegistryError

    expect({ kind: error.kind, code: error.code }).toEqual({
      kind: 'invalid',
      code: 'INVALID_RESPONSE',
    })
  })

  test('returns null for an unknown manifest', async () => {
    const h = harness(() => registryError(404, 'MANIFEST_UNKNOWN', 'manifest unknown'))

    expect(await h.client.getManifest('ns/app', 'nope')).toBeNull()
    expect(await h.client.headManifest('ns/app', 'nope')).toBeNull()
    expect(await h.client.resolveTag('ns/app', 'nope')).toBeNull()
  })

  test('heads a manifest', async () => {
    const h = harness(
      () =>
        new Response(null, {
          headers: {
            'content-type': `${MEDIA_TYPES.dockerManifest}; charset=utf-8`,
            'docker-content-digest': MANIFEST_DIGEST,
            'content-length': '528',
          },
        }),
    )

    const head = await h.client.headManifest('ns/app', '1.0')
    const digest = await h.client.resolveTag('ns/app', '1.0')

    expect(head).toEqual({
      digest: MANIFEST_DIGEST,
      mediaType: MEDIA_TYPES.dockerManifest,
      size: 528,
    })
    expect(digest).toBe(MANIFEST_DIGEST)
    expect(h.sent.map((request) => [request.method, request.headers.accept])).toEqual([
      ['HEAD', MANIFEST_ACCEPT],
      ['HEAD', MANIFEST_ACCEPT],
    ])
  })

  test('falls back to GET when a HEAD answer lacks the digest', async () => {
    const h = harness((request) =>
      request.method === 'HEAD'
        ? new Response(null, { headers: { 'content-type': MEDIA_TYPES.ociManifest } })
        : new Response(MANIFEST, { headers: { 'content-type': MEDIA_TYPES.ociManifest } }),
    )

    const head = await h.client.headManifest('ns/app', '1.0')

    expect(head).toEqual({
      digest: MANIFEST_DIGEST,
      mediaType: MEDIA_TYPES.ociManifest,
      size: MANIFEST.length,
    })
    expect(h.sent.map((request) => request.method)).toEqual(['HEAD', 'GET'])
  })

  test('deletes by digest and reports one already gone', async () => {
    let status = 202
    const h = harness(() => new Response(null, { status }))

    const deleted = await h.client.deleteManifest('ns/app', MANIFEST_DIGEST)
    status = 404
    const gone = await h.client.deleteManifest('ns/app', MANIFEST_DIGEST)

    expect([deleted, gone]).toEqual([true, false])
    expect(h.sent.map((request) => `${request.method} ${pathOf(request)}`)).toEqual([
      `DELETE /v2/ns/app/manifests/${MANIFEST_DIGEST}`,
      `DELETE /v2/ns/app/manifests/${MANIFEST_DIGEST}`,
    ])
  })

  test('says that deletion is disabled when the registry answers 405', async () => {
    const h = harness(() => registryError(405, 'UNSUPPORTED', 'The operation is unsupported.'))

    const error = (await caught(
      h.client.deleteManifest('ns/app', MANIFEST_DIGEST),
    )) as RegistryError

    expect({ status: error.status, code: error.code, message: error.message }).toEqual({
      status: 405,
      code: 'UNSUPPORTED',
      message: `registry deleteManifest ns/app@${MANIFEST_DIGEST}: deletion is disabled in the registry (set storage.delete.enabled: true in its config) (HTTP 405 UNSUPPORTED)`,
    })
  })
})

describe('getBlob', () => {
  const blob = 'config'
  const digest = sha(blob)

  test('fetches and verifies a blob', async () => {
    const h = harness(
      () => new Response(blob, { headers: { 'content-type': 'application/octet-stream' } }),
    )

    const result = await h.client.getBlob('ns/app', digest, { maxBytes: 100 })

    expect(result).toEqual({
      digest,
      size: 6,
      mediaType: 'application/octet-stream',
      bytes: new TextEncoder().encode(blob),
    })
  })

  test('refuses a blob whose Content-Length exceeds maxBytes without reading it', async () => {
    let pulled = 0
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        controller.enqueue(new Uint8Array(10))
      },
    })
    const h = harness(() => new Response(body, { headers: { 'content-length': '1000000' } }))

    const error = (await caught(
      h.client.getBlob('ns/app', digest, { maxBytes: 100 }),
    )) as BlobTooLargeError

    expect(error).toBeInstanceOf(BlobTooLargeError)
    expect({ kind: error.kind, maxBytes: error.maxBytes, size: error.size }).toEqual({
      kind: 'too-large',
      maxBytes: 100,
      size: 1_000_000,
    })
    expect(pulled).toBeLessThanOrEqual(1)
  })

  test('stops reading a stream that runs past maxBytes', async () => {
    let pulled = 0
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled++
        controller.enqueue(new Uint8Array(64))
      },
    })
    const h = harness(() => new Response(endless))

    const error = (await caught(
      h.client.getBlob('ns/app', digest, { maxBytes: 100 }),
    )) as BlobTooLargeError

    expect(error).toBeInstanceOf(BlobTooLargeError)
    expect(error.size).toBe(128)
    expect(pulled).toBeLessThan(4)
  })

  test('follows a redirect to storage without sending credentials there', async () => {
    const h = harness((request) =>
      request.url.startsWith('http://registry:5000/')
        ? new Response(null, {
            status: 307,
            headers: { location: 'https://storage.example/blob?sig=x' },
          })
        : new Response(blob),
    )

    const result = await h.client.getBlob('ns/app', digest, { maxBytes: 100 })

    expect(result?.size).toBe(6)
    expect(h.sent.map((request) => [request.url, request.headers.authorization])).toEqual([
      [`http://registry:5000/v2/ns/app/blobs/${digest}`, 'Bearer token-1'],
      ['https://storage.example/blob?sig=x', undefined],
    ])
  })

  test('refuses bytes that do not match the digest', async () => {
    const h = harness(() => new Response('tampered'))

    const error = (await caught(
      h.client.getBlob('ns/app', digest, { maxBytes: 100 }),
    )) as RegistryError

    expect(error.message).toBe(
      `registry getBlob ns/app@${digest}: the blob does not match its digest`,
    )
  })

  test('returns null for an unknown blob', async () => {
    const h = harness(() => registryError(404, 'BLOB_UNKNOWN', 'blob unknown to registry'))

    expect(await h.client.getBlob('ns/app', digest, { maxBytes: 100 })).toBeNull()
  })
})

describe('ping', () => {
  test('reports the API version of a registry that accepts the token', async () => {
    const h = harness(
      () => new Response('{}', { headers: { 'docker-distribution-api-version': 'registry/2.0' } }),
    )

    expect(await h.client.ping()).toEqual({
      ok: true,
      status: 200,
      apiVersion: 'registry/2.0',
      error: null,
    })
  })
})

describe('TLS settings', () => {
  test('trusts the system roots plus the CA file and https_cert', async () => {
    await using dir = await tempCerts()
    const h = harness(() => json({ name: 'a', tags: [] }), {
      config: {
        host: 'https://reg.example',
        certs: { ...registryConfig().certs, caRoot: dir.caRoot, httpsCert: dir.httpsCert },
      },
    })

    await h.client.listTags('ns/app')

    expect(h.sent[0]?.tls).toEqual({
      ca: [...rootCertificates, dir.caRootPem, dir.httpsCertPem],
      rejectUnauthorized: true,
    })
  })

  test('skips a CA file that does not exist and warns when verification is off', async () => {
    const h = harness(() => json({ name: 'a', tags: [] }), {
      config: {
        host: 'https://reg.example',
        httpsInsecure: true,
        certs: { ...registryConfig().certs, caRoot: '/nonexistent/ca.crt' },
      },
    })

    await h.client.listTags('ns/app')

    expect(h.sent[0]?.tls).toEqual({ ca: [...rootCertificates], rejectUnauthorized: false })
    expect(h.logs[0]).toMatchObject({ level: 40, registry: 'https://reg.example:5000' })
  })

  test('refuses an https_cert that is missing or holds no certificate', async () => {
    await using dir = await tempCerts()
    const create = (httpsCert: string) => () =>
      harness(() => json({}), {
        config: { host: 'https://reg.example', certs: { ...registryConfig().certs, httpsCert } },
      })

    expect(create('/nonexistent.pem')).toThrow(
      'registry.certs.https_cert: /nonexistent.pem does not exist',
    )
    expect(create(dir.garbage)).toThrow(
      `registry.certs.https_cert: ${dir.garbage} holds no PEM certificate`,
    )
  })

  test('sends no TLS settings to a plain HTTP registry', async () => {
    const h = harness(() => json({ name: 'a', tags: [] }))

    await h.client.listTags('ns/app')

    expect(h.sent[0]?.tls).toBeUndefined()
  })
})

describe('registryErrorToAppError', () => {
  const registry = (status: number, code: string) =>
    new RegistryError('m', { kind: 'registry', operation: 'listTags', status, code })

  test.each([
    [registry(404, 'NAME_UNKNOWN'), NotFoundError],
    [registry(404, 'MANIFEST_UNKNOWN'), NotFoundError],
    [registry(405, 'UNSUPPORTED'), ConflictError],
    [registry(400, 'PAGINATION_NUMBER_INVALID'), ValidationError],
    [registry(401, 'UNAUTHORIZED'), UnavailableError],
    [registry(500, 'UNKNOWN'), UnavailableError],
    [
      new RegistryUnavailableError('m', { kind: 'timeout', operation: 'ping', code: 'TIMEOUT' }),
      UnavailableError,
    ],
  ])('maps %p', (error, type) => {
    const mapped = registryErrorToAppError(error)

    expect(mapped).toBeInstanceOf(type)
    expect(mapped.cause).toBe(error)
  })
})

/** A folder with two self-signed certificates and a file that holds none. */
async function tempCerts() {
  const dir = tempDir('registry-client-')
  const pems = await Promise.all([selfSignedPem('ca'), selfSignedPem('https')])
  const caRoot = `${dir.path}/ca.crt`
  const httpsCert = `${dir.path}/https.pem`
  const garbage = `${dir.path}/garbage.pem`
  await Bun.write(caRoot, `${pems[0]}\n`)
  await Bun.write(httpsCert, pems[1] as string)
  await Bun.write(garbage, 'not a certificate')

  return {
    caRoot,
    httpsCert,
    garbage,
    caRootPem: pems[0] as string,
    httpsCertPem: pems[1] as string,
    [Symbol.asyncDispose]: () => dir.remove(),
  }
}

async function selfSignedPem(name: string): Promise<string> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: `CN=${name}`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: algorithm,
  })
  return cert.toString('pem')
}
