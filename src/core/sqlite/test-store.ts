import type { Store } from '../store.ts'
import { openEmbedStore, type EmbedStoreLog } from './open-embed-store.ts'

/** One recorded log call. */
export interface LogEntry {
  level: 'warn' | 'info'
  obj: object
  msg: string
}

/** A log that keeps its entries, for assertions. */
export function recordingLog(): EmbedStoreLog & { entries: LogEntry[] } {
  const entries: LogEntry[] = []

  return {
    entries,
    warn: (obj, msg) => entries.push({ level: 'warn', obj, msg }),
    info: (obj, msg) => entries.push({ level: 'info', obj, msg }),
  }
}

/** A cheap bcrypt (cost 4) for tests; `Bun.password.verify` accepts it like a cost-10 hash. */
export function fastHash(password: string): Promise<string> {
  return Bun.password.hash(password, { algorithm: 'bcrypt', cost: 4 })
}

/**
 * A fresh in-memory store with the seeded admin (password `admin-password`) and group 1, for
 * tests: `using store = await openTestStore()`.
 */
export async function openTestStore(): Promise<Store> {
  const { store } = await openEmbedStore({
    path: ':memory:',
    adminPassword: 'admin-password',
    log: recordingLog(),
    hashPassword: fastHash,
  })

  return store
}

/** What a test asserts about a thrown error: its class name, code, status and message. */
export interface ErrorSummary {
  name: string
  code?: string
  status?: number
  message: string
}

/**
 * Runs `fn` and summarises what it threw, for `toEqual` on the whole structure.
 * @throws Error when `fn` does not throw.
 */
export function errorOf(fn: () => unknown): ErrorSummary {
  try {
    fn()
  } catch (error) {
    const { name, message, code, status } = error as Error & { code?: string; status?: number }
    return {
      name,
      message,
      ...(code === undefined ? {} : { code }),
      ...(status === undefined ? {} : { status }),
    }
  }
  throw new Error('expected the call to throw')
}

/** The summary of a `ConflictError` with `message`. */
export function conflict(message: string): ErrorSummary {
  return { name: 'ConflictError', code: 'CONFLICT', status: 409, message }
}

/** The summary of a `NotFoundError` with `message`. */
export function notFound(message: string): ErrorSummary {
  return { name: 'NotFoundError', code: 'NOT_FOUND', status: 404, message }
}

/** The summary of a `ValidationError` with `message`. */
export function invalid(message: string): ErrorSummary {
  return { name: 'ValidationError', code: 'VALIDATION', status: 400, message }
}
