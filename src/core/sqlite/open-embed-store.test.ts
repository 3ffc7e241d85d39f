import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { buildLegacyDb, LEGACY_PASSWORD } from '../../../test/fixtures/legacy-db/build-legacy-db.ts'
import { LATEST_SCHEMA_VERSION, openEmbedStore } from './index.ts'
import type { ChildOutcome } from './open-store-child.ts'
import { fastHash, recordingLog } from './test-store.ts'

let dir = ''

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'embed-store-'))
})

afterEach(() => {
  rmSync(dir, { recursive: true, force: true })
})

function open(path: string, log = recordingLog(), adminPassword = 'first-password') {
  return openEmbedStore({ path, adminPassword, log, hashPassword: fastHash })
}

function userVersion(db: Database): number {
  return db.query<{ user_version: number }, []>('PRAGMA user_version').get()?.user_version ?? -1
}

function columnsOf(db: Database, table: string): string[] {
  return db
    .query<{ name: string }, []>(`PRAGMA table_info(${table})`)
    .all()
    .map((column) => column.name)
}

function uniqueColumnsOf(db: Database, table: string): string[][] {
  const indexes = db
    .query<{ name: string; unique: number }, []>(`PRAGMA index_list(${table})`)
    .all()
    .filter((index) => index.unique === 1)

  return indexes.map((index) =>
    db
      .query<{ name: string }, []>(`PRAGMA index_info(${index.name})`)
      .all()
      .map((column) => column.name),
  )
}

describe('openEmbedStore on a new file', () => {
  test('creates the folder and the database, and seeds the admin and the default group', async () => {
    const path = join(dir, 'nested', 'folder', 'data.db')
    const log = recordingLog()

    const { store, created } = await open(path, log)
    using _ = store
    const admin = store.getUserByLogin('admin')

    expect(created).toBe(true)
    expect(await Bun.password.verify('first-password', admin?.passwordHash ?? '')).toBe(true)
    expect(store.getGroup(1)?.name).toBe('default')
    expect(log.entries).toEqual([
      { level: 'info', obj: { path, schemaVersion: LATEST_SCHEMA_VERSION }, msg: 'store created' },
    ])
  })

  test('uses write-ahead logging and the latest schema version', async () => {
    const path = join(dir, 'data.db')
    const { store } = await open(path)
    store.close()

    using db = new Database(path, { readonly: true })

    expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'wal' })
    expect(userVersion(db)).toBe(LATEST_SCHEMA_VERSION)
  })

  test('hashes the admin password with bcrypt cost 10 by default', async () => {
    const { store } = await openEmbedStore({
      path: ':memory:',
      adminPassword: 'first-password',
      log: recordingLog(),
    })
    using _ = store

    expect(store.getUserByLogin('admin')?.passwordHash).toStartWith('$2b$10$')
  })

  test.each([
    ['admin', 'admin'],
    ['an empty password, which means admin', ''],
  ])('warns when the admin password is %s', async (_, adminPassword) => {
    const log = recordingLog()

    const { store } = await open(':memory:', log, adminPassword)
    using _store = store

    expect(log.entries[0]).toEqual({
      level: 'warn',
      obj: { login: 'admin' },
      msg: 'the default admin password is in use; change it before exposing the server',
    })
    expect(
      await Bun.password.verify('admin', store.getUserByLogin('admin')?.passwordHash ?? ''),
    ).toBe(true)
  })

  test('reopening keeps the data and neither seeds, migrates nor backs up again', async () => {
    const path = join(dir, 'data.db')
    const first = await open(path)
    first.store.createGroup({ name: 'ops', description: '' })
    first.store.close()
    const log = recordingLog()

    const { store, created } = await open(path, log, 'other-password')
    using _ = store

    expect(created).toBe(false)
    expect(store.listGroups({}).total).toBe(2)
    expect(
      await Bun.password.verify(
        'first-password',
        store.getUserByLogin('admin')?.passwordHash ?? '',
      ),
    ).toBe(true)
    expect(log.entries).toEqual([])
    expect(readdirSync(dir).filter((name) => name.includes('backup'))).toEqual([])
  })
})

