import { afterAll, describe, expect, test } from 'bun:test'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'

import { Elysia, status } from 'elysia'
import pino from 'pino'

import type { LoggerConfig } from '../../config.ts'
import { DeniedError, UnauthorizedError } from '../../errors.ts'
import { formatClfTime } from './access-log.ts'
import {
  createRotatingStream,
  loggerPlugin,
  openAccessLog,
  setAccessUser,
  type AccessLogSink,
} from './index.ts'

const NOW = new Date(Date.UTC(2024, 0, 2, 3, 4, 5))
const STAMP = formatClfTime(NOW)
const scratch = mkdtempSync(join(tmpdir(), 'ra-logger-test-'))

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true })
})

const CONFIG: LoggerConfig = {
  stdout: false,
  enabled: false,
  filename: 'access.log',
  maxSize: 10 * 1024 * 1024,
  maxBackups: 10,
}

/** A sink whose `next()` resolves with the next line written, so tests never sleep. */
const captureSink = () => {
  const written: string[] = []
  const waiting: ((line: string) => void)[] = []
  const sink: AccessLogSink = {
    write: (line) => {
      const resolve = waiting.shift()
      if (resolve) {
        resolve(line)
      } else {
        written.push(line)
      }
    },
    close: () => Promise.resolve(),
  }
  const next = (): Promise<string> => {
    const line = written.shift()
    return line !== undefined
      ? Promise.resolve(line)
      : new Promise((resolve) => waiting.push(resolve))
  }
  return { sink, next }
}

const silent = pino({ level: 'silent' })

/** The app as `app.ts` builds it: the error handler first, then the logger, then routes. */
const testApp = (sink: AccessLogSink) =>
  new Elysia()
    .onError(({ error, code, set }) => {
      if (error instanceof UnauthorizedError || error instanceof DeniedError) {
        set.status = error.status
        return { error: error.message }
      }
      if (code === 'NOT_FOUND') {
        set.status = 404
        return { error: 'no such route' }
      }
      set.status = 500
      return { error: 'internal server error' }
    })
    .use(loggerPlugin({ log: silent, config: CONFIG, sink, now: () => NOW }))
    .get('/ping', () => 'pong')
    .get('/text', () => 'hello')
    .get('/json', () => ({ ok: true }))
    .get('/login', () => {
      throw new UnauthorizedError('authentication required')
    })
    .get('/denied', () => {
      throw new DeniedError('access denied')
    })
    .get('/boom', () => {
      throw new Error('boom')
    })
    .get('/teapot', () => status(418, 'short and stout'))
    .get(
      '/accepted',
      () => new Response('queued', { status: 202, headers: { 'content-length': '6' } }),
    )
    .get('/who', ({ request }) => {
      setAccessUser(request, 'robot')
      return 'ok'
    })
    .get('/request-id', ({ requestId, requestLog }) => ({
      requestId,
      bound: requestLog.bindings()['reqId'],
    }))
    .group('/principal', (group) =>
      group.derive(() => ({ principal: { user: { login: 'alice' } } })).get('/me', () => 'me'),
    )

const get = (app: ReturnType<typeof testApp>, path: string, headers: Record<string, string> = {}) =>
  app.handle(new Request(`http://localhost${path}`, { headers }))

