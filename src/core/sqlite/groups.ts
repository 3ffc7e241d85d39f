import type { Database, Statement } from 'bun:sqlite'

import { ConflictError, NotFoundError } from '../../errors.ts'
import type { Group, ListQuery, ListResult, NewGroup } from '../store.ts'
import { listFields, runList, type ListTable } from './list-query.ts'
import { readText } from './rows.ts'
import { isUniqueViolation } from './sqlite-errors.ts'

interface GroupRow {
  id: number
  name: string | null
  description: string | null
}

const COLUMNS = 'id, name, description'

const LIST: ListTable = {
  resource: 'groups',
  from: '"groups"',
  columns: COLUMNS,
  fields: listFields({
    id: { sql: 'id', kind: 'int' },
    name: { sql: "COALESCE(name, '')", kind: 'text' },
    description: { sql: "COALESCE(description, '')", kind: 'text' },
  }),
  search: ['name', 'description'],
}

/** The `groups` aggregate: groups, and on delete the rules they own. */
export class GroupTable {
  readonly #db: Database
  readonly #byId: Statement<GroupRow, [{ id: number }]>
  readonly #insert: Statement<GroupRow, [{ name: string; description: string }]>
  readonly #update: Statement<GroupRow, [{ id: number; name: string; description: string }]>
  readonly #delete: Statement<unknown, [{ id: number }]>
  readonly #deleteRules: Statement<unknown, [{ id: number }]>

  constructor(db: Database) {
    this.#db = db
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM "groups" WHERE id = $id`)
    this.#insert = db.prepare(
      `INSERT INTO "groups" (name, description) VALUES ($name, $description) RETURNING ${COLUMNS}`,
    )
    this.#update = db.prepare(
      `UPDATE "groups" SET name = $name, description = $description WHERE id = $id
       RETURNING ${COLUMNS}`,
    )
    this.#delete = db.prepare('DELETE FROM "groups" WHERE id = $id')
    this.#deleteRules = db.prepare('DELETE FROM access WHERE owner_id = $id AND is_group = 1')
  }

  list(query: ListQuery): ListResult<Group> {
    return runList(this.#db, LIST, query, toGroup)
  }

  get(id: number): Group | null {
    const row = this.#byId.get({ id })

    return row ? toGroup(row) : null
  }

  create(group: NewGroup): Group {
    try {
      const row = this.#insert.get({ name: group.name, description: group.description })

      return toGroup(row as GroupRow)
    } catch (error) {
      throw conflictOrRethrow(error, group.name)
    }
  }

  update(id: number, patch: Partial<NewGroup>): Group {
    return this.#db.transaction(() => {
      const current = this.get(id)
      if (current === null) {
        throw new NotFoundError(`group ${id} not found`)
      }

      const name = patch.name ?? current.name
      const description = patch.description ?? current.description
      try {
        return toGroup(this.#update.get({ id, name, description }) as GroupRow)
      } catch (error) {
        throw conflictOrRethrow(error, name)
      }
    })()
  }

  delete(id: number): void {
    this.#db.transaction(() => {
      if (this.#delete.run({ id }).changes === 0) {
        throw new NotFoundError(`group ${id} not found`)
      }
      this.#deleteRules.run({ id })
    })()
  }

  finalize(): void {
    for (const statement of [
      this.#byId,
      this.#insert,
      this.#update,
      this.#delete,
      this.#deleteRules,
    ]) {
      statement.finalize()
    }
  }
}

function conflictOrRethrow(error: unknown, name: string): unknown {
  return isUniqueViolation(error)
    ? new ConflictError(`a group named '${name}' already exists`, { cause: error })
    : error
}

function toGroup(row: GroupRow): Group {
  return { id: row.id, name: readText(row.name), description: readText(row.description) }
}
