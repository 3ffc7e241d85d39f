import { afterAll, describe, expect, test } from 'bun:test'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import { ConfigError, describeConfig, loadConfig, parseSize, type Config } from './config.ts'
import { Secret } from './core/secret.ts'

type Env = Record<string, string | undefined>

const HOME = '/home/ra'
const FIXTURES = join(import.meta.dir, '../test/fixtures/config')
const EXAMPLES = join(import.meta.dir, '../_examples/config')
const scratch = mkdtempSync(join(tmpdir(), 'ra-config-test-'))

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true })
})

const fixture = (name: string): string => join(FIXTURES, name)

/** Writes a config file in the scratch folder; `tree` uses dotted keys. */
const writeConfig = (name: string, tree: Record<string, unknown>): string => {
  const nested: Record<string, unknown> = {}
  for (const [dotted, value] of Object.entries(tree)) {
    const parts = dotted.split('.')
    let node = nested
    for (const part of parts.slice(0, -1)) {
      node = (node[part] ??= {}) as Record<string, unknown>
    }
    node[parts.at(-1) ?? ''] = value
  }
  const path = join(scratch, name)
  writeFileSync(path, JSON.stringify(nested))
  return path
}

const load = (argv: string[] = [], env: Env = {}) => {
  const result = loadConfig(argv, { HOME, ...env })
  if (result.kind !== 'config') {
    throw new Error('expected a config, got help')
  }
  return result
}

const loadConfigOnly = (argv: string[] = [], env: Env = {}): Config => load(argv, env).config

/** The ConfigError message for a configuration that must fail. */
const failure = (argv: string[], env: Env = {}): string => {
  try {
    loadConfig(argv, { HOME, ...env })
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.message
    }
    throw error
  }
  throw new Error('expected a ConfigError')
}

describe('loadConfig defaults', () => {
  test('gives the legacy defaults when nothing is set', () => {
    const { config, warnings, sources } = load()

    expect(describeConfig(config)).toEqual({
      listen: '*',
      hostname: 'http://localhost',
      port: 80,
      debug: false,
      registry: {
        host: '',
        port: 5000,
        authType: 'token',
        login: '',
        password: '',
        htpasswd: '',
        httpsInsecure: false,
        service: '',
        issuer: '127.0.0.1',
        tokenTtl: 60,
        refreshTokenTtl: 90 * 86_400,
        gcInterval: 60,
        eventsSecret: '',
        certs: {
          path: '/home/ra/.registry-certs',
          key: '/home/ra/.registry-certs/registry_auth.key',
          publicKey: '/home/ra/.registry-certs/registry_auth.pub',
          caRoot: '/home/ra/.registry-certs/registry_auth_ca.crt',
          fqdns: [],
          ip: '',
          httpsCert: '',
        },
      },
      auth: { tokenSecret: '', issuerName: 'zebox', jwtTtl: 3600, cookieTtl: 86_400 },
      logger: {
        stdout: false,
        enabled: false,
        filename: 'access.log',
        maxSize: 10 * 1024 * 1024,
        maxBackups: 10,
      },
      ssl: {
        type: 'none',
        cert: '',
        key: '',
        acmeLocation: './acme',
        acmeEmail: '',
        port: 443,
        httpPort: 0,
        acmeFqdns: [],
      },
      store: { type: 'embed', adminPassword: '***', embed: { path: './data.db' } },
    })
    expect(config.store.adminPassword.reveal()).toBe('admin')
    expect(warnings).toEqual([])
    expect(sources['registry.port']).toBe('default')
  })

  test('returns a frozen config', () => {
    const config = loadConfigOnly()

    expect(Object.isFrozen(config)).toBe(true)
    expect(Object.isFrozen(config.registry.certs.fqdns)).toBe(true)
  })

  test('wraps every secret in Secret', () => {
    const config = loadConfigOnly([
      '--registry.password=p1',
      '--registry.events-secret=p2',
      '--auth.token-secret=p3',
      '--store.admin-password=p4',
    ])

    const secrets = [
      config.registry.password,
      config.registry.eventsSecret,
      config.auth.tokenSecret,
      config.store.adminPassword,
    ]
    expect(secrets.every((secret) => secret instanceof Secret)).toBe(true)
    expect(secrets.map((secret) => secret.reveal())).toEqual(['p1', 'p2', 'p3', 'p4'])
  })
})

