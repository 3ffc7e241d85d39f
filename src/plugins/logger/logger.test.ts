import { describe, expect, test } from 'bun:test'

import { Secret } from '../../core/secret.ts'
import { createLogger } from './logger.ts'

const capture = () => {
  const lines: Record<string, unknown>[] = []
  const destination = {
    write: (line: string) => {
      lines.push(JSON.parse(line) as Record<string, unknown>)
    },
  }
  return { lines, destination }
}

describe('createLogger', () => {
  test('logs at info and drops debug by default', () => {
    const { lines, destination } = capture()
    const log = createLogger({ debug: false }, destination)

    log.debug('hidden')
    log.info({ repo: 'app' }, 'shown')

    expect(lines.map(({ level, msg, repo }) => ({ level, msg, repo }))).toEqual([
      { level: 'info', msg: 'shown', repo: 'app' },
    ])
  })

  test('logs debug when debug is set', () => {
    const { lines, destination } = capture()
    const log = createLogger({ debug: true }, destination)

    log.debug('shown')

    expect(lines.map(({ level, msg }) => ({ level, msg }))).toEqual([
      { level: 'debug', msg: 'shown' },
    ])
  })

  test('masks credential fields at the top and one level down', () => {
    const { lines, destination } = capture()
    const log = createLogger({ debug: false }, destination)

    log.info(
      {
        password: 'p',
        token: 't',
        authorization: 'Basic x',
        cookie: 'JWT=x',
        secret: 's',
        privateKey: 'k',
        refresh_token: 'r',
        user: { password: 'p', token: 't', login: 'bob' },
        headers: { authorization: 'Bearer x', cookie: 'c' },
        keys: { privateKey: 'k', secret: 's' },
      },
      'request',
    )

    const { level, time, pid, hostname, msg, ...fields } = lines[0] ?? {}
    expect(fields).toEqual({
      password: '***',
      token: '***',
      authorization: '***',
      cookie: '***',
      secret: '***',
      privateKey: '***',
      refresh_token: '***',
      user: { password: '***', token: '***', login: 'bob' },
      headers: { authorization: '***', cookie: '***' },
      keys: { privateKey: '***', secret: '***' },
    })
  })

  test('prints a Secret as a mask', () => {
    const { lines, destination } = capture()
    const log = createLogger({ debug: false }, destination)

    log.info({ adminPassword: new Secret('hunter2') }, 'store opened')

    expect(lines[0]?.['adminPassword']).toBe('***')
  })
})
