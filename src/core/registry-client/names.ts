import { ValidationError } from '../../errors.ts'

// Repository names as a registry stores them: lowercase components joined by `.`, `_`, `__`
// or runs of `-`. The optional `host[:port]/` part of distribution's reference grammar names
// a registry, never a repository in it, so it is not accepted.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const REPOSITORY = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`)
const MAX_REPOSITORY_LENGTH = 255

const TAG = /^\w[\w.-]{0,127}$/

/** Digest algorithms whose content this client can verify, with their hex lengths. */
const DIGEST = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/

/** True for a repository name (at most 255 characters, no registry host in front). */
export function isRepositoryName(name: string): boolean {
  return name.length <= MAX_REPOSITORY_LENGTH && REPOSITORY.test(name)
}

/** Checks a repository name before it goes into a URL path. @throws ValidationError */
export function checkRepository(name: string): string {
  if (!isRepositoryName(name)) {
    throw new ValidationError(`'${printable(name)}' is not a valid repository name`)
  }
  return name
}

/** Checks a tag. @throws ValidationError */
export function checkTag(tag: string): string {
  if (!TAG.test(tag)) {
    throw new ValidationError(`'${printable(tag)}' is not a valid tag`)
  }
  return tag
}

/** Checks a `sha256:` or `sha512:` digest (lowercase hex). @throws ValidationError */
export function checkDigest(digest: string): string {
  if (!isDigest(digest)) {
    throw new ValidationError(
      `'${printable(digest)}' is not a sha256 or sha512 digest (algorithm:lowercase-hex)`,
    )
  }
  return digest
}

/** Checks a manifest reference: a tag or a digest. @throws ValidationError */
export function checkReference(reference: string): string {
  if (!isDigest(reference) && !TAG.test(reference)) {
    throw new ValidationError(`'${printable(reference)}' is neither a tag nor a digest`)
  }
  return reference
}

/** True for a digest this client can verify (`sha256:<64 hex>` or `sha512:<128 hex>`). */
export function isDigest(value: string): boolean {
  return DIGEST.test(value)
}

/** Digest of `bytes` with the algorithm of `like` (sha256 unless `like` is a sha512 digest). */
export function digestOf(bytes: Uint8Array, like = 'sha256:'): string {
  const algorithm = like.startsWith('sha512:') ? 'sha512' : 'sha256'
  return `${algorithm}:${new Bun.CryptoHasher(algorithm).update(bytes).digest('hex')}`
}

/** Keeps a value quoted in a message readable and short, whatever bytes it holds. */
export function printable(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)
}
