const WELL_FORMED = /^[A-Za-z0-9._-]{1,64}$/

/** A request id: the caller's `X-Request-Id` when well-formed, else a new random one. */
export function requestIdFrom(header: string | null): string {
  return header !== null && WELL_FORMED.test(header) ? header : crypto.randomUUID()
}
