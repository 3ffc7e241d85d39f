import { describe, expect, test } from 'bun:test'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { tempDir } from './temp.ts'

describe('tempDir', () => {
  test('removes the directory and its contents at the end of an await using scope', async () => {
    let path = ''
    {
      await using dir = tempDir('temp-test-')
      path = dir.path
      await Bun.write(join(dir.path, 'nested', 'file.txt'), 'x')
      expect(existsSync(join(path, 'nested', 'file.txt'))).toBe(true)
    }

    expect(existsSync(path)).toBe(false)
  })

  test('removes the directory at the end of a using scope', () => {
    let path = ''
    {
      using dir = tempDir('temp-test-')
      path = dir.path
    }

    expect(path).toContain('temp-test-')
    expect(existsSync(path)).toBe(false)
  })

  test('tolerates removal twice', async () => {
    const dir = tempDir()

    await dir.remove()
    await dir[Symbol.asyncDispose]()

    expect(existsSync(dir.path)).toBe(false)
  })
})
