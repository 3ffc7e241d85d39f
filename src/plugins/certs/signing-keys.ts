import type { X509Certificate } from '@peculiar/x509'
import { readFile, stat } from 'node:fs/promises'
import type { Logger } from 'pino'
import type { CertsConfig } from '../../config.ts'
import type { SigningKeys } from '../../core/token-signer.ts'
import { generateSigningFiles } from './generate.ts'
import {
  CertsError,
  certificateSpki,
  parseCertificateFile,
  parsePrivateKeyFile,
  parsePublicKeyFile,
  spkiOf,
} from './key-files.ts'
import { libtrustKeyId } from './key-id.ts'
import { writeNewFiles } from './write-files.ts'

const DAY_MS = 24 * 60 * 60 * 1000

/** Warn this long before the certificate's end, while there is still time to rotate. */
export const EXPIRY_WARNING_DAYS = 30

const KEY_MODE = 0o600
const PUBLIC_MODE = 0o644

const REGENERATE_HINT =
  'registry 2.x still accepts tokens by kid with an expired certificate, but not by x5c; to ' +
  'regenerate, move the three files away and restart, then give the registry the new CA file'

interface CertFile {
  /** Config key, as the operator writes it. */
  option: string
  path: string
}

/**
 * Loads the token signing key, its public key and its self-signed CA certificate from the three
 * configured files, or generates all three when none exists.
 *
 * - All three exist: they are parsed (legacy PEM header lines are accepted) and checked to hold
 *   the same key. The CA file may hold several certificates; the one for this key is used.
 * - None exists: an RSA-2048 set is generated and written (key 0600, others 0644), never
 *   replacing a file.
 * - Some exist: nothing is written; the error lists which are missing and which exist.
 *
 * Logs the outcome, the key id and the certificate's end date, and warns when the certificate
 * ends within {@link EXPIRY_WARNING_DAYS} days or has ended.
 * @throws CertsError with a message naming the files concerned.
 */
export async function loadOrCreateSigningKeys(
  config: CertsConfig,
  log: Logger,
  now: Date = new Date(),
): Promise<SigningKeys> {
  const files = certFiles(config)
  const present = await Promise.all(files.map(fileExists))
  const existing = files.filter((_, index) => present[index])

  let generated = false
  if (existing.length === 0) {
    await createFiles(config, now)
    generated = true
  } else if (existing.length < files.length) {
    throw partialSetError(files, existing)
  }

  const keys = await loadFiles(config, log)
  log.info(
    {
      keyFile: config.key,
      publicKeyFile: config.publicKey,
      caRootFile: config.caRoot,
      kid: keys.kid,
      alg: keys.alg,
      notAfter: keys.notAfter.toISOString(),
    },
    generated ? 'signing keys generated' : 'signing keys loaded',
  )
  warnAboutValidity(keys, log, now)
  return keys
}

function certFiles(config: CertsConfig): CertFile[] {
  const files = [
    { option: 'registry.certs.key', path: config.key },
    { option: 'registry.certs.public_key', path: config.publicKey },
    { option: 'registry.certs.ca_root', path: config.caRoot },
  ]
  for (const [index, file] of files.entries()) {
    const clash = files.slice(index + 1).find((other) => other.path === file.path)
    if (clash) {
      throw new CertsError(`${file.option} and ${clash.option} name the same file ${file.path}`)
    }
  }
  return files
}

async function fileExists(file: CertFile): Promise<boolean> {
  try {
    await stat(file.path)
    return true
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    if (code === 'ENOENT') {
      return false
    }
    throw new CertsError(`${file.path} (${file.option}) cannot be accessed (${code})`, {
      cause: error,
    })
  }
}

