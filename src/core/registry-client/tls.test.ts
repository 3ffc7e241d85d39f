import 'reflect-metadata'
import {
  BasicConstraintsExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  X509CertificateGenerator,
} from '@peculiar/x509'
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import pino from 'pino'
import type { RegistryConfig } from '../../config.ts'
import { loadOrCreateSigningKeys } from '../../plugins/certs/index.ts'
import { tempDir } from '../../../test/support/temp.ts'
import { Secret } from '../secret.ts'
import { createRegistryClient } from './client.ts'
import { RegistryUnavailableError } from './errors.ts'

const silent = pino({ level: 'silent' })
const work = tempDir('registry-client-tls-')

/** A self-signed certificate for 127.0.0.1, and its key, as PEM. */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = await crypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])
  const cert = await X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'CN=registry-test',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new SubjectAlternativeNameExtension([{ type: 'ip', value: '127.0.0.1' }]),
    ],
  })
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey)

  return { cert: cert.toString('pem'), key: PemConverter.encode(pkcs8, 'PRIVATE KEY') }
}

function serve(tls: { cert: string; key: string }) {
  return Bun.serve({
    port: 0,
    hostname: '127.0.0.1',
    tls,
    fetch: () =>
      new Response('{}', { headers: { 'docker-distribution-api-version': 'registry/2.0' } }),
  })
}

function config(port: number | undefined, overrides: Partial<RegistryConfig> = {}): RegistryConfig {
  return {
    host: 'https://127.0.0.1',
    port: port ?? 0,
    authType: 'basic',
    login: 'admin',
    password: new Secret('pw'),
    htpasswd: '',
    httpsInsecure: false,
    service: '',
    issuer: '',
    tokenTtl: 60,
    refreshTokenTtl: 60,
    gcInterval: 60,
    eventsSecret: new Secret(''),
    certs: { path: '', key: '', publicKey: '', caRoot: '', fqdns: [], ip: '', httpsCert: '' },
    ...overrides,
  }
}

const client = (registryConfig: RegistryConfig) =>
  createRegistryClient({ config: registryConfig, signer: null, service: '', log: silent })

let server: ReturnType<typeof serve>
let certFile: string

beforeAll(async () => {
  const pair = await selfSigned()
  certFile = join(work.path, 'registry.crt')
  await Bun.write(certFile, pair.cert)
  server = serve(pair)
})

afterAll(async () => {
  await server.stop(true)
  await work.remove()
})

describe('HTTPS registry', () => {
  test('is trusted through registry.certs.https_cert, the system roots kept', async () => {
    const base = config(server.port)
    const registry = client({ ...base, certs: { ...base.certs, httpsCert: certFile } })

    expect(await registry.ping()).toEqual({
      ok: true,
      status: 200,
      apiVersion: 'registry/2.0',
      error: null,
    })
  })

  test('with an unknown certificate is unreachable, with a hint', async () => {
    const error = await client(config(server.port))
      .ping()
      .catch((caught: unknown) => caught)

    expect(error).toBeInstanceOf(RegistryUnavailableError)
    expect((error as RegistryUnavailableError).kind).toBe('unreachable')
    expect((error as Error).message).toContain(
      'if it uses a private CA, name that CA in registry.certs.https_cert',
    )
  })

  test('is reached unverified with registry.https_insecure', async () => {
    const registry = client(config(server.port, { httpsInsecure: true }))

    expect((await registry.ping()).ok).toBe(true)
  })

  test('serving the generated token CA is trusted through registry.certs.ca_root', async () => {
    const certs = {
      path: join(work.path, 'certs'),
      key: join(work.path, 'certs', 'registry_auth.key'),
      publicKey: join(work.path, 'certs', 'registry_auth.pub'),
      caRoot: join(work.path, 'certs', 'registry_auth_ca.crt'),
      fqdns: ['localhost'],
      ip: '127.0.0.1',
      httpsCert: '',
    }
    const keys = await loadOrCreateSigningKeys(certs, silent)
    const key = keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    await using ownCa = serve({ cert: keys.certificatePem, key })

    const registry = client(config(ownCa.port, { certs }))

    expect((await registry.ping()).ok).toBe(true)
  })
})
