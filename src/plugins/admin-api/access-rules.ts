import { KNOWN_ACTIONS, parseScope } from '../../core/scope.ts'
import {
  ANONYMOUS_OWNER_ID,
  REGISTERED_OWNER_ID,
  type AccessRule,
  type NewAccessRule,
  type Store,
} from '../../core/store.ts'
import { NotFoundError, ValidationError } from '../../errors.ts'
import { checkEchoedId, checkName, printable } from './field-checks.ts'
import type { AccessCreateBody, AccessUpdateBody } from './model.ts'

/** The resource types a rule may name. */
export const RESOURCE_TYPES = ['repository', 'registry'] as const

const MAX_RESOURCE_NAME_LENGTH = 255

/**
 * Creates an access rule. The owner must exist (a user, or a group when `is_group`), or be one
 * of the special owners -1000 (everybody) and -999 (every signed-in user).
 *
 * @throws ValidationError for a malformed field or a missing owner; ConflictError when the same
 * owner already has this action on this resource.
 */
export const createAccessRule = (store: Store, body: AccessCreateBody): AccessRule => {
  const rule: NewAccessRule = {
    ownerId: body.owner_id,
    isGroup: body.is_group ?? false,
    name: checkName(body.name),
    resourceType: checkType(body.type ?? 'repository'),
    resourceName: body.resource_name,
    action: checkAction(body.action),
    disabled: body.disabled ?? false,
  }
  checkOwner(store, rule.ownerId, rule.isGroup)
  checkResourceName(rule.resourceType, rule.resourceName)
  return store.createAccessRule(rule)
}

/**
 * Changes the fields given; absent ones keep their value. Fields that do not change are not
 * checked again, so a rule written by the Go tool can still be switched off.
 *
 * @throws NotFoundError for a missing rule; ValidationError; ConflictError as for create.
 */
export const updateAccessRule = (store: Store, id: number, body: AccessUpdateBody): AccessRule => {
  const before = getAccessRuleOrThrow(store, id)
  checkEchoedId(body.id, id)

  const patch: Partial<NewAccessRule> = {}
  if (body.owner_id !== undefined) {
    patch.ownerId = body.owner_id
  }
  if (isGiven(body.is_group)) {
    patch.isGroup = body.is_group
  }
  if (body.name !== undefined) {
    patch.name = checkName(body.name ?? '')
  }
  if (isGiven(body.type)) {
    patch.resourceType = checkType(body.type)
  }
  if (body.resource_name !== undefined) {
    patch.resourceName = body.resource_name ?? ''
  }
  if (isGiven(body.action)) {
    patch.action = body.action === before.action ? before.action : checkAction(body.action)
  }
  if (isGiven(body.disabled)) {
    patch.disabled = body.disabled
  }

  const after = { ...before, ...patch }
  if (after.ownerId !== before.ownerId || after.isGroup !== before.isGroup) {
    checkOwner(store, after.ownerId, after.isGroup)
  }
  if (after.resourceName !== before.resourceName || after.resourceType !== before.resourceType) {
    checkResourceName(after.resourceType, after.resourceName)
  }
  return store.updateAccessRule(id, patch)
}

export const getAccessRuleOrThrow = (store: Store, id: number): AccessRule => {
  const rule = store.getAccessRule(id)
  if (!rule) {
    throw new NotFoundError(`access rule ${id} not found`)
  }
  return rule
}

const checkOwner = (store: Store, ownerId: number, isGroup: boolean): void => {
  if (ownerId === 0) {
    throw new ValidationError('owner_id is required (a user id, or a group id with is_group)')
  }
  if (isGroup) {
    if (ownerId < 0 || !store.getGroup(ownerId)) {
      throw new ValidationError(`group ${ownerId} does not exist`)
    }
    return
  }
  if (ownerId === ANONYMOUS_OWNER_ID || ownerId === REGISTERED_OWNER_ID) {
    return
  }
  if (ownerId < 0) {
    throw new ValidationError(
      `owner_id ${ownerId} is not valid: use a user id, ${ANONYMOUS_OWNER_ID} (everybody) or ${REGISTERED_OWNER_ID} (every signed-in user)`,
    )
  }
  if (!store.getUser(ownerId)) {
    throw new ValidationError(`user ${ownerId} does not exist`)
  }
}

const checkType = (type: string): string => {
  if (!(RESOURCE_TYPES as readonly string[]).includes(type)) {
    throw new ValidationError(
      `type '${printable(type)}' is not allowed; use ${RESOURCE_TYPES.join(' or ')}`,
    )
  }
  return type
}

const checkAction = (action: string): string => {
  if (!(KNOWN_ACTIONS as readonly string[]).includes(action)) {
    throw new ValidationError(
      `action '${printable(action)}' is not allowed; use one of ${KNOWN_ACTIONS.join(', ')}`,
    )
  }
  return action
}

const checkResourceName = (type: string, name: string): void => {
  if (name === '') {
    throw new ValidationError('resource_name is required')
  }
  if (type === 'registry') {
    if (name !== 'catalog') {
      throw new ValidationError("the only resource_name of type registry is 'catalog'")
    }
    return
  }
  if (name.length > MAX_RESOURCE_NAME_LENGTH || /[\s\p{Cc}]/u.test(name)) {
    throw new ValidationError(
      `resource_name must be at most ${MAX_RESOURCE_NAME_LENGTH} characters without whitespace`,
    )
  }
  // A pattern that cannot match any repository name would silently grant nothing.
  try {
    parseScope(`repository:${name.replaceAll('*', 'x')}:pull`)
  } catch {
    throw new ValidationError(
      `resource_name '${printable(name)}' can never match a repository: use a name such as team/app, with * (within a path segment) or ** (across segments) as wildcards`,
    )
  }
}

const isGiven = <T>(value: T | null | undefined): value is T =>
  value !== undefined && value !== null
