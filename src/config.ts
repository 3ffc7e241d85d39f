import { readFileSync } from 'node:fs'
import { isIP, isIPv4, isIPv6 } from 'node:net'
import { homedir } from 'node:os'
import { extname, join } from 'node:path'
import { parseArgs } from 'node:util'

import { parse as parseJsonc, type ParseError as JsonSyntaxError } from 'jsonc-parser'
import { parseDocument } from 'yaml'

import { DurationError, parseDuration } from './core/duration.ts'
import { Secret } from './core/secret.ts'

/**
 * The server's configuration after flags, environment, config file and defaults have been
 * merged and validated. Durations are already converted to the unit named on each field.
 */
export interface Config {
  /** Bind host; `*` means every interface. @default '*' */
  listen: string
  /** Public host name, with scheme once loaded (`http://localhost`). @default 'localhost' */
  hostname: string
  /** HTTP port. @default 80 */
  port: number
  debug: boolean
  registry: RegistryConfig
  auth: AuthConfig
  logger: LoggerConfig
  ssl: SslConfig
  store: StoreConfig
}

export interface RegistryConfig {
  /** Registry URL as written by the operator (`http://registry`), '' when unset. */
  host: string
  /** @default 5000 */
  port: number
  /** @default 'token' */
  authType: 'token' | 'basic'
  login: string
  password: Secret
  htpasswd: string
  httpsInsecure: boolean
  /** Expected `service` (token audience); '' means "take it from the request". */
  service: string
  /** Token issuer. @default '127.0.0.1' (what an empty legacy value meant) */
  issuer: string
  /** Registry token lifetime in seconds. @default 60 */
  tokenTtl: number
  /** Refresh token lifetime in seconds. @default 90 days */
  refreshTokenTtl: number
  /** Sync period in minutes. @default 60 */
  gcInterval: number
  /** Shared secret the registry sends as `Authorization: Bearer` on notifications. */
  eventsSecret: Secret
  certs: CertsConfig
}

export interface CertsConfig {
  /** Folder of the three files. @default '~/.registry-certs' when nothing is set */
  path: string
  /** Private key file. @default '<path>/registry_auth.key' */
  key: string
  /** Public key file. @default '<path>/registry_auth.pub' */
  publicKey: string
  /** Self-signed CA certificate; the registry's `rootcertbundle`. @default '<path>/registry_auth_ca.crt' */
  caRoot: string
  /** DNS names for a newly generated certificate. */
  fqdns: string[]
  /** One IP address for a newly generated certificate, '' for none. */
  ip: string
  /** Extra PEM trusted when this server calls the registry over HTTPS. */
  httpsCert: string
}

export interface AuthConfig {
  /** HS256 secret of UI sessions; empty means "generate one and keep it in the store". */
  tokenSecret: Secret
  /** `iss` of UI session tokens. @default 'zebox' */
  issuerName: string
  /** Session token lifetime in seconds. @default 3600 */
  jwtTtl: number
  /** Session cookie lifetime in seconds, and the longest a session lives. @default 86400 */
  cookieTtl: number
}

export interface LoggerConfig {
  stdout: boolean
  /** Write the access log to a rotating file instead of stdout. */
  enabled: boolean
  /** @default 'access.log' */
  filename: string
  /** Rotation size in bytes. @default 10 MiB */
  maxSize: number
  /** @default 10 */
  maxBackups: number
}

export interface SslConfig {
  /** @default 'none' */
  type: 'none' | 'static' | 'auto'
  cert: string
  key: string
  /** @default './acme' */
  acmeLocation: string
  acmeEmail: string
  /** @default 443 */
  port: number
  /** Port of the HTTP redirect / ACME listener; 0 means `port`. */
  httpPort: number
  acmeFqdns: string[]
}

export interface StoreConfig {
  /** @default 'embed' */
  type: 'embed'
  /** Password of the `admin` user when the store is first created. @default 'admin' */
  adminPassword: Secret
  embed: {
    /** SQLite file. @default './data.db' */
    path: string
  }
}

// ---------------------------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------------------------

/** Where an option's value came from. */
export type ConfigSource = 'flag' | 'env' | 'file' | 'default'

/** What {@link loadConfig} returns: a validated config, or the `--help` text to print. */
export type LoadResult =
  | {
      kind: 'config'
      config: Config
      /** Problems that do not stop the server, such as unknown config-file keys. */
      warnings: string[]
      /** The source of each option, keyed by its config-file key (`registry.port`). */
      sources: Record<string, ConfigSource>
    }
  | { kind: 'help'; text: string }

/**
 * A bad option value, an unknown flag or a config file that cannot be read. `message` has one
 * line per problem, each naming the option as its flag and where the value came from; the
 * process should print it and exit with `exitCode`, without a stack trace.
 */
export class ConfigError extends Error {
  readonly exitCode = 2

  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }

  /** One entry per problem. */
  get problems(): string[] {
    return this.message.split('\n')
  }
}

type OptionKind =
  | 'string'
  | 'url'
  | 'path'
  | 'secret'
  | 'bool'
  | 'int'
  | 'port'
  | 'duration'
  | 'size'
  | 'list'
  | 'choice'

interface OptionSpec {
  /** Long flag without the dashes: `registry.auth-type`. */
  flag: string
  env: string
  /** Dotted config-file key: `registry.auth_type`; '' for options that have none. */
  key: string
  kind: OptionKind
  /** The default, written as an operator would write it on the command line. */
  def: string
  /** The default as `--help` shows it, when that is not `def`. */
  defText?: string
  help: string
  choices?: readonly string[]
  /** Smallest accepted integer (int, port) or, for durations, seconds. */
  min?: number
  aliasFlags?: readonly string[]
  aliasEnvs?: readonly string[]
  aliasKeys?: readonly string[]
  /** Not in the legacy tool. */
  isNew?: boolean
}

const MAX_PORT = 65535

/**
 * Every option, in `--help` order. Flags, environment names, file keys and defaults are those of
 * the legacy tool, quirks included (`RA_HOST_NAME`, `--auth.jwt-issuer` ↔ `auth.issuer_name`).
 */
