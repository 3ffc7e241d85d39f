/** The parameters of the next page, read from a `Link: <…>; rel="next"` header. */
export interface NextPage {
  /** The `last` query parameter: where the next page starts. */
  last: string
  /** The `n` query parameter, when the link carries one. */
  n?: number
}

/**
 * Reads the `rel="next"` target of a `Link` header (RFC 8288), as the registry sends it on
 * paginated catalog and tag lists: `</v2/_catalog?last=ns%2Fapp&n=2>; rel="next"`.
 *
 * Only the `last` and `n` parameters are taken from the target, never its path or host: the
 * client builds the next URL from its own base, so a path prefix in front of the registry and
 * an absolute link naming an internal host both keep working.
 *
 * @returns `null` when there is no next link; `undefined` `last` is reported as `''`.
 */
export function parseNextLink(header: string | null): NextPage | null {
  if (header === null) {
    return null
  }

  for (const match of header.matchAll(/<([^>]*)>([^<]*)/g)) {
    const params = match[2] as string
    const rel = /;\s*rel\s*=\s*(?:"([^"]*)"|([^\s;,]+))/i.exec(params)
    const relations = (rel?.[1] ?? rel?.[2] ?? '').toLowerCase().split(/\s+/)
    if (!relations.includes('next')) {
      continue
    }

    const query = new URL(match[1] as string, 'http://link.invalid').searchParams
    const next: NextPage = { last: query.get('last') ?? '' }
    const n = Number(query.get('n'))
    if (query.has('n') && Number.isInteger(n) && n > 0) {
      next.n = n
    }
    return next
  }

  return null
}

/** One authentication challenge from a `WWW-Authenticate` header. */
export interface Challenge {
  /** Lowercased: `bearer`, `basic`. */
  scheme: string
  /** Parameter names lowercased; values unquoted (`realm`, `service`, `scope`, `error`). */
  params: Record<string, string>
}

/**
 * Parses the first challenge of a `WWW-Authenticate` header, for example
 * `Bearer realm="https://a/token?x=1",service="registry",scope="repository:a:pull",error="invalid_token"`.
 * Quoted values may hold commas, `=` and escaped quotes; unquoted values run to the next comma.
 *
 * @returns `null` for an empty or unreadable header.
 */
export function parseChallenge(header: string | null): Challenge | null {
  const text = header?.trim() ?? ''
  const schemeMatch = /^([A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]*)(?:\s+|$)/.exec(text)
  if (schemeMatch === null) {
    return null
  }

  const params: Record<string, string> = {}
  let rest = text.slice(schemeMatch[0].length)
  for (;;) {
    rest = rest.replace(/^[\s,]+/, '')
    const param = /^([A-Za-z0-9_.-]+)\s*=\s*/.exec(rest)
    if (param === null) {
      // The end, or the start of a second challenge: only the first one is read.
      break
    }
    rest = rest.slice(param[0].length)
    const value = readParamValue(rest)
    params[(param[1] as string).toLowerCase()] = value.value
    rest = rest.slice(value.length)
  }

  return { scheme: (schemeMatch[1] as string).toLowerCase(), params }
}

function readParamValue(text: string): { value: string; length: number } {
  if (!text.startsWith('"')) {
    const end = text.search(/[,\s]|$/)
    return { value: text.slice(0, end), length: end }
  }

  let value = ''
  for (let index = 1; index < text.length; index++) {
    const char = text[index] as string
    if (char === '\\' && index + 1 < text.length) {
      value += text[index + 1]
      index++
    } else if (char === '"') {
      return { value, length: index + 1 }
    } else {
      value += char
    }
  }
  // An unterminated quote: take the rest as the value.
  return { value, length: text.length }
}
