import 'reflect-metadata'
import { createPrivateKey, createPublicKey, getRandomValues, type KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import {
  BasicConstraintsExtension,
  ExtendedKeyUsage,
  ExtendedKeyUsageExtension,
  KeyUsageFlags,
  KeyUsagesExtension,
  PemConverter,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509CertificateGenerator,
  type JsonGeneralName,
} from '@peculiar/x509'
import type { CertsConfig } from '../../config.ts'
import { CertsError, spkiOf } from './key-files.ts'
import { libtrustKeyId } from './key-id.ts'

const DAY_MS = 24 * 60 * 60 * 1000

/** Backdating, as the older tool did, so that a registry whose clock lags still trusts the cert. */
const NOT_BEFORE_BACKDATE_MS = 7 * DAY_MS

const VALIDITY_YEARS = 10

const SERIAL_BYTES = 16

const RSA_KEY_PARAMS = {
  name: 'RSASSA-PKCS1-v1_5',
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash: 'SHA-256',
}

/** The contents of a newly generated set of files, ready to be written. */
export interface GeneratedFiles {
  kid: string
  key: string
  publicKey: string
  caRoot: string
}

/**
 * Generates an RSA-2048 signing key and its self-signed CA certificate in the older tool's
 * format: a PKCS#1 private key PEM with a `keyID:` header, a `PUBLIC KEY` PEM with a `kid:`
 * header (JWK JSON instead when a file name ends in `.json`, as libtrust does), and a certificate
 * with Subject = Issuer = `CN=<kid>`, a random serial, CA:true, valid from 7 days before `now`
 * for 10 years, with the configured DNS names and IP address (or `localhost`) as SANs.
 * @throws CertsError when `registry.certs.ip` is not an IPv4 or IPv6 address.
 */
export async function generateSigningFiles(
  config: CertsConfig,
  now: Date,
): Promise<GeneratedFiles> {
  const altNames = subjectAltNames(config)
  const keys = await crypto.subtle.generateKey(RSA_KEY_PARAMS, true, ['sign', 'verify'])
  const privateKey = createPrivateKey({
    key: Buffer.from(await crypto.subtle.exportKey('pkcs8', keys.privateKey)),
    format: 'der',
    type: 'pkcs8',
  })
  const kid = libtrustKeyId(spkiOf(privateKey))

  const certificate = await X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: [{ CN: [kid] }],
    notBefore: new Date(now.getTime() - NOT_BEFORE_BACKDATE_MS),
    notAfter: addYears(now, VALIDITY_YEARS),
    signingAlgorithm: RSA_KEY_PARAMS,
    keys,
    extensions: [
      new BasicConstraintsExtension(true, undefined, true),
      new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyCertSign, true),
      new ExtendedKeyUsageExtension([ExtendedKeyUsage.clientAuth, ExtendedKeyUsage.serverAuth]),
      await SubjectKeyIdentifierExtension.create(keys.publicKey),
      new SubjectAlternativeNameExtension(altNames),
    ],
  })

  return {
    kid,
    key: encodePrivateKey(privateKey, kid, config.key),
    publicKey: encodePublicKey(createPublicKey(privateKey), kid, config.publicKey),
    caRoot: `${certificate.toString('pem')}\n`,
  }
}

/** DNS names from `registry.certs.fqdns` (or `localhost`), plus `registry.certs.ip` if set. */
function subjectAltNames(config: CertsConfig): JsonGeneralName[] {
  const dnsNames = config.fqdns.map((name) => name.trim()).filter((name) => name !== '')
  const names: JsonGeneralName[] = (dnsNames.length > 0 ? dnsNames : ['localhost']).map(
    (value) => ({ type: 'dns', value }),
  )

  const ip = config.ip.trim()
  if (ip !== '') {
    if (isIP(ip) === 0) {
      throw new CertsError(`registry.certs.ip: '${ip}' is not an IPv4 or IPv6 address`)
    }
    names.push({ type: 'ip', value: ip })
  }
  return names
}

/** A positive serial of exactly 16 bytes: the top bit is cleared and the next one set. */
function randomSerial(): string {
  const bytes = getRandomValues(new Uint8Array(SERIAL_BYTES))
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40
  return Buffer.from(bytes).toString('hex')
}

function addYears(date: Date, years: number): Date {
  const result = new Date(date)
  result.setUTCFullYear(result.getUTCFullYear() + years)
  return result
}

function encodePrivateKey(key: KeyObject, kid: string, path: string): string {
  if (isJsonPath(path)) {
    return `${JSON.stringify({ ...key.export({ format: 'jwk' }), kid })}\n`
  }
  const rawData = key.export({ type: 'pkcs1', format: 'der' })
  return encodePem('RSA PRIVATE KEY', 'keyID', kid, rawData)
}

function encodePublicKey(key: KeyObject, kid: string, path: string): string {
  if (isJsonPath(path)) {
    return `${JSON.stringify({ ...key.export({ format: 'jwk' }), kid })}\n`
  }
  const rawData = key.export({ type: 'spki', format: 'der' })
  return encodePem('PUBLIC KEY', 'kid', kid, rawData)
}

function encodePem(type: string, header: string, kid: string, rawData: Buffer): string {
  const headers = [{ key: header, value: kid }]
  const pem = PemConverter.encode([{ type, headers, rawData: new Uint8Array(rawData).buffer }])
  return `${pem}\n`
}

function isJsonPath(path: string): boolean {
  return path.toLowerCase().endsWith('.json')
}
