import { describe, expect, test } from 'bun:test'

import { chown, mkdir, open, readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

import pino from 'pino'

import { tempDir } from '../../test/support/temp.ts'
import { loadConfig, type Config } from '../config.ts'
import {
  HtpasswdFile,
  registryLoginProblem,
  renderHtpasswd,
  startHtpasswd,
  writeFileAtomic,
} from './htpasswd.ts'
import { fastHash, openTestStore } from './sqlite/test-store.ts'
import type { UserWithHash } from './store.ts'

const HASH_A = `$2a$10$${'a'.repeat(53)}`
const HASH_B = `$2b$04$${'b'.repeat(53)}`
const HASH_Y = `$2y$10$${'y'.repeat(53)}`
const ARGON = '$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$aGFzaA'

const user = (login: string, passwordHash: string, disabled = false): UserWithHash => ({
  id: 1,
  login,
  name: login,
  role: 'user',
  group: 1,
  disabled,
  description: '',
  passwordHash,
})

/** Timers that fire only when told to; `fire` waits for the writes they start. */
const manualTimers = () => {
  const waiting: (() => void)[] = []
  const asked: number[] = []
  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      asked.push(ms)
      waiting.push(resolve)
    })
  const fire = async (file: { idle(): Promise<void> }) => {
    waiting.splice(0).forEach((wake) => wake())
    // the woken retry queues its write on the next turn
    await Promise.resolve()
    await file.idle()
  }
  return { delay, asked, waiting, fire }
}

/** A logger that keeps its lines, to assert on what was logged. */
const recordingLogger = () => {
  const lines: { level: number; msg: string; [key: string]: unknown }[] = []
  const log = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  return { log, lines, text: () => JSON.stringify(lines) }
}

const basicConfig = (htpasswd: string, login = 'admin', password = 'admin-password'): Config => {
  const loaded = loadConfig(
    [
      '--registry.auth-type=basic',
      `--registry.htpasswd=${htpasswd}`,
      `--registry.login=${login}`,
      `--registry.password=${password}`,
    ],
    {},
  )
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  return loaded.config
}

describe('renderHtpasswd', () => {
  test('writes one line per enabled user with a bcrypt hash of any prefix', () => {
    const content = renderHtpasswd([user('ann', HASH_A), user('bob', HASH_B), user('cy', HASH_Y)])

    expect(content).toEqual({
      text: `ann:${HASH_A}\nbob:${HASH_B}\ncy:${HASH_Y}\n`,
      logins: ['ann', 'bob', 'cy'],
      skipped: [],
    })
  })

  test('leaves out disabled users, hashes that are not bcrypt and unusable logins', () => {
    const content = renderHtpasswd([
      user('off', HASH_A, true),
      user('argon', ARGON),
      user('empty', ''),
      user('a:b', HASH_A),
      user(' pad', HASH_A),
      user('#comment', HASH_A),
      user('ok', HASH_B),
    ])

    expect(content).toEqual({
      text: `ok:${HASH_B}\n`,
      logins: ['ok'],
      skipped: [
        { login: 'argon', reason: 'hash-not-bcrypt' },
        { login: 'empty', reason: 'hash-not-bcrypt' },
        { login: 'a:b', reason: 'login-unusable' },
        { login: ' pad', reason: 'login-unusable' },
        { login: '#comment', reason: 'login-unusable' },
      ],
    })
  })

  test('an empty user list gives an empty file', () => {
    expect(renderHtpasswd([])).toEqual({ text: '', logins: [], skipped: [] })
  })
})

