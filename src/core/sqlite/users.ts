import type { Database, Statement } from 'bun:sqlite'

import { ConflictError, NotFoundError } from '../../errors.ts'
import {
  ROLES,
  type ListQuery,
  type ListResult,
  type NewUser,
  type Role,
  type User,
  type UserChangeOptions,
  type UserPatch,
  type UserWithHash,
} from '../store.ts'
import { listFields, runList, type ListTable } from './list-query.ts'
import { definedOnly, readBool, readInt, readText } from './rows.ts'
import { isUniqueViolation } from './sqlite-errors.ts'

/** A `users` row as the legacy schema allows it: every column but the id may be NULL. */
interface UserRow {
  id: number
  login: string | null
  name: string | null
  role: string | null
  user_group: number | null
  disabled: number | null
  description: string | null
}

interface UserRowWithHash extends UserRow {
  password: string | null
}

const COLUMNS = 'id, login, name, role, user_group, disabled, description'
const DEFAULT_GROUP = 1

const LIST: ListTable = {
  resource: 'users',
  from: 'users',
  columns: COLUMNS,
  fields: listFields({
    id: { sql: 'id', kind: 'int' },
    login: { sql: "COALESCE(login, '')", kind: 'text' },
    name: { sql: "COALESCE(name, '')", kind: 'text' },
    role: { sql: "COALESCE(role, '')", kind: 'text' },
    group: { sql: `COALESCE(user_group, ${DEFAULT_GROUP})`, kind: 'int' },
    user_group: { sql: `COALESCE(user_group, ${DEFAULT_GROUP})`, kind: 'int' },
    blocked: { sql: 'COALESCE(disabled, 0)', kind: 'bool' },
    disabled: { sql: 'COALESCE(disabled, 0)', kind: 'bool' },
    description: { sql: "COALESCE(description, '')", kind: 'text' },
  }),
  search: ['login', 'name', 'description'],
}

type UserValues = {
  name: string
  password: string
  role: string
  group: number
  disabled: number
  description: string
}

/** The `users` aggregate: users, and on delete their own rules and refresh tokens. */
export class UserTable {
  readonly #db: Database
  readonly #byId: Statement<UserRow, [{ id: number }]>
  readonly #byIdWithHash: Statement<UserRowWithHash, [{ id: number }]>
  readonly #byLogin: Statement<UserRowWithHash, [{ login: string }]>
  readonly #enabledWithHash: Statement<UserRowWithHash, []>
  readonly #insert: Statement<UserRow, [UserValues & { login: string }]>
  readonly #update: Statement<UserRow, [UserValues & { id: number }]>
  readonly #delete: Statement<unknown, [{ id: number }]>
  readonly #deleteRules: Statement<unknown, [{ id: number }]>
  readonly #deleteTokens: Statement<unknown, [{ id: number }]>
  readonly #countAdmins: Statement<{ n: number }, []>

