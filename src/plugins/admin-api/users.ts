import type { Authenticator } from '../../core/authenticator.ts'
import { hashPassword, passwordProblem } from '../../core/passwords.ts'
import { ROLES, type Role, type Store, type User, type UserPatch } from '../../core/store.ts'
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts'
import { checkDescription, checkEchoedId, checkName, printable } from './field-checks.ts'
import type { UserCreateBody, UserUpdateBody } from './model.ts'
import { revokeSessions } from './session.ts'

export interface UserServiceDeps {
  store: Store
  authenticator: Authenticator
  /** Called after every change to the user table (basic mode rewrites htpasswd then). */
  onUsersChanged?: () => void
}

const DEFAULT_GROUP = 1
const MAX_LOGIN_LENGTH = 64

// No colon (HTTP Basic splits on the first one), no whitespace and no control characters.
const LOGIN = /^[^\s:\p{Cc}\p{Cf}]+$/u

/**
 * Creates a user from the API's JSON.
 *
 * @throws ValidationError for a missing or malformed field or an unknown group; ConflictError
 * when the login is taken.
 */
export const createUser = async (deps: UserServiceDeps, body: UserCreateBody): Promise<User> => {
  const login = checkLogin(body.login)
  const name = checkName(body.name)
  const role = checkRole(body.role)
  const group = checkGroup(deps.store, body.group ?? DEFAULT_GROUP)
  const description = checkDescription(body.description ?? '')
  checkPassword(body.password)

  const passwordHash = await hashPassword(body.password)
  const user = deps.store.createUser({
    login,
    name,
    passwordHash,
    role,
    group,
    disabled: body.blocked ?? false,
    description,
  })
  deps.onUsersChanged?.()
  return user
}

/**
 * Applies a partial update: absent fields keep their value, and an absent, null or empty
 * `password` keeps the password. Changing the password, the role or the disabled flag drops
 * the user's remembered password checks; a new password or a disable also revokes their
 * refresh tokens, and a new password ends their UI sessions.
 *
 * @throws NotFoundError for a missing user; ValidationError for a malformed field, a login
 * change or an unknown group; ConflictError when the change would leave no enabled admin.
 */
export const updateUser = async (
  deps: UserServiceDeps,
  id: number,
  body: UserUpdateBody,
): Promise<User> => {
  const before = getUserOrThrow(deps.store, id)
  checkEchoedId(body.id, id)
  if (isGiven(body.login) && body.login !== before.login) {
    throw new ValidationError('the login of a user cannot be changed')
  }
  const patch = buildPatch(deps.store, before, body)
  const newPassword = isGiven(body.password) && body.password !== '' ? body.password : null
  if (newPassword !== null) {
    checkPassword(newPassword)
    patch.passwordHash = await hashPassword(newPassword)
  }

  // Read again: another request may have changed the user while the hash was computed.
  const current = getUserOrThrow(deps.store, id)
  const role = patch.role ?? current.role
  const disabled = patch.disabled ?? current.disabled
  if (role !== 'admin' || disabled) {
    checkNotLastAdmin(deps.store, current, role === 'admin' ? 'disable' : 'demote')
  }
  // The early check gives the usual answer; the store's check, made with the change in one
  // write transaction, is the one that holds when another server shares the database.
  const user = deps.store.updateUser(id, patch, { keepAnEnabledAdmin: true })

  const disabledNow = disabled && !current.disabled
  if (newPassword !== null || disabledNow) {
    deps.store.deleteRefreshTokensOfUser(id)
  }
  // A disable ends the user's sessions for good: enabling the account again later brings none
  // back. That also holds for an account that was already disabled when this update came.
  if (newPassword !== null || disabled || current.disabled) {
    revokeSessions(deps.store, id)
  }
  if (newPassword !== null || disabledNow || role !== current.role) {
    deps.authenticator.forgetUser(id)
  }
  deps.onUsersChanged?.()
  return user
}