// Every option of the legacy tool, by the names in its option table, plus the new ones. Each
// row is read through its flag, its variable and its file key, and must give the same value.
const NAMES: [
  flag: string,
  env: string,
  key: string,
  text: string,
  file: unknown,
  read: (c: Config) => unknown,
  expected: unknown,
  extra?: string[],
][] = [
  ['listen', 'RA_LISTEN', 'listen', '0.0.0.0', '0.0.0.0', (c) => c.listen, '0.0.0.0'],
  [
    'hostname',
    'RA_HOST_NAME',
    'hostname',
    'ra.test',
    'ra.test',
    (c) => c.hostname,
    'http://ra.test',
  ],
  ['port', 'RA_PORT', 'port', '8080', 8080, (c) => c.port, 8080],
  ['debug', 'RA_DEBUG', 'debug', 'true', true, (c) => c.debug, true],
  [
    'registry.host',
    'RA_REGISTRY_HOST',
    'registry.host',
    'http://reg',
    'http://reg',
    (c) => c.registry.host,
    'http://reg',
  ],
  [
    'registry.port',
    'RA_REGISTRY_PORT',
    'registry.port',
    '5001',
    5001,
    (c) => c.registry.port,
    5001,
  ],
  [
    'registry.auth-type',
    'RA_REGISTRY_AUTH_TYPE',
    'registry.auth_type',
    'basic',
    'basic',
    (c) => c.registry.authType,
    'basic',
    ['--registry.htpasswd=/h', '--registry.login=ci'],
  ],
  [
    'registry.login',
    'RA_REGISTRY_LOGIN',
    'registry.login',
    'ci',
    'ci',
    (c) => c.registry.login,
    'ci',
  ],
  [
    'registry.password',
    'RA_REGISTRY_PASSWORD',
    'registry.password',
    'pw',
    'pw',
    (c) => c.registry.password.reveal(),
    'pw',
  ],
  [
    'registry.htpasswd',
    'RA_REGISTRY_HTPASSWD',
    'registry.htpasswd',
    '/etc/htpasswd',
    '/etc/htpasswd',
    (c) => c.registry.htpasswd,
    '/etc/htpasswd',
  ],
  [
    'registry.https-insecure',
    'RA_REGISTRY_HTTPS_INSECURE',
    'registry.https_insecure',
    'true',
    true,
    (c) => c.registry.httpsInsecure,
    true,
  ],
  [
    'registry.service',
    'RA_REGISTRY_SERVICE',
    'registry.service',
    'svc',
    'svc',
    (c) => c.registry.service,
    'svc',
  ],
  [
    'registry.issuer',
    'RA_REGISTRY_ISSUER',
    'registry.issuer',
    'iss',
    'iss',
    (c) => c.registry.issuer,
    'iss',
  ],
  [
    'registry.token-ttl',
    'RA_REGISTRY_TOKEN_TTL',
    'registry.token_ttl',
    '300',
    300,
    (c) => c.registry.tokenTtl,
    300,
  ],
  [
    'registry.refresh-token-ttl',
    'RA_REGISTRY_REFRESH_TOKEN_TTL',
    'registry.refresh_token_ttl',
    '30d',
    '30d',
    (c) => c.registry.refreshTokenTtl,
    2_592_000,
  ],
  [
    'registry.gc-interval',
    'RA_REGISTRY_GC_INTERVAL',
    'registry.gc_interval',
    '15',
    15,
    (c) => c.registry.gcInterval,
    15,
  ],
  [
    'registry.events-secret',
    'RA_REGISTRY_EVENTS_SECRET',
    'registry.events_secret',
    'ev',
    'ev',
    (c) => c.registry.eventsSecret.reveal(),
    'ev',
  ],
  [
    'registry.certs.path',
    'RA_REGISTRY_CERTS_CERT_PATH',
    'registry.certs.path',
    '/certs',
    '/certs',
    (c) => c.registry.certs.path,
    '/certs',
  ],
  [
    'registry.certs.key',
    'RA_REGISTRY_CERTS_KEY_PATH',
    'registry.certs.key',
    '/k.pem',
    '/k.pem',
    (c) => c.registry.certs.key,
    '/k.pem',
  ],
  [
    'registry.certs.public-key',
    'RA_REGISTRY_CERTS_PUBLIC_KEY_PATH',
    'registry.certs.public_key',
    '/p.pem',
    '/p.pem',
    (c) => c.registry.certs.publicKey,
    '/p.pem',
  ],
  [
    'registry.certs.ca-root',
    'RA_REGISTRY_CERTS_CA_ROOT_PATH',
    'registry.certs.ca_root',
    '/ca.crt',
    '/ca.crt',
    (c) => c.registry.certs.caRoot,
    '/ca.crt',
  ],
  [
    'registry.certs.fqdn',
    'RA_REGISTRY_CERTS_FQDN',
    'registry.certs.fqdns',
    'a.test',
    ['a.test'],
    (c) => c.registry.certs.fqdns,
    ['a.test'],
  ],
  [
    'registry.certs.ip',
    'RA_REGISTRY_CERTS_IP',
    'registry.certs.ip',
    '10.0.0.1',
    '10.0.0.1',
    (c) => c.registry.certs.ip,
    '10.0.0.1',
  ],
  [
    'registry.certs.https-cert',
    'RA_REGISTRY_CERTS_CERT_HTTPS',
    'registry.certs.https_cert',
    '/h.pem',
    '/h.pem',
    (c) => c.registry.certs.httpsCert,
    '/h.pem',
  ],
  [
    'auth.token-secret',
    'RA_AUTH_TOKEN_SECRET',
    'auth.token_secret',
    'ts',
    'ts',
    (c) => c.auth.tokenSecret.reveal(),
    'ts',
  ],
  [
    'auth.jwt-issuer',
    'RA_AUTH_ISSUER_NAME',
    'auth.issuer_name',
    'me',
    'me',
    (c) => c.auth.issuerName,
    'me',
  ],
  ['auth.jwt-ttl', 'RA_AUTH_JWT_TTL', 'auth.jwt_ttl', '2h', '2h', (c) => c.auth.jwtTtl, 7200],
  [
    'auth.cookie-ttl',
    'RA_AUTH_COOKIE_TTL',
    'auth.cookie_ttl',
    '48h',
    '48h',
    (c) => c.auth.cookieTtl,
    172_800,
  ],
  [
    'logger.stdout',
    'RA_LOGGER_STDOUT',
    'logger.stdout',
    'true',
    true,
    (c) => c.logger.stdout,
    true,
  ],
  [
    'logger.enabled',
    'RA_LOGGER_ENABLED',
    'logger.enabled',
    'true',
    true,
    (c) => c.logger.enabled,
    true,
  ],
  [
    'logger.file',
    'RA_LOGGER_FILE',
    'logger.filename',
    '/var/log/ra.log',
    '/var/log/ra.log',
    (c) => c.logger.filename,
    '/var/log/ra.log',
  ],
  [
    'logger.max-size',
    'RA_LOGGER_SIZE',
    'logger.max_size',
    '5M',
    '5M',
    (c) => c.logger.maxSize,
    5 * 1024 * 1024,
  ],
  [
    'logger.max-backups',
    'RA_LOGGER_BACKUPS',
    'logger.max_backups',
    '3',
    3,
    (c) => c.logger.maxBackups,
    3,
  ],
  [
    'ssl.type',
    'RA_SSL_TYPE',
    'ssl.type',
    'static',
    'static',
    (c) => c.ssl.type,
    'static',
    ['--ssl.cert=/c', '--ssl.key=/k'],
  ],
  ['ssl.cert', 'RA_SSL_CERT', 'ssl.cert', '/s.crt', '/s.crt', (c) => c.ssl.cert, '/s.crt'],
  ['ssl.key', 'RA_SSL_KEY', 'ssl.key', '/s.key', '/s.key', (c) => c.ssl.key, '/s.key'],
  [
    'ssl.acme-location',
    'RA_SSL_ACME_LOCATION',
    'ssl.acme_location',
    '/acme',
    '/acme',
    (c) => c.ssl.acmeLocation,
    '/acme',
  ],
  [
    'ssl.acme-email',
    'RA_SSL_ACME_EMAIL',
    'ssl.acme_email',
    'a@b.test',
    'a@b.test',
    (c) => c.ssl.acmeEmail,
    'a@b.test',
  ],
  ['ssl.port', 'RA_SSL_PORT', 'ssl.port', '8443', 8443, (c) => c.ssl.port, 8443],
  [
    'ssl.http-port',
    'RA_SSL_ACME_HTTP_PORT',
    'ssl.redir_http_port',
    '8081',
    8081,
    (c) => c.ssl.httpPort,
    8081,
  ],
  [
    'ssl.fqdn',
    'RA_SSL_ACME_FQDN',
    'ssl.acme_fqdns',
    'ra.test',
    ['ra.test'],
    (c) => c.ssl.acmeFqdns,
    ['ra.test'],
  ],
  ['store.type', 'RA_STORE_DB_TYPE', 'store.type', 'embed', 'embed', (c) => c.store.type, 'embed'],
  [
    'store.admin-password',
    'RA_STORE_ADMIN_PASSWORD',
    'store.admin_password',
    'pw2',
    'pw2',
    (c) => c.store.adminPassword.reveal(),
    'pw2',
  ],
  [
    'store.embed.path',
    'RA_STORE_EMBED_DB_PATH',
    'store.embed.path',
    '/data/ra.db',
    '/data/ra.db',
    (c) => c.store.embed.path,
    '/data/ra.db',
  ],
]

