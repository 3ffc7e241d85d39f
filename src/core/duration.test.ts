import { describe, expect, test } from 'bun:test'

import { DurationError, parseDuration } from './duration.ts'

describe('parseDuration', () => {
  test.each([
    ['0', 0],
    ['-0', 0],
    ['0s', 0],
    ['500ms', 500],
    ['1s', 1000],
    ['90m', 5_400_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['.5h', 1_800_000],
    ['5.s', 5000],
    ['24h', 86_400_000],
    ['90d', 7_776_000_000],
    ['1d12h', 129_600_000],
    ['2h45m30.5s', 9_930_500],
    ['-2s', -2000],
    ['+2s', 2000],
    ['1us', 0.001],
    ['1µs', 0.001],
    ['1μs', 0.001],
    ['1000000ns', 1],
  ])('parses %p as %p ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms)
  })

  test.each([
    ['', 'is empty'],
    ['-', 'is empty'],
    ['3600', 'has a number without a unit (ns, us, ms, s, m, h or d)'],
    ['1h30', 'has a number without a unit (ns, us, ms, s, m, h or d)'],
    ['30x', 'has an unknown unit "x" (use ns, us, ms, s, m, h or d)'],
    ['1 h', 'has an unknown unit " h" (use ns, us, ms, s, m, h or d)'],
    ['1H', 'has an unknown unit "H" (use ns, us, ms, s, m, h or d)'],
    ['h', 'needs a number before each unit'],
    ['.h', 'needs a number before each unit'],
    ['1h-1m', 'has an unknown unit "h-" (use ns, us, ms, s, m, h or d)'],
    ['300000000h', 'is too large'],
  ])('rejects %p: %s', (text, message) => {
    expect(() => parseDuration(text)).toThrow(new DurationError(message))
  })
})
