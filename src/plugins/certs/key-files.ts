import 'reflect-metadata'
import { createPrivateKey, createPublicKey, type KeyObject, type webcrypto } from 'node:crypto'
import { PemConverter, X509Certificate, type PemStruct } from '@peculiar/x509'
import type { SigningAlgorithm } from '../../core/token-signer.ts'

/** RSA keys below this size are refused; the older tool always made 2048-bit keys. */
const MIN_RSA_BITS = 2048

/**
 * A key or certificate file is missing, unreadable, malformed or does not fit the others. The
 * message names the file and is meant for the operator as it stands (no stack trace needed).
 */
export class CertsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'CertsError'
  }
}

export interface PrivateKeyFile {
  key: KeyObject
  alg: SigningAlgorithm
  /** The `keyID:` PEM header (or JWK `kid`) the older tool wrote, if any. */
  declaredKeyId: string | undefined
}

export interface PublicKeyFile {
  key: KeyObject
  /** The `kid:` PEM header (or JWK `kid`) the older tool wrote, if any. */
  declaredKeyId: string | undefined
}

const PRIVATE_KEY_DER_TYPES: Record<string, 'pkcs1' | 'pkcs8' | 'sec1'> = {
  'RSA PRIVATE KEY': 'pkcs1',
  'PRIVATE KEY': 'pkcs8',
  'EC PRIVATE KEY': 'sec1',
}

const PUBLIC_KEY_DER_TYPES: Record<string, 'pkcs1' | 'spki'> = {
  'RSA PUBLIC KEY': 'pkcs1',
  'PUBLIC KEY': 'spki',
}

/**
 * Parses a private key file: PEM PKCS#1 (`RSA PRIVATE KEY`), PKCS#8 (`PRIVATE KEY`) or SEC1
 * (`EC PRIVATE KEY`), with or without libtrust's `keyID:` header line, or a libtrust JWK JSON file.
 * Only RSA (2048 bits or more) and EC P-256 keys are accepted.
 * @throws CertsError naming `path` when the content is not such a key.
 */
export function parsePrivateKeyFile(text: string, path: string): PrivateKeyFile {
  if (isJson(text)) {
    const jwk = parseJwk(text, path)
    const key = toKeyObject(path, () => createPrivateKey({ key: jwk, format: 'jwk' }))
    return { key, alg: signingAlgorithmOf(key, path), declaredKeyId: stringOrUndefined(jwk.kid) }
  }

  const blocks = decodePem(text, path)
  if (blocks.some((block) => block.type === 'ENCRYPTED PRIVATE KEY' || isEncryptedLegacy(block))) {
    throw new CertsError(`${path}: encrypted private keys are not supported; store it unencrypted`)
  }
  const block = blocks.find((candidate) => candidate.type in PRIVATE_KEY_DER_TYPES)
  if (!block) {
    throw new CertsError(`${path}: no private key PEM block (RSA PRIVATE KEY, PRIVATE KEY, ...)`)
  }

  const type = PRIVATE_KEY_DER_TYPES[block.type]
  const der = Buffer.from(block.rawData)
  const key = toKeyObject(path, () => createPrivateKey({ key: der, format: 'der', type }))
  return { key, alg: signingAlgorithmOf(key, path), declaredKeyId: headerValue(block, 'keyID') }
}

/**
 * Parses a public key file: PEM `PUBLIC KEY` or `RSA PUBLIC KEY`, with or without libtrust's
 * `kid:` header line, or a libtrust JWK JSON file.
 * @throws CertsError naming `path` when the content is not a public key.
 */
export function parsePublicKeyFile(text: string, path: string): PublicKeyFile {
  if (isJson(text)) {
    const jwk = parseJwk(text, path)
    const key = toKeyObject(path, () => createPublicKey({ key: jwk, format: 'jwk' }))
    return { key, declaredKeyId: stringOrUndefined(jwk.kid) }
  }

  const block = decodePem(text, path).find((candidate) => candidate.type in PUBLIC_KEY_DER_TYPES)
  if (!block) {
    throw new CertsError(`${path}: no public key PEM block (PUBLIC KEY)`)
  }

  const type = PUBLIC_KEY_DER_TYPES[block.type]
  const der = Buffer.from(block.rawData)
  const key = toKeyObject(path, () => createPublicKey({ key: der, format: 'der', type }))
  return { key, declaredKeyId: headerValue(block, 'kid') }
}

