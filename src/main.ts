import 'reflect-metadata'

import { resolve } from 'node:path'

import pino, { type Logger } from 'pino'

import { createApp } from './app.ts'
import { publicBaseUrl, registryConfigYaml } from './commands/registry-config.ts'
import { runResetPassword } from './commands/reset-password.ts'
import { ConfigError, describeConfig, loadConfig, type Config } from './config.ts'
import { Authenticator } from './core/authenticator.ts'
import { startHtpasswd } from './core/htpasswd.ts'
import { LoginThrottle } from './core/login-throttle.ts'
import { openEmbedStore } from './core/sqlite/index.ts'
import type { Store } from './core/store.ts'
import { createTokenSigner } from './core/token-signer.ts'
import { resolveSessionSecret } from './plugins/admin-api/index.ts'
import { REALM_PATH } from './plugins/auth-realm/index.ts'
import { loadOrCreateSigningKeys } from './plugins/certs/index.ts'
import { createLogger } from './plugins/logger/index.ts'

type Command =
  { name: 'serve' } | { name: 'registry-config' } | { name: 'reset-password'; login: string }

const USAGE_EXIT_CODE = 2

/** Reads the subcommand, if any, off the front of the arguments. */
const splitCommand = (argv: string[]): { command: Command; rest: string[] } => {
  const [first, ...rest] = argv
  if (first === 'registry-config') {
    return { command: { name: 'registry-config' }, rest }
  }
  if (first === 'reset-password') {
    const [login, ...options] = rest
    if (!login || login.startsWith('-')) {
      throw new ConfigError(
        'reset-password needs the login whose password to set: reset-password <login>',
      )
    }
    return { command: { name: 'reset-password', login }, rest: options }
  }
  return { command: { name: 'serve' }, rest: argv }
}

const main = async (argv: string[]): Promise<number> => {
  let command: Command
  let config: Config
  let warnings: string[]
  try {
    const split = splitCommand(argv)
    command = split.command
    const loaded = loadConfig(split.rest, process.env)
    if (loaded.kind === 'help') {
      process.stdout.write(loaded.text)
      return 0
    }
    config = loaded.config
    warnings = loaded.warnings
  } catch (error) {
    if (error instanceof ConfigError) {
      const problems = error.problems.length > 0 ? error.problems : [error.message]
      problems.forEach((problem) => process.stderr.write(`registry-admin: ${problem}\n`))
      return USAGE_EXIT_CODE
    }
    throw error
  }

  // Subcommands print their result on stdout, so their log goes to stderr.
  const log = createLogger(
    { debug: config.debug },
    command.name === 'serve' ? undefined : pino.destination(2),
  )
  warnings.forEach((warning) => log.warn(warning))
  log.debug({ config: describeConfig(config) }, 'configuration')

  if (command.name === 'registry-config') {
    process.stdout.write(registryConfigYaml(config))
    return 0
  }

  const { store, created } = await openEmbedStore({
    path: config.store.embed.path,
    adminPassword: config.store.adminPassword.reveal(),
    log,
  })

  if (command.name === 'reset-password') {
    try {
      const code = await runResetPassword(command.login, { store })
      // In basic mode the registry reads the new password from the htpasswd file.
      if (code === 0) {
        await startHtpasswd({ config, store, log })
      }
      return code
    } finally {
      store.close()
    }
  }

  return serve(config, log, store, created)
}

const serve = async (
  config: Config,
  log: Logger,
  store: Store,
  created: boolean,
): Promise<number> => {
  const keys =
    config.registry.authType === 'token'
      ? await loadOrCreateSigningKeys(config.registry.certs, log.child({ component: 'certs' }))
      : null
  const signer = keys ? createTokenSigner({ keys, issuer: config.registry.issuer }) : null
  const authenticator = new Authenticator({ store, throttle: new LoginThrottle() })
  const sessionSecret = await resolveSessionSecret(store, config, log)
  const htpasswd = await startHtpasswd({ config, store, log })

  const app = createApp({ config, log, store, authenticator, signer, sessionSecret, htpasswd })
  // Without reusePort: false a second instance would silently share the port with the first.
  app.listen({
    hostname: config.listen === '*' ? '0.0.0.0' : config.listen,
    port: config.port,
    reusePort: false,
  })

  const base = publicBaseUrl(config)
  log.info({ listen: config.listen, port: config.port }, 'listening')
  if (keys) {
    log.info(
      {
        realm: `${base}${REALM_PATH}`,
        rootCertBundle: resolve(keys.caRootPath),
        issuer: config.registry.issuer,
      },
      'token realm ready; the registry must trust rootCertBundle',
    )
  }
  if (created) {
    process.stdout.write(firstStartBanner(config))
  }

  const stop = async (signal: string) => {
    log.info({ signal }, 'stopping')
    await app.stop()
    htpasswd?.stop()
    await htpasswd?.idle()
    store.close()
    process.exit(0)
  }
  process.once('SIGTERM', () => void stop('SIGTERM'))
  process.once('SIGINT', () => void stop('SIGINT'))
  return -1
}

/** What a person starting the server for the first time needs to know, on stdout. */
const firstStartBanner = (config: Config): string => {
  const password =
    config.store.adminPassword.reveal() === 'admin'
      ? 'admin (change it now)'
      : 'as set by store.admin_password'
  return [
    '',
    'registry-admin is ready.',
    `  UI and API: ${publicBaseUrl(config)}`,
    `  admin login: admin, password: ${password}`,
    '',
    'Give your registry this configuration (also printed by the registry-config command):',
    '',
    // The banner may end up in a container log: the secret stays out of it.
    registryConfigYaml(config, { revealSecret: false }),
  ].join('\n')
}

const STARTUP_FAILURE_EXIT_CODE = 1

try {
  const code = await main(process.argv.slice(2))
  if (code >= 0) {
    process.exit(code)
  }
} catch (error) {
  // Start-up failures (an unreadable key file, a store written by a newer version, a port in
  // use) are the operator's to fix: one line says what, without a stack trace.
  const message = error instanceof Error ? error.message : String(error)
  process.stderr.write(`registry-admin: ${message}\n`)
  process.exit(STARTUP_FAILURE_EXIT_CODE)
}
