/**
 * Durations in Go's `time.ParseDuration` syntax, plus `d` for 24-hour days.
 *
 * A duration is an optional sign and one or more `<number><unit>` pairs with no spaces
 * (`90m`, `1h30m`, `1.5h`, `500ms`, `-2s`, `30d`). Units are `ns`, `us` (or `µs`, `μs`), `ms`,
 * `s`, `m`, `h` and `d`. As in Go, the bare string `0` is allowed and every other number needs
 * a unit, so `3600` is an error rather than a guess at seconds.
 */

const NS_PER_MS = 1e6

const UNIT_NS: Readonly<Record<string, number>> = {
  ns: 1,
  us: 1e3,
  µs: 1e3,
  μs: 1e3,
  ms: 1e6,
  s: 1e9,
  m: 60e9,
  h: 3600e9,
  d: 86_400e9,
}

/** The largest duration Go can hold (int64 nanoseconds), in nanoseconds. */
const MAX_NS = 9_223_372_036_854_775_807

const PAIR = /(\d*)(?:\.(\d*))?([^\d.]*)/y

/** Thrown by {@link parseDuration}; the message says what is wrong, without the input. */
export class DurationError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'DurationError'
  }
}

/**
 * Parses a Go duration (plus `d` for days) and returns it in milliseconds, possibly
 * fractional (`1us` is 0.001).
 *
 * @throws DurationError when the text is empty, has no unit, an unknown unit, a number without
 *   digits, or is larger than Go's limit of about 292 years.
 */
export function parseDuration(text: string): number {
  let rest = text
  let sign = 1
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1 : 1
    rest = rest.slice(1)
  }
  if (rest === '0') {
    return 0
  }
  if (rest === '') {
    throw new DurationError('is empty')
  }

  let totalNs = 0
  PAIR.lastIndex = 0
  while (PAIR.lastIndex < rest.length) {
    const match = PAIR.exec(rest)
    const [, whole = '', fraction, unit = ''] = match ?? []
    if (!match || (whole === '' && (fraction === undefined || fraction === ''))) {
      throw new DurationError('needs a number before each unit')
    }
    if (unit === '') {
      throw new DurationError('has a number without a unit (ns, us, ms, s, m, h or d)')
    }
    const unitNs = UNIT_NS[unit]
    if (unitNs === undefined) {
      throw new DurationError(`has an unknown unit "${unit}" (use ns, us, ms, s, m, h or d)`)
    }
    totalNs += Number(`${whole || '0'}.${fraction || '0'}`) * unitNs
  }

  if (totalNs > MAX_NS) {
    throw new DurationError('is too large')
  }

  return (sign * totalNs) / NS_PER_MS
}