describe('option names', () => {
  test.each(NAMES)(
    '--%s, $%s and key %s set the same value',
    (flag, env, key, text, file, read, expected, extra = []) => {
      const path = writeConfig(`${key}.json`, { [key]: file })

      const values = [
        read(loadConfigOnly([`--${flag}=${text}`, ...extra])),
        read(loadConfigOnly(extra, { [env]: text })),
        read(loadConfigOnly([`--config-file=${path}`, ...extra])),
      ]

      expect(values).toEqual([expected, expected, expected])
    },
  )

  test('the help text names every flag, variable and file key', () => {
    const result = loadConfig(['--help'], {})
    const text = result.kind === 'help' ? result.text : ''

    const missing = NAMES.flatMap(([flag, env, key]) => [
      `--${flag}`,
      `$${env}`,
      `file: ${key}`,
    ]).filter((name) => !text.includes(name))
    expect(missing).toEqual([])
    expect(text).toContain('--config-file=<path>')
    expect(text).toContain('$RA_CONFIG_FILE')
  })
})

type PrecedenceRow = [
  key: string,
  read: (c: Config) => unknown,
  flag: string[],
  env: Env,
  expected: unknown[],
]

describe('precedence', () => {
  const layered = fixture('layered.yml')

  test.each([
    ['port', (c: Config) => c.port, ['--port=9000'], { RA_PORT: '9001' }, [9000, 9001, 8080, 80]],
    [
      'registry.service',
      (c: Config) => c.registry.service,
      ['--registry.service=from-flag'],
      { RA_REGISTRY_SERVICE: 'from-env' },
      ['from-flag', 'from-env', 'from-file', ''],
    ],
    [
      'auth.jwt_ttl',
      (c: Config) => c.auth.jwtTtl,
      ['--auth.jwt-ttl=3h'],
      { RA_AUTH_JWT_TTL: '4h' },
      [10_800, 14_400, 7200, 3600],
    ],
    [
      'registry.certs.fqdns',
      (c: Config) => c.registry.certs.fqdns,
      ['--registry.certs.fqdn=flag.local'],
      { RA_REGISTRY_CERTS_FQDN: 'env.local' },
      [['flag.local'], ['env.local'], ['file.local'], []],
    ],
  ] as PrecedenceRow[])(
    '%s: flag, then env, then file, then default',
    (_, read, flag, env, expected) => {
      const file = [`--config-file=${layered}`]

      const values = [
        read(loadConfigOnly([...flag, ...file], env)),
        read(loadConfigOnly(file, env)),
        read(loadConfigOnly(file)),
        read(loadConfigOnly()),
      ]

      expect(values).toEqual(expected)
    },
  )

  test('reports where each value came from', () => {
    const { sources } = load(['--port=9000', `--config-file=${layered}`], {
      RA_REGISTRY_SERVICE: 'x',
    })

    expect([
      sources['port'],
      sources['registry.service'],
      sources['auth.jwt_ttl'],
      sources['debug'],
    ]).toEqual(['flag', 'env', 'file', 'default'])
  })

  test('takes the config file from RA_CONFIG_FILE', () => {
    expect(loadConfigOnly([], { RA_CONFIG_FILE: layered }).port).toBe(8080)
  })

  test('reads no file for an empty --config-file', () => {
    expect(loadConfigOnly(['--config-file=']).port).toBe(80)
  })

  test('treats an empty variable as unset', () => {
    expect(loadConfigOnly([`--config-file=${layered}`], { RA_PORT: '' }).port).toBe(8080)
  })

  test('reads JSON and YAML files with the same tree alike', () => {
    const fromYaml = describeConfig(loadConfigOnly([`--config-file=${layered}`]))
    const fromJson = describeConfig(loadConfigOnly([`--config-file=${fixture('layered.json')}`]))

    expect(fromJson).toEqual(fromYaml)
  })
})