describe('writeFileAtomic', () => {
  test('creates missing folders and a file with exactly the mode asked for', async () => {
    await using dir = tempDir('ra-htpasswd-')
    const path = join(dir.path, 'a', 'b', 'htpasswd')

    await writeFileAtomic(path, 'x:y\n', 0o600)

    expect(await readFile(path, 'utf8')).toBe('x:y\n')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    expect(await readdir(join(dir.path, 'a', 'b'))).toEqual(['htpasswd'])
  })

  test('replaces the file by rename: a reader of the old file still reads it whole', async () => {
    await using dir = tempDir('ra-htpasswd-')
    const path = join(dir.path, 'htpasswd')
    await writeFile(path, 'old:line\n')
    const reader = await open(path, 'r')

    await writeFileAtomic(path, 'new:line\n', 0o600)

    expect(await reader.readFile('utf8')).toBe('old:line\n')
    await reader.close()
    expect(await readFile(path, 'utf8')).toBe('new:line\n')
    expect(await readdir(dir.path)).toEqual(['htpasswd'])
  })

  test('fails without leaving a temporary file when the target is a folder', async () => {
    await using dir = tempDir('ra-htpasswd-')
    const path = join(dir.path, 'htpasswd')
    await mkdir(path)

    const failure = await writeFileAtomic(path, 'x:y\n', 0o600).catch((error: Error) => error)

    expect(failure).toBeInstanceOf(Error)
    expect(await readdir(dir.path)).toEqual(['htpasswd'])
  })

  test.skipIf(process.getuid?.() !== 0)(
    'keeps the owner and group an operator gave the old file',
    async () => {
      await using dir = tempDir('ra-htpasswd-')
      const path = join(dir.path, 'htpasswd')
      await writeFile(path, 'old:line\n')
      await chown(path, 4321, 4322)

      await writeFileAtomic(path, 'new:line\n', 0o600)

      const after = await stat(path)
      expect([after.uid, after.gid, after.mode & 0o777]).toEqual([4321, 4322, 0o600])
    },
  )
})

