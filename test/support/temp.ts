/**
 * Disposable temporary directories for tests.
 *
 * ```ts
 * await using dir = tempDir('oci-')
 * await Bun.write(`${dir.path}/x`, 'y')
 * // removed with everything in it when the scope ends
 * ```
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** A temporary directory that removes itself (recursively) when disposed. */
export interface TempDir {
  /** Absolute path of the directory; it exists until disposal. */
  readonly path: string
  /** Removes the directory and its contents. Safe to call more than once. */
  remove(): Promise<void>
  [Symbol.dispose](): void
  [Symbol.asyncDispose](): Promise<void>
}

/**
 * Creates a fresh directory under the system temp dir, named `<prefix><random>`.
 * Works with both `using` and `await using`.
 */
export function tempDir(prefix = 'registry-admin-'): TempDir {
  const path = mkdtempSync(join(tmpdir(), prefix))

  return {
    path,
    remove: () => rm(path, { recursive: true, force: true }),
    [Symbol.dispose]: () => rmSync(path, { recursive: true, force: true }),
    [Symbol.asyncDispose]: () => rm(path, { recursive: true, force: true }),
  }
}