describe('flags', () => {
  test.each([
    [['--debug'], true],
    [['--debug=true'], true],
    [['--debug=false'], false],
    [['--debug=0'], false],
    [[], false],
  ])('%p gives debug %p', (argv, expected) => {
    expect(loadConfigOnly(argv).debug).toBe(expected)
  })

  test('accepts a value as the next argument', () => {
    expect(loadConfigOnly(['--registry.port', '5005']).registry.port).toBe(5005)
  })

  test('repeats list flags and splits them on commas', () => {
    const config = loadConfigOnly(['--ssl.fqdn=a.test', '--ssl.fqdn', 'b.test, c.test'])

    expect(config.ssl.acmeFqdns).toEqual(['a.test', 'b.test', 'c.test'])
  })

  test('lets the last of a repeated single-value flag win', () => {
    expect(loadConfigOnly(['--port=81', '--port=82']).port).toBe(82)
  })

  test('parses boolean variables', () => {
    expect(loadConfigOnly([], { RA_DEBUG: 'TRUE', RA_LOGGER_ENABLED: '1' }).logger.enabled).toBe(
      true,
    )
  })
})

describe('aliases', () => {
  test('--registry.https-certs sets registry.certs.https_cert', () => {
    expect(loadConfigOnly(['--registry.https-certs=/x.pem']).registry.certs.httpsCert).toBe(
      '/x.pem',
    )
  })

  test('RA_REGISTRY_HTTPS_CERT sets registry.certs.https_cert', () => {
    const config = loadConfigOnly([], { RA_REGISTRY_HTTPS_CERT: '/x.pem' })

    expect(config.registry.certs.httpsCert).toBe('/x.pem')
  })

  test('the file key registry.certs.ca sets registry.certs.ca_root', () => {
    const config = loadConfigOnly([`--config-file=${fixture('aliases.yml')}`])

    expect(config.registry.certs.caRoot).toBe('/etc/registry/ca.crt')
  })

  test('the real variable wins over the alias, with a warning', () => {
    const { config, warnings } = load([], {
      RA_REGISTRY_HTTPS_CERT: '/alias.pem',
      RA_REGISTRY_CERTS_CERT_HTTPS: '/real.pem',
    })

    expect(config.registry.certs.httpsCert).toBe('/real.pem')
    expect(warnings).toEqual([
      'RA_REGISTRY_HTTPS_CERT is ignored because RA_REGISTRY_CERTS_CERT_HTTPS is set',
    ])
  })

  test('the real file key wins over the alias, with a warning', () => {
    const path = fixture('alias-and-key.yml')

    const { config, warnings } = load([`--config-file=${path}`])

    expect(config.registry.certs.caRoot).toBe('/etc/registry/ca.crt')
    expect(warnings).toEqual([
      `${path}: registry.certs.ca is ignored because registry.certs.ca_root is set`,
    ])
  })
})