const OPTIONS: readonly OptionSpec[] = [
  {
    flag: 'listen',
    env: 'RA_LISTEN',
    key: 'listen',
    kind: 'string',
    def: '*',
    help: 'bind host; * means every interface',
  },
  {
    flag: 'hostname',
    env: 'RA_HOST_NAME',
    key: 'hostname',
    kind: 'string',
    def: 'localhost',
    help: 'public host name; http:// or https:// is added from --ssl.type unless it starts with http',
  },
  {
    flag: 'port',
    env: 'RA_PORT',
    key: 'port',
    kind: 'port',
    def: '80',
    help: 'HTTP port (only redirects and ACME when --ssl.type is static or auto)',
  },
  {
    flag: 'config-file',
    env: 'RA_CONFIG_FILE',
    key: '',
    kind: 'path',
    def: '',
    defText: 'none',
    help: 'config file, .json, .yml or .yaml; flags and environment win over it',
  },
  {
    flag: 'debug',
    env: 'RA_DEBUG',
    key: 'debug',
    kind: 'bool',
    def: 'false',
    help: 'debug log level',
  },

  {
    flag: 'registry.host',
    env: 'RA_REGISTRY_HOST',
    key: 'registry.host',
    kind: 'url',
    def: '',
    defText: 'none',
    help: 'registry URL with http or https scheme, e.g. https://registry.example.com',
  },
  {
    flag: 'registry.port',
    env: 'RA_REGISTRY_PORT',
    key: 'registry.port',
    kind: 'port',
    def: '5000',
    help: 'registry port',
  },
  {
    flag: 'registry.auth-type',
    env: 'RA_REGISTRY_AUTH_TYPE',
    key: 'registry.auth_type',
    kind: 'choice',
    def: 'token',
    choices: ['token', 'basic'],
    help: 'how the registry authenticates clients',
  },
  {
    flag: 'registry.login',
    env: 'RA_REGISTRY_LOGIN',
    key: 'registry.login',
    kind: 'string',
    def: '',
    help: 'user this server logs in to the registry as (required in basic mode)',
  },
  {
    flag: 'registry.password',
    env: 'RA_REGISTRY_PASSWORD',
    key: 'registry.password',
    kind: 'secret',
    def: '',
    help: 'password of --registry.login',
  },
  {
    flag: 'registry.htpasswd',
    env: 'RA_REGISTRY_HTPASSWD',
    key: 'registry.htpasswd',
    kind: 'path',
    def: '',
    help: 'htpasswd file this server rewrites (required in basic mode)',
  },
  {
    flag: 'registry.https-insecure',
    env: 'RA_REGISTRY_HTTPS_INSECURE',
    key: 'registry.https_insecure',
    kind: 'bool',
    def: 'false',
    help: 'skip TLS certificate checks towards the registry',
  },
  {
    flag: 'registry.service',
    env: 'RA_REGISTRY_SERVICE',
    key: 'registry.service',
    kind: 'string',
    def: '',
    help: "token audience (the registry's auth.token.service); empty takes it from each request",
  },
  {
    flag: 'registry.issuer',
    env: 'RA_REGISTRY_ISSUER',
    key: 'registry.issuer',
    kind: 'string',
    def: '',
    defText: '127.0.0.1',
    help: "token issuer (the registry's auth.token.issuer)",
  },
  {
    flag: 'registry.token-ttl',
    env: 'RA_REGISTRY_TOKEN_TTL',
    key: 'registry.token_ttl',
    kind: 'int',
    def: '0',
    defText: '60',
    min: 0,
    help: 'registry token lifetime in whole seconds; 0 means 60',
  },
  {
    flag: 'registry.refresh-token-ttl',
    env: 'RA_REGISTRY_REFRESH_TOKEN_TTL',
    key: 'registry.refresh_token_ttl',
    kind: 'duration',
    def: '90d',
    min: 1,
    isNew: true,
    help: 'refresh (offline) token lifetime, a duration such as 90d or 720h',
  },
  {
    flag: 'registry.gc-interval',
    env: 'RA_REGISTRY_GC_INTERVAL',
    key: 'registry.gc_interval',
    kind: 'int',
    def: '0',
    defText: '60',
    min: 0,
    help: 'catalog sync and clean-up period in whole minutes; 0 means 60',
  },
  {
    flag: 'registry.events-secret',
    env: 'RA_REGISTRY_EVENTS_SECRET',
    key: 'registry.events_secret',
    kind: 'secret',
    def: '',
    isNew: true,
    help: 'secret the registry sends as "Authorization: Bearer <secret>" with notifications',
  },

  {
    flag: 'registry.certs.path',
    env: 'RA_REGISTRY_CERTS_CERT_PATH',
    key: 'registry.certs.path',
    kind: 'path',
    def: '',
    defText: '~/.registry-certs',
    help: 'folder of the token key and certificate files',
  },
  {
    flag: 'registry.certs.key',
    env: 'RA_REGISTRY_CERTS_KEY_PATH',
    key: 'registry.certs.key',
    kind: 'path',
    def: '',
    defText: '<path>/registry_auth.key',
    help: 'private key file',
  },
  {
    flag: 'registry.certs.public-key',
    env: 'RA_REGISTRY_CERTS_PUBLIC_KEY_PATH',
    key: 'registry.certs.public_key',
    kind: 'path',
    def: '',
    defText: '<path>/registry_auth.pub',
    help: 'public key file',
  },
  {
    flag: 'registry.certs.ca-root',
    env: 'RA_REGISTRY_CERTS_CA_ROOT_PATH',
    key: 'registry.certs.ca_root',
    kind: 'path',
    def: '',
    defText: '<path>/registry_auth_ca.crt',
    aliasKeys: ['registry.certs.ca'],
    help: "CA certificate file, the registry's auth.token.rootcertbundle",
  },
  {
    flag: 'registry.certs.fqdn',
    env: 'RA_REGISTRY_CERTS_FQDN',
    key: 'registry.certs.fqdns',
    kind: 'list',
    def: '',
    defText: 'none',
    help: 'DNS name for a generated certificate; repeat the flag or separate with commas',
  },
  {
    flag: 'registry.certs.ip',
    env: 'RA_REGISTRY_CERTS_IP',
    key: 'registry.certs.ip',
    kind: 'string',
    def: '',
    help: 'IP address for a generated certificate',
  },
  {
    flag: 'registry.certs.https-cert',
    env: 'RA_REGISTRY_CERTS_CERT_HTTPS',
    key: 'registry.certs.https_cert',
    kind: 'path',
    def: '',
    aliasFlags: ['registry.https-certs'],
    aliasEnvs: ['RA_REGISTRY_HTTPS_CERT'],
    help: 'extra PEM certificate trusted when calling the registry over HTTPS',
  },

  {
    flag: 'auth.token-secret',
    env: 'RA_AUTH_TOKEN_SECRET',
    key: 'auth.token_secret',
    kind: 'secret',
    def: '',
    defText: 'generated once and kept in the store',
    help: 'HS256 secret of UI sessions',
  },
  {
    flag: 'auth.jwt-issuer',
    env: 'RA_AUTH_ISSUER_NAME',
    key: 'auth.issuer_name',
    kind: 'string',
    def: 'zebox',
    help: 'issuer of UI session tokens',
  },
  {
    flag: 'auth.jwt-ttl',
    env: 'RA_AUTH_JWT_TTL',
    key: 'auth.jwt_ttl',
    kind: 'duration',
    def: '1h',
    min: 1,
    help: 'UI session token lifetime, a duration such as 1h or 90m',
  },
  {
    flag: 'auth.cookie-ttl',
    env: 'RA_AUTH_COOKIE_TTL',
    key: 'auth.cookie_ttl',
    kind: 'duration',
    def: '24h',
    min: 1,
    help: 'UI session cookie lifetime and longest session, a duration such as 24h or 7d',
  },

  {
    flag: 'logger.stdout',
    env: 'RA_LOGGER_STDOUT',
    key: 'logger.stdout',
    kind: 'bool',
    def: 'false',
    help: 'also write the access log to stdout when --logger.enabled is set',
  },
  {
    flag: 'logger.enabled',
    env: 'RA_LOGGER_ENABLED',
    key: 'logger.enabled',
    kind: 'bool',
    def: 'false',
    help: 'write the access log to a rotating file instead of stdout',
  },
  {
    flag: 'logger.file',
    env: 'RA_LOGGER_FILE',
    key: 'logger.filename',
    kind: 'path',
    def: 'access.log',
    help: 'access log file',
  },
  {
    flag: 'logger.max-size',
    env: 'RA_LOGGER_SIZE',
    key: 'logger.max_size',
    kind: 'size',
    def: '10M',
    help: 'rotate the access log at this size: bytes with an optional K, M, G or T suffix (1024-based)',
  },
  {
    flag: 'logger.max-backups',
    env: 'RA_LOGGER_BACKUPS',
    key: 'logger.max_backups',
    kind: 'int',
    def: '10',
    min: 1,
    help: 'number of gzipped old access logs to keep',
  },

  {
    flag: 'ssl.type',
    env: 'RA_SSL_TYPE',
    key: 'ssl.type',
    kind: 'choice',
    def: 'none',
    choices: ['none', 'static', 'auto'],
    help: 'HTTPS mode: none, static (cert and key files) or auto (ACME)',
  },
  {
    flag: 'ssl.cert',
    env: 'RA_SSL_CERT',
    key: 'ssl.cert',
    kind: 'path',
    def: '',
    help: 'certificate PEM file (required when --ssl.type is static)',
  },
  {
    flag: 'ssl.key',
    env: 'RA_SSL_KEY',
    key: 'ssl.key',
    kind: 'path',
    def: '',
    help: 'private key PEM file (required when --ssl.type is static)',
  },
  {
    flag: 'ssl.acme-location',
    env: 'RA_SSL_ACME_LOCATION',
    key: 'ssl.acme_location',
    kind: 'path',
    def: './acme',
    help: 'ACME certificate cache folder',
  },
  {
    flag: 'ssl.acme-email',
    env: 'RA_SSL_ACME_EMAIL',
    key: 'ssl.acme_email',
    kind: 'string',
    def: '',
    help: 'ACME account e-mail',
  },
  {
    flag: 'ssl.port',
    env: 'RA_SSL_PORT',
    key: 'ssl.port',
    kind: 'port',
    def: '443',
    help: 'HTTPS port',
  },
  {
    flag: 'ssl.http-port',
    env: 'RA_SSL_ACME_HTTP_PORT',
    key: 'ssl.redir_http_port',
    kind: 'port',
    def: '0',
    defText: 'the value of --port',
    min: 0,
    help: 'port of the HTTP redirect and ACME listener; 0 means --port',
  },
  {
    flag: 'ssl.fqdn',
    env: 'RA_SSL_ACME_FQDN',
    key: 'ssl.acme_fqdns',
    kind: 'list',
    def: '',
    defText: 'none',
    help: 'host name ACME may get a certificate for; repeat the flag or separate with commas',
  },

  {
    flag: 'store.type',
    env: 'RA_STORE_DB_TYPE',
    key: 'store.type',
    kind: 'choice',
    def: 'embed',
    choices: ['embed'],
    help: 'store engine',
  },
  {
    flag: 'store.admin-password',
    env: 'RA_STORE_ADMIN_PASSWORD',
    key: 'store.admin_password',
    kind: 'secret',
    def: 'admin',
    help: 'password of the admin user created with a new store',
  },
  {
    flag: 'store.embed.path',
    env: 'RA_STORE_EMBED_DB_PATH',
    key: 'store.embed.path',
    kind: 'path',
    def: './data.db',
    help: 'SQLite database file',
  },
]

