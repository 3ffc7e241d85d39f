import type { Secret } from './core/secret.ts'

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