describe('HtpasswdFile', () => {
  test('writes the enabled users of the store and never logs a hash', async () => {
    await using dir = tempDir('ra-htpasswd-')
    using store = await openTestStore()
    const bob = store.createUser({
      login: 'bob',
      name: 'Bob',
      passwordHash: await fastHash('bob-password'),
      role: 'user',
      group: 1,
      disabled: false,
      description: '',
    })
    store.createUser({ ...bob, login: 'off', passwordHash: HASH_A, disabled: true })
    store.createUser({ ...bob, login: 'argon', passwordHash: ARGON })
    const { log, lines, text } = recordingLogger()
    const file = new HtpasswdFile({ path: join(dir.path, 'htpasswd'), store, log })

    const result = await file.write()

    const written = await readFile(file.path, 'utf8')
    const admin = store.getUserByLogin('admin')?.passwordHash
    const bobHash = store.getUserByLogin('bob')?.passwordHash
    expect(written).toBe(`admin:${admin}\nbob:${bobHash}\n`)
    expect(result).toEqual({ users: 2, skipped: ['argon'] })
    expect(lines.filter((line) => line.level === 40).map((line) => [line.login, line.msg])).toEqual(
      [
        [
          'argon',
          'user left out of the htpasswd file: the password hash is not bcrypt; set a new password',
        ],
      ],
    )
    expect(text()).not.toContain('$2')
    expect(text()).not.toContain('argon2id')
  })

  test('serialises rewrites so that the last state wins, coalescing changes made meanwhile', async () => {
    await using dir = tempDir('ra-htpasswd-')
    let users = [user('one', HASH_A)]
    let reads = 0
    const store = {
      listEnabledUsersWithHash: () => {
        reads++
        return users
      },
    }
    const file = new HtpasswdFile({
      path: join(dir.path, 'htpasswd'),
      store,
      log: pino({ level: 'silent' }),
    })

    file.rewrite()
    users = [user('two', HASH_B)]
    file.rewrite()
    users = [user('three', HASH_Y)]
    file.rewrite()
    file.rewrite()
    await file.idle()

    expect(await readFile(file.path, 'utf8')).toBe(`three:${HASH_Y}\n`)
    expect(reads).toBe(1)
  })

  test('a change during a running write queues one more write with the newer state', async () => {
    await using dir = tempDir('ra-htpasswd-')
    let users = [user('one', HASH_A)]
    let reads = 0
    let second: Promise<unknown> | undefined
    const store = {
      listEnabledUsersWithHash: () => {
        reads++
        const now = users
        if (reads === 1) {
          // a user change lands while the first write is under way
          users = [user('two', HASH_B)]
          second = file.write()
        }
        return now
      },
    }
    const file = new HtpasswdFile({
      path: join(dir.path, 'htpasswd'),
      store,
      log: pino({ level: 'silent' }),
    })

    await file.write()
    await second

    expect(reads).toBe(2)
    expect(await readFile(file.path, 'utf8')).toBe(`two:${HASH_B}\n`)
  })

  test('a failed rewrite is logged at error, reported, and tried again with growing waits until it works', async () => {
    await using dir = tempDir('ra-htpasswd-')
    const blocker = join(dir.path, 'blocked')
    await writeFile(blocker, 'a file where a folder should be')
    const path = join(blocker, 'htpasswd')
    const users = [user('one', HASH_A)]
    const { log, lines } = recordingLogger()
    const timers = manualTimers()
    const file = new HtpasswdFile({
      path,
      store: { listEnabledUsersWithHash: () => users },
      log,
      delay: timers.delay,
    })

    file.rewrite()
    await file.idle()
    const failed = file.writeError
    await timers.fire(file)
    await Bun.file(blocker).delete()
    await timers.fire(file)

    expect(failed).toStartWith('EEXIST: file already exists, mkdir')
    expect(timers.asked).toEqual([1000, 2000])
    expect(lines.filter((line) => line.level === 50).map((line) => [line.path, line.msg])).toEqual([
      [path, 'the htpasswd file could not be written; the registry keeps the previous one'],
      [path, 'the htpasswd file could not be written; the registry keeps the previous one'],
    ])
    expect([file.writeError, await readFile(path, 'utf8')]).toEqual([null, `one:${HASH_A}\n`])
  })

  test('waits at most a minute between attempts, and stops trying when stopped', async () => {
    await using dir = tempDir('ra-htpasswd-')
    const blocker = join(dir.path, 'blocked')
    await writeFile(blocker, 'a file where a folder should be')
    const timers = manualTimers()
    const file = new HtpasswdFile({
      path: join(blocker, 'htpasswd'),
      store: { listEnabledUsersWithHash: () => [] },
      log: pino({ level: 'silent' }),
      delay: timers.delay,
    })

    file.rewrite()
    await file.idle()
    for (let attempt = 0; attempt < 7; attempt++) {
      await timers.fire(file)
    }
    file.stop()
    await timers.fire(file)

    expect(timers.asked).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000])
    expect(timers.waiting).toHaveLength(0)
  })

  test('a change while a retry waits writes at once, and a success ends the retries', async () => {
    await using dir = tempDir('ra-htpasswd-')
    const blocker = join(dir.path, 'blocked')
    await writeFile(blocker, 'a file where a folder should be')
    const timers = manualTimers()
    const file = new HtpasswdFile({
      path: join(blocker, 'htpasswd'),
      store: { listEnabledUsersWithHash: () => [user('one', HASH_A)] },
      log: pino({ level: 'silent' }),
      delay: timers.delay,
    })

    file.rewrite()
    await file.idle()
    await Bun.file(blocker).delete()
    file.rewrite()
    await file.idle()
    await timers.fire(file)

    expect([file.writeError, timers.asked, timers.waiting.length]).toEqual([null, [1000], 0])
  })

  test('warns when a rewrite leaves out the login this server uses', async () => {
    await using dir = tempDir('ra-htpasswd-')
    const { log, lines } = recordingLogger()
    let users = [user('robot', HASH_A), user('other', HASH_B)]
    const file = new HtpasswdFile({
      path: join(dir.path, 'htpasswd'),
      store: { listEnabledUsersWithHash: () => users },
      log,
      serverLogin: 'robot',
    })

    await file.write()
    users = [user('other', HASH_B)]
    await file.write()
    await file.write()

    expect(lines.filter((line) => line.level === 40).map((line) => [line.login, line.msg])).toEqual(
      [
        [
          'robot',
          'registry.login is not in the htpasswd file: the registry will refuse this server',
        ],
      ],
    )
  })
})