const HELP_GROUPS = [
  ['top', 'Application Options'],
  ['registry', 'registry'],
  ['registry.certs', 'registry.certs'],
  ['auth', 'auth'],
  ['logger', 'logger'],
  ['ssl', 'ssl'],
  ['store', 'store'],
] as const

/** Keys people wrote by mistake in the legacy examples and fixtures, and what they meant. */
const KEY_SUGGESTIONS: Readonly<Record<string, string>> = {
  'registry.certs.fqdn': 'registry.certs.fqdns',
  host_name: 'hostname',
  'logger.file': 'logger.filename',
  'logger.file_name': 'logger.filename',
  'ssl.acme_fqdn': 'ssl.acme_fqdns',
  'ssl.http_port': 'ssl.redir_http_port',
}

const CERT_FILES = {
  key: 'registry_auth.key',
  publicKey: 'registry_auth.pub',
  caRoot: 'registry_auth_ca.crt',
} as const

const DEFAULT_TOKEN_TTL_SECONDS = 60
const DEFAULT_GC_INTERVAL_MINUTES = 60
const DEFAULT_ISSUER = '127.0.0.1'

/** One option value before conversion, with a description of its origin for messages. */
interface RawValue {
  value: unknown
  source: ConfigSource
  /** `the command line`, `RA_PORT`, `port in ra.yml`, `the default`. */
  origin: string
}

