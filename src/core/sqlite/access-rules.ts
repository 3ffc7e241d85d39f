import type { Database, Statement } from 'bun:sqlite'

import { ConflictError, NotFoundError } from '../../errors.ts'
import type { AccessRule, ListQuery, ListResult, NewAccessRule, RuleOwner } from '../store.ts'
import { listFields, runList, type ListTable } from './list-query.ts'
import { definedOnly, readBool, readText } from './rows.ts'
import { isUniqueViolation } from './sqlite-errors.ts'

interface AccessRow {
  id: number
  owner_id: number
  is_group: number | null
  name: string | null
  resource_type: string | null
  resource_name: string | null
  action: string | null
  disabled: number | null
}

type AccessValues = {
  ownerId: number
  isGroup: number
  name: string
  resourceType: string
  resourceName: string
  action: string
  disabled: number
}

const COLUMNS = 'id, owner_id, is_group, name, resource_type, resource_name, action, disabled'

const LIST: ListTable = {
  resource: 'access',
  from: 'access',
  columns: COLUMNS,
  fields: listFields({
    id: { sql: 'id', kind: 'int' },
    owner_id: { sql: 'owner_id', kind: 'int' },
    is_group: { sql: 'is_group', kind: 'bool' },
    name: { sql: "COALESCE(name, '')", kind: 'text' },
    type: { sql: "COALESCE(resource_type, '')", kind: 'text' },
    resource_type: { sql: "COALESCE(resource_type, '')", kind: 'text' },
    resource_name: { sql: "COALESCE(resource_name, '')", kind: 'text' },
    action: { sql: "COALESCE(action, '')", kind: 'text' },
    disabled: { sql: 'disabled', kind: 'bool' },
  }),
  search: ['name', 'resource_name'],
  // An owner id alone means a user's rules: user 1 and group 1 are different owners.
  impliedFilters: (filters): Record<string, boolean> =>
    'owner_id' in filters && !('is_group' in filters) ? { is_group: false } : {},
}

/** The `access` aggregate: one row per owner, resource and action. */
export class AccessRuleTable {
  readonly #db: Database
  readonly #byId: Statement<AccessRow, [{ id: number }]>
  readonly #insert: Statement<AccessRow, [AccessValues]>
  readonly #update: Statement<AccessRow, [AccessValues & { id: number }]>
  readonly #delete: Statement<unknown, [{ id: number }]>
  readonly #findEnabled: Statement<AccessRow, [{ type: string; users: string; groups: string }]>

  constructor(db: Database) {
    this.#db = db
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM access WHERE id = $id`)
    this.#insert = db.prepare(
      `INSERT INTO access (owner_id, is_group, name, resource_type, resource_name, action, disabled)
       VALUES ($ownerId, $isGroup, $name, $resourceType, $resourceName, $action, $disabled)
       RETURNING ${COLUMNS}`,
    )
    this.#update = db.prepare(
      `UPDATE access SET owner_id = $ownerId, is_group = $isGroup, name = $name,
         resource_type = $resourceType, resource_name = $resourceName, action = $action,
         disabled = $disabled
       WHERE id = $id RETURNING ${COLUMNS}`,
    )
    this.#delete = db.prepare('DELETE FROM access WHERE id = $id')
    // Owners travel as two JSON arrays, so one statement serves any number of them.
    this.#findEnabled = db.prepare(
      `SELECT ${COLUMNS} FROM access
       WHERE resource_type = $type AND disabled = 0 AND (
         (is_group = 0 AND owner_id IN (SELECT value FROM json_each($users)))
         OR (is_group = 1 AND owner_id IN (SELECT value FROM json_each($groups))))
       ORDER BY id`,
    )
  }

  list(query: ListQuery): ListResult<AccessRule> {
    return runList(this.#db, LIST, query, toRule)
  }

  get(id: number): AccessRule | null {
    const row = this.#byId.get({ id })

    return row ? toRule(row) : null
  }

  create(rule: NewAccessRule): AccessRule {
    try {
      return toRule(this.#insert.get(toValues(rule)) as AccessRow)
    } catch (error) {
      throw conflictOrRethrow(error, rule)
    }
  }

  update(id: number, patch: Partial<NewAccessRule>): AccessRule {
    return this.#db.transaction(() => {
      const current = this.get(id)
      if (current === null) {
        throw new NotFoundError(`access rule ${id} not found`)
      }

      const merged: NewAccessRule = { ...current, ...definedOnly(patch) }
      try {
        return toRule(this.#update.get({ id, ...toValues(merged) }) as AccessRow)
      } catch (error) {
        throw conflictOrRethrow(error, merged)
      }
    })()
  }

  delete(id: number): void {
    if (this.#delete.run({ id }).changes === 0) {
      throw new NotFoundError(`access rule ${id} not found`)
    }
  }

  findEnabled(resourceType: string, owners: readonly RuleOwner[]): AccessRule[] {
    const users = owners.filter((owner) => !owner.isGroup).map((owner) => owner.id)
    const groups = owners.filter((owner) => owner.isGroup).map((owner) => owner.id)
    if (users.length === 0 && groups.length === 0) {
      return []
    }

    const rows = this.#findEnabled.all({
      type: resourceType,
      users: JSON.stringify(users),
      groups: JSON.stringify(groups),
    })

    return rows.map(toRule)
  }

  finalize(): void {
    for (const statement of [
      this.#byId,
      this.#insert,
      this.#update,
      this.#delete,
      this.#findEnabled,
    ]) {
      statement.finalize()
    }
  }
}

function toValues(rule: NewAccessRule): AccessValues {
  return {
    ownerId: rule.ownerId,
    isGroup: rule.isGroup ? 1 : 0,
    name: rule.name,
    resourceType: rule.resourceType,
    resourceName: rule.resourceName,
    action: rule.action,
    disabled: rule.disabled ? 1 : 0,
  }
}

function conflictOrRethrow(error: unknown, rule: NewAccessRule): unknown {
  if (!isUniqueViolation(error)) {
    return error
  }

  const message = `this owner already has a '${rule.action}' rule on ${rule.resourceType} '${rule.resourceName}'`

  return new ConflictError(message, { cause: error })
}

function toRule(row: AccessRow): AccessRule {
  return {
    id: row.id,
    ownerId: row.owner_id,
    isGroup: readBool(row.is_group),
    name: readText(row.name),
    resourceType: readText(row.resource_type),
    resourceName: readText(row.resource_name),
    action: readText(row.action),
    disabled: readBool(row.disabled),
  }
}