describe('certificate paths', () => {
  test('puts the three files in registry.certs.path', () => {
    const certs = loadConfigOnly(['--registry.certs.path=/certs']).registry.certs

    expect([certs.path, certs.key, certs.publicKey, certs.caRoot]).toEqual([
      '/certs',
      '/certs/registry_auth.key',
      '/certs/registry_auth.pub',
      '/certs/registry_auth_ca.crt',
    ])
  })

  test('lets an explicit file path win over the derived one', () => {
    const certs = loadConfigOnly([
      '--registry.certs.path=/certs',
      '--registry.certs.key=/secret/k.pem',
    ]).registry.certs

    expect([certs.key, certs.publicKey, certs.caRoot]).toEqual([
      '/secret/k.pem',
      '/certs/registry_auth.pub',
      '/certs/registry_auth_ca.crt',
    ])
  })

  test.each([
    ['~/certs', '/home/ra/certs'],
    ['$HOME/certs', '/home/ra/certs'],
    ['${HOME}/certs', '/home/ra/certs'],
    ['~', '/home/ra'],
    ['/srv/~/certs', '/srv/~/certs'],
    ['~other/certs', '~other/certs'],
  ])('expands %p to %p', (path, expected) => {
    expect(loadConfigOnly([`--registry.certs.path=${path}`]).registry.certs.path).toBe(expected)
  })

  test('keeps fqdns and ip with the default paths', () => {
    const certs = loadConfigOnly(['--registry.certs.fqdn=reg.test', '--registry.certs.ip=10.1.1.1'])
      .registry.certs

    expect([certs.path, certs.fqdns, certs.ip]).toEqual([
      '/home/ra/.registry-certs',
      ['reg.test'],
      '10.1.1.1',
    ])
  })
})

describe('values', () => {
  test('trims comma-separated lists from the environment and drops empty items', () => {
    const config = loadConfigOnly([], {
      RA_REGISTRY_CERTS_FQDN: ' reg.local, ra.local ,,  ',
      RA_SSL_ACME_FQDN: 'a.test,b.test',
    })

    expect([config.registry.certs.fqdns, config.ssl.acmeFqdns]).toEqual([
      ['reg.local', 'ra.local'],
      ['a.test', 'b.test'],
    ])
  })

  test.each([
    ['localhost', 'none', 'http://localhost'],
    ['ra.example.com', 'static', 'https://ra.example.com'],
    ['ra.example.com', 'auto', 'https://ra.example.com'],
    ['http://ra.example.com', 'static', 'http://ra.example.com'],
    ['https://ra.example.com:8443', 'none', 'https://ra.example.com:8443'],
  ])('hostname %p with ssl %p becomes %p', (hostname, ssl, expected) => {
    const argv = [`--hostname=${hostname}`, `--ssl.type=${ssl}`, '--ssl.cert=/c', '--ssl.key=/k']

    expect(loadConfigOnly(argv).hostname).toBe(expected)
  })

  test.each([
    ['90m', 5400],
    ['1h30m', 5400],
    ['1.5h', 5400],
    ['7d', 604_800],
    ['1500ms', 1],
  ])('jwt_ttl %p is %p seconds', (text, seconds) => {
    expect(loadConfigOnly([`--auth.jwt-ttl=${text}`]).auth.jwtTtl).toBe(seconds)
  })

  test.each([
    ['500K', 512_000],
    ['500k', 512_000],
    ['10M', 10_485_760],
    ['1G', 1_073_741_824],
    ['1t', 1_099_511_627_776],
    ['12345', 12_345],
  ])('logger.max_size %p is %p bytes', (text, bytes) => {
    expect(loadConfigOnly([`--logger.max-size=${text}`]).logger.maxSize).toBe(bytes)
  })

  test('takes a number of bytes for logger.max_size in a file', () => {
    const path = writeConfig('size.yml', { 'logger.max_size': 2048 })

    expect(loadConfigOnly([`--config-file=${path}`]).logger.maxSize).toBe(2048)
  })

  test.each([['10MB'], ['1.5M'], ['-1'], ['M'], ['']])('parseSize rejects %p', (text) => {
    expect(parseSize(text)).toBeUndefined()
  })

  test('treats token_ttl 0 as 60 seconds and gc_interval 0 as 60 minutes', () => {
    const config = loadConfigOnly(['--registry.token-ttl=0', '--registry.gc-interval=0'])

    expect([config.registry.tokenTtl, config.registry.gcInterval]).toEqual([60, 60])
  })

  test('treats an empty issuer as 127.0.0.1', () => {
    expect(loadConfigOnly(['--registry.issuer=']).registry.issuer).toBe('127.0.0.1')
  })

  test.each([
    ['http://registry', 'http://registry'],
    ['https://registry.example.com/', 'https://registry.example.com'],
    ['http://my_registry', 'http://my_registry'],
    ['http://reg:5000', 'http://reg:5000'],
    ['http://[::1]', 'http://[::1]'],
    ['http://[::1]:5000', 'http://[::1]:5000'],
    ['https://proxy.example.com/registry', 'https://proxy.example.com/registry'],
    ['', ''],
  ])('accepts registry.host %p as %p', (host, expected) => {
    expect(loadConfigOnly([`--registry.host=${host}`]).registry.host).toBe(expected)
  })

  test('accepts an IPv6 address for registry.certs.ip', () => {
    expect(loadConfigOnly(['--registry.certs.ip=::1']).registry.certs.ip).toBe('::1')
  })
})