type Env = Record<string, string | undefined>

/** A value problem; the caller adds the option name and origin. */
class Problem extends Error {}

/**
 * Reads the configuration from the arguments (after any subcommand), the environment, the
 * config file they name, and the defaults, in that order of precedence, and validates it.
 * Reads the config file from disk and nothing else; prints nothing.
 *
 * @returns `{ kind: 'help' }` when `-h`/`--help` is given, else the frozen config.
 * @throws ConfigError listing every bad value, unknown flag or config file problem.
 */
export function loadConfig(argv: string[], env: Env): LoadResult {
  const flags = readFlags(argv)
  if (flags.help) {
    return { kind: 'help', text: helpText() }
  }
  throwIfAny(flags.problems)

  const warnings: string[] = []
  const fromEnv = readEnv(env, warnings)
  const fileSpec = specByFlag('config-file')
  const fileRaw = flags.values.get(fileSpec) ?? fromEnv.get(fileSpec)
  const fromFile =
    fileRaw && fileRaw.value !== '' ? readConfigFile(fileSpec, fileRaw, env, warnings) : new Map()

  const problems: string[] = []
  const values = new Map<string, unknown>()
  const sources: Record<string, ConfigSource> = {}
  const origins: Record<string, string> = {}
  for (const spec of OPTIONS) {
    const raw = flags.values.get(spec) ??
      fromEnv.get(spec) ??
      fromFile.get(spec) ?? { value: spec.def, source: 'default', origin: 'the default' }
    if (spec.key !== '') {
      sources[spec.key] = raw.source
      origins[spec.key] = raw.origin
    }
    try {
      values.set(spec.key || spec.flag, convert(spec, raw, env))
    } catch (error) {
      if (!(error instanceof Problem)) {
        throw error
      }
      problems.push(`--${spec.flag} (from ${raw.origin}): ${error.message}`)
    }
  }
  throwIfAny(problems)

  const config = buildConfig(values, env)
  problems.push(...checkConfig(config, origins))
  throwIfAny(problems)
  warnings.push(...adviseConfig(config))

  return { kind: 'config', config: deepFreeze(config), warnings, sources }
}

const throwIfAny = (problems: string[]): void => {
  if (problems.length > 0) {
    throw new ConfigError(problems.join('\n'))
  }
}

const specByFlag = (flag: string): OptionSpec => {
  const spec = OPTIONS.find((candidate) => candidate.flag === flag)
  if (!spec) {
    throw new Error(`no option --${flag}`)
  }
  return spec
}

// ---------------------------------------------------------------------------------------------
// Sources: flags, environment, config file
// ---------------------------------------------------------------------------------------------

interface FlagValues {
  values: Map<OptionSpec, RawValue>
  help: boolean
  problems: string[]
}

/** Parses long flags with node:util parseArgs; its tokens let us word our own errors. */
function readFlags(argv: string[]): FlagValues {
  const bySpelling = new Map<string, OptionSpec>()
  const options: Record<
    string,
    { type: 'string' | 'boolean'; multiple?: boolean; short?: string }
  > = { help: { type: 'boolean', short: 'h' } }
  for (const spec of OPTIONS) {
    for (const name of [spec.flag, ...(spec.aliasFlags ?? [])]) {
      bySpelling.set(name, spec)
      options[name] = {
        type: spec.kind === 'bool' ? 'boolean' : 'string',
        multiple: spec.kind === 'list',
      }
    }
  }

  const { tokens } = parseArgs({
    args: argv,
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  })
  const result: FlagValues = { values: new Map(), help: false, problems: [] }
  for (const token of tokens) {
    if (token.kind === 'positional') {
      result.problems.push(`unexpected argument "${token.value}" (see --help)`)
      continue
    }
    if (token.kind !== 'option') {
      continue
    }
    if (token.name === 'help') {
      result.help = true
      continue
    }
    const spec = bySpelling.get(token.name)
    if (!spec) {
      result.problems.push(`${token.rawName}: unknown option (see --help)`)
      continue
    }
    const value = flagValue(spec, token, result.problems)
    if (value === undefined) {
      continue
    }
    const origin = token.name === spec.flag ? 'the command line' : token.rawName
    const previous = result.values.get(spec)?.value
    const merged =
      spec.kind === 'list' ? [...((previous as string[] | undefined) ?? []), value] : value
    result.values.set(spec, { value: merged, source: 'flag', origin })
  }

  return result
}

interface OptionToken {
  rawName: string
  value?: string
  inlineValue?: boolean
}

const flagValue = (
  spec: OptionSpec,
  token: OptionToken,
  problems: string[],
): string | undefined => {
  if (spec.kind === 'bool') {
    return token.value ?? 'true'
  }
  if (token.value === undefined) {
    problems.push(`${token.rawName}: missing value`)
    return undefined
  }
  // parseArgs takes the next word even when it is another flag: `--port --debug`.
  if (!token.inlineValue && token.value.startsWith('--')) {
    problems.push(`${token.rawName}: missing value`)
    return undefined
  }
  if (!token.inlineValue && token.value.startsWith('-')) {
    problems.push(
      `${token.rawName}: missing value (write ${token.rawName}=${token.value} for a value that starts with "-")`,
    )
    return undefined
  }
  return token.value
}

/** Reads each option's variable; empty variables count as unset. */
function readEnv(env: Env, warnings: string[]): Map<OptionSpec, RawValue> {
  const values = new Map<OptionSpec, RawValue>()
  for (const spec of OPTIONS) {
    const names = [spec.env, ...(spec.aliasEnvs ?? [])].filter((name) => env[name])
    const [name, ...ignored] = names
    if (name === undefined) {
      continue
    }
    ignored.forEach((other) => warnings.push(`${other} is ignored because ${name} is set`))
    values.set(spec, { value: env[name], source: 'env', origin: name })
  }
  return values
}

