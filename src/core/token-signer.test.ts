import 'reflect-metadata'
import { describe, expect, test } from 'bun:test'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { X509CertificateGenerator } from '@peculiar/x509'
import { decodeProtectedHeader, importX509, jwtVerify } from 'jose'
import { libtrustKeyId } from '../plugins/certs/key-id.ts'
import { createTokenSigner, signJws, type SigningKeys } from './token-signer.ts'

const NOT_BEFORE = new Date('2026-01-01T00:00:00Z')
const NOT_AFTER = new Date('2027-01-01T00:00:00Z')
const INSIDE = Date.parse('2026-06-01T12:00:00.750Z')

const KEY_PARAMS = {
  RS256: {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  },
  ES256: { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' },
} as const

async function makeKeys(alg: 'RS256' | 'ES256'): Promise<SigningKeys> {
  const pair = await crypto.subtle.generateKey(KEY_PARAMS[alg], true, ['sign', 'verify'])
  const pkcs8 = Buffer.from(await crypto.subtle.exportKey('pkcs8', pair.privateKey))
  const privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })
  const publicKey = createPublicKey(privateKey)
  const kid = libtrustKeyId(publicKey.export({ type: 'spki', format: 'der' }))
  const certificate = await X509CertificateGenerator.createSelfSigned({
    name: `CN=${kid}`,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    signingAlgorithm: KEY_PARAMS[alg],
    keys: pair,
  })

  return {
    privateKey,
    publicKey,
    alg,
    kid,
    certificateDer: new Uint8Array(certificate.rawData),
    certificatePem: certificate.toString('pem'),
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    caRootPath: '/certs/registry_auth_ca.crt',
  }
}

const rsaKeys = await makeKeys('RS256')
const ecKeys = await makeKeys('ES256')

const REQUEST = {
  subject: 'alice',
  audience: 'registry.test',
  access: [{ type: 'repository', name: 'ns/app', actions: ['pull', 'push'] }],
  ttlSeconds: 300,
}

async function verify(keys: SigningKeys, token: string, currentDate: Date) {
  const key = await importX509(keys.certificatePem, keys.alg)
  return jwtVerify(token, key, { issuer: 'test-issuer', audience: 'registry.test', currentDate })
}

describe('createTokenSigner', () => {
  test.each([
    ['RS256', rsaKeys],
    ['ES256', ecKeys],
  ])('signs %s tokens that verify against the certificate', async (alg, keys) => {
    const signer = createTokenSigner({ keys, issuer: 'test-issuer', now: () => INSIDE })

    const { token } = await signer.sign(REQUEST)
    const { protectedHeader } = await verify(keys, token, new Date(INSIDE))

    expect(protectedHeader).toEqual({
      alg,
      typ: 'JWT',
      kid: keys.kid,
      x5c: [Buffer.from(keys.certificateDer).toString('base64')],
    })
  })

  test('writes the claims registry 2.x requires, aud as a string and times in whole seconds', async () => {
    const signer = createTokenSigner({ keys: rsaKeys, issuer: 'test-issuer', now: () => INSIDE })
    const iat = Math.floor(INSIDE / 1000)

    const signed = await signer.sign(REQUEST)
    const { payload } = await verify(rsaKeys, signed.token, new Date(INSIDE))

    expect(payload).toEqual({
      iss: 'test-issuer',
      sub: 'alice',
      aud: 'registry.test',
      exp: iat + 300,
      nbf: iat,
      iat,
      jti: expect.stringMatching(/^[0-9a-f-]{36}$/),
      access: REQUEST.access,
    })
    expect(signed.issuedAt).toEqual(new Date(iat * 1000))
    expect(signed.expiresIn).toBe(300)
  })

  test('gives every token its own jti', async () => {
    const signer = createTokenSigner({ keys: ecKeys, issuer: 'test-issuer', now: () => INSIDE })

    const first = await signer.sign(REQUEST)
    const second = await signer.sign(REQUEST)
    const [a, b] = await Promise.all([
      verify(ecKeys, first.token, new Date(INSIDE)),
      verify(ecKeys, second.token, new Date(INSIDE)),
    ])

    expect(a.payload.jti).not.toBe(b.payload.jti)
  })

  test('writes an empty sub for an anonymous token', async () => {
    const signer = createTokenSigner({ keys: ecKeys, issuer: 'test-issuer', now: () => INSIDE })

    const { token } = await signer.sign({ ...REQUEST, subject: '', access: [] })
    const { payload } = await verify(ecKeys, token, new Date(INSIDE))

    expect(payload.sub).toBe('')
    expect(payload.access).toEqual([])
  })

  test('puts the certificate in x5c as standard base64 DER', async () => {
    const signer = createTokenSigner({ keys: rsaKeys, issuer: 'test-issuer', now: () => INSIDE })

    const { token } = await signer.sign(REQUEST)
    const x5c = decodeProtectedHeader(token).x5c ?? []

    expect(x5c).toHaveLength(1)
    expect(x5c[0]).toMatch(/^[A-Za-z0-9+/]+=*$/)
    expect(Buffer.from(x5c[0] ?? '', 'base64')).toEqual(Buffer.from(rsaKeys.certificateDer))
  })

  test.each([
    ['has expired', Date.parse('2027-02-01T00:00:00Z')],
    ['is not valid yet', Date.parse('2025-12-01T00:00:00Z')],
  ])('leaves x5c out but keeps kid while the certificate %s', async (_, now) => {
    const signer = createTokenSigner({ keys: rsaKeys, issuer: 'test-issuer', now: () => now })

    const { token } = await signer.sign(REQUEST)
    const { protectedHeader } = await verify(rsaKeys, token, new Date(now))

    expect(protectedHeader).toEqual({ alg: 'RS256', typ: 'JWT', kid: rsaKeys.kid })
  })

  test('keeps x5c on the last second of the certificate', async () => {
    const now = NOT_AFTER.getTime()
    const signer = createTokenSigner({ keys: ecKeys, issuer: 'test-issuer', now: () => now })

    const { token } = await signer.sign(REQUEST)

    expect(decodeProtectedHeader(token).x5c).toHaveLength(1)
  })

  test.each([0, -5, 1.5, Number.NaN])('rejects a lifetime of %p seconds', async (ttlSeconds) => {
    const signer = createTokenSigner({ keys: ecKeys, issuer: 'test-issuer' })

    const result = signer.sign({ ...REQUEST, ttlSeconds })

    await expect(result).rejects.toThrow(RangeError)
  })
})

describe('signJws', () => {
  test('signs any header and payload the way sign does', async () => {
    const header = { alg: 'ES256', typ: 'JWT', kid: ecKeys.kid } as const
    const payload = { iss: 'test-issuer', aud: 'registry.test', exp: 2_000_000_000 }

    const token = await signJws(ecKeys, header, payload)
    const result = await verify(ecKeys, token, new Date(INSIDE))

    expect(result.protectedHeader).toEqual(header)
    expect(result.payload).toEqual(payload)
  })
})