describe('errors', () => {
  test.each(
    (
      [
        [
          ['--registry.port=70000'],
          {},
          '--registry.port (from the command line): 70000 is out of range 1..65535',
        ],
        [
          [],
          { RA_REGISTRY_PORT: '70000' },
          '--registry.port (from RA_REGISTRY_PORT): 70000 is out of range 1..65535',
        ],
        [['--port=0'], {}, '--port (from the command line): 0 is out of range 1..65535'],
        [[], { RA_PORT: 'http' }, '--port (from RA_PORT): "http" is not a whole number'],
        [
          ['--ssl.port=65536'],
          {},
          '--ssl.port (from the command line): 65536 is out of range 1..65535',
        ],
        [
          [],
          { RA_SSL_ACME_HTTP_PORT: '-1' },
          '--ssl.http-port (from RA_SSL_ACME_HTTP_PORT): -1 is out of range 0..65535',
        ],
        [
          [],
          { RA_REGISTRY_AUTH_TYPE: 'ldap' },
          '--registry.auth-type (from RA_REGISTRY_AUTH_TYPE): "ldap" is not one of token, basic',
        ],
        [
          ['--ssl.type=tls'],
          {},
          '--ssl.type (from the command line): "tls" is not one of none, static, auto',
        ],
        [
          [],
          { RA_STORE_DB_TYPE: 'postgres' },
          '--store.type (from RA_STORE_DB_TYPE): "postgres" is not one of embed',
        ],
        [
          [],
          { RA_REGISTRY_TOKEN_TTL: '-5' },
          '--registry.token-ttl (from RA_REGISTRY_TOKEN_TTL): -5 is negative',
        ],
        [
          ['--registry.gc-interval=-1'],
          {},
          '--registry.gc-interval (from the command line): -1 is negative',
        ],
        [
          ['--registry.token-ttl=60s'],
          {},
          '--registry.token-ttl (from the command line): "60s" is not a whole number',
        ],
        [
          [],
          { RA_AUTH_JWT_TTL: '30x' },
          '--auth.jwt-ttl (from RA_AUTH_JWT_TTL): "30x" has an unknown unit "x" (use ns, us, ms, s, m, h or d)',
        ],
        [
          ['--auth.jwt-ttl=3600'],
          {},
          '--auth.jwt-ttl (from the command line): "3600" has a number without a unit (ns, us, ms, s, m, h or d)',
        ],
        [
          ['--auth.cookie-ttl=-1h'],
          {},
          '--auth.cookie-ttl (from the command line): "-1h" is negative',
        ],
        [
          ['--auth.cookie-ttl=0'],
          {},
          '--auth.cookie-ttl (from the command line): "0" is shorter than 1 second',
        ],
        [
          ['--registry.refresh-token-ttl=500ms'],
          {},
          '--registry.refresh-token-ttl (from the command line): "500ms" is shorter than 1 second',
        ],
        [
          [],
          { RA_LOGGER_SIZE: '10MB' },
          '--logger.max-size (from RA_LOGGER_SIZE): "10MB" is not a size (a whole number of bytes with an optional K, M, G or T suffix, e.g. 10M)',
        ],
        [['--logger.max-size=0'], {}, '--logger.max-size (from the command line): "0" is zero'],
        [
          ['--logger.max-backups=0'],
          {},
          '--logger.max-backups (from the command line): 0 is less than 1',
        ],
        [['--debug=maybe'], {}, '--debug (from the command line): "maybe" is not true or false'],
        [['--bogus=1'], {}, '--bogus: unknown option (see --help)'],
        [['-x'], {}, '-x: unknown option (see --help)'],
        [['serve'], {}, 'unexpected argument "serve" (see --help)'],
        [['--port'], {}, '--port: missing value'],
        [['--port', '--debug'], {}, '--port: missing value'],
        [
          ['--registry.token-ttl', '-5'],
          {},
          '--registry.token-ttl: missing value (write --registry.token-ttl=-5 for a value that starts with "-")',
        ],
        [
          ['--registry.auth-type=basic', '--registry.login=ci'],
          {},
          '--registry.htpasswd is required when --registry.auth-type is basic',
        ],
        [
          ['--registry.auth-type=basic', '--registry.htpasswd=/h'],
          {},
          '--registry.login is required when --registry.auth-type is basic',
        ],
        [
          ['--ssl.type=static', '--ssl.key=/k'],
          {},
          '--ssl.cert is required when --ssl.type is static',
        ],
        [
          ['--ssl.type=static', '--ssl.cert=/c'],
          {},
          '--ssl.key is required when --ssl.type is static',
        ],
        [
          ['--listen=0.0.0.0:8080'],
          {},
          '--listen (from the command line): "0.0.0.0:8080" has a port; give the host only and the port with --port',
        ],
        [
          ['--hostname=bad host'],
          {},
          '--hostname (from the command line): "http://bad host" is not a valid host name or URL',
        ],
        [
          ['--registry.certs.ip=192.168.12.69#'],
          {},
          '--registry.certs.ip (from the command line): "192.168.12.69#" is not an IP address',
        ],
      ] as [string[], Env, string][]
    ).map(([argv, env, message]) => [message, argv, env] as const),
  )('reports %s', (message, argv, env) => {
    expect(failure(argv, env)).toBe(message)
  })

  test.each([
    [
      'reg.local',
      '"reg.local" is not a URL with http or https scheme (e.g. https://registry.example.com)',
    ],
    [
      'registry:5000',
      '"registry:5000" is not a URL with http or https scheme (e.g. https://registry.example.com)',
    ],
    [
      'ftp://registry',
      '"ftp://registry" is not a URL with http or https scheme (e.g. https://registry.example.com)',
    ],
    ['http://registry?x=1', '"http://registry?x=1" must not have a query or fragment'],
    [
      'https://ci:hunter2@registry',
      'must not contain a user name or password (use --registry.login and --registry.password)',
    ],
  ])('rejects registry.host %p', (host, reason) => {
    expect(failure([], { RA_REGISTRY_HOST: host })).toBe(
      `--registry.host (from RA_REGISTRY_HOST): ${reason}`,
    )
  })

  test.each([
    '*',
    'localhost',
    'registry-admin.example.com',
    'a1.b-2.c3d',
    '0.0.0.0',
    '127.0.0.1',
    '255.255.255.255',
    '::',
    '::1',
    '[::1]',
    '2001:db8::17',
    '[2001:db8::17]',
    '::ffff:10.0.0.1',
  ])('accepts listen %p', (listen) => {
    expect(loadConfigOnly([`--listen=${listen}`]).listen).toBe(listen)
  })

  test.each([
    '999.1.1.1',
    '256.0.0.1',
    '1.2.3',
    '1.2.3.4.5',
    '01.2.3.4',
    '127.1',
    '8080',
    '',
    '**',
    '-bad.example.com',
    'bad-.example.com',
    'under_score.example.com',
    'two..dots',
    'trailing.dot.',
    'bad host',
    `${'a'.repeat(64)}.example.com`,
    `${'abcdefghi.'.repeat(26)}com`,
    '[::1',
    '[localhost]',
    '[127.0.0.1]',
    '2001:db8::g',
    '::1::2',
  ])('rejects listen %p', (listen) => {
    expect(failure([`--listen=${listen}`])).toBe(
      `--listen (from the command line): ${JSON.stringify(listen)} is not *, a host name, an IPv4 address (each number 0-255) or an IPv6 address`,
    )
  })

  test('names the variable or file key of a bad listen', () => {
    const path = writeConfig('listen.json', { listen: '300.1.1.1' })

    expect([failure([], { RA_LISTEN: '1.2.3.999' }), failure([`--config-file=${path}`])]).toEqual([
      '--listen (from RA_LISTEN): "1.2.3.999" is not *, a host name, an IPv4 address (each number 0-255) or an IPv6 address',
      `--listen (from listen in ${path}): "300.1.1.1" is not *, a host name, an IPv4 address (each number 0-255) or an IPv6 address`,
    ])
  })

  test('lists every bad value, one per line', () => {
    const message = failure(['--port=0'], { RA_SSL_TYPE: 'tls', RA_AUTH_JWT_TTL: '1y' })

    expect(message.split('\n')).toEqual([
      '--port (from the command line): 0 is out of range 1..65535',
      '--auth.jwt-ttl (from RA_AUTH_JWT_TTL): "1y" has an unknown unit "y" (use ns, us, ms, s, m, h or d)',
      '--ssl.type (from RA_SSL_TYPE): "tls" is not one of none, static, auto',
    ])
  })

  test('never puts a secret in a message', () => {
    const path = writeConfig('secret.json', { 'registry.password': 987654 })

    const message = failure([`--config-file=${path}`])

    expect(message).toBe(
      `--registry.password (from registry.password in ${path}): expected a string, got a number (put it in quotes)`,
    )
  })

  test('has exit code 2', () => {
    expect(new ConfigError('x').exitCode).toBe(2)
  })
})