function partialSetError(files: CertFile[], existing: CertFile[]): CertsError {
  const missing = files.filter((file) => !existing.includes(file))
  const list = (set: CertFile[]) => set.map((file) => `${file.path} (${file.option})`).join(', ')
  return new CertsError(
    `token signing files are incomplete: missing ${list(missing)}; present ${list(existing)}. ` +
      'Nothing was generated or overwritten. Restore the missing files, or move all three ' +
      'away to generate a new set (the registry must then be given the new CA file).',
  )
}

async function createFiles(config: CertsConfig, now: Date): Promise<void> {
  const generated = await generateSigningFiles(config, now)
  await writeNewFiles([
    { path: config.key, content: generated.key, mode: KEY_MODE },
    { path: config.publicKey, content: generated.publicKey, mode: PUBLIC_MODE },
    { path: config.caRoot, content: generated.caRoot, mode: PUBLIC_MODE },
  ])
}

async function loadFiles(config: CertsConfig, log: Logger): Promise<SigningKeys> {
  const [keyText, publicKeyText, caRootText] = await Promise.all([
    readText(config.key),
    readText(config.publicKey),
    readText(config.caRoot),
  ])
  const privateKey = parsePrivateKeyFile(keyText, config.key)
  const publicKey = parsePublicKeyFile(publicKeyText, config.publicKey)
  const certificates = parseCertificateFile(caRootText, config.caRoot)

  // the public key file and the certificate hold the private key's public half
  const spki = spkiOf(privateKey.key)
  if (!spki.equals(spkiOf(publicKey.key))) {
    throw new CertsError(
      `${config.publicKey} holds a different key than the private key ${config.key}`,
    )
  }
  const certificate = certificates.find((candidate) => spki.equals(certificateSpki(candidate)))
  if (!certificate) {
    throw new CertsError(`${config.caRoot} has no certificate for the private key ${config.key}`)
  }

  const kid = libtrustKeyId(spki)
  warnAboutDeclaredKeyId(log, kid, config.key, privateKey.declaredKeyId)
  warnAboutDeclaredKeyId(log, kid, config.publicKey, publicKey.declaredKeyId)
  return toSigningKeys(privateKey, publicKey.key, certificate, kid, config.caRoot)
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8')
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new CertsError(`${path} cannot be read (${code ?? String(error)})`, { cause: error })
  }
}

function toSigningKeys(
  privateKey: ReturnType<typeof parsePrivateKeyFile>,
  publicKey: SigningKeys['publicKey'],
  certificate: X509Certificate,
  kid: string,
  caRootPath: string,
): SigningKeys {
  return {
    privateKey: privateKey.key,
    publicKey,
    alg: privateKey.alg,
    kid,
    certificateDer: new Uint8Array(certificate.rawData),
    certificatePem: `${certificate.toString('pem')}\n`,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    caRootPath,
  }
}

/** A header that disagrees with the key means the files were edited or mixed up by hand. */
function warnAboutDeclaredKeyId(
  log: Logger,
  kid: string,
  file: string,
  declared: string | undefined,
): void {
  if (declared !== undefined && declared !== kid) {
    log.warn(
      { file, kid, declaredKid: declared },
      'key id written in the file does not match the key',
    )
  }
}

function warnAboutValidity(keys: SigningKeys, log: Logger, now: Date): void {
  const fields = { caRootFile: keys.caRootPath, notAfter: keys.notAfter.toISOString() }
  const msLeft = keys.notAfter.getTime() - now.getTime()
  if (msLeft < 0) {
    log.warn({ ...fields, hint: REGENERATE_HINT }, 'signing certificate has expired')
  } else if (msLeft < EXPIRY_WARNING_DAYS * DAY_MS) {
    const daysLeft = Math.floor(msLeft / DAY_MS)
    log.warn({ ...fields, daysLeft, hint: REGENERATE_HINT }, 'signing certificate expires soon')
  }
  if (now < keys.notBefore) {
    log.warn(
      { caRootFile: keys.caRootPath, notBefore: keys.notBefore.toISOString() },
      'signing certificate is not valid yet; tokens carry only kid until then',
    )
  }
}
