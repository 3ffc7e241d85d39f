/**
 * The registry's htpasswd file in basic mode (`registry.auth_type: basic`): this server owns it
 * and rewrites it whole from the user table, one `login:bcrypt-hash` line per enabled user.
 *
 * ```ts
 * const htpasswd = await startHtpasswd({ config, store, log }) // null in token mode
 * createApp({ ..., onUsersChanged: () => htpasswd?.rewrite() })
 * ```
 */
import { randomUUID } from 'node:crypto'
import { mkdir, open, rename, rm, stat } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

import type { Logger } from 'pino'

import type { Config } from '../config.ts'
import { verifyPassword } from './passwords.ts'
import type { Store, UserWithHash } from './store.ts'

/** A bcrypt hash in the modular crypt format; `$2a$`, `$2b$` and `$2y$` all work with the registry. */
export const BCRYPT_HASH = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/

/** Mode of the file: it holds password hashes. */
export const HTPASSWD_MODE = 0o600

/** Mode of a parent folder this server creates; the file inside stays 0600. */
const FOLDER_MODE = 0o755

/** Why a user is left out of the file. */
export type SkipReason = 'hash-not-bcrypt' | 'login-unusable'

/** What one rendering of the file holds. */
export interface HtpasswdContent {
  text: string
  /** Logins written, in file order. */
  logins: string[]
  /** Users left out, with the reason. */
  skipped: { login: string; reason: SkipReason }[]
}

/**
 * Renders the file from enabled users: `login:hash` lines ending in `\n`. A user whose hash is
 * not bcrypt (the registry would never accept it) or whose login cannot be written on one
 * htpasswd line (a colon, a line break, surrounding spaces, a leading `#`) is left out.
 * Disabled users must not be passed in; `Store.listEnabledUsersWithHash` gives the right set.
 */
export const renderHtpasswd = (users: readonly UserWithHash[]): HtpasswdContent => {
  const content: HtpasswdContent = { text: '', logins: [], skipped: [] }
  const lines: string[] = []
  for (const user of users) {
    if (user.disabled) {
      continue
    }
    if (!isWritableLogin(user.login)) {
      content.skipped.push({ login: user.login, reason: 'login-unusable' })
      continue
    }
    if (!BCRYPT_HASH.test(user.passwordHash)) {
      content.skipped.push({ login: user.login, reason: 'hash-not-bcrypt' })
      continue
    }
    lines.push(`${user.login}:${user.passwordHash}\n`)
    content.logins.push(user.login)
  }
  content.text = lines.join('')

  return content
}

const isWritableLogin = (login: string): boolean =>
  login !== '' && login.trim() === login && !/[:\r\n]/.test(login) && !login.startsWith('#')

/**
 * Replaces a file atomically: writes a temporary file in the same folder with `mode`, flushes it
 * to disk, then renames it over the old one, so a reader sees the old file or the new one and
 * never a part. Missing parent folders are created. When the old file belongs to another owner
 * or group (an operator gave it to the registry's account), the new file gets the same owner and
 * group where the system allows it; `onOwnerLost` hears when it does not.
 *
 * @throws the file system's error; the temporary file is removed first.
 */
export const writeFileAtomic = async (
  path: string,
  text: string,
  mode: number,
  onOwnerLost?: (error: Error) => void,
): Promise<void> => {
  const folder = dirname(path)
  await mkdir(folder, { recursive: true, mode: FOLDER_MODE })
  const previous = await stat(path).catch(() => null)
  const temporary = join(folder, `.${basename(path)}.${randomUUID()}.tmp`)

  try {
    const handle = await open(temporary, 'wx', mode)
    try {
      await handle.writeFile(text)
      // The umask may have narrowed the mode given to open.
      await handle.chmod(mode)
      if (previous !== null) {
        await keepOwner(handle, previous, onOwnerLost)
      }
      await handle.sync()
    } finally {
      await handle.close()
    }
    await rename(temporary, path)
  } catch (error) {
    await rm(temporary, { force: true })
    throw error
  }
  await syncFolder(folder)
}

const keepOwner = async (
  handle: Awaited<ReturnType<typeof open>>,
  previous: { uid: number; gid: number },
  onOwnerLost?: (error: Error) => void,
): Promise<void> => {
  const current = await handle.stat()
  if (current.uid === previous.uid && current.gid === previous.gid) {
    return
  }
  try {
    await handle.chown(previous.uid, previous.gid)
  } catch (error) {
    onOwnerLost?.(error instanceof Error ? error : new Error(String(error)))
  }
}