/** Reads, parses and flattens the config file; unknown keys become warnings. */
function readConfigFile(
  fileSpec: OptionSpec,
  raw: RawValue,
  env: Env,
  warnings: string[],
): Map<OptionSpec, RawValue> {
  const prefix = `--${fileSpec.flag} (from ${raw.origin}): `
  const fail = (reason: string): never => {
    throw new ConfigError(prefix + reason)
  }
  const path = expandHome(String(raw.value), env)
  const name = String(raw.value)
  const extension = extname(path).toLowerCase()
  if (extension !== '.json' && extension !== '.yml' && extension !== '.yaml') {
    const shown = extension === '' ? 'no extension' : `the unknown extension "${extension}"`
    fail(`${name} has ${shown}; use .json, .yml or .yaml`)
  }

  let text = ''
  try {
    text = readFileSync(path, 'utf8').replace(/^\uFEFF/, '')
  } catch (error) {
    fail(`cannot read ${name}: ${describeFsError(error)}`)
  }

  let parsed: unknown
  try {
    parsed = extension === '.json' ? parseJson(text) : parseYaml(text, warnings, name)
  } catch (error) {
    // The parsers throw for more than syntax, e.g. yaml for an alias bomb and either one for
    // nesting deeper than the stack: every one of them is a problem with this file.
    fail(`${name} does not parse: ${describeParserError(error)}`)
  }
  if (typeof parsed === 'string') {
    fail(`${name} does not parse: ${parsed}`)
  }
  if (parsed === null || parsed === undefined) {
    return new Map()
  }
  if (!isMapping(parsed)) {
    fail(`${name} must hold a mapping of options, not ${describeFileValue(parsed)}`)
  }

  const state: FlattenState = { name, values: new Map(), keys: new Map(), warnings, problems: [] }
  flattenFile(parsed as Record<string, unknown>, '', state)
  if (state.problems.length > 0) {
    throw new ConfigError(state.problems.map((problem) => prefix + problem).join('\n'))
  }
  return state.values
}

interface FlattenState {
  name: string
  values: Map<OptionSpec, RawValue>
  /** The key each value was read from, to tell an alias from the real key. */
  keys: Map<OptionSpec, string>
  warnings: string[]
  problems: string[]
}

const keyIndex = (() => {
  const leaves = new Map<string, OptionSpec>()
  const groups = new Set<string>()
  for (const spec of OPTIONS) {
    for (const key of [spec.key, ...(spec.aliasKeys ?? [])].filter((k) => k !== '')) {
      leaves.set(key, spec)
      const parts = key.split('.')
      for (let i = 1; i < parts.length; i++) {
        groups.add(parts.slice(0, i).join('.'))
      }
    }
  }
  return { leaves, groups }
})()

function flattenFile(node: Record<string, unknown>, prefix: string, state: FlattenState): void {
  for (const [name, value] of Object.entries(node)) {
    const key = prefix === '' ? name : `${prefix}.${name}`
    const spec = keyIndex.leaves.get(key)
    if (value === null) {
      continue
    }
    if (spec) {
      readFileKey(spec, key, value, state)
    } else if (keyIndex.groups.has(key)) {
      if (isMapping(value)) {
        flattenFile(value as Record<string, unknown>, key, state)
      } else {
        state.problems.push(
          `${key} in ${state.name} must be a mapping, not ${describeFileValue(value)}`,
        )
      }
    } else {
      state.warnings.push(`${state.name}: unknown key ${key} is ignored${suggestKey(key)}`)
    }
  }
}

/** Records one leaf; the real key wins over an alias whatever their order in the file. */
const readFileKey = (spec: OptionSpec, key: string, value: unknown, state: FlattenState): void => {
  const previousKey = state.keys.get(spec)
  if (previousKey !== undefined) {
    const [kept, ignored] = key === spec.key ? [key, previousKey] : [previousKey, key]
    state.warnings.push(`${state.name}: ${ignored} is ignored because ${kept} is set`)
    if (kept !== key) {
      return
    }
  }
  state.keys.set(spec, key)
  state.values.set(spec, { value, source: 'file', origin: `${key} in ${state.name}` })
}

const suggestKey = (key: string): string => {
  const candidates = [KEY_SUGGESTIONS[key], key.replaceAll('-', '_'), `${key}s`]
  const known = candidates.find((candidate) => candidate && keyIndex.leaves.has(candidate))
  return known ? ` (did you mean ${known}?)` : ''
}

/** Returns the parsed value, or a string saying where and why the JSON is broken. */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch (error) {
    // The runtime's message has no position; a second, tolerant parser finds the spot.
    if (!(error instanceof SyntaxError)) {
      throw error
    }
    const reason = error.message.replace(/^JSON Parse error: /, '')
    const errors: JsonSyntaxError[] = []
    try {
      parseJsonc(text, errors, { allowTrailingComma: false, disallowComments: true })
    } catch {
      return reason
    }
    const first = errors[0]
    return first ? `${lineAndColumn(text, first.offset)}: ${reason}` : reason
  }
}