describe('openEmbedStore on a legacy data.db', () => {
  async function openLegacy() {
    const path = join(dir, 'data.db')
    await buildLegacyDb(path)
    // The Go tool leaves the file readable by all; the warning about it is tested on its own.
    chmodSync(path, 0o600)
    const original = readFileSync(path)
    const log = recordingLog()
    const { store, created } = await open(path, log)

    return { path, original, log, store, created }
  }

  test('keeps every row readable, legacy NULLs included', async () => {
    const { store, created } = await openLegacy()
    using _ = store

    const admin = store.getUserByLogin('admin')

    expect(created).toBe(false)
    expect(admin?.passwordHash).toStartWith('$2a$10$')
    expect(await Bun.password.verify(LEGACY_PASSWORD, admin?.passwordHash ?? '')).toBe(true)
    expect(store.listUsers({}).items).toEqual([
      {
        id: 1,
        login: 'admin',
        name: 'admin',
        role: 'admin',
        group: 1,
        disabled: false,
        description: 'Default user with administration role ',
      },
      {
        id: 2,
        login: 'bob',
        name: 'Bob',
        role: 'user',
        group: 1,
        disabled: false,
        description: '',
      },
      {
        id: 3,
        login: 'carol',
        name: 'Carol',
        role: 'manager',
        group: 2,
        disabled: true,
        description: 'ops lead',
      },
      { id: 4, login: '123', name: '', role: 'user', group: 1, disabled: false, description: '' },
    ])
    expect(store.listGroups({}).items).toEqual([
      { id: 1, name: 'default', description: 'Default administration group' },
      { id: 2, name: 'ops', description: 'operators' },
    ])
    const rule = { isGroup: false, resourceType: 'repository', action: 'pull', disabled: false }
    expect(store.listAccessRules({}).items).toEqual([
      { ...rule, id: 1, ownerId: 2, name: 'bob pulls app', resourceName: 'ns/app' },
      {
        ...rule,
        id: 2,
        ownerId: 2,
        name: 'bob pushes app',
        resourceName: 'ns/app',
        action: 'push',
        disabled: true,
      },
      { ...rule, id: 3, ownerId: -1000, name: 'anyone pulls base', resourceName: 'public/base' },
      { ...rule, id: 4, ownerId: -999, name: 'members pull app', resourceName: 'ns/app' },
      { ...rule, id: 5, ownerId: 3, name: 'carol pulls other', resourceName: 'ns/other' },
    ])
  })

  test('a group rule no longer clashes with the user rule of the same id, and ids are not reused', async () => {
    const { store } = await openLegacy()
    using _ = store

    const groupRule = store.createAccessRule({
      ownerId: 2,
      isGroup: true,
      name: 'group 2 pulls app',
      resourceType: 'repository',
      resourceName: 'ns/app',
      action: 'pull',
      disabled: false,
    })

    expect(groupRule.id).toBe(7)
    expect(store.findEnabledRules('repository', [{ id: 2, isGroup: true }])).toEqual([groupRule])
  })

  test('keeps the mirror rows readable as entries without media type, platforms or blobs', async () => {
    const { store } = await openLegacy()
    using _ = store

    const legacy = { mediaType: '', platforms: [], blobs: [], createdAt: null, raw: '{}' }
    expect(store.listCatalogTags({}).items).toEqual([
      {
        ...legacy,
        id: 1,
        repositoryName: 'ns/app',
        tag: 'latest',
        digest: 'sha256:aaa',
        configDigest: 'sha256:c-aaa',
        size: 1000,
        pushedAt: 1700000000,
        pullCount: 3,
      },
      {
        ...legacy,
        id: 2,
        repositoryName: 'ns/app',
        tag: '1.0',
        digest: 'sha256:bbb',
        configDigest: 'sha256:c-bbb',
        size: 900,
        pushedAt: 1700000001,
        pullCount: 0,
      },
      {
        ...legacy,
        id: 3,
        repositoryName: '123',
        tag: 'v1',
        digest: 'sha256:ccc',
        configDigest: 'sha256:c-ccc',
        size: 10,
        pushedAt: 1700000002,
        pullCount: 0,
      },
    ])
    expect(store.listCatalogRepositories({ sort: { field: 'size', order: 'DESC' } })).toEqual({
      total: 2,
      items: [
        {
          id: 1,
          repositoryName: 'ns/app',
          tagCount: 2,
          size: 1900,
          pullCount: 3,
          pushedAt: 1700000001,
        },
        { id: 3, repositoryName: '123', tagCount: 1, size: 10, pullCount: 0, pushedAt: 1700000002 },
      ],
    })
  })

  test('the next sync refreshes a legacy mirror row and keeps its pull count', async () => {
    const { store } = await openLegacy()
    using _ = store

    const refreshed = {
      repositoryName: 'ns/app',
      tag: 'latest',
      digest: 'sha256:aaa',
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      configDigest: 'sha256:c-aaa',
      size: 1000,
      platforms: [],
      blobs: [
        { digest: 'sha256:c-aaa', size: 100 },
        { digest: 'sha256:layer', size: 900 },
      ],
      createdAt: 1690000000,
      pushedAt: 1800000000,
      raw: '{"schemaVersion":2}',
    }

    expect(store.upsertRepositoryEntry(refreshed)).toBe('changed')
    expect(store.getRepositoryEntry('ns/app', 'latest')).toEqual({
      ...refreshed,
      id: 1,
      pullCount: 3,
    })
  })

  test('upgrades the schema in place and logs where the backup is', async () => {
    const { path, store, log } = await openLegacy()
    store.close()

    using db = new Database(path, { strict: true })
    db.run(
      "INSERT INTO repositories (repository_name, tag, digest, config_digest) VALUES ('ns/index', 'v1', 'sha256:ddd', NULL)",
    )
    const names = db
      .query<{ name: string; kind: string }, []>(
        'SELECT repository_name AS name, typeof(repository_name) AS kind FROM repositories ORDER BY id',
      )
      .all()
    const accessColumns = columnsOf(db, 'access')

    expect(userVersion(db)).toBe(LATEST_SCHEMA_VERSION)
    expect(names).toEqual([
      { name: 'ns/app', kind: 'text' },
      { name: 'ns/app', kind: 'text' },
      { name: '123', kind: 'text' },
      { name: 'ns/index', kind: 'text' },
    ])
    expect(accessColumns).toEqual([
      'id',
      'owner_id',
      'is_group',
      'name',
      'resource_type',
      'resource_name',
      'action',
      'disabled',
    ])
    expect(uniqueColumnsOf(db, 'access')).toEqual([
      ['owner_id', 'is_group', 'resource_type', 'resource_name', 'action'],
    ])
    expect(columnsOf(db, 'repositories')).toEqual([
      'id',
      'repository_name',
      'tag',
      'digest',
      'config_digest',
      'size',
      'pull_counter',
      'timestamp',
      'raw',
      'media_type',
      'platforms',
      'blobs',
      'created_at',
    ])
    expect(columnsOf(db, 'processed_events')).toEqual(['id', 'received_at'])
    expect(log.entries).toEqual([
      {
        level: 'info',
        obj: {
          path,
          fromVersion: 0,
          toVersion: LATEST_SCHEMA_VERSION,
          migrations: [
            '1: legacy tables with fixed access uniqueness and repository types',
            '2: mirror media types, platforms and blobs; processed event ids',
          ],
          backup: `${path}.backup-0`,
        },
        msg: 'store schema upgraded',
      },
    ])
  })

  test('the backup is the untouched original file', async () => {
    const { path, original, store } = await openLegacy()
    store.close()

    using backup = new Database(`${path}.backup-0`, { readonly: true })

    expect(readFileSync(`${path}.backup-0`).equals(original)).toBe(true)
    expect(userVersion(backup)).toBe(0)
    expect(uniqueColumnsOf(backup, 'access')).toEqual([
      ['owner_id', 'resource_type', 'resource_name', 'action'],
    ])
  })

  test('reopening does not migrate again nor make another backup', async () => {
    const { path, store } = await openLegacy()
    store.close()
    const log = recordingLog()

    const again = await open(path, log)
    again.store.close()

    expect(again.created).toBe(false)
    expect(log.entries).toEqual([])
    expect(readdirSync(dir).filter((name) => name.includes('backup'))).toEqual(['data.db.backup-0'])
  })

  test('never overwrites an older backup', async () => {
    const path = join(dir, 'data.db')
    await buildLegacyDb(path)
    writeFileSync(`${path}.backup-0`, 'an older backup')

    const { store } = await open(path)
    store.close()

    expect(readFileSync(`${path}.backup-0`, 'utf8')).toBe('an older backup')
    expect(userVersionOfFile(`${path}.backup-0.1`)).toBe(0)
  })

  test('the backup holds the commits still in the write-ahead log', async () => {
    const path = join(dir, 'data.db')
    await buildLegacyDb(path)
    chmodSync(path, 0o600)
    // An open connection keeps its log from being checkpointed into the file on close.
    using writer = new Database(path)
    writer.run('PRAGMA journal_mode = WAL')
    writer.run("INSERT INTO groups (name, description) VALUES ('late', 'only in the log')")

    const { store } = await open(path)
    store.close()

    using backup = new Database(`${path}.backup-0`, { readonly: true })
    expect(backup.query('SELECT name FROM groups ORDER BY id').all()).toEqual([
      { name: 'default' },
      { name: 'ops' },
      { name: 'late' },
    ])
    expect(userVersion(backup)).toBe(0)
  })

  test('a failed migration leaves the file at its old version', async () => {
    const path = join(dir, 'data.db')
    await buildLegacyDb(path)
    const legacy = new Database(path)
    legacy.run('CREATE TABLE settings (name TEXT)')
    legacy.close()

    const opening = open(path)

    await expect(opening).rejects.toThrow(
      `cannot open the store '${path}': table settings already exists`,
    )
    using db = new Database(path, { readonly: true })
    expect(userVersion(db)).toBe(0)
    expect(db.query('PRAGMA journal_mode').get()).toEqual({ journal_mode: 'delete' })
    expect(uniqueColumnsOf(db, 'access')).toEqual([
      ['owner_id', 'resource_type', 'resource_name', 'action'],
    ])
  })
})

