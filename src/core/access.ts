import { isKnownAction, type Scope } from './scope.ts'
import {
  ANONYMOUS_OWNER_ID,
  REGISTERED_OWNER_ID,
  type AccessRule,
  type RuleOwner,
  type Store,
  type User,
} from './store.ts'

/** Who is asking: an authenticated user, or nobody. */
export type Caller = { kind: 'anonymous' } | { kind: 'user'; user: User }

/** What one scope was granted, in the shape of the token's `access` claim. */
export interface Grant {
  type: string
  name: string
  actions: string[]
}

const ALL_ACTIONS = ['pull', 'push', 'delete'] as const

/**
 * The owners whose rules count for a caller: the user, the user's group, every registered user
 * and everybody. An anonymous caller only has the rules for everybody.
 */
export const ownersOf = (caller: Caller): RuleOwner[] => {
  const anonymous = { id: ANONYMOUS_OWNER_ID, isGroup: false }
  if (caller.kind === 'anonymous') {
    return [anonymous]
  }
  return [
    { id: caller.user.id, isGroup: false },
    { id: caller.user.group, isGroup: true },
    { id: REGISTERED_OWNER_ID, isGroup: false },
    anonymous,
  ]
}

/**
 * Decides every scope of a request. Admins get what they asked for; everyone else gets the
 * requested actions that the union of their matching rules allows. Nothing that was not asked
 * for is ever granted, and a scope with nothing allowed is still listed, with no actions.
 */
export const authorizeScopes = (
  store: Store,
  caller: Caller,
  scopes: readonly Scope[],
): Grant[] => {
  const isAdmin = caller.kind === 'user' && caller.user.role === 'admin'
  const owners = ownersOf(caller)
  const rulesByType = new Map<string, AccessRule[]>()

  return scopes.map((scope) => {
    if (isAdmin) {
      return {
        type: scope.type,
        name: scope.name,
        actions: grantActions(scope.actions, new Set(ALL_ACTIONS)),
      }
    }
    let rules = rulesByType.get(scope.type)
    if (!rules) {
      rules = store.findEnabledRules(scope.type, owners)
      rulesByType.set(scope.type, rules)
    }
    return {
      type: scope.type,
      name: scope.name,
      actions: grantActions(scope.actions, allowedActions(rules, scope.name)),
    }
  })
}

/** The actions that the rules allow on one resource name, with `*` expanded and pull implied. */
export const allowedActions = (rules: readonly AccessRule[], name: string): Set<string> => {
  const allowed = new Set<string>()
  for (const rule of rules) {
    if (!matchesResource(rule.resourceName, name)) {
      continue
    }
    if (rule.action === '*') {
      ALL_ACTIONS.forEach((action) => allowed.add(action))
    } else if (rule.action === 'push' || rule.action === 'delete') {
      // The registry refuses a push without pull, and clients read a manifest before deleting it.
      allowed.add(rule.action)
      allowed.add('pull')
    } else if (rule.action === 'pull') {
      allowed.add('pull')
    }
  }
  return allowed
}

/**
 * Intersects requested and allowed actions. `*` is granted as `*` only when pull, push and
 * delete are all allowed, and otherwise as the allowed ones among them.
 */
export const grantActions = (
  requested: readonly string[],
  allowed: ReadonlySet<string>,
): string[] => {
  const granted = new Set<string>()
  for (const action of requested) {
    if (!isKnownAction(action)) {
      continue
    }
    if (action !== '*') {
      if (allowed.has(action)) {
        granted.add(action)
      }
      continue
    }
    if (ALL_ACTIONS.every((one) => allowed.has(one))) {
      return ['*']
    }
    ALL_ACTIONS.filter((one) => allowed.has(one)).forEach((one) => granted.add(one))
  }
  return [...granted]
}

type GlobToken = string | typeof SEGMENT_STAR | typeof ANY_STAR

const SEGMENT_STAR = Symbol('*')
const ANY_STAR = Symbol('**')

const patternCache = new Map<string, GlobToken[]>()

/**
 * Whether a rule's resource name covers a requested name: an exact name, or a pattern in which
 * `*` matches within one path segment and `**` across segments (`team/**` covers `team/x/y` but
 * not `team`; `**` covers everything).
 */
export const matchesResource = (pattern: string, name: string): boolean => {
  if (!pattern.includes('*')) {
    return pattern === name
  }
  let tokens = patternCache.get(pattern)
  if (!tokens) {
    tokens = tokenizeGlob(pattern)
    if (patternCache.size > 10_000) {
      patternCache.clear()
    }
    patternCache.set(pattern, tokens)
  }
  return matchGlob(tokens, name)
}

const tokenizeGlob = (pattern: string): GlobToken[] => {
  const tokens: GlobToken[] = []
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '*') {
      tokens.push(pattern[i] as string)
    } else if (pattern[i + 1] === '*') {
      tokens.push(ANY_STAR)
      i++
    } else {
      tokens.push(SEGMENT_STAR)
    }
  }
  return tokens
}

/**
 * Matches in time proportional to pattern length times name length, whatever the pattern: a
 * backtracking regular expression would let a pattern such as `*a*a*a*a*b` stall the server.
 * `reach[j]` says whether the tokens seen so far can match the first `j` characters of `name`.
 */
const matchGlob = (tokens: readonly GlobToken[], name: string): boolean => {
  let reach = new Uint8Array(name.length + 1)
  reach[0] = 1
  for (const token of tokens) {
    const next = new Uint8Array(name.length + 1)
    let any = false
    if (typeof token === 'string') {
      for (let j = 0; j < name.length; j++) {
        if (reach[j] && name[j] === token) {
          next[j + 1] = 1
          any = true
        }
      }
    } else {
      let open = false
      for (let j = 0; j <= name.length; j++) {
        open ||= reach[j] === 1
        if (open) {
          next[j] = 1
          any = true
        }
        // A single `*` cannot consume the `/` that ends a segment.
        if (token === SEGMENT_STAR && name[j] === '/') {
          open = false
        }
      }
    }
    if (!any) {
      return false
    }
    reach = next
  }
  return reach[name.length] === 1
}