/** One line on why a parser threw, with the place when the error carries one. */
const describeParserError = (error: unknown): string => {
  if (error instanceof RangeError && /call stack/i.test(error.message)) {
    return 'it is nested too deeply'
  }
  if (error instanceof ReferenceError && /alias count/i.test(error.message)) {
    return 'it expands YAML aliases into too many values; write the values out instead'
  }
  const message = error instanceof Error ? error.message : String(error)
  const reason = (message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')
  const position = (error as { linePos?: [{ line: number; col: number }] } | null)?.linePos?.[0]
  return position ? `line ${position.line}, column ${position.col}: ${reason}` : reason
}

const lineAndColumn = (text: string, offset: number): string => {
  const before = text.slice(0, offset)
  const line = before.split('\n').length
  const column = offset - before.lastIndexOf('\n')
  return `line ${line}, column ${column}`
}

/** Returns the parsed value, or a string saying where and why the YAML is broken. */
function parseYaml(text: string, warnings: string[], name: string): unknown {
  const document = parseDocument(text)
  const [error] = document.errors
  if (error) {
    const position = error.linePos?.[0]
    const where = position ? `line ${position.line}, column ${position.col}: ` : ''
    const reason = (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')
    const hint =
      error.code === 'BAD_ALIAS' ? " (quote a value that starts with * or &, e.g. listen: '*')" : ''
    return `${where}${reason}${hint}`
  }
  document.warnings.forEach((warning) => warnings.push(`${name}: ${warning.message}`))
  return document.toJS() as unknown
}

const describeFsError = (error: unknown): string => {
  const code = (error as NodeJS.ErrnoException).code
  if (code === 'ENOENT') {
    return 'no such file'
  }
  if (code === 'EACCES') {
    return 'permission denied'
  }
  if (code === 'EISDIR') {
    return 'it is a folder'
  }
  return (error as Error).message
}

// ---------------------------------------------------------------------------------------------
// Conversion of one value
// ---------------------------------------------------------------------------------------------

/** Converts one raw value to its typed form; throws Problem with a reason. */
function convert(spec: OptionSpec, raw: RawValue, env: Env): unknown {
  const fromFile = raw.source === 'file'
  const value = raw.value
  switch (spec.kind) {
    case 'string':
    case 'url':
      return fileString(value, fromFile, false)
    case 'path':
      return expandHome(fileString(value, fromFile, false), env)
    case 'secret':
      return new Secret(fileString(value, fromFile, true))
    case 'bool':
      return toBool(value, fromFile)
    case 'int':
    case 'port':
      return checkRange(spec, toInt(value, fromFile))
    case 'duration':
      return toDurationSeconds(spec, value, fromFile)
    case 'size':
      return toSize(value, fromFile)
    case 'list':
      return toList(value, fromFile)
    case 'choice':
      return toChoice(spec, fileString(value, fromFile, false).trim())
  }
}

const fileString = (value: unknown, fromFile: boolean, secret: boolean): string => {
  if (typeof value === 'string' || !fromFile) {
    return String(value)
  }
  const got = secret ? `a ${typeof value}` : describeFileValue(value)
  const hint = typeof value === 'number' || typeof value === 'boolean' ? ' (put it in quotes)' : ''
  throw new Problem(`expected a string, got ${got}${hint}`)
}

const toBool = (value: unknown, fromFile: boolean): boolean => {
  if (typeof value === 'boolean') {
    return value
  }
  if (fromFile) {
    throw new Problem(`expected true or false, got ${describeFileValue(value)}`)
  }
  const text = String(value).trim().toLowerCase()
  if (['true', 't', '1'].includes(text)) {
    return true
  }
  if (['false', 'f', '0'].includes(text)) {
    return false
  }
  throw new Problem(`"${String(value)}" is not true or false`)
}

const toInt = (value: unknown, fromFile: boolean): number => {
  if (fromFile) {
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new Problem(`expected a whole number, got ${describeFileValue(value)}`)
    }
    return value
  }
  const text = String(value).trim()
  if (!/^[+-]?\d+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new Problem(`"${String(value)}" is not a whole number`)
  }
  return Number(text)
}

const checkRange = (spec: OptionSpec, value: number): number => {
  const min = spec.min ?? (spec.kind === 'port' ? 1 : Number.MIN_SAFE_INTEGER)
  const max = spec.kind === 'port' ? MAX_PORT : undefined
  if (max !== undefined && (value < min || value > max)) {
    throw new Problem(`${value} is out of range ${min}..${max}`)
  }
  if (value < min) {
    throw new Problem(min === 0 ? `${value} is negative` : `${value} is less than ${min}`)
  }
  return value
}

const toDurationSeconds = (spec: OptionSpec, value: unknown, fromFile: boolean): number => {
  if (fromFile && typeof value !== 'string') {
    throw new Problem(`expected a duration such as "1h", got ${describeFileValue(value)}`)
  }
  const text = String(value).trim()
  let ms: number
  try {
    ms = parseDuration(text)
  } catch (error) {
    if (error instanceof DurationError) {
      throw new Problem(`"${text}" ${error.message}`)
    }
    throw error
  }
  if (ms < 0) {
    throw new Problem(`"${text}" is negative`)
  }
  const seconds = Math.floor(ms / 1000)
  if (seconds < (spec.min ?? 0)) {
    throw new Problem(`"${text}" is shorter than ${spec.min} second${spec.min === 1 ? '' : 's'}`)
  }
  return seconds
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  k: 1024,
  m: 1024 ** 2,
  g: 1024 ** 3,
  t: 1024 ** 4,
}

/**
 * Parses a size the legacy way: a whole number with an optional K, M, G or T suffix in either
 * case, 1024-based. A bare number is bytes.
 *
 * @returns the size in bytes, or undefined when the text is not a size.
 */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+)([kmgt]?)$/i.exec(text.trim())
  if (!match) {
    return undefined
  }
  const bytes = Number(match[1]) * (SIZE_UNITS[(match[2] ?? '').toLowerCase()] ?? 1)
  return Number.isSafeInteger(bytes) ? bytes : undefined
}

const toSize = (value: unknown, fromFile: boolean): number => {
  let bytes: number | undefined
  if (typeof value === 'number' && fromFile) {
    bytes = Number.isSafeInteger(value) && value >= 0 ? value : undefined
  } else if (typeof value === 'string') {
    bytes = parseSize(value)
  } else {
    throw new Problem(`expected a size such as "10M", got ${describeFileValue(value)}`)
  }
  if (bytes === undefined) {
    throw new Problem(
      `${JSON.stringify(value)} is not a size (a whole number of bytes with an optional K, M, G or T suffix, e.g. 10M)`,
    )
  }
  if (bytes === 0) {
    throw new Problem(`${JSON.stringify(value)} is zero`)
  }
  return bytes
}

/** Flags and variables are comma-separated; file lists are lists. Items are trimmed. */
const toList = (value: unknown, fromFile: boolean): string[] => {
  let items: string[]
  if (fromFile) {
    if (!Array.isArray(value)) {
      throw new Problem(`expected a list, got ${describeFileValue(value)}`)
    }
    const wrong = value.findIndex((item) => typeof item !== 'string')
    if (wrong >= 0) {
      throw new Problem(
        `expected a list of strings, item ${wrong + 1} is ${describeFileValue(value[wrong])}`,
      )
    }
    items = value as string[]
  } else {
    items = (Array.isArray(value) ? (value as string[]) : [String(value)]).flatMap((item) =>
      item.split(','),
    )
  }
  return items.map((item) => item.trim()).filter((item) => item !== '')
}

const toChoice = (spec: OptionSpec, value: string): string => {
  const choices = spec.choices ?? []
  if (!choices.includes(value)) {
    throw new Problem(`"${value}" is not one of ${choices.join(', ')}`)
  }
  return value
}

const describeFileValue = (value: unknown): string => {
  if (typeof value === 'string') {
    return `the string ${JSON.stringify(value)}`
  }
  if (typeof value === 'number' || typeof value === 'boolean') {
    return `the ${typeof value} ${String(value)}`
  }
  if (Array.isArray(value)) {
    return 'a list'
  }
  return isMapping(value) ? 'a mapping' : `a ${typeof value}`
}