describe('openEmbedStore refuses', () => {
  test('a database written by a newer version', async () => {
    const path = join(dir, 'data.db')
    const newer = new Database(path)
    newer.run(`PRAGMA user_version = ${LATEST_SCHEMA_VERSION + 1}`)
    newer.close()

    await expect(open(path)).rejects.toThrow(
      `cannot open the store '${path}': its schema version is ${LATEST_SCHEMA_VERSION + 1} ` +
        `but this program knows versions up to ${LATEST_SCHEMA_VERSION}: a newer ` +
        'registry-admin wrote it; run that version or restore a backup',
    )
    expect(userVersionOfFile(path)).toBe(LATEST_SCHEMA_VERSION + 1)
    expect(readdirSync(dir)).toEqual(['data.db'])
  })

  test('a file that is not a database', async () => {
    const path = join(dir, 'data.db')
    writeFileSync(
      path,
      'this is not sqlite, just some text that is long enough to look like a header',
    )

    await expect(open(path)).rejects.toThrow(
      `cannot open the store '${path}': file is not a database`,
    )
  })

  test('with the reason in the message only, and as cause only an error from SQLite', async () => {
    const newer = join(dir, 'newer.db')
    const db = new Database(newer)
    db.run(`PRAGMA user_version = ${LATEST_SCHEMA_VERSION + 1}`)
    db.close()
    const garbage = join(dir, 'garbage.db')
    writeFileSync(garbage, 'this is not sqlite, just some text that is long enough for a header')

    const failures = [await failureOf(open(newer)), await failureOf(open(garbage))]

    expect(failures).toEqual([
      {
        message:
          `cannot open the store '${newer}': its schema version is ${LATEST_SCHEMA_VERSION + 1} ` +
          `but this program knows versions up to ${LATEST_SCHEMA_VERSION}: a newer ` +
          'registry-admin wrote it; run that version or restore a backup',
        cause: null,
      },
      {
        message: `cannot open the store '${garbage}': file is not a database`,
        cause: { name: 'SQLiteError', message: 'file is not a database' },
      },
    ])
  })

  test('an empty path', async () => {
    await expect(open('')).rejects.toThrow('the store path is empty')
  })
})

