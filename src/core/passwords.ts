/** bcrypt reads at most this many bytes of a password; longer new passwords are refused. */
export const MAX_PASSWORD_BYTES = 72

export const MIN_PASSWORD_LENGTH = 6

const BCRYPT_COST = 10

const encoder = new TextEncoder()

/**
 * Says what is wrong with a new password, or `null` when it is acceptable. The upper bound is
 * bcrypt's: Go and htpasswd ignore bytes past 72, and Bun pre-hashes longer input, so a longer
 * password would hash differently in each of them.
 */
export const passwordProblem = (password: string): string | null => {
  if (password.length < MIN_PASSWORD_LENGTH) {
    return `password must be at least ${MIN_PASSWORD_LENGTH} characters long`
  }
  const bytes = encoder.encode(password).length
  if (bytes > MAX_PASSWORD_BYTES) {
    return `password is ${bytes} bytes long; bcrypt uses at most ${MAX_PASSWORD_BYTES} bytes, so choose a shorter one`
  }
  return null
}

/** Hashes with bcrypt (cost 10), readable by the legacy Go tool and by htpasswd registries. */
export const hashPassword = (password: string): Promise<string> =>
  Bun.password.hash(password, { algorithm: 'bcrypt', cost: BCRYPT_COST })

/**
 * Checks a password against a stored bcrypt hash. Like Go's bcrypt, only the first 72 bytes
 * count, so a legacy hash of a longer password still verifies. A malformed hash never matches.
 */
export const verifyPassword = async (password: string, hash: string): Promise<boolean> => {
  const bytes = encoder.encode(password)
  const input = bytes.length > MAX_PASSWORD_BYTES ? bytes.subarray(0, MAX_PASSWORD_BYTES) : password
  try {
    return await Bun.password.verify(input, hash, 'bcrypt')
  } catch {
    return false
  }
}

let dummyHash: Promise<string> | undefined

/**
 * Spends the same bcrypt time as a real check, for logins that do not exist, so that response
 * times do not tell which logins are real.
 */
export const burnPasswordCheck = async (password: string): Promise<void> => {
  dummyHash ??= hashPassword(crypto.randomUUID())
  await verifyPassword(password, await dummyHash)
}
