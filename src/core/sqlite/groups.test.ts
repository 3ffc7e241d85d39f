import { describe, expect, test } from 'bun:test'

import { conflict, errorOf, notFound, openTestStore } from './test-store.ts'

describe('groups', () => {
  test('group 1 is the seeded default group', async () => {
    using store = await openTestStore()

    expect(store.getGroup(1)).toEqual({
      id: 1,
      name: 'default',
      description: 'Default administration group',
    })
  })

  test('creates, reads, updates and deletes a group', async () => {
    using store = await openTestStore()

    const ops = store.createGroup({ name: 'ops', description: 'operators' })
    const renamed = store.updateGroup(ops.id, { name: "O'Reilly ops" })
    const read = store.getGroup(ops.id)
    store.deleteGroup(ops.id)

    expect(ops).toEqual({ id: 2, name: 'ops', description: 'operators' })
    expect(renamed).toEqual({ id: 2, name: "O'Reilly ops", description: 'operators' })
    expect(read).toEqual(renamed)
    expect(store.getGroup(ops.id)).toBeNull()
  })

  test('a duplicate name is a conflict on create and on update', async () => {
    using store = await openTestStore()
    const ops = store.createGroup({ name: 'ops', description: '' })

    expect(errorOf(() => store.createGroup({ name: 'ops', description: 'again' }))).toEqual(
      conflict("a group named 'ops' already exists"),
    )
    expect(errorOf(() => store.updateGroup(ops.id, { name: 'default' }))).toEqual(
      conflict("a group named 'default' already exists"),
    )
  })

  test('update and delete of a missing group are not-found errors', async () => {
    using store = await openTestStore()

    expect(errorOf(() => store.updateGroup(9, { name: 'x' }))).toEqual(
      notFound('group 9 not found'),
    )
    expect(errorOf(() => store.deleteGroup(9))).toEqual(notFound('group 9 not found'))
  })

  test('deleteGroup removes the group rules only, and users keep their group number', async () => {
    using store = await openTestStore()
    const ops = store.createGroup({ name: 'ops', description: '' })
    const rule = {
      name: 'r',
      resourceType: 'repository',
      resourceName: 'ns/app',
      action: 'pull',
      disabled: false,
    }
    store.createAccessRule({ ...rule, ownerId: ops.id, isGroup: true })
    const userRule = store.createAccessRule({ ...rule, ownerId: ops.id, isGroup: false })
    const member = store.createUser({
      login: 'bob',
      name: 'Bob',
      passwordHash: 'h',
      role: 'user',
      group: ops.id,
      disabled: false,
      description: '',
    })

    store.deleteGroup(ops.id)

    expect(store.listAccessRules({}).items).toEqual([userRule])
    expect(store.getUser(member.id)?.group).toBe(ops.id)
  })
})
