import 'reflect-metadata'
import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { copyFile, mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate,
  type JsonGeneralName,
} from '@peculiar/x509'
import pino from 'pino'
import type { CertsConfig } from '../../config.ts'
import { CertsError } from './key-files.ts'
import { loadOrCreateSigningKeys } from './signing-keys.ts'

const FIXTURES = join(import.meta.dir, '../../../test/fixtures/legacy-certs')
const LEGACY_RSA_KID = '7A6Y:CJ7L:ZBTK:BDYD:QJMT:YVDC:L3RK:AJHA:HKXG:RQLA:SYV3:7QHE'
const LEGACY_EC_KID = 'DYVL:DKEE:XFCS:6XYG:XDBE:JUGX:BS57:2Q5W:UTXV:RYXH:7HZC:FCII'
const NOW = new Date('2027-01-15T10:00:00Z')
const DAY_MS = 24 * 60 * 60 * 1000

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certs-test-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

function configIn(folder: string, overrides: Partial<CertsConfig> = {}): CertsConfig {
  return {
    path: folder,
    key: join(folder, 'registry_auth.key'),
    publicKey: join(folder, 'registry_auth.pub'),
    caRoot: join(folder, 'registry_auth_ca.crt'),
    fqdns: [],
    ip: '',
    httpsCert: '',
    ...overrides,
  }
}

interface LogLine {
  level: number
  msg: string
  [field: string]: unknown
}

function captureLog() {
  const lines: LogLine[] = []
  const log = pino(
    { level: 'debug', base: null, timestamp: false },
    {
      write: (line: string) => lines.push(JSON.parse(line)),
    },
  )
  return { log, lines }
}

async function copyLegacySet(set: 'rsa' | 'ec', folder: string): Promise<CertsConfig> {
  const config = configIn(folder)
  await mkdir(folder, { recursive: true })
  await copyFile(join(FIXTURES, set, 'registry_auth.key'), config.key)
  await copyFile(join(FIXTURES, set, 'registry_auth.pub'), config.publicKey)
  await copyFile(join(FIXTURES, set, 'registry_auth_ca.crt'), config.caRoot)
  return config
}

async function modeOf(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777
}

async function readCertificate(path: string): Promise<X509Certificate> {
  return new X509Certificate(await Bun.file(path).text())
}

const SAN_CASES: [string[], string, JsonGeneralName[]][] = [
  [[], '', [{ type: 'dns', value: 'localhost' }]],
  [
    ['registry.example.com', ' admin.example.com '],
    '192.0.2.10',
    [
      { type: 'dns', value: 'registry.example.com' },
      { type: 'dns', value: 'admin.example.com' },
      { type: 'ip', value: '192.0.2.10' },
    ],
  ],
  [
    [],
    '2001:db8::1',
    [
      { type: 'dns', value: 'localhost' },
      { type: 'ip', value: '2001:db8::1' },
    ],
  ],
]