/** The message of the error `opening` rejects with, and the name and message of its cause. */
async function failureOf(opening: Promise<unknown>) {
  try {
    await opening
  } catch (error) {
    const { message, cause } = error as Error

    return {
      message,
      cause: cause instanceof Error ? { name: cause.name, message: cause.message } : null,
    }
  }
  throw new Error('expected the open to fail')
}

function modeOf(path: string): string {
  return (statSync(path).mode & 0o777).toString(8).padStart(4, '0')
}

function userVersionOfFile(path: string): number {
  using db = new Database(path, { readonly: true })

  return userVersion(db)
}

describe('openEmbedStore file modes', () => {
  test('creates the file, its -wal and -shm files with mode 0600 and new folders with 0700', async () => {
    const folder = join(dir, 'new')
    const path = join(folder, 'deeper', 'data.db')

    const { store } = await open(path)
    using _ = store
    store.setSetting('written', 'after the switch to write-ahead logging')

    expect([folder, join(folder, 'deeper')].map(modeOf)).toEqual(['0700', '0700'])
    expect([path, `${path}-wal`, `${path}-shm`].map(modeOf)).toEqual(['0600', '0600', '0600'])
  })

  test('never changes the mode of a folder that already exists', async () => {
    const folder = join(dir, 'shared')
    mkdirSync(folder)
    chmodSync(folder, 0o755)

    const { store } = await open(join(folder, 'data.db'))
    store.close()

    expect(modeOf(folder)).toBe('0755')
  })

  test('warns about an existing file others may read, keeps its mode and backs it up as 0600', async () => {
    const path = join(dir, 'data.db')
    await buildLegacyDb(path)
    chmodSync(path, 0o644)
    const log = recordingLog()

    const { store } = await open(path, log)
    store.close()

    expect(log.entries[0]).toEqual({
      level: 'warn',
      obj: { files: { [path]: '0644' } },
      msg:
        `other users may read or write ${path}, which hold password hashes and the session ` +
        `secret; run chmod 600 ${path}`,
    })
    expect([path, `${path}.backup-0`].map(modeOf)).toEqual(['0644', '0600'])
  })

  test('warns about each loose file of the store, backups included, quoting odd paths', async () => {
    const folder = join(dir, 'my store')
    const path = join(folder, 'data.db')
    const first = await open(path)
    first.store.close()
    writeFileSync(`${path}.backup-0`, 'an old backup')
    chmodSync(`${path}.backup-0`, 0o640)
    writeFileSync(join(folder, 'other.db'), '')
    chmodSync(join(folder, 'other.db'), 0o666)
    const log = recordingLog()

    const { store } = await open(path, log)
    store.close()

    expect(log.entries).toEqual([
      {
        level: 'warn',
        obj: { files: { [`${path}.backup-0`]: '0640' } },
        msg:
          `other users may read or write '${path}.backup-0', which hold password hashes and ` +
          `the session secret; run chmod 600 '${path}.backup-0'`,
      },
    ])
  })
})