/**
 * Deletes a user with their own access rules and refresh tokens.
 *
 * @throws NotFoundError for a missing user; ConflictError for the last enabled admin.
 */
export const deleteUser = (deps: UserServiceDeps, id: number): void => {
  const current = getUserOrThrow(deps.store, id)
  checkNotLastAdmin(deps.store, current, 'delete')
  // The store removes the user's refresh tokens in the same transaction.
  deps.store.deleteUser(id, { keepAnEnabledAdmin: true })
  deps.authenticator.forgetUser(id)
  deps.onUsersChanged?.()
}

/**
 * Sets a user's own new password after the current one was checked by the caller: revokes
 * their refresh tokens, their other sessions and their remembered checks.
 *
 * @throws ValidationError when the new password is not acceptable.
 */
export const changeOwnPassword = async (
  deps: UserServiceDeps,
  id: number,
  newPassword: string,
): Promise<User> => {
  checkPassword(newPassword)
  const passwordHash = await hashPassword(newPassword)
  const user = deps.store.updateUser(id, { passwordHash })
  deps.store.deleteRefreshTokensOfUser(id)
  revokeSessions(deps.store, id)
  deps.authenticator.forgetUser(id)
  deps.onUsersChanged?.()
  return user
}

/** Throws `ValidationError` with the reason when a new password is not acceptable. */
export const checkPassword = (password: string): void => {
  const problem = passwordProblem(password)
  if (problem) {
    throw new ValidationError(problem)
  }
}

export const getUserOrThrow = (store: Store, id: number): User => {
  const user = store.getUser(id)
  if (!user) {
    throw new NotFoundError(`user ${id} not found`)
  }
  return user
}

const buildPatch = (store: Store, before: User, body: UserUpdateBody): UserPatch => {
  const patch: UserPatch = {}
  if (body.name !== undefined) {
    patch.name = checkName(body.name ?? '')
  }
  if (isGiven(body.role)) {
    patch.role = checkRole(body.role)
  }
  if (isGiven(body.group)) {
    const group = body.group === 0 ? DEFAULT_GROUP : body.group
    // An unchanged group is accepted even when that group was deleted meanwhile.
    patch.group = group === before.group ? group : checkGroup(store, group)
  }
  if (isGiven(body.blocked)) {
    patch.disabled = body.blocked
  }
  if (body.description !== undefined) {
    patch.description = checkDescription(body.description ?? '')
  }
  return patch
}

const checkNotLastAdmin = (
  store: Store,
  user: User,
  change: 'delete' | 'demote' | 'disable',
): void => {
  if (user.role !== 'admin' || user.disabled || store.countEnabledAdmins() > 1) {
    return
  }
  throw new ConflictError(
    `cannot ${change} '${user.login}': it is the last enabled admin; make another user an enabled admin first`,
  )
}

const checkLogin = (login: string): string => {
  if (login === '') {
    throw new ValidationError('login is required')
  }
  if (login.length > MAX_LOGIN_LENGTH) {
    throw new ValidationError(`login must be at most ${MAX_LOGIN_LENGTH} characters long`)
  }
  if (!LOGIN.test(login)) {
    throw new ValidationError('login must not contain a colon, whitespace or control characters')
  }
  // The server signs its own registry tokens with a subject that starts with `$`; no user may
  // share it, or their pulls would pass for the server's own reads.
  if (login.startsWith('$')) {
    throw new ValidationError("logins starting with '$' are reserved for the server itself")
  }
  return login
}

const checkRole = (role: string): Role => {
  if (!(ROLES as readonly string[]).includes(role)) {
    throw new ValidationError(
      `role '${printable(role)}' is not allowed; use one of ${ROLES.join(', ')}`,
    )
  }
  return role as Role
}

const checkGroup = (store: Store, group: number): number => {
  const id = group === 0 ? DEFAULT_GROUP : group
  if (!store.getGroup(id)) {
    throw new ValidationError(`group ${id} does not exist`)
  }
  return id
}

const isGiven = <T>(value: T | null | undefined): value is T =>
  value !== undefined && value !== null