/** Makes the rename itself durable; some file systems cannot open a folder, which is fine. */
const syncFolder = async (folder: string): Promise<void> => {
  try {
    const handle = await open(folder, 'r')
    try {
      await handle.sync()
    } finally {
      await handle.close()
    }
  } catch {
    // best effort only
  }
}

/** Options of {@link HtpasswdFile}. */
export interface HtpasswdFileOptions {
  /** `registry.htpasswd`. */
  path: string
  store: Pick<Store, 'listEnabledUsersWithHash'>
  log: Logger
  /** `registry.login`: a rewrite that leaves it out where the previous one had it warns. */
  serverLogin?: string
  /** Resolves after `ms` milliseconds, without keeping the process alive. @default a timer */
  delay?: (ms: number) => Promise<void>
}

/** The first wait before a failed rewrite is tried again; it doubles after each failure. */
export const HTPASSWD_RETRY_FIRST_MS = 1000

/** The longest wait between two attempts at a rewrite that keeps failing. */
export const HTPASSWD_RETRY_MAX_MS = 60_000

/** What a write put in the file. */
export interface HtpasswdWriteResult {
  users: number
  skipped: string[]
}

/**
 * The htpasswd file, rewritten from the store. Writes never overlap: a change made while a
 * write runs queues exactly one more write, which reads the store when it starts, so the file
 * always ends with the latest state however many changes came in between. A rewrite that
 * fails is tried again, after 1 s and then twice as long each time up to a minute, until one
 * succeeds; meanwhile {@link writeError} says why, for the health check.
 */
export class HtpasswdFile {
  readonly path: string
  readonly #store: Pick<Store, 'listEnabledUsersWithHash'>
  readonly #log: Logger
  readonly #serverLogin: string
  readonly #delay: (ms: number) => Promise<void>
  #tail: Promise<unknown> = Promise.resolve()
  #queued: Promise<HtpasswdWriteResult> | null = null
  #ownerWarned = false
  #hadServerLogin = false
  #writeError: string | null = null
  #retryMs = HTPASSWD_RETRY_FIRST_MS
  #retrying = false
  #stopped = false

  constructor(options: HtpasswdFileOptions) {
    this.path = options.path
    this.#store = options.store
    this.#log = options.log
    this.#serverLogin = options.serverLogin ?? ''
    this.#delay = options.delay ?? unrefDelay
  }

  /**
   * Why the last write failed, while no write has succeeded since: the registry still reads
   * the file as it was before. `null` when the file holds the latest state of the users.
   */
  get writeError(): string | null {
    return this.#writeError
  }

