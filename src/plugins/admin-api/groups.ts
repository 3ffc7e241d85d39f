import type { Group, NewGroup, Store } from '../../core/store.ts'
import { ConflictError, NotFoundError, ValidationError } from '../../errors.ts'
import { checkDescription, checkEchoedId, checkName } from './field-checks.ts'
import type { GroupCreateBody, GroupUpdateBody } from './model.ts'

/** Group 1, `default`: every user without another group belongs to it. */
export const DEFAULT_GROUP_ID = 1

/**
 * Creates a group.
 *
 * @throws ValidationError for a missing or too long field; ConflictError for a taken name.
 */
export const createGroup = (store: Store, body: GroupCreateBody): Group =>
  store.createGroup({
    name: checkName(body.name),
    description: checkDescription(body.description ?? ''),
  })

/**
 * Changes the fields given; absent ones keep their value.
 *
 * @throws NotFoundError for a missing group; ValidationError; ConflictError for a taken name.
 */
export const updateGroup = (store: Store, id: number, body: GroupUpdateBody): Group => {
  getGroupOrThrow(store, id)
  checkEchoedId(body.id, id)
  const patch: Partial<NewGroup> = {}
  if (body.name !== undefined) {
    patch.name = checkName(body.name ?? '')
  }
  if (body.description !== undefined) {
    patch.description = checkDescription(body.description ?? '')
  }
  return store.updateGroup(id, patch)
}

/**
 * Deletes a group and the access rules it owns. Its users keep their group number; the
 * answer says how many there are.
 *
 * @throws NotFoundError for a missing group; ConflictError for the default group.
 */
export const deleteGroup = (store: Store, id: number): { usersLeft: number } => {
  if (id === DEFAULT_GROUP_ID) {
    throw new ConflictError('group 1 is the default group of new users and cannot be deleted')
  }
  getGroupOrThrow(store, id)
  const usersLeft = store.listUsers({ filters: { group: id }, range: { start: 0, end: 0 } }).total
  store.deleteGroup(id)
  return { usersLeft }
}

export const getGroupOrThrow = (store: Store, id: number): Group => {
  const group = store.getGroup(id)
  if (!group) {
    throw new NotFoundError(`group ${id} not found`)
  }
  return group
}
