/** Helpers that read legacy rows, where any column may be NULL or carry an odd type. */

/** A TEXT column as a string; NULL reads as ''. */
export function readText(value: unknown): string {
  if (value === null || value === undefined) {
    return ''
  }

  return String(value)
}

/** A 0/1 INTEGER column as a boolean; NULL reads as false. */
export function readBool(value: unknown): boolean {
  if (value === null || value === undefined) {
    return false
  }

  return Number(value) !== 0
}

/** An INTEGER column as a number; NULL (or garbage) reads as `fallback`. */
export function readInt(value: unknown, fallback: number): number {
  const n = Number(value ?? Number.NaN)

  return Number.isSafeInteger(n) ? n : fallback
}

/** Drops keys whose value is `undefined`, so that a patch never blanks a stored value. */
export function definedOnly<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(patch).filter(([, value]) => value !== undefined),
  ) as Partial<T>
}
