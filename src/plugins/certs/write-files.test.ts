import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CertsError } from './key-files.ts'
import { writeNewFiles } from './write-files.ts'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'write-files-test-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('writeNewFiles', () => {
  test('writes each file with its exact mode and leaves no temporary file', async () => {
    const previousUmask = process.umask(0o077)
    try {
      await writeNewFiles([
        { path: join(dir, 'a.key'), content: 'secret\n', mode: 0o600 },
        { path: join(dir, 'sub', 'b.pub'), content: 'public\n', mode: 0o644 },
      ])
    } finally {
      process.umask(previousUmask)
    }

    expect(await Bun.file(join(dir, 'a.key')).text()).toBe('secret\n')
    expect((await stat(join(dir, 'a.key'))).mode & 0o777).toBe(0o600)
    expect((await stat(join(dir, 'sub', 'b.pub'))).mode & 0o777).toBe(0o644)
    expect((await stat(join(dir, 'sub'))).mode & 0o777).toBe(0o755)
    expect((await readdir(dir)).sort()).toEqual(['a.key', 'sub'])
    expect(await readdir(join(dir, 'sub'))).toEqual(['b.pub'])
  })

  test('never replaces an existing file and removes the files it wrote before', async () => {
    await writeFile(join(dir, 'b.pub'), 'kept\n')

    const result = writeNewFiles([
      { path: join(dir, 'a.key'), content: 'secret\n', mode: 0o600 },
      { path: join(dir, 'b.pub'), content: 'public\n', mode: 0o644 },
    ])

    await expect(result).rejects.toThrow(
      new CertsError(
        `${join(dir, 'b.pub')} appeared while the signing keys were generated; it was not overwritten`,
      ),
    )
    expect(await readdir(dir)).toEqual(['b.pub'])
    expect(await Bun.file(join(dir, 'b.pub')).text()).toBe('kept\n')
  })
})