describe('openEmbedStore opened twice at once', () => {
  test('in one process, one open creates a new file and the other finds it created', async () => {
    const path = join(dir, 'data.db')
    const logs = [recordingLog(), recordingLog()]

    const opened = await Promise.all(logs.map((log) => open(path, log)))
    for (const { store } of opened) {
      store.close()
    }

    expect(opened.map(({ created }) => created).sort()).toEqual([false, true])
    expect(logs.flatMap((log) => log.entries.map((entry) => entry.msg))).toEqual(['store created'])
    using db = new Database(path, { readonly: true })
    expect(db.query('SELECT login FROM users').all()).toEqual([{ login: 'admin' }])
  })

  test('in one process, one open upgrades a legacy file and backs it up once', async () => {
    const path = join(dir, 'data.db')
    await buildLegacyDb(path)
    chmodSync(path, 0o600)
    const logs = [recordingLog(), recordingLog()]

    const opened = await Promise.all(logs.map((log) => open(path, log)))
    for (const { store } of opened) {
      store.close()
    }

    expect(logs.flatMap((log) => log.entries.map((entry) => entry.msg))).toEqual([
      'store schema upgraded',
    ])
    expect(readdirSync(dir).filter((name) => name.includes('backup'))).toEqual(['data.db.backup-0'])
    expect(userVersionOfFile(`${path}.backup-0`)).toBe(0)
  })

  test('in two processes, exactly one creates a new file', async () => {
    const path = join(dir, 'data.db')

    const outcomes = await openInChildren(path, 2)

    expect(sortOutcomes(outcomes)).toEqual([
      { exitCode: 0, outcome: { created: false, logged: [] } },
      { exitCode: 0, outcome: { created: true, logged: ['store created'] } },
    ])
    using db = new Database(path, { readonly: true })
    expect(userVersion(db)).toBe(LATEST_SCHEMA_VERSION)
    expect(db.query('SELECT login FROM users').all()).toEqual([{ login: 'admin' }])
  })

  test('in two processes, exactly one upgrades a legacy file and backs it up', async () => {
    const path = join(dir, 'data.db')
    await buildLegacyDb(path)
    chmodSync(path, 0o600)

    const outcomes = await openInChildren(path, 2)

    expect(sortOutcomes(outcomes)).toEqual([
      { exitCode: 0, outcome: { created: false, logged: [] } },
      { exitCode: 0, outcome: { created: false, logged: ['store schema upgraded'] } },
    ])
    expect(readdirSync(dir).filter((name) => name.includes('backup'))).toEqual(['data.db.backup-0'])
    expect(userVersionOfFile(`${path}.backup-0`)).toBe(0)
    expect(userVersionOfFile(path)).toBe(LATEST_SCHEMA_VERSION)
  })
})

