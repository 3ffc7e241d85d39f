import { hashPassword, passwordProblem } from '../core/passwords.ts'
import type { Store, User } from '../core/store.ts'
import { NotFoundError, ValidationError } from '../errors.ts'
import { revokeSessions } from '../plugins/admin-api/index.ts'

export interface ResetPasswordOptions {
  store: Store
  login: string
  password: string
}

/** What {@link resetPassword} did. */
export interface ResetPasswordResult {
  user: User
  /** The account was disabled and is enabled again. */
  reenabled: boolean
}

/**
 * Sets a user's password from the command line, for an operator locked out of the UI, and
 * enables the account if it is disabled, so that a disabled last admin can be repaired. The
 * role is kept. Revokes the user's refresh tokens and UI sessions.
 *
 * @throws ValidationError when the password is not acceptable; NotFoundError for an unknown login.
 */
export const resetPassword = async (
  options: ResetPasswordOptions,
): Promise<ResetPasswordResult> => {
  const { store, login, password } = options
  const problem = passwordProblem(password)
  if (problem) {
    throw new ValidationError(problem)
  }
  const found = store.getUserByLogin(login)
  if (!found) {
    throw new NotFoundError(`there is no user with the login '${login}'`)
  }

  const passwordHash = await hashPassword(password)
  // Read again: the account may have been changed while the hash was computed.
  const current = store.getUser(found.id) ?? found
  const user = store.updateUser(found.id, { passwordHash, disabled: false })
  store.deleteRefreshTokensOfUser(user.id)
  revokeSessions(store, user.id)
  return { user, reenabled: current.disabled }
}

export interface RunResetPasswordIo {
  /** The already opened store; the caller closes it. */
  store: Store
  /** Reads all of standard input. @default Bun.stdin.text() */
  readStdin?: () => Promise<string>
  /** @default process.stdout.write */
  stdout?: (text: string) => void
  /** @default process.stderr.write */
  stderr?: (text: string) => void
}

/**
 * `registry-admin reset-password <login>`: reads the new password from the first line of
 * standard input (`echo 'new secret' | registry-admin reset-password admin`) and sets it.
 * A disabled account is enabled again, and the output says so. Returns the exit code: 0 when
 * changed, 1 otherwise, with the reason on stderr.
 *
 * KNOWN LIMIT: on a terminal the password is read with echo on and ends with Ctrl-D; there is
 * no hidden prompt.
 */
export const runResetPassword = async (login: string, io: RunResetPasswordIo): Promise<number> => {
  const readStdin = io.readStdin ?? (() => Bun.stdin.text())
  const stdout = io.stdout ?? ((text: string) => void process.stdout.write(text))
  const stderr = io.stderr ?? ((text: string) => void process.stderr.write(text))

  const password = firstLine(await readStdin())
  if (password === '') {
    stderr(
      `reset-password: no password on standard input; pipe it in, e.g. echo 'new password' | registry-admin reset-password ${login}\n`,
    )
    return 1
  }

  try {
    const { reenabled } = await resetPassword({ store: io.store, login, password })
    const note = reenabled ? '; the account was disabled and is enabled again' : ''
    stdout(`password of '${login}' changed${note}\n`)
    return 0
  } catch (error) {
    if (error instanceof ValidationError || error instanceof NotFoundError) {
      stderr(`reset-password: ${error.message}\n`)
      return 1
    }
    throw error
  }
}

const firstLine = (text: string): string => {
  const end = text.search(/\r?\n/)
  return end < 0 ? text : text.slice(0, end)
}