describe('loadOrCreateSigningKeys generating a new set', () => {
  test('writes the three files with private modes in a new private folder', async () => {
    const config = configIn(join(dir, 'certs'))

    await loadOrCreateSigningKeys(config, captureLog().log, NOW)

    expect(await modeOf(join(dir, 'certs'))).toBe(0o755)
    expect(await modeOf(config.key)).toBe(0o600)
    expect(await modeOf(config.publicKey)).toBe(0o644)
    expect(await modeOf(config.caRoot)).toBe(0o644)
    expect((await readdir(join(dir, 'certs'))).sort()).toEqual([
      'registry_auth.key',
      'registry_auth.pub',
      'registry_auth_ca.crt',
    ])
  })

  test('writes the key files in the older tool format with the key id header', async () => {
    const config = configIn(dir)

    const keys = await loadOrCreateSigningKeys(config, captureLog().log, NOW)
    const keyText = await Bun.file(config.key).text()
    const publicText = await Bun.file(config.publicKey).text()

    expect(keys.alg).toBe('RS256')
    expect(keys.privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048)
    expect(keyText.split('\n').slice(0, 3)).toEqual([
      '-----BEGIN RSA PRIVATE KEY-----',
      `keyID: ${keys.kid}`,
      '',
    ])
    expect(publicText.split('\n').slice(0, 3)).toEqual([
      '-----BEGIN PUBLIC KEY-----',
      `kid: ${keys.kid}`,
      '',
    ])
  })

  test('makes a self-signed CA certificate named after the key id', async () => {
    const config = configIn(dir)

    const keys = await loadOrCreateSigningKeys(config, captureLog().log, NOW)
    const certificate = await readCertificate(config.caRoot)

    expect(certificate.subject).toBe(`CN=${keys.kid}`)
    expect(certificate.issuer).toBe(`CN=${keys.kid}`)
    expect(await certificate.verify({ date: NOW })).toBe(true)
    expect(certificate.notBefore).toEqual(new Date(NOW.getTime() - 7 * DAY_MS))
    expect(certificate.notAfter).toEqual(new Date('2037-01-15T10:00:00Z'))
    expect(keys.notBefore).toEqual(certificate.notBefore)
    expect(keys.notAfter).toEqual(certificate.notAfter)
    expect(keys.certificatePem).toBe(await Bun.file(config.caRoot).text())
    expect(keys.certificateDer).toEqual(new Uint8Array(certificate.rawData))
    expect(keys.caRootPath).toBe(config.caRoot)
  })

  test('gives the certificate the CA, key usage and key identifier extensions', async () => {
    const config = configIn(dir)

    await loadOrCreateSigningKeys(config, captureLog().log, NOW)
    const certificate = await readCertificate(config.caRoot)
    const basic = certificate.getExtension(BasicConstraintsExtension)
    const usage = certificate.getExtension(KeyUsagesExtension)
    const extendedUsage = certificate.getExtension(ExtendedKeyUsageExtension)

    expect({ ca: basic?.ca, critical: basic?.critical }).toEqual({ ca: true, critical: true })
    expect({ usages: usage?.usages, critical: usage?.critical }).toEqual({
      usages: KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign,
      critical: true,
    })
    expect(extendedUsage?.usages).toEqual([
      ExtendedKeyUsage.clientAuth,
      ExtendedKeyUsage.serverAuth,
    ])
    expect(certificate.getExtension(SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/)
  })

  test('gives each certificate a random positive 16-byte serial', async () => {
    await loadOrCreateSigningKeys(configIn(join(dir, 'a')), captureLog().log, NOW)
    await loadOrCreateSigningKeys(configIn(join(dir, 'b')), captureLog().log, NOW)
    const first = await readCertificate(join(dir, 'a', 'registry_auth_ca.crt'))
    const second = await readCertificate(join(dir, 'b', 'registry_auth_ca.crt'))

    expect(first.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/)
    expect(second.serialNumber).toMatch(/^[4-7][0-9a-f]{31}$/)
    expect(first.serialNumber).not.toBe(second.serialNumber)
  })

  test.each(SAN_CASES)(
    'names fqdns %p and ip %p in the certificate',
    async (fqdns, ip, expected) => {
      const config = configIn(dir, { fqdns, ip })

      await loadOrCreateSigningKeys(config, captureLog().log, NOW)
      const certificate = await readCertificate(config.caRoot)
      const names = certificate.getExtension(SubjectAlternativeNameExtension)?.names.toJSON()

      expect(names).toEqual(expected)
    },
  )

  test('refuses an invalid ip and writes nothing', async () => {
    const config = configIn(join(dir, 'certs'), { ip: '10.0.0.300' })

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow(
      new CertsError("registry.certs.ip: '10.0.0.300' is not an IPv4 or IPv6 address"),
    )
    expect(await Bun.file(join(dir, 'certs')).exists()).toBe(false)
  })

  test('writes JWK files when the key file names end in .json', async () => {
    const config = configIn(dir, {
      key: join(dir, 'registry_auth.json'),
      publicKey: join(dir, 'registry_auth.pub.json'),
    })

    const generated = await loadOrCreateSigningKeys(config, captureLog().log, NOW)
    const jwk = await Bun.file(config.key).json()
    const loaded = await loadOrCreateSigningKeys(config, captureLog().log, NOW)

    expect({ kty: jwk.kty, kid: jwk.kid }).toEqual({ kty: 'RSA', kid: generated.kid })
    expect(loaded.kid).toBe(generated.kid)
  })

  test('logs what was generated, the key id and the end date', async () => {
    const config = configIn(dir)
    const { log, lines } = captureLog()

    const keys = await loadOrCreateSigningKeys(config, log, NOW)

    expect(lines).toEqual([
      {
        level: 30,
        msg: 'signing keys generated',
        keyFile: config.key,
        publicKeyFile: config.publicKey,
        caRootFile: config.caRoot,
        kid: keys.kid,
        alg: 'RS256',
        notAfter: '2037-01-15T10:00:00.000Z',
      },
    ])
  })
})

describe('loadOrCreateSigningKeys loading existing files', () => {
  test('loads a set it generated before without touching it', async () => {
    const config = configIn(dir)
    const generated = await loadOrCreateSigningKeys(config, captureLog().log, NOW)
    const before = await Bun.file(config.key).text()
    const { log, lines } = captureLog()

    const loaded = await loadOrCreateSigningKeys(config, log, NOW)

    expect(loaded.kid).toBe(generated.kid)
    expect(loaded.certificateDer).toEqual(generated.certificateDer)
    expect(loaded.privateKey.equals(generated.privateKey)).toBe(true)
    expect(await Bun.file(config.key).text()).toBe(before)
    expect(lines.map((line) => line.msg)).toEqual(['signing keys loaded'])
  })

  test.each([
    ['rsa', 'RS256', LEGACY_RSA_KID],
    ['ec', 'ES256', LEGACY_EC_KID],
  ] as const)(
    'loads the %s files of the older tool with their PEM headers',
    async (set, alg, kid) => {
      const config = await copyLegacySet(set, dir)
      const { log, lines } = captureLog()

      const keys = await loadOrCreateSigningKeys(config, log, NOW)

      expect({ alg: keys.alg, kid: keys.kid }).toEqual({ alg, kid })
      expect(keys.notAfter.getTime()).toBeGreaterThan(NOW.getTime())
      expect(lines.map((line) => line.msg)).toEqual(['signing keys loaded'])
    },
  )

  test('loads a PKCS#8 private key and a bare public key', async () => {
    const config = await copyLegacySet('rsa', dir)
    const legacy = createPrivateKey((await Bun.file(config.key).text()).replace(/^keyID: .*$/m, ''))
    await writeFile(config.key, legacy.export({ type: 'pkcs8', format: 'pem' }))
    await writeFile(
      config.publicKey,
      createPublicKey(legacy).export({ type: 'spki', format: 'pem' }),
    )

    const keys = await loadOrCreateSigningKeys(config, captureLog().log, NOW)

    expect(keys.kid).toBe(LEGACY_RSA_KID)
  })

  test('picks the certificate of its key from a bundle of several', async () => {
    const config = await copyLegacySet('rsa', dir)
    const other = await Bun.file(join(FIXTURES, 'ec', 'registry_auth_ca.crt')).text()
    const own = await Bun.file(config.caRoot).text()
    await writeFile(config.caRoot, other + own)

    const keys = await loadOrCreateSigningKeys(config, captureLog().log, NOW)

    expect(keys.certificatePem).toBe(own)
  })

  test('warns when the key id header does not match the key', async () => {
    const config = await copyLegacySet('rsa', dir)
    const text = await Bun.file(config.publicKey).text()
    await writeFile(config.publicKey, text.replace(LEGACY_RSA_KID, LEGACY_EC_KID))
    const { log, lines } = captureLog()

    await loadOrCreateSigningKeys(config, log, NOW)

    expect(lines.filter((line) => line.level === 40)).toEqual([
      {
        level: 40,
        msg: 'key id written in the file does not match the key',
        file: config.publicKey,
        kid: LEGACY_RSA_KID,
        declaredKid: LEGACY_EC_KID,
      },
    ])
  })
})

describe('loadOrCreateSigningKeys refusing bad sets', () => {
  test('lists the missing and present files of a partial set and writes nothing', async () => {
    const config = await copyLegacySet('rsa', dir)
    await rm(config.publicKey)
    await rm(config.caRoot)

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow(CertsError)
    await expect(result).rejects.toThrow(
      `missing ${config.publicKey} (registry.certs.public_key), ${config.caRoot} ` +
        `(registry.certs.ca_root); present ${config.key} (registry.certs.key). ` +
        'Nothing was generated or overwritten.',
    )
    expect(await readdir(dir)).toEqual(['registry_auth.key'])
  })

  test.each([
    ['key', 'not a key at all\n', 'not a valid PEM file'],
    [
      'publicKey',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      'no public key',
    ],
    [
      'caRoot',
      '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n',
      'cannot be parsed',
    ],
    [
      'key',
      '-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n',
      'cannot be parsed',
    ],
    ['key', '{"kty":', 'not valid JSON'],
  ] as const)('names the %s file when it cannot be parsed', async (file, content, reason) => {
    const config = await copyLegacySet('rsa', dir)
    await writeFile(config[file], content)

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow(CertsError)
    await expect(result).rejects.toThrow(`${config[file]}: `)
    await expect(result).rejects.toThrow(reason)
  })

  test('names a file that cannot be read', async () => {
    const config = configIn(dir)
    await mkdir(config.key)
    await copyFile(join(FIXTURES, 'rsa', 'registry_auth.pub'), config.publicKey)
    await copyFile(join(FIXTURES, 'rsa', 'registry_auth_ca.crt'), config.caRoot)

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow(new CertsError(`${config.key} cannot be read (EISDIR)`))
  })

  test('refuses a public key that belongs to another private key', async () => {
    const config = await copyLegacySet('rsa', dir)
    await copyFile(join(FIXTURES, 'ec', 'registry_auth.pub'), config.publicKey)

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow(
      new CertsError(
        `${config.publicKey} holds a different key than the private key ${config.key}`,
      ),
    )
  })

  test('refuses a certificate file without a certificate for the private key', async () => {
    const config = await copyLegacySet('rsa', dir)
    await copyFile(join(FIXTURES, 'ec', 'registry_auth_ca.crt'), config.caRoot)

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow(
      new CertsError(`${config.caRoot} has no certificate for the private key ${config.key}`),
    )
  })

  test('refuses an encrypted private key', async () => {
    const config = await copyLegacySet('rsa', dir)
    const text = await Bun.file(config.key).text()
    await writeFile(config.key, text.replace(/^keyID: .*$/m, 'Proc-Type: 4,ENCRYPTED'))

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow('encrypted private keys are not supported')
  })

  test('refuses two options naming the same file', async () => {
    const config = configIn(dir, { publicKey: join(dir, 'registry_auth.key') })

    const result = loadOrCreateSigningKeys(config, captureLog().log, NOW)

    await expect(result).rejects.toThrow(
      new CertsError(
        `registry.certs.key and registry.certs.public_key name the same file ${config.key}`,
      ),
    )
  })
})

describe('loadOrCreateSigningKeys checking the certificate dates', () => {
  async function warningsAt(now: Date): Promise<LogLine[]> {
    const config = await copyLegacySet('rsa', dir)
    const { log, lines } = captureLog()
    await loadOrCreateSigningKeys(config, log, now)
    return lines.filter((line) => line.level === 40)
  }

  const legacyNotAfter = async () =>
    (await readCertificate(join(FIXTURES, 'rsa', 'registry_auth_ca.crt'))).notAfter

  test('does not warn while the certificate has more than 30 days left', async () => {
    const notAfter = await legacyNotAfter()

    const warnings = await warningsAt(new Date(notAfter.getTime() - 31 * DAY_MS))

    expect(warnings).toEqual([])
  })

  test('warns when the certificate ends within 30 days', async () => {
    const notAfter = await legacyNotAfter()

    const warnings = await warningsAt(new Date(notAfter.getTime() - 10.5 * DAY_MS))

    expect(warnings).toEqual([
      {
        level: 40,
        msg: 'signing certificate expires soon',
        caRootFile: join(dir, 'registry_auth_ca.crt'),
        notAfter: notAfter.toISOString(),
        daysLeft: 10,
        hint: expect.stringContaining('registry 2.x still accepts tokens by kid'),
      },
    ])
  })

  test('warns when the certificate has expired and says how to regenerate', async () => {
    const notAfter = await legacyNotAfter()

    const warnings = await warningsAt(new Date(notAfter.getTime() + DAY_MS))

    expect(warnings).toEqual([
      {
        level: 40,
        msg: 'signing certificate has expired',
        caRootFile: join(dir, 'registry_auth_ca.crt'),
        notAfter: notAfter.toISOString(),
        hint:
          'registry 2.x still accepts tokens by kid with an expired certificate, but not by ' +
          'x5c; to regenerate, move the three files away and restart, then give the registry ' +
          'the new CA file',
      },
    ])
  })
})