  /**
   * Writes the file now (after a write already running) and resolves when it is on disk.
   * @throws the file system's error, or the store's
   */
  write(): Promise<HtpasswdWriteResult> {
    if (this.#queued !== null) {
      return this.#queued
    }
    const next = this.#tail.then(async () => {
      this.#queued = null
      try {
        const result = await this.#writeNow()
        this.#writeError = null
        this.#retryMs = HTPASSWD_RETRY_FIRST_MS
        return result
      } catch (error) {
        this.#writeError = error instanceof Error ? error.message : String(error)
        throw error
      }
    })
    this.#queued = next
    this.#tail = next.catch(() => undefined)

    return next
  }

  /**
   * Queues a rewrite after a user change and returns at once. A failure is logged at error and
   * the rewrite is tried again later, until one succeeds (see {@link writeError}).
   */
  rewrite(): void {
    this.write().catch((error: unknown) => {
      this.#log.error(
        {
          path: this.path,
          err: error instanceof Error ? error.message : String(error),
          retryInMs: this.#stopped ? null : this.#retryMs,
        },
        'the htpasswd file could not be written; the registry keeps the previous one',
      )
      this.#retryLater()
    })
  }

  /** Resolves once no write is queued or running (a retry waiting for its time is neither). */
  async idle(): Promise<void> {
    await this.#tail
  }

  /** Stops trying a failed rewrite again, when the server stops. */
  stop(): void {
    this.#stopped = true
  }

  #retryLater(): void {
    if (this.#retrying || this.#stopped) {
      return
    }
    this.#retrying = true
    const ms = this.#retryMs
    this.#retryMs = Math.min(ms * 2, HTPASSWD_RETRY_MAX_MS)
    void this.#delay(ms).then(() => {
      this.#retrying = false
      // a user change may have written the file meanwhile
      if (!this.#stopped && this.#writeError !== null) {
        this.rewrite()
      }
    })
  }

  async #writeNow(): Promise<HtpasswdWriteResult> {
    const content = renderHtpasswd(this.#store.listEnabledUsersWithHash())
    for (const { login, reason } of content.skipped) {
      this.#log.warn(
        { login, reason },
        reason === 'hash-not-bcrypt'
          ? 'user left out of the htpasswd file: the password hash is not bcrypt; set a new password'
          : 'user left out of the htpasswd file: the login cannot be written there',
      )
    }
    const hasServerLogin = content.logins.includes(this.#serverLogin)
    const lostServerLogin = this.#hadServerLogin && !hasServerLogin
    this.#hadServerLogin = hasServerLogin
    if (lostServerLogin) {
      this.#log.warn(
        { login: this.#serverLogin },
        'registry.login is not in the htpasswd file: the registry will refuse this server',
      )
    }

    await writeFileAtomic(this.path, content.text, HTPASSWD_MODE, (error) => {
      if (!this.#ownerWarned) {
        this.#ownerWarned = true
        this.#log.warn(
          { path: this.path, err: error.message },
          'the htpasswd file could not keep its owner; make sure the registry can still read it',
        )
      }
    })
    this.#log.debug({ path: this.path, users: content.logins.length }, 'htpasswd file written')

    return { users: content.logins.length, skipped: content.skipped.map((s) => s.login) }
  }
}

/** Options of {@link startHtpasswd}. */
export interface StartHtpasswdOptions {
  config: Pick<Config, 'registry'>
  store: Pick<Store, 'listEnabledUsersWithHash' | 'getUserByLogin'>
  log: Logger
}

/**
 * In basic mode, writes the htpasswd file once and checks that `registry.login` and
 * `registry.password` name an enabled user of this server (the registry only knows the users
 * in the file, so otherwise this server locks itself out). Returns the file to rewrite after
 * user changes, or `null` in token mode.
 *
 * @throws Error with one readable sentence naming the path when the file cannot be written.
 */
export const startHtpasswd = async (
  options: StartHtpasswdOptions,
): Promise<HtpasswdFile | null> => {
  const { registry } = options.config
  if (registry.authType !== 'basic') {
    return null
  }
  const log = options.log.child({ component: 'htpasswd' })
  const file = new HtpasswdFile({
    path: registry.htpasswd,
    store: options.store,
    log,
    serverLogin: registry.login,
  })

  let written: HtpasswdWriteResult
  try {
    written = await file.write()
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error)
    throw new Error(
      `cannot write the htpasswd file (registry.htpasswd) ${registry.htpasswd}: ${reason}`,
    )
  }
  log.info({ path: file.path, users: written.users }, 'htpasswd file written')

  const problem = await registryLoginProblem(
    options.store,
    registry.login,
    registry.password.reveal(),
  )
  if (problem !== null) {
    log.warn({ login: registry.login }, problem)
  }

  return file
}

/**
 * Says why `registry.login` / `registry.password` would not get through the registry's
 * htpasswd check, or `null` when they would.
 */
export const registryLoginProblem = async (
  store: Pick<Store, 'getUserByLogin'>,
  login: string,
  password: string,
): Promise<string | null> => {
  const consequence = 'the registry will refuse this server (catalog, sync, deletes)'
  const user = login === '' ? null : store.getUserByLogin(login)
  if (user === null) {
    return `registry.login is not a user of this server, so it is not in the htpasswd file: ${consequence}; create that user or pick another login`
  }
  if (user.disabled) {
    return `registry.login names a disabled user, which is left out of the htpasswd file: ${consequence}`
  }
  if (!BCRYPT_HASH.test(user.passwordHash)) {
    return `the user of registry.login has a password hash that is not bcrypt: ${consequence}; set a new password`
  }
  if (!(await verifyPassword(password, user.passwordHash))) {
    return `registry.password is not the password of the user named by registry.login: ${consequence}`
  }

  return null
}

/** A timer that does not keep the process alive. */
const unrefDelay = (ms: number): Promise<void> =>
  new Promise((resolve) => {
    setTimeout(resolve, ms).unref()
  })
