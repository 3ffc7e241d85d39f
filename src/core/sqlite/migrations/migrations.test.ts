import { describe, expect, test } from 'bun:test'

import { LATEST_SCHEMA_VERSION, MIGRATIONS } from './index.ts'

describe('MIGRATIONS', () => {
  test('are numbered 1, 2, 3… in order, and the last one is the latest version', () => {
    const versions = MIGRATIONS.map((migration) => migration.version)

    expect(versions).toEqual(versions.map((_, index) => index + 1))
    expect(LATEST_SCHEMA_VERSION).toBe(versions.at(-1) ?? 0)
  })
})