describe('config file', () => {
  const fromFile = (name: string) => `--config-file (from the command line): ${fixture(name)}`

  test.each([
    [
      'trailing-comma.json',
      'does not parse: line 4, column 1: Property name must be a string literal',
    ],
    ['bare-word.json', 'does not parse: line 3, column 15: Unexpected identifier "localhost"'],
    [
      'listen-star.yml',
      "does not parse: line 1, column 9: Alias cannot be an empty string (quote a value that starts with * or &, e.g. listen: '*')",
    ],
    [
      'bad-indent.yml',
      'does not parse: line 2, column 9: Nested mappings are not allowed in compact mappings',
    ],
    ['duplicate-key.yaml', 'does not parse: line 2, column 1: Map keys must be unique'],
    ['config.toml', 'has the unknown extension ".toml"; use .json, .yml or .yaml'],
    ['list.yml', 'must hold a mapping of options, not a list'],
  ])('%s: %s', (name, reason) => {
    expect(failure([`--config-file=${fixture(name)}`])).toBe(`${fromFile(name)} ${reason}`)
  })

  test('reports a YAML alias bomb as a problem of the file, without expanding it', () => {
    const path = join(scratch, 'alias-bomb.yml')
    const levels = ['a: &a [x, x, x, x, x, x, x, x, x]']
    for (const [index, name] of [...'bcdefghi'].entries()) {
      const previous = `*${'abcdefghi'[index]}`
      levels.push(`${name}: &${name} [${Array(9).fill(previous).join(', ')}]`)
    }
    writeFileSync(path, levels.join('\n'))

    expect(failure([`--config-file=${path}`])).toBe(
      `--config-file (from the command line): ${path} does not parse: it expands YAML aliases into too many values; write the values out instead`,
    )
  })

  test('reports YAML nested deeper than the parser can go, naming the file', () => {
    const path = join(scratch, 'deep.yml')
    writeFileSync(path, `port: ${'['.repeat(20_000)}${']'.repeat(20_000)}\n`)

    const message = failure([`--config-file=${path}`])

    expect(message).toStartWith(`--config-file (from the command line): ${path} does not parse: `)
    expect(message.split('\n')).toHaveLength(1)
  })

  test('reports JSON nested deeper than the parser can go, naming the file', () => {
    const path = join(scratch, 'deep.json')
    writeFileSync(path, `{"port": ${'['.repeat(100_000)}}`)

    const message = failure([`--config-file=${path}`])

    expect(message).toStartWith(`--config-file (from the command line): ${path} does not parse: `)
    expect(message.split('\n')).toHaveLength(1)
  })

  test('reports a file that does not exist', () => {
    const path = fixture('missing.yml')

    expect(failure([], { RA_CONFIG_FILE: path })).toBe(
      `--config-file (from RA_CONFIG_FILE): cannot read ${path}: no such file`,
    )
  })

  test('reports a file without an extension', () => {
    expect(failure(['--config-file=/etc/ra-config'])).toBe(
      '--config-file (from the command line): /etc/ra-config has no extension; use .json, .yml or .yaml',
    )
  })

  test('reports a group that is not a mapping', () => {
    const path = fixture('group-scalar.yml')

    expect(failure([`--config-file=${path}`])).toBe(
      `--config-file (from the command line): registry in ${path} must be a mapping, not the string "http://registry"`,
    )
  })

  test('reports values of the wrong type, naming flag and key', () => {
    const path = fixture('wrong-types.yml')

    const message = failure([`--config-file=${path}`])

    expect(message.split('\n')).toEqual([
      `--port (from port in ${path}): expected a whole number, got the string "80"`,
      `--debug (from debug in ${path}): expected true or false, got the string "yes"`,
      `--registry.password (from registry.password in ${path}): expected a string, got a number (put it in quotes)`,
      `--registry.token-ttl (from registry.token_ttl in ${path}): expected a whole number, got the number 1.5`,
      `--registry.certs.fqdn (from registry.certs.fqdns in ${path}): expected a list, got the string "reg.local"`,
      `--auth.jwt-ttl (from auth.jwt_ttl in ${path}): expected a duration such as "1h", got the number 3600`,
    ])
  })

  test('checks port ranges of values from the file', () => {
    const path = writeConfig('port.json', { port: 70000 })

    expect(failure([`--config-file=${path}`])).toBe(
      `--port (from port in ${path}): 70000 is out of range 1..65535`,
    )
  })

  test('checks choices of values from the file', () => {
    const path = writeConfig('choice.json', { 'registry.auth_type': 'ldap' })

    expect(failure([`--config-file=${path}`])).toBe(
      `--registry.auth-type (from registry.auth_type in ${path}): "ldap" is not one of token, basic`,
    )
  })

  test('warns about unknown keys and suggests the real one', () => {
    const path = fixture('unknown-keys.yml')

    const { warnings } = load([`--config-file=${path}`])

    expect(warnings).toEqual([
      `${path}: unknown key host_name is ignored (did you mean hostname?)`,
      `${path}: unknown key registry.auth-type is ignored (did you mean registry.auth_type?)`,
      `${path}: unknown key registry.certs.fqdn is ignored (did you mean registry.certs.fqdns?)`,
      `${path}: unknown key logger.file_name is ignored (did you mean logger.filename?)`,
      `${path}: unknown key colour is ignored`,
    ])
  })

  test('takes an empty file as no settings', () => {
    const { config, warnings } = load([`--config-file=${fixture('empty.yml')}`])

    expect([config.port, warnings]).toEqual([80, []])
  })

  test('skips null values', () => {
    const path = join(scratch, 'nulls.yml')
    writeFileSync(path, 'port:\nregistry:\n  service: ~\n')

    expect(loadConfigOnly([`--config-file=${path}`]).port).toBe(80)
  })
})

