import { describe, expect, test } from 'bun:test'

import {
  basicAuthLogin,
  escapeField,
  formatAccessLine,
  formatClfTime,
  isSecretQueryName,
  plainAddress,
  redactQuery,
  requestTarget,
  type AccessEntry,
} from './access-log.ts'

const TIME = new Date(Date.UTC(2000, 9, 10, 20, 55, 36))

const entry = (overrides: Partial<AccessEntry> = {}): AccessEntry => ({
  remoteAddress: '10.0.0.7',
  user: 'frank',
  time: TIME,
  method: 'GET',
  url: 'http://ra.local/apache_pb.gif',
  status: 200,
  bytes: 2326,
  referer: 'http://www.example.com/start.html',
  userAgent: 'Mozilla/4.08 [en] (Win98; I ;Nav)',
  ...overrides,
})

const base64 = (text: string) => Buffer.from(text).toString('base64')

describe('formatAccessLine', () => {
  test('writes the Apache Combined format', () => {
    expect(formatAccessLine(entry(), -420)).toBe(
      '10.0.0.7 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.1" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"',
    )
  })

  test('writes - for what is unknown or empty', () => {
    const line = formatAccessLine(
      entry({
        remoteAddress: undefined,
        user: undefined,
        bytes: 0,
        referer: null,
        userAgent: null,
      }),
      0,
    )

    expect(line).toBe(
      '- - - [10/Oct/2000:20:55:36 +0000] "GET /apache_pb.gif HTTP/1.1" 200 - "-" "-"',
    )
  })

  test('keeps a 401 line in the shape fail2ban matches', () => {
    const line = formatAccessLine(entry({ status: 401, url: 'http://ra.local/api/v1/users' }), 0)

    expect(line).toMatch(/^10\.0\.0\.7 - \S+ \[[^\]]+\] "GET \/api\/v1\/users HTTP\/1\.1" 401 /)
  })

  test('escapes quotes, control characters and spaces a client sends', () => {
    const line = formatAccessLine(
      entry({ user: 'a b', userAgent: 'x" 200 0 "\nforged', referer: 'caf\u00e9' }),
      0,
    )

    expect(line).toBe(
      '10.0.0.7 - a\\x20b [10/Oct/2000:20:55:36 +0000] "GET /apache_pb.gif HTTP/1.1" 200 2326 "caf\\xc3\\xa9" "x\\" 200 0 \\"\\x0aforged"',
    )
  })
})

describe('formatClfTime', () => {
  test.each([
    [0, '10/Oct/2000:20:55:36 +0000'],
    [-420, '10/Oct/2000:13:55:36 -0700'],
    [330, '11/Oct/2000:02:25:36 +0530'],
    [-570, '10/Oct/2000:11:25:36 -0930'],
  ])('at offset %p writes %p', (offset, expected) => {
    expect(formatClfTime(TIME, offset)).toBe(expected)
  })

  test('uses the local offset by default', () => {
    expect(formatClfTime(TIME)).toBe(formatClfTime(TIME, -TIME.getTimezoneOffset()))
  })
})

describe('referer masking', () => {
  test('masks secret query values in the Referer too', () => {
    const line = formatAccessLine(
      entry({ referer: 'https://ui.example/login?next=/x&token=abc123#frag' }),
      0,
    )

    expect(line).toContain('"https://ui.example/login?next=/x&token=***"')
    expect(line).not.toContain('abc123')
  })
})

describe('redactQuery', () => {
  test.each([
    ['user=admin&passwd=hunter2', 'user=admin&passwd=***'],
    ['jwt=eyJ.x.y&page=2', 'jwt=***&page=2'],
    [
      'password=a&token=b&refresh_token=c&secret=d',
      'password=***&token=***&refresh_token=***&secret=***',
    ],
    ['Password=a&TOKEN=b', 'Password=***&TOKEN=***'],
    ['pass%77d=a', 'pass%77d=***'],
    [
      'scope=repository%3Aapp%3Apull&service=registry',
      'scope=repository%3Aapp%3Apull&service=registry',
    ],
    ['token', 'token'],
    ['token=', 'token=***'],
    ['a=1&&b=2', 'a=1&&b=2'],
    ['access_token=a&client_secret=b', 'access_token=***&client_secret=***'],
    ['current_password=a&new_password=b', 'current_password=***&new_password=***'],
    ['password%00=a&pass%00word=b', 'password%00=***&pass%00word=***'],
    ['user=admin;passwd=hunter2;page=2', 'user=admin;passwd=***;page=2'],
    ['a=1;token=x&b=2', 'a=1;token=***&b=2'],
    ['X-Auth-Token=a&id_jwt=b&Client.Secret=c', 'X-Auth-Token=***&id_jwt=***&Client.Secret=***'],
    ['%ef%bd%90assword=a', '%ef%bd%90assword=***'],
    ['pass+word=a', 'pass+word=***'],
    ['%zz=1&%E0%A4%A=2&ok=3', '%zz=***&%E0%A4%A=***&ok=3'],
    ['service=registry&scope=x&account=bob', 'service=registry&scope=x&account=bob'],
    ['q=password&next=token', 'q=password&next=token'],
  ])('%p becomes %p', (query, expected) => {
    expect(redactQuery(query)).toBe(expected)
  })
})

describe('isSecretQueryName', () => {
  test.each([
    ['password', true],
    ['refresh_token', true],
    ['New-Password', true],
    ['%70asswd', true],
    ['%ff', true],
    ['user', false],
    ['pass', false],
    ['', false],
  ])('%p is %p', (name, expected) => {
    expect(isSecretQueryName(name)).toBe(expected)
  })
})

describe('requestTarget', () => {
  test.each([
    ['http://ra.local/', '/'],
    ['http://ra.local', '/'],
    [
      'http://ra.local/auth/local/login?user=admin&passwd=x',
      '/auth/local/login?user=admin&passwd=***',
    ],
    ['http://ra.local/a%20b?q=%22', '/a%20b?q=%22'],
    ['http://ra.local/x?', '/x?'],
  ])('%p is logged as %p', (url, expected) => {
    expect(requestTarget(url)).toBe(expected)
  })
})

describe('basicAuthLogin', () => {
  test.each([
    [`Basic ${base64('admin:hunter2')}`, 'admin'],
    [`basic ${base64('ci:pa:ss')}`, 'ci'],
    [`Basic ${base64('nopassword')}`, undefined],
    [`Basic ${base64(':hunter2')}`, undefined],
    ['Bearer abc', undefined],
    ['Basic !!!', undefined],
    [null, undefined],
  ])('%p gives %p', (header, expected) => {
    expect(basicAuthLogin(header)).toBe(expected)
  })
})

describe('plainAddress', () => {
  test.each([
    ['::ffff:127.0.0.1', '127.0.0.1'],
    ['127.0.0.1', '127.0.0.1'],
    ['::1', '::1'],
    ['2001:db8::1', '2001:db8::1'],
  ])('%p is written %p', (address, expected) => {
    expect(plainAddress(address)).toBe(expected)
  })
})

describe('escapeField', () => {
  test('leaves printable ASCII alone', () => {
    expect(escapeField('GET /v2/ HTTP/1.1')).toBe('GET /v2/ HTTP/1.1')
  })

  test('escapes backslashes and DEL', () => {
    expect(escapeField('a\\b\u007f')).toBe('a\\\\b\\x7f')
  })
})
