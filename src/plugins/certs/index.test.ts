import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { certsPlugin } from './index.ts'

let dir: string

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'certs-plugin-test-'))
})

afterEach(async () => {
  await rm(dir, { recursive: true, force: true })
})

describe('certsPlugin', () => {
  test('returns the signing keys and logs as the certs component', async () => {
    const lines: { component?: string; msg: string }[] = []
    const log = pino(
      { base: null, timestamp: false },
      { write: (line: string) => lines.push(JSON.parse(line)) },
    )
    const config = {
      path: dir,
      key: join(dir, 'registry_auth.key'),
      publicKey: join(dir, 'registry_auth.pub'),
      caRoot: join(dir, 'registry_auth_ca.crt'),
      fqdns: [],
      ip: '',
      httpsCert: '',
    }

    const keys = await certsPlugin({ config, log })

    expect(keys.caRootPath).toBe(config.caRoot)
    expect(lines.map(({ component, msg }) => ({ component, msg }))).toEqual([
      { component: 'certs', msg: 'signing keys generated' },
    ])
  })
})
