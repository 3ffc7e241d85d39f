import { ValidationError } from '../errors.ts'

/** The actions a token can carry; anything else in a scope is never granted. */
export const KNOWN_ACTIONS = ['pull', 'push', 'delete', '*'] as const

export type Action = (typeof KNOWN_ACTIONS)[number]

/** Most scopes one token request may ask for (BuildKit asks for a few dozen at most). */
export const MAX_SCOPES = 256

/** One requested resource scope, `type[(class)]:name:actions`. */
export interface Scope {
  /** Resource type without the class: `repository` or `registry`. */
  type: string
  /** The optional class, such as `plugin` in `repository(plugin)`. */
  class?: string
  name: string
  /** Requested actions, trimmed and without duplicates, in the order asked. */
  actions: string[]
}

const TYPE = /^([a-z0-9]+)(?:\(([a-z0-9]+)\))?$/

// A repository name as the distribution reference grammar writes it: an optional
// `host[:port]/` part, then lowercase path components joined by `.`, `_`, `__` or dashes.
const COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*'
const HOST =
  '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]+)?'
const NAME = new RegExp(`^(?:${HOST}/)?${COMPONENT}(?:/${COMPONENT})*$`)
const MAX_NAME_LENGTH = 255

/**
 * Parses the `scope` values of a token request. Each value may hold several scopes separated by
 * spaces. The type ends at the first `:` and the actions start after the last one, so a name
 * may carry a `host:port/` part. Throws `ValidationError` for a scope that cannot be read.
 */
export const parseScopes = (values: readonly string[]): Scope[] => {
  const scopes: Scope[] = []
  for (const value of values) {
    for (const text of value.split(' ')) {
      if (text === '') {
        continue
      }
      scopes.push(parseScope(text))
      if (scopes.length > MAX_SCOPES) {
        throw new ValidationError(`too many scopes: at most ${MAX_SCOPES} are accepted per request`)
      }
    }
  }
  return scopes
}

export const parseScope = (text: string): Scope => {
  const first = text.indexOf(':')
  const last = text.lastIndexOf(':')
  if (first <= 0 || last === first) {
    throw new ValidationError(`malformed scope '${printable(text)}': expected type:name:actions`)
  }

  const typeMatch = TYPE.exec(text.slice(0, first))
  if (!typeMatch) {
    throw new ValidationError(`malformed scope '${printable(text)}': bad resource type`)
  }
  const name = text.slice(first + 1, last)
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw new ValidationError(`malformed scope '${printable(text)}': bad resource name`)
  }

  const actions = [
    ...new Set(
      text
        .slice(last + 1)
        .split(',')
        .map((action) => action.trim()),
    ),
  ].filter((action) => action !== '')
  const scope: Scope = { type: typeMatch[1] as string, name, actions }
  if (typeMatch[2] !== undefined) {
    scope.class = typeMatch[2]
  }
  return scope
}

export const isKnownAction = (action: string): action is Action =>
  (KNOWN_ACTIONS as readonly string[]).includes(action)

/** Keeps an error message readable and short whatever bytes the client sent. */
const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)