const isMapping = (value: unknown): boolean =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Expands a leading `~` or `$HOME` with HOME from `env`. */
const expandHome = (path: string, env: Env): string => {
  const home = env['HOME'] || homedir()
  const match = /^(~|\$HOME|\$\{HOME\})(?=\/|$)/.exec(path)
  return match ? home + path.slice(match[0].length) : path
}

// ---------------------------------------------------------------------------------------------
// Assembly and cross-checks
// ---------------------------------------------------------------------------------------------

function buildConfig(values: Map<string, unknown>, env: Env): Config {
  const get = <T>(key: string): T => values.get(key) as T
  const ssl = get<SslConfig['type']>('ssl.type')

  return {
    listen: get('listen'),
    hostname: withScheme(get('hostname'), ssl),
    port: get('port'),
    debug: get('debug'),
    registry: {
      host: get<string>('registry.host').replace(/\/$/, ''),
      port: get('registry.port'),
      authType: get('registry.auth_type'),
      login: get('registry.login'),
      password: get('registry.password'),
      htpasswd: get('registry.htpasswd'),
      httpsInsecure: get('registry.https_insecure'),
      service: get('registry.service'),
      issuer: get<string>('registry.issuer') || DEFAULT_ISSUER,
      tokenTtl: get<number>('registry.token_ttl') || DEFAULT_TOKEN_TTL_SECONDS,
      refreshTokenTtl: get('registry.refresh_token_ttl'),
      gcInterval: get<number>('registry.gc_interval') || DEFAULT_GC_INTERVAL_MINUTES,
      eventsSecret: get('registry.events_secret'),
      certs: buildCerts(get, env),
    },
    auth: {
      tokenSecret: get('auth.token_secret'),
      issuerName: get('auth.issuer_name'),
      jwtTtl: get('auth.jwt_ttl'),
      cookieTtl: get('auth.cookie_ttl'),
    },
    logger: {
      stdout: get('logger.stdout'),
      enabled: get('logger.enabled'),
      filename: get('logger.filename'),
      maxSize: get('logger.max_size'),
      maxBackups: get('logger.max_backups'),
    },
    ssl: {
      type: ssl,
      cert: get('ssl.cert'),
      key: get('ssl.key'),
      acmeLocation: get('ssl.acme_location'),
      acmeEmail: get('ssl.acme_email'),
      port: get('ssl.port'),
      httpPort: get('ssl.redir_http_port'),
      acmeFqdns: get('ssl.acme_fqdns'),
    },
    store: {
      type: get('store.type'),
      adminPassword: get('store.admin_password'),
      embed: { path: get('store.embed.path') },
    },
  }
}

/** `path` defaults to `~/.registry-certs`; each file defaults to its name inside `path`. */
const buildCerts = (get: <T>(key: string) => T, env: Env): CertsConfig => {
  const path = get<string>('registry.certs.path') || expandHome('~/.registry-certs', env)
  return {
    path,
    key: get<string>('registry.certs.key') || join(path, CERT_FILES.key),
    publicKey: get<string>('registry.certs.public_key') || join(path, CERT_FILES.publicKey),
    caRoot: get<string>('registry.certs.ca_root') || join(path, CERT_FILES.caRoot),
    fqdns: get('registry.certs.fqdns'),
    ip: get<string>('registry.certs.ip').trim(),
    httpsCert: get('registry.certs.https_cert'),
  }
}

const withScheme = (hostname: string, ssl: SslConfig['type']): string => {
  if (hostname.startsWith('http')) {
    return hostname
  }
  return `${ssl === 'none' ? 'http' : 'https'}://${hostname}`
}

/** Rules that involve more than one option, or more than the value's type. */
function checkConfig(config: Config, origins: Record<string, string>): string[] {
  const problems: string[] = []
  const from = (key: string, flag: string, reason: string) =>
    problems.push(`--${flag} (from ${origins[key] ?? 'the default'}): ${reason}`)

  const listenProblem = checkListen(config.listen)
  if (listenProblem) {
    from('listen', 'listen', listenProblem)
  }
  if (!URL.canParse(config.hostname)) {
    from('hostname', 'hostname', `"${config.hostname}" is not a valid host name or URL`)
  }
  const hostProblem = checkRegistryHost(config.registry.host)
  if (hostProblem) {
    from('registry.host', 'registry.host', hostProblem)
  }
  const ip = config.registry.certs.ip
  if (ip !== '' && isIP(ip) === 0) {
    from('registry.certs.ip', 'registry.certs.ip', `"${ip}" is not an IP address`)
  }

  if (config.registry.authType === 'basic') {
    if (config.registry.htpasswd === '') {
      problems.push('--registry.htpasswd is required when --registry.auth-type is basic')
    }
    if (config.registry.login === '') {
      problems.push('--registry.login is required when --registry.auth-type is basic')
    }
  }
  if (config.ssl.type === 'static') {
    if (config.ssl.cert === '') {
      problems.push('--ssl.cert is required when --ssl.type is static')
    }
    if (config.ssl.key === '') {
      problems.push('--ssl.key is required when --ssl.type is static')
    }
  }

  return problems
}

const MAX_HOST_NAME_LENGTH = 253
const HOST_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i

/**
 * `*`, a host name of RFC 1123 labels, an IPv4 address with every octet in 0..255, or an IPv6
 * address, bare or in brackets. Returns a reason when the value is not one of those.
 */
const checkListen = (listen: string): string | undefined => {
  if (listen === '*') {
    return undefined
  }
  const shown = JSON.stringify(listen)
  if (/^(\[[^\]]*\]|[^:]*):\d+$/.test(listen)) {
    return `${shown} has a port; give the host only and the port with --port`
  }
  const bare = /^\[(.*)\]$/.exec(listen)?.[1]
  if (bare !== undefined ? isIPv6(bare) : isIPv6(listen) || isIPv4(listen)) {
    return undefined
  }
  // A name whose last label is a number is meant as an IPv4 address, and that failed above.
  const labels = listen.split('.')
  const isName =
    bare === undefined &&
    listen.length <= MAX_HOST_NAME_LENGTH &&
    labels.every((label) => HOST_LABEL.test(label)) &&
    !/^\d+$/.test(labels.at(-1) ?? '')
  if (isName) {
    return undefined
  }
  return `${shown} is not *, a host name, an IPv4 address (each number 0-255) or an IPv6 address`
}

