import { isIPv6 } from 'node:net'
import type { RegistryConfig } from '../../config.ts'
import { RegistryConfigError } from './errors.ts'

/** A registry address resolved from `registry.host` and `registry.port`. */
export interface RegistryAddress {
  /** `scheme://host:port[/prefix]`, without a trailing slash; `/v2/…` is appended to it. */
  url: string
  /** True when `registry.host` named no scheme and one was chosen (see {@link registryBaseUrl}). */
  schemeAssumed: boolean
}

const SCHEME = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//
// Host names as people write them, underscores included (compose service names): labels of
// letters, digits, `-` and `_`, separated by dots.
const HOST_NAME =
  /^[a-zA-Z0-9_](?:[a-zA-Z0-9_-]*[a-zA-Z0-9_])?(?:\.[a-zA-Z0-9_](?:[a-zA-Z0-9_-]*[a-zA-Z0-9_])?)*\.?$/
const LOOPBACK_NAME = /^(?:localhost|.*\.localhost|127(?:\.\d{1,3}){3}|\[::1\])$/i

/**
 * Builds the registry's base URL from `registry.host` and `registry.port`, accepting what an
 * operator writes:
 *
 * | `registry.host` | port | base URL |
 * | --- | --- | --- |
 * | `http://registry` | 5000 | `http://registry:5000` |
 * | `https://reg.example.com/` | 443 | `https://reg.example.com` |
 * | `http://my_registry` | 5000 | `http://my_registry:5000` (underscores are fine) |
 * | `http://[::1]` or `::1` | 5000 | `http://[::1]:5000` (a port needs the brackets) |
 * | `https://proxy.example/registry` | 5000 | `https://proxy.example:5000/registry` |
 * | `http://reg:5001` | 5000 | `http://reg:5001` (a port in the host wins) |
 * | `registry` | 5000 | `https://registry:5000` (no scheme: https…) |
 * | `localhost`, `127.0.0.1` | 5000 | `http://localhost:5000` (…except for loopback names) |
 *
 * Without a scheme this follows Docker's own rule for registries: plain HTTP only on loopback,
 * HTTPS everywhere else; write `http://` to reach a plain-HTTP registry by another name. A
 * trailing `/` or `/v2` is dropped.
 *
 * @throws RegistryConfigError naming `registry.host` or `registry.port` when the value cannot
 * be used: empty, a scheme other than http/https, credentials, a query or fragment, a bad port.
 */
export function registryBaseUrl(config: Pick<RegistryConfig, 'host' | 'port'>): string {
  return resolveRegistryAddress(config).url
}

/** {@link registryBaseUrl}, also telling whether the scheme was assumed. */
export function resolveRegistryAddress(
  config: Pick<RegistryConfig, 'host' | 'port'>,
): RegistryAddress {
  const written = config.host.trim()
  if (written === '') {
    throw new RegistryConfigError('registry.host', 'is not set')
  }
  if (/[\s?#]/.test(written)) {
    throw new RegistryConfigError(
      'registry.host',
      `'${written}' must be a URL without spaces, query or fragment`,
    )
  }

  const schemeMatch = SCHEME.exec(written)
  const rest = schemeMatch ? written.slice(schemeMatch[0].length) : written
  const slash = rest.indexOf('/')
  const authority = slash === -1 ? rest : rest.slice(0, slash)
  const path = normalisePath(slash === -1 ? '' : rest.slice(slash))
  const { host, port: hostPort } = splitAuthority(authority, written)

  const scheme = schemeMatch ? (schemeMatch[1] as string).toLowerCase() : defaultScheme(host)
  if (scheme !== 'http' && scheme !== 'https') {
    throw new RegistryConfigError(
      'registry.host',
      `'${written}' has the scheme '${scheme}'; use http:// or https://`,
    )
  }
  const port = hostPort ?? checkedPort(config.port)

  let url: URL
  try {
    url = new URL(`${scheme}://${host}:${port}${path}`)
  } catch (error) {
    throw new RegistryConfigError('registry.host', `'${written}' is not a usable URL`, {
      cause: error,
    })
  }

  return { url: url.href.replace(/\/+$/, ''), schemeAssumed: schemeMatch === null }
}

/** Splits `host[:port]`, `[v6][:port]` or a bare IPv6 literal. */
function splitAuthority(authority: string, written: string): { host: string; port?: number } {
  if (authority.includes('@')) {
    throw new RegistryConfigError(
      'registry.host',
      'must not carry credentials; set registry.login and registry.password instead',
    )
  }
  if (authority.startsWith('[')) {
    const close = authority.indexOf(']')
    const literal = authority.slice(1, close)
    const after = authority.slice(close + 1)
    if (close === -1 || !isIPv6(literal) || (after !== '' && !after.startsWith(':'))) {
      throw new RegistryConfigError('registry.host', `'${written}' has a malformed IPv6 address`)
    }
    return after === ''
      ? { host: `[${literal}]` }
      : { host: `[${literal}]`, port: hostPortOf(after.slice(1), written) }
  }
  if (isIPv6(authority)) {
    return { host: `[${authority}]` }
  }

  const colon = authority.indexOf(':')
  if (colon !== authority.lastIndexOf(':')) {
    throw new RegistryConfigError(
      'registry.host',
      `'${written}': write an IPv6 address in brackets, as in http://[::1]`,
    )
  }
  const host = colon === -1 ? authority : authority.slice(0, colon)
  if (!HOST_NAME.test(host)) {
    throw new RegistryConfigError('registry.host', `'${written}' has no valid host name`)
  }
  if (colon === -1) {
    return { host }
  }

  return { host, port: hostPortOf(authority.slice(colon + 1), written) }
}

function hostPortOf(text: string, written: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN
  if (!(port >= 1 && port <= 65535)) {
    throw new RegistryConfigError('registry.host', `'${written}' has an invalid port '${text}'`)
  }
  return port
}

function checkedPort(port: number): number {
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RegistryConfigError('registry.port', `${port} is not a port between 1 and 65535`)
  }
  return port
}

function defaultScheme(host: string): string {
  return LOOPBACK_NAME.test(host) ? 'http' : 'https'
}

/** A path prefix without trailing slashes or a trailing `/v2`, which the client adds itself. */
function normalisePath(path: string): string {
  return path.replace(/\/+$/, '').replace(/\/v2$/, '').replace(/\/+$/, '')
}
