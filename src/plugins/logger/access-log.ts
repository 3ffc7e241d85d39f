/**
 * Apache Combined Log Format lines, as the legacy tool wrote them and as fail2ban's Apache
 * filters read them:
 *
 * `%h - %u [%d/%b/%Y:%H:%M:%S %z] "%r" %>s %b "%{Referer}i" "%{User-agent}i"`
 */

/** One finished request, as the access log needs it. */
export interface AccessEntry {
  /** The socket peer address; undefined when unknown (requests handled in process). */
  remoteAddress: string | undefined
  /** The authenticated or claimed login; never a password. */
  user: string | undefined
  /** When the request arrived. */
  time: Date
  method: string
  /** The absolute request URL, as `Request.url` gives it. */
  url: string
  status: number
  /** Body size in bytes; undefined or 0 is written as `-`. */
  bytes: number | undefined
  referer: string | null
  userAgent: string | null
}

/**
 * Words that make a query parameter secret when its name contains one of them, after the
 * name is decoded, lowercased and stripped of everything but letters: `access_token`,
 * `client-secret`, `New_Password`, `password%00` and `x.jwt` are all secret.
 */
export const SECRET_NAME_WORDS: readonly string[] = ['password', 'passwd', 'secret', 'token', 'jwt']

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec']

/**
 * Formats one access log line, without the newline.
 *
 * @param offsetMinutes the time zone offset to print, east of UTC. @default the local one
 */
export function formatAccessLine(entry: AccessEntry, offsetMinutes?: number): string {
  const host = entry.remoteAddress ? escapeField(entry.remoteAddress) : '-'
  const user = entry.user ? escapeField(entry.user).replaceAll(' ', '\\x20') : '-'
  const time = formatClfTime(entry.time, offsetMinutes)
  const request = escapeField(`${entry.method} ${requestTarget(entry.url)} HTTP/1.1`)
  const bytes = entry.bytes ? String(entry.bytes) : '-'
  const referer = escapeField(entry.referer ? maskUrlQuery(entry.referer) : '-')
  const userAgent = escapeField(entry.userAgent ?? '-')

  return `${host} - ${user} [${time}] "${request}" ${entry.status} ${bytes} "${referer}" "${userAgent}"`
}

/**
 * Formats a time as `10/Oct/2000:13:55:36 -0700`.
 *
 * @param offsetMinutes the offset to print, east of UTC. @default the local one at that time
 */
export function formatClfTime(date: Date, offsetMinutes = -date.getTimezoneOffset()): string {
  const shifted = new Date(date.getTime() + offsetMinutes * 60_000)
  const two = (value: number) => String(value).padStart(2, '0')
  const sign = offsetMinutes < 0 ? '-' : '+'
  const offset = Math.abs(offsetMinutes)
  const zone = `${sign}${two(Math.floor(offset / 60))}${two(offset % 60)}`
  const day = `${two(shifted.getUTCDate())}/${MONTHS[shifted.getUTCMonth()]}/${shifted.getUTCFullYear()}`
  const clock = `${two(shifted.getUTCHours())}:${two(shifted.getUTCMinutes())}:${two(shifted.getUTCSeconds())}`

  return `${day}:${clock} ${zone}`
}

/** The path and query as the client sent them, with secret query values masked. */
export function requestTarget(url: string): string {
  const schemeEnd = url.indexOf('://')
  const pathStart = url.indexOf('/', schemeEnd < 0 ? 0 : schemeEnd + 3)
  return pathStart < 0 ? '/' : maskUrlQuery(url.slice(pathStart))
}

/** A whole URL (such as a Referer) with secret query values masked and the fragment dropped. */
const maskUrlQuery = (url: string): string => {
  const withoutFragment = url.replace(/#.*$/, '')
  const queryStart = withoutFragment.indexOf('?')
  if (queryStart < 0) {
    return withoutFragment
  }
  return `${withoutFragment.slice(0, queryStart)}?${redactQuery(withoutFragment.slice(queryStart + 1))}`
}

/**
 * Replaces the value of every secret parameter (see {@link isSecretQueryName}) with `***`,
 * keeping everything else as the client sent it. Pairs are split on `&` and on `;`, since some
 * servers and proxies read either as a separator.
 */
export function redactQuery(query: string): string {
  return query
    .split(/([&;])/)
    .map((part) => {
      const equals = part.indexOf('=')
      if (equals < 0) {
        return part
      }
      const name = part.slice(0, equals)
      return isSecretQueryName(name) ? `${name}=***` : part
    })
    .join('')
}

/**
 * Whether a raw (still percent-encoded) query parameter name is secret: its decoded name,
 * lowercased and stripped of everything but letters, contains one of {@link SECRET_NAME_WORDS}.
 * A name that cannot be decoded counts as secret, as its meaning is unknown.
 */
export function isSecretQueryName(rawName: string): boolean {
  let decoded: string
  try {
    decoded = decodeURIComponent(rawName.replaceAll('+', ' '))
  } catch {
    return true
  }
  const letters = decoded
    .normalize('NFKC')
    .toLowerCase()
    .replace(/[^a-z]/g, '')
  return SECRET_NAME_WORDS.some((word) => letters.includes(word))
}

/** The login of an `Authorization: Basic` header, never its password; undefined if none. */
export function basicAuthLogin(header: string | null): string | undefined {
  const match = /^basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '')
  if (!match?.[1]) {
    return undefined
  }
  const decoded = Buffer.from(match[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const login = colon < 0 ? '' : decoded.slice(0, colon)
  return login === '' ? undefined : login
}

/** Writes an IPv4-mapped IPv6 peer (`::ffff:10.0.0.1`) as plain IPv4, as fail2ban expects. */
export function plainAddress(address: string): string {
  return address.replace(/^::ffff:(\d+\.\d+\.\d+\.\d+)$/i, '$1')
}

/**
 * Escapes a field as Apache does: `"` and `\` get a backslash, and control characters and
 * non-ASCII bytes become `\xhh`, so a client cannot forge a log line or break the format.
 */
export function escapeField(value: string): string {
  let escaped = ''
  for (const char of value) {
    const code = char.codePointAt(0) ?? 0
    if (char === '"' || char === '\\') {
      escaped += `\\${char}`
    } else if (code < 0x20 || code === 0x7f) {
      escaped += hexByte(code)
    } else if (code > 0x7f) {
      escaped += [...Buffer.from(char, 'utf8')].map(hexByte).join('')
    } else {
      escaped += char
    }
  }
  return escaped
}

const hexByte = (byte: number): string => `\\x${byte.toString(16).padStart(2, '0')}`