/**
 * An http(s) URL, with or without a port and path prefix; underscores and IPv6 literals are
 * fine. Returns a reason when the value is not acceptable, undefined when it is (or is empty).
 */
const checkRegistryHost = (host: string): string | undefined => {
  if (host === '') {
    return undefined
  }
  const example = ' (e.g. https://registry.example.com)'
  if (!URL.canParse(host)) {
    return `"${host}" is not a URL with http or https scheme${example}`
  }
  const url = new URL(host)
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `"${host}" is not a URL with http or https scheme${example}`
  }
  if (url.hostname === '') {
    return `"${host}" has no host name${example}`
  }
  // The URL may carry a password: never echo it.
  if (url.username !== '' || url.password !== '') {
    return 'must not contain a user name or password (use --registry.login and --registry.password)'
  }
  if (url.search !== '' || url.hash !== '') {
    return `"${host}" must not have a query or fragment`
  }
  return undefined
}

/** Settings that are legal but probably not what the operator meant. */
function adviseConfig(config: Config): string[] {
  const advice: string[] = []
  if (config.ssl.type === 'auto' && config.ssl.acmeFqdns.length === 0) {
    advice.push('--ssl.type is auto but no --ssl.fqdn is set: ACME refuses every host name')
  }
  return advice
}

const deepFreeze = <T>(value: T): T => {
  if (isMapping(value) || Array.isArray(value)) {
    Object.values(value as object).forEach((child: unknown) => {
      if (!(child instanceof Secret)) {
        deepFreeze(child)
      }
    })
    Object.freeze(value)
  }
  return value
}

// ---------------------------------------------------------------------------------------------
// Help and debug view
// ---------------------------------------------------------------------------------------------

const PLACEHOLDERS: Readonly<Record<OptionKind, string>> = {
  string: '<value>',
  url: '<url>',
  path: '<path>',
  secret: '<secret>',
  bool: '',
  int: '<n>',
  port: '<port>',
  duration: '<duration>',
  size: '<size>',
  list: '<name>',
  choice: '',
}

const groupOf = (spec: OptionSpec): string => {
  if (spec.flag.startsWith('registry.certs.')) {
    return 'registry.certs'
  }
  const dot = spec.flag.indexOf('.')
  return dot < 0 ? 'top' : spec.flag.slice(0, dot)
}

const flagSynopsis = (spec: OptionSpec): string => {
  const placeholder =
    spec.kind === 'choice' ? `[${(spec.choices ?? []).join('|')}]` : PLACEHOLDERS[spec.kind]
  return placeholder === '' ? `--${spec.flag}` : `--${spec.flag}=${placeholder}`
}

const helpLines = (spec: OptionSpec, width: number): string[] => {
  const defaultText = spec.defText ?? spec.def
  const notes = [
    defaultText === '' ? '' : ` (default: ${defaultText})`,
    spec.kind === 'list' ? ' (repeatable)' : '',
    spec.isNew ? ' (new)' : '',
  ]
  const names = [`$${spec.env}`, spec.key === '' ? '' : `file: ${spec.key}`]
  const aliases = [
    ...(spec.aliasFlags ?? []).map((flag) => `--${flag}`),
    ...(spec.aliasEnvs ?? []).map((name) => `$${name}`),
    ...(spec.aliasKeys ?? []).map((key) => `file: ${key}`),
  ]
  if (aliases.length > 0) {
    names.push(`also ${aliases.join(', ')}`)
  }
  const indent = ' '.repeat(width + 4)
  const room = HELP_WIDTH - indent.length
  const [first = '', ...rest] = [
    ...wrap(`${spec.help}${notes.join('')}`.split(' '), ' ', room),
    ...wrap(
      names.filter((name) => name !== ''),
      '; ',
      room - 2,
    ).map((line, index, all) => {
      return `${index === 0 ? '[' : ' '}${line}${index === all.length - 1 ? ']' : ''}`
    }),
  ]
  return [`  ${flagSynopsis(spec).padEnd(width)}  ${first}`, ...rest.map((line) => indent + line)]
}

const HELP_WIDTH = 100

/** Joins pieces with `separator` into lines of at most `width`, never splitting a piece. */
const wrap = (pieces: string[], separator: string, width: number): string[] => {
  const lines: string[] = []
  let line = ''
  for (const piece of pieces) {
    if (line !== '' && line.length + separator.length + piece.length > width) {
      lines.push(line + separator.trimEnd())
      line = piece
    } else {
      line = line === '' ? piece : `${line}${separator}${piece}`
    }
  }
  return [...lines, line]
}

/** The `--help` text: every option by group, with its variable, file key and default. */
export function helpText(): string {
  const width = Math.max(...OPTIONS.map((spec) => flagSynopsis(spec).length))
  const lines = [
    'Usage:',
    '  registry-admin [OPTIONS]',
    '  registry-admin reset-password <login> [OPTIONS]',
    '  registry-admin registry-config [OPTIONS]',
    '',
    'Each option is taken from its flag, else its environment variable ($NAME), else its key in',
    'the config file (file: key), else its default. Durations are Go durations plus d for days',
    '(90m, 1h30m, 7d); sizes are bytes with an optional K, M, G or T suffix (1024-based).',
  ]
  for (const [group, title] of HELP_GROUPS) {
    lines.push('', `${title}:`)
    for (const spec of OPTIONS.filter((candidate) => groupOf(candidate) === group)) {
      lines.push(...helpLines(spec, width))
    }
  }
  lines.push('', 'Help Options:', `  ${'-h, --help'.padEnd(width)}  show this help message`, '')
  return lines.join('\n')
}

/**
 * A plain copy of the config for debug logs: secrets read `***` when set and `''` when empty,
 * so the log shows whether a secret is configured without showing it.
 */
export function describeConfig(config: Config): Record<string, unknown> {
  return describeValue(config) as Record<string, unknown>
}

const describeValue = (value: unknown): unknown => {
  if (value instanceof Secret) {
    return value.isEmpty ? '' : '***'
  }
  if (Array.isArray(value)) {
    return value.map(describeValue)
  }
  if (isMapping(value)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, child]) => [
        key,
        describeValue(child),
      ]),
    )
  }
  return value
}
