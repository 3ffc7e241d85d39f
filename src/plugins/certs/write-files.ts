import { randomBytes } from 'node:crypto'
import { constants } from 'node:fs'
import { chmod, copyFile, link, mkdir, open, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { CertsError } from './key-files.ts'

/** Mode of folders created for key files: only the owner may list them. */
// The registry, often another system user, must be able to read the CA certificate here; the
// private key keeps its own 0600.
const FOLDER_MODE = 0o755

/** `link` errors of file systems without hard links. */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'])

export interface NewFile {
  path: string
  content: string
  /** Exact permission bits, applied regardless of the umask. */
  mode: number
}

/**
 * Writes files that must not exist yet, each one atomically: the content goes to a temporary
 * file in the same folder, which is then hard-linked to the final name. `link` fails when the
 * name exists, so an existing file is never replaced, and a reader never sees half a file.
 * Missing folders are created with mode 0755. When one file fails, the files this call already
 * created are removed again, so no partial set is left behind.
 * @throws CertsError naming the file that could not be written or already exists.
 */
export async function writeNewFiles(files: NewFile[]): Promise<void> {
  const written: string[] = []
  try {
    for (const file of files) {
      await writeNewFile(file)
      written.push(file.path)
    }
  } catch (error) {
    await Promise.all(written.map((path) => unlink(path).catch(() => undefined)))
    throw error
  }
}

async function writeNewFile({ path, content, mode }: NewFile): Promise<void> {
  const folder = dirname(path)
  const temporary = join(folder, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`)
  try {
    if ((await mkdir(folder, { recursive: true, mode: FOLDER_MODE })) !== undefined) {
      // The umask may have narrowed the mode of the folder just created.
      await chmod(folder, FOLDER_MODE)
    }
    const handle = await open(temporary, 'wx', mode)
    try {
      await handle.writeFile(content)
      await handle.sync()
    } finally {
      await handle.close()
    }
    await chmod(temporary, mode)
    await linkExclusive(temporary, path)
  } catch (error) {
    throw new CertsError(describeWriteError(path, error), { cause: error })
  } finally {
    await unlink(temporary).catch(() => undefined)
  }
}

/**
 * NOTE: on a file system without hard links the content is copied instead; the copy still
 * refuses an existing name, but a crash in the middle of it can leave a partial file.
 */
async function linkExclusive(temporary: string, path: string): Promise<void> {
  try {
    await link(temporary, path)
  } catch (error) {
    if (!NO_HARD_LINKS.has((error as NodeJS.ErrnoException).code ?? '')) {
      throw error
    }
    await copyFile(temporary, path, constants.COPYFILE_EXCL)
  }
}

function describeWriteError(path: string, error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'EEXIST') {
    return `${path} appeared while the signing keys were generated; it was not overwritten`
  }
  return `${path} cannot be written (${code ?? String(error)})`
}