  constructor(db: Database) {
    this.#db = db
    this.#byId = db.prepare(`SELECT ${COLUMNS} FROM users WHERE id = $id`)
    this.#byIdWithHash = db.prepare(`SELECT ${COLUMNS}, password FROM users WHERE id = $id`)
    this.#byLogin = db.prepare(`SELECT ${COLUMNS}, password FROM users WHERE login = $login`)
    this.#enabledWithHash = db.prepare(
      `SELECT ${COLUMNS}, password FROM users WHERE COALESCE(disabled, 0) = 0 ORDER BY id`,
    )
    this.#insert = db.prepare(
      `INSERT INTO users (login, name, password, role, user_group, disabled, description)
       VALUES ($login, $name, $password, $role, $group, $disabled, $description)
       RETURNING ${COLUMNS}`,
    )
    this.#update = db.prepare(
      `UPDATE users SET name = $name, password = $password, role = $role, user_group = $group,
         disabled = $disabled, description = $description
       WHERE id = $id RETURNING ${COLUMNS}`,
    )
    this.#delete = db.prepare('DELETE FROM users WHERE id = $id')
    this.#deleteRules = db.prepare('DELETE FROM access WHERE owner_id = $id AND is_group = 0')
    this.#deleteTokens = db.prepare('DELETE FROM refresh_tokens WHERE user_id = $id')
    this.#countAdmins = db.prepare(
      "SELECT count(*) AS n FROM users WHERE role = 'admin' AND COALESCE(disabled, 0) = 0",
    )
  }

  list(query: ListQuery): ListResult<User> {
    return runList(this.#db, LIST, query, toUser)
  }

  get(id: number): User | null {
    const row = this.#byId.get({ id })

    return row ? toUser(row) : null
  }

  getWithHash(id: number): UserWithHash | null {
    const row = this.#byIdWithHash.get({ id })

    return row ? toUserWithHash(row) : null
  }

  getByLogin(login: string): UserWithHash | null {
    const row = this.#byLogin.get({ login })

    return row ? toUserWithHash(row) : null
  }

  listEnabledWithHash(): UserWithHash[] {
    return this.#enabledWithHash.all().map(toUserWithHash)
  }

  create(user: NewUser): User {
    try {
      const row = this.#insert.get({ login: user.login, ...toValues(user) })

      return toUser(row as UserRow)
    } catch (error) {
      throw conflictOrRethrow(error, user.login)
    }
  }

  update(id: number, patch: UserPatch, options: UserChangeOptions = {}): User {
    // Immediate: the read, the write and the admin check see and hold one version of the table.
    return this.#db
      .transaction(() => {
        const current = this.getWithHash(id)
        if (current === null) {
          throw new NotFoundError(`user ${id} not found`)
        }

        const merged = { ...current, ...definedOnly(patch) }
        const row = this.#update.get({ id, ...toValues(merged) })
        if (options.keepAnEnabledAdmin && isEnabledAdmin(current) && !isEnabledAdmin(merged)) {
          this.#checkAnAdminRemains(current, merged.role === 'admin' ? 'disable' : 'demote')
        }

        return toUser(row as UserRow)
      })
      .immediate()
  }

  delete(id: number, options: UserChangeOptions = {}): void {
    this.#db
      .transaction(() => {
        const current = this.get(id)
        if (current === null) {
          throw new NotFoundError(`user ${id} not found`)
        }

        this.#delete.run({ id })
        this.#deleteRules.run({ id })
        this.#deleteTokens.run({ id })
        if (options.keepAnEnabledAdmin && isEnabledAdmin(current)) {
          this.#checkAnAdminRemains(current, 'delete')
        }
      })
      .immediate()
  }

  countEnabledAdmins(): number {
    return this.#countAdmins.get()?.n ?? 0
  }

  /** Throws, rolling the change back, when it left no enabled admin. */
  #checkAnAdminRemains(user: User, change: 'delete' | 'demote' | 'disable'): void {
    if (this.countEnabledAdmins() > 0) {
      return
    }

    throw new ConflictError(
      `cannot ${change} '${user.login}': it is the last enabled admin; make another user an ` +
        'enabled admin first',
    )
  }

  finalize(): void {
    for (const statement of [
      this.#byId,
      this.#byIdWithHash,
      this.#byLogin,
      this.#enabledWithHash,
      this.#insert,
      this.#update,
      this.#delete,
      this.#deleteRules,
      this.#deleteTokens,
      this.#countAdmins,
    ]) {
      statement.finalize()
    }
  }
}

function toValues(user: Omit<NewUser, 'login'>): UserValues {
  return {
    name: user.name,
    password: user.passwordHash,
    role: user.role,
    group: user.group,
    disabled: user.disabled ? 1 : 0,
    description: user.description,
  }
}

function conflictOrRethrow(error: unknown, login: string): unknown {
  return isUniqueViolation(error)
    ? new ConflictError(`a user with login '${login}' already exists`, { cause: error })
    : error
}

function isEnabledAdmin(user: Pick<User, 'role' | 'disabled'>): boolean {
  return user.role === 'admin' && !user.disabled
}

/** An unknown legacy role reads as the least privileged one. */
function toRole(value: unknown): Role {
  return ROLES.find((role) => role === value) ?? 'user'
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    login: readText(row.login),
    name: readText(row.name),
    role: toRole(row.role),
    group: readInt(row.user_group, DEFAULT_GROUP),
    disabled: readBool(row.disabled),
    description: readText(row.description),
  }
}

function toUserWithHash(row: UserRowWithHash): UserWithHash {
  return { ...toUser(row), passwordHash: readText(row.password) }
}