describe('loggerPlugin access log', () => {
  test('writes one Combined line per request', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink)

    await get(app, '/text', { referer: 'http://ra.local/ui', 'user-agent': 'curl/8.5.0' })

    expect(await next()).toBe(
      `- - - [${STAMP}] "GET /text HTTP/1.1" 200 5 "http://ra.local/ui" "curl/8.5.0"`,
    )
  })

  test('masks secret query values and keeps the rest', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink)

    await get(app, '/text?user=admin&passwd=hunter2&jwt=eyJ.a.b&page=2')

    const line = await next()
    expect(line).toContain('"GET /text?user=admin&passwd=***&jwt=***&page=2 HTTP/1.1"')
    expect(line).not.toContain('hunter2')
  })

  test.each([
    ['/login', 401],
    ['/denied', 403],
    ['/boom', 500],
    ['/nowhere', 404],
    ['/teapot', 418],
    ['/accepted', 202],
  ])('logs %s with its final status %p', async (path, expected) => {
    const { sink, next } = captureSink()
    const app = testApp(sink)

    const response = await get(app, path)

    expect(response.status).toBe(expected)
    expect(await next()).toContain(`"GET ${path} HTTP/1.1" ${expected} `)
  })

  test('logs the sizes it can measure', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink)

    await get(app, '/json')
    await get(app, '/teapot')
    await get(app, '/accepted')
    await get(app, '/login')

    const sizes = [await next(), await next(), await next(), await next()].map(
      (line) => line.split(' ')[9],
    )
    expect(sizes).toEqual(['11', '15', '6', '-'])
  })

  test('does not log /ping', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink)

    await get(app, '/ping')
    await get(app, '/text')

    expect(await next()).toContain('"GET /text HTTP/1.1"')
  })

  test('names the Basic login, never the password', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink)
    const credentials = Buffer.from('ci-bot:hunter2').toString('base64')

    await get(app, '/login', { authorization: `Basic ${credentials}` })

    const line = await next()
    expect(line).toStartWith(`- - ci-bot [${STAMP}] "GET /login HTTP/1.1" 401 `)
    expect(line).not.toContain('hunter2')
  })

  test('names the principal the app put on the context', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink)

    await get(app, '/principal/me')

    expect(await next()).toStartWith('- - alice [')
  })

  test('names the user registered with setAccessUser', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink)

    await get(app, '/who')

    expect(await next()).toStartWith('- - robot [')
  })

  test('logs the socket peer address when there is a listener', async () => {
    const { sink, next } = captureSink()
    const app = testApp(sink).listen({ hostname: '127.0.0.1', port: 0 })

    try {
      await fetch(`http://127.0.0.1:${app.server?.port}/text`, {
        headers: { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9' },
      })

      expect(await next()).toStartWith('127.0.0.1 - - [')
    } finally {
      await app.stop()
    }
  })
})

describe('loggerPlugin request id', () => {
  test('echoes a well-formed X-Request-Id and hands it to the route', async () => {
    const { sink } = captureSink()
    const app = testApp(sink)

    const response = await get(app, '/request-id', { 'x-request-id': 'build-42.step_3' })

    expect(response.headers.get('x-request-id')).toBe('build-42.step_3')
    expect(await response.json()).toEqual({
      requestId: 'build-42.step_3',
      bound: 'build-42.step_3',
    })
  })

  test.each([['has space'], ['x'.repeat(65)], ['<script>'], ['']])(
    'replaces the malformed id %p with a new one',
    async (incoming) => {
      const { sink } = captureSink()
      const app = testApp(sink)

      const response = await get(app, '/request-id', { 'x-request-id': incoming })

      const id = response.headers.get('x-request-id')
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
      expect(await response.json()).toEqual({ requestId: id, bound: id })
    },
  )

  test('sets the id on error responses too', async () => {
    const { sink } = captureSink()
    const app = testApp(sink)

    const response = await get(app, '/login', { 'x-request-id': 'abc' })

    expect([response.status, response.headers.get('x-request-id')]).toEqual([401, 'abc'])
  })
})

describe('access log file', () => {
  test('writes lines to logger.filename when logger.enabled is set', async () => {
    const filename = join(scratch, 'enabled', 'access.log')
    const sink = openAccessLog({ ...CONFIG, enabled: true, filename }, silent)

    sink.write('first line')
    sink.write('second line')
    await sink.close()

    expect(readFileSync(filename, 'utf8')).toBe('first line\nsecond line\n')
  })

  test('rotates at max_size into numbered gzip files, keeping max_backups', async () => {
    const folder = join(scratch, 'rotating')
    const stream = createRotatingStream({
      ...CONFIG,
      enabled: true,
      filename: join(folder, 'access.log'),
      maxSize: 100,
      maxBackups: 2,
    })
    const line = `${'x'.repeat(59)}\n`

    for (let round = 1; round <= 3; round++) {
      stream.write(line)
      stream.write(line)
      await once(stream, 'rotated')
    }
    stream.write('current\n')
    await new Promise<void>((resolve) => stream.end(resolve))

    expect(readdirSync(folder).sort()).toEqual(['access.log', 'access.log.1.gz', 'access.log.2.gz'])
    expect(gunzipSync(readFileSync(join(folder, 'access.log.1.gz'))).toString()).toBe(line + line)
    expect(readFileSync(join(folder, 'access.log'), 'utf8')).toBe('current\n')
  })
})