/**
 * Parses every `CERTIFICATE` block of a PEM file (a registry `rootcertbundle` may hold several,
 * for instance an old and a new signing certificate during a rotation).
 * @throws CertsError naming `path` when there is no certificate or one cannot be parsed.
 */
export function parseCertificateFile(text: string, path: string): X509Certificate[] {
  const blocks = decodePem(text, path).filter((block) => block.type === 'CERTIFICATE')
  if (blocks.length === 0) {
    throw new CertsError(`${path}: no CERTIFICATE PEM block`)
  }

  return blocks.map((block, index) => {
    try {
      return new X509Certificate(block.rawData)
    } catch (error) {
      throw new CertsError(`${path}: certificate ${index + 1} cannot be parsed`, { cause: error })
    }
  })
}

/** DER SubjectPublicKeyInfo of a key, the form both the libtrust id and comparisons use. */
export function spkiOf(key: KeyObject): Buffer {
  const publicKey = key.type === 'private' ? createPublicKey(key) : key
  return publicKey.export({ type: 'spki', format: 'der' })
}

/** DER SubjectPublicKeyInfo of a certificate's key, normalised through `node:crypto`. */
export function certificateSpki(certificate: X509Certificate): Buffer {
  const der = Buffer.from(certificate.publicKey.rawData)
  return spkiOf(createPublicKey({ key: der, format: 'der', type: 'spki' }))
}

/**
 * PEM decoding that tolerates RFC 1421 header lines (`keyID: ...`) between the BEGIN line and
 * the base64 body; `node:crypto` refuses those outright.
 */
function decodePem(text: string, path: string): PemStruct[] {
  let blocks: PemStruct[]
  try {
    blocks = PemConverter.decodeWithHeaders(text)
  } catch (error) {
    throw new CertsError(`${path}: not a valid PEM file`, { cause: error })
  }
  if (blocks.length === 0) {
    throw new CertsError(`${path}: not a valid PEM file (no complete BEGIN/END block)`)
  }
  return blocks
}

function headerValue(block: PemStruct, name: string): string | undefined {
  return block.headers.find((header) => header.key === name)?.value
}

function isEncryptedLegacy(block: PemStruct): boolean {
  return headerValue(block, 'Proc-Type')?.includes('ENCRYPTED') ?? false
}

function isJson(text: string): boolean {
  return text.trimStart().startsWith('{')
}

/** A JWK as libtrust writes it: the standard members plus its own `kid`. */
type LibtrustJwk = webcrypto.JsonWebKey & { kid?: unknown }

function parseJwk(text: string, path: string): LibtrustJwk {
  try {
    const value: unknown = JSON.parse(text)
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      return value as LibtrustJwk
    }
  } catch (error) {
    throw new CertsError(`${path}: not valid JSON`, { cause: error })
  }
  throw new CertsError(`${path}: a JSON key file must hold one JWK object`)
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined
}

function toKeyObject(path: string, parse: () => KeyObject): KeyObject {
  try {
    return parse()
  } catch (error) {
    throw new CertsError(`${path}: the key cannot be parsed`, { cause: error })
  }
}

function signingAlgorithmOf(key: KeyObject, path: string): SigningAlgorithm {
  const details = key.asymmetricKeyDetails
  if (key.asymmetricKeyType === 'rsa') {
    if ((details?.modulusLength ?? 0) < MIN_RSA_BITS) {
      throw new CertsError(`${path}: RSA keys shorter than ${MIN_RSA_BITS} bits are refused`)
    }
    return 'RS256'
  }
  if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') {
    return 'ES256'
  }

  const kind = key.asymmetricKeyType === 'ec' ? `EC ${details?.namedCurve}` : key.asymmetricKeyType
  throw new CertsError(`${path}: ${kind} keys are not supported; use RSA or EC P-256`)
}
