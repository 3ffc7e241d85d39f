import { resolve } from 'node:path'

import { stringify } from 'yaml'

import type { Config } from '../config.ts'
import { REALM_PATH } from '../plugins/auth-realm/index.ts'

/** Where the registry must send notifications. */
export const EVENTS_PATH = '/api/v1/registry/events'

/**
 * The address registries and clients reach this server at, such as `http://localhost:8080`.
 * A `hostname` whose scheme differs from what this server listens with, or that carries a port,
 * names a proxy in front of it and is taken as it is; otherwise the listening port is added.
 */
export const publicBaseUrl = (config: Config): string => {
  const url = new URL(config.hostname)
  const tls = config.ssl.type !== 'none'
  if (url.port !== '' || url.protocol !== (tls ? 'https:' : 'http:')) {
    return url.origin
  }
  const port = tls ? config.ssl.port : config.port
  url.port = (tls && port === 443) || (!tls && port === 80) ? '' : String(port)
  return url.origin
}

/**
 * The registry configuration that matches these settings: the `auth.token` block and a
 * `notifications` endpoint, as YAML ready to paste into the registry's `config.yml`.
 *
 * @param options.revealSecret write the notification secret itself; otherwise a placeholder
 *   names the option, for output that may end up in a log. @default true
 */
export const registryConfigYaml = (
  config: Config,
  options: { revealSecret?: boolean } = {},
): string => {
  const base = publicBaseUrl(config)
  const service = config.registry.service
  const configured = config.registry.eventsSecret.reveal()
  const secret = (options.revealSecret ?? true) ? configured : ''
  const notes: string[] = []
  if (!service) {
    notes.push(
      '# registry.service is not set: the token audience is taken from each request. Set it',
      '# (--registry.service) to the same value as auth.token.service below.',
    )
  }
  if (!configured) {
    notes.push(
      '# registry.events-secret is not set: choose one (--registry.events-secret) and put it in',
      '# the Authorization header below.',
    )
  }

  const document = {
    auth: {
      token: {
        realm: `${base}${REALM_PATH}`,
        service: service || 'registry',
        issuer: config.registry.issuer,
        // The registry resolves a relative path from its own working folder, not ours.
        rootcertbundle: resolve(config.registry.certs.caRoot),
      },
    },
    notifications: {
      events: { includereferences: true },
      endpoints: [
        {
          name: 'registry-admin',
          url: `${base}${EVENTS_PATH}`,
          headers: { Authorization: [`Bearer ${secret || '<registry.events-secret>'}`] },
          timeout: '3s',
          threshold: 5,
          backoff: '2s',
          ignoredmediatypes: ['application/octet-stream'],
        },
      ],
    },
  }
  return [...notes, stringify(document)].join('\n')
}
