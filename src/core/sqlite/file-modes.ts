import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  statSync,
  unlinkSync,
  writeSync,
  type Stats,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'

/**
 * Owner read and write only. The store holds password hashes and the UI session secret, so its
 * file and backups must not be readable by other local users. SQLite gives the `-wal`, `-shm`
 * and `-journal` files the mode of the database file.
 */
export const PRIVATE_FILE_MODE = 0o600

/** Owner only, for a folder the opener creates. */
export const PRIVATE_FOLDER_MODE = 0o700

const GROUP_OR_OTHERS = 0o077

/**
 * Makes sure the database file exists before SQLite opens it: SQLite itself would create it
 * with mode 0644. Missing parent folders are created with mode 0700; a folder or file that
 * already exists keeps its mode, since `./data.db` may sit in a shared working directory.
 *
 * @returns true when this call created the (empty) file with mode 0600.
 */
export function createPrivateFile(path: string): boolean {
  mkdirSync(dirname(path), { recursive: true, mode: PRIVATE_FOLDER_MODE })
  try {
    closeSync(openSync(path, 'wx', PRIVATE_FILE_MODE))
    return true
  } catch (error) {
    if (errorCode(error) === 'EEXIST') {
      return false
    }
    throw error
  }
}

/** A store file that group or others may read or write, with its mode in octal (`0644`). */
export interface LooseFile {
  path: string
  mode: string
}

/**
 * The existing files of the store at `path` that group or others may read or write: the
 * database, its `-wal` and `-shm` files, and its `.backup-*` copies.
 */
export function findLooseFiles(path: string): LooseFile[] {
  const folder = dirname(path)
  const backupPrefix = `${basename(path)}.backup-`
  const backups = listFolder(folder)
    .filter((name) => name.startsWith(backupPrefix))
    .sort()
    .map((name) => join(folder, name))
  const loose: LooseFile[] = []
  for (const file of [path, `${path}-wal`, `${path}-shm`, ...backups]) {
    const mode = fileMode(file)
    if (mode !== null && (mode & GROUP_OR_OTHERS) !== 0) {
      loose.push({ path: file, mode: mode.toString(8).padStart(4, '0') })
    }
  }

  return loose
}

/**
 * Writes `data` into a new file `target` created with mode 0600 and syncs it to disk. A partly
 * written target is removed.
 *
 * @returns false, writing nothing, when `target` already exists.
 */
export function writePrivateFile(target: string, data: Uint8Array): boolean {
  let out: number
  try {
    out = openSync(target, 'wx', PRIVATE_FILE_MODE)
  } catch (error) {
    if (errorCode(error) === 'EEXIST') {
      return false
    }
    throw error
  }

  try {
    for (let written = 0; written < data.length;) {
      written += writeSync(out, data, written, data.length - written)
    }
    fsyncSync(out)
  } catch (error) {
    closeSync(out)
    unlinkSync(target)
    throw error
  }
  closeSync(out)

  return true
}

/** The permission bits of a regular file, or null when there is none at `path`. */
function fileMode(path: string): number | null {
  const stats = statOrNull(path)

  return stats?.isFile() ? stats.mode & 0o777 : null
}

function statOrNull(path: string): Stats | null {
  try {
    return statSync(path)
  } catch (error) {
    if (errorCode(error) === 'ENOENT') {
      return null
    }
    throw error
  }
}

function listFolder(folder: string): string[] {
  try {
    return readdirSync(folder)
  } catch {
    // An unlistable folder only means that backups are not checked.
    return []
  }
}

function errorCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code
}