describe('startHtpasswd', () => {
  test('does nothing in token mode', async () => {
    using store = await openTestStore()
    const loaded = loadConfig([], {})
    if (loaded.kind !== 'config') {
      throw new Error('unexpected help output')
    }

    expect(
      await startHtpasswd({ config: loaded.config, store, log: pino({ level: 'silent' }) }),
    ).toBeNull()
  })

  test('writes the file at start and is quiet when registry.login is a good user', async () => {
    await using dir = tempDir('ra-htpasswd-')
    using store = await openTestStore()
    const { log, lines } = recordingLogger()
    const path = join(dir.path, 'auth', 'htpasswd')

    const file = await startHtpasswd({ config: basicConfig(path), store, log })

    expect(file?.path).toBe(path)
    expect((await readFile(path, 'utf8')).startsWith('admin:$2')).toBe(true)
    expect(lines.filter((line) => line.level >= 40)).toEqual([])
  })

  test('a file that cannot be written is one clear start-up error', async () => {
    await using dir = tempDir('ra-htpasswd-')
    using store = await openTestStore()
    const blocker = join(dir.path, 'blocked')
    await writeFile(blocker, '')
    const path = join(blocker, 'htpasswd')

    const failure = await startHtpasswd({
      config: basicConfig(path),
      store,
      log: pino({ level: 'silent' }),
    }).catch((error: Error) => error)

    expect(failure).toBeInstanceOf(Error)
    expect((failure as Error).message).toStartWith(
      `cannot write the htpasswd file (registry.htpasswd) ${path}: `,
    )
  })

  test('warns at start when registry.password does not match registry.login', async () => {
    await using dir = tempDir('ra-htpasswd-')
    using store = await openTestStore()
    const { log, lines } = recordingLogger()

    await startHtpasswd({
      config: basicConfig(join(dir.path, 'htpasswd'), 'admin', 'wrong-password'),
      store,
      log,
    })

    expect(lines.filter((line) => line.level === 40).map((line) => line.msg)).toEqual([
      'registry.password is not the password of the user named by registry.login: the registry will refuse this server (catalog, sync, deletes)',
    ])
  })
})

describe('registryLoginProblem', () => {
  test('names each way the server would lock itself out', async () => {
    using store = await openTestStore()
    const hash = await fastHash('robot-password')
    const base = { name: 'r', role: 'user' as const, group: 1, description: '' }
    store.createUser({ ...base, login: 'robot', passwordHash: hash, disabled: false })
    store.createUser({ ...base, login: 'off', passwordHash: hash, disabled: true })
    store.createUser({ ...base, login: 'argon', passwordHash: ARGON, disabled: false })

    const problems = await Promise.all(
      [
        ['robot', 'robot-password'],
        ['nobody', 'robot-password'],
        ['off', 'robot-password'],
        ['argon', 'robot-password'],
        ['robot', 'wrong'],
      ].map(([login, password]) =>
        registryLoginProblem(store, login as string, password as string),
      ),
    )

    expect(problems.map((problem) => problem?.split(':')[0] ?? null)).toEqual([
      null,
      'registry.login is not a user of this server, so it is not in the htpasswd file',
      'registry.login names a disabled user, which is left out of the htpasswd file',
      'the user of registry.login has a password hash that is not bcrypt',
      'registry.password is not the password of the user named by registry.login',
    ])
  })
})