describe('examples', () => {
  test('the JSON and YAML examples parse without warnings and say the same', () => {
    const yaml = load([`--config-file=${join(EXAMPLES, 'token-config.yml')}`])
    const json = load([`--config-file=${join(EXAMPLES, 'token-config.json')}`])

    expect([yaml.warnings, json.warnings]).toEqual([[], []])
    expect(describeConfig(json.config)).toEqual(describeConfig(yaml.config))
    expect([yaml.config.listen, yaml.config.registry.authType]).toEqual(['*', 'token'])
  })
})

describe('help', () => {
  test.each([[['-h']], [['--help']], [['--bogus', '--help']]])(
    '%p returns the help text',
    (argv) => {
      const result = loadConfig(argv, {})

      expect(result.kind).toBe('help')
    },
  )

  test('groups options as the legacy help does and marks new ones', () => {
    const result = loadConfig(['-h'], {})
    const text = result.kind === 'help' ? result.text : ''

    const titles = text.split('\n').filter((line) => /^\S.*:$/.test(line))
    expect(titles).toEqual([
      'Usage:',
      'Application Options:',
      'registry:',
      'registry.certs:',
      'auth:',
      'logger:',
      'ssl:',
      'store:',
      'Help Options:',
    ])
    expect(text).toContain('--registry.https-certs')
    expect(text).toContain('$RA_REGISTRY_HTTPS_CERT')
    expect(text).toContain('file: registry.certs.ca')
    expect(text.match(/\(new\)/g)?.length).toBe(2)
  })
})

describe('describeConfig', () => {
  test('masks set secrets and shows empty ones as empty', () => {
    const view = describeConfig(loadConfigOnly(['--registry.password=hunter2']))

    expect(JSON.stringify(view)).not.toContain('hunter2')
    expect((view['registry'] as Record<string, unknown>)['password']).toBe('***')
    expect((view['auth'] as Record<string, unknown>)['tokenSecret']).toBe('')
  })
})
