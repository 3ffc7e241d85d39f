import { ValidationError } from '../../errors.ts'

/** A body larger than the reader takes; the rest of it has been read and thrown away. */
export class BodyTooLargeError extends ValidationError {
  /** Bytes the body held in all (as read, or as declared when larger). */
  readonly bytes: number

  constructor(maxBytes: number, bytes: number) {
    super(`the notification body is larger than ${maxBytes} bytes`)
    this.name = 'BodyTooLargeError'
    this.bytes = bytes
  }
}

/**
 * Reads a request body as UTF-8 text, keeping at most `maxBytes`. A larger body is read to its
 * end and thrown away, so that the sender gets an answer after it has sent everything: a
 * sender still writing when the answer comes may take the closed connection for a failure.
 *
 * @throws BodyTooLargeError when the body is larger than `maxBytes`; ValidationError when it
 * is not UTF-8
 */
export async function readTextBody(request: Request, maxBytes: number): Promise<string> {
  const declared = Number(request.headers.get('content-length') ?? 0)
  if (request.body === null) {
    return ''
  }

  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of request.body) {
    total += chunk.length
    if (total <= maxBytes && declared <= maxBytes) {
      chunks.push(chunk)
    }
  }
  if (total > maxBytes || declared > maxBytes) {
    throw new BodyTooLargeError(maxBytes, Math.max(total, declared))
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch (error) {
    throw new ValidationError('the notification body is not UTF-8 text', { cause: error })
  }
}