const CHILD = join(import.meta.dir, 'open-store-child.ts')

interface ChildResult {
  exitCode: number
  outcome: ChildOutcome
}

/** Starts `count` processes that each open `path`, all released at once when they are ready. */
async function openInChildren(path: string, count: number): Promise<ChildResult[]> {
  const children = Array.from({ length: count }, () =>
    Bun.spawn([process.execPath, CHILD, path], {
      stdin: 'pipe',
      stdout: 'pipe',
      stderr: 'inherit',
    }),
  )
  const outputs = children.map((child) => linesOf(child.stdout))

  const ready = await Promise.all(outputs.map((lines) => lines.next()))
  expect(ready.map((line) => line.value)).toEqual(children.map(() => 'ready'))
  for (const child of children) {
    child.stdin.write('go\n')
    child.stdin.end()
  }

  return await Promise.all(
    children.map(async (child, index) => {
      const line = await outputs[index]?.next()
      const exitCode = await child.exited

      return { exitCode, outcome: JSON.parse(String(line?.value)) as ChildOutcome }
    }),
  )
}

async function* linesOf(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let pending = ''
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true })
    for (let end = pending.indexOf('\n'); end >= 0; end = pending.indexOf('\n')) {
      yield pending.slice(0, end)
      pending = pending.slice(end + 1)
    }
  }
}

/** The quiet child first, then the one that logged what it did. */
function sortOutcomes(results: ChildResult[]): ChildResult[] {
  const logged = ({ outcome }: ChildResult) => ('logged' in outcome ? outcome.logged.length : -1)

  return results.toSorted((a, b) => logged(a) - logged(b))
}
