import { ValidationError } from '../../errors.ts'

/**
 * Reads a request body as UTF-8 text, refusing more than `maxBytes` without reading further.
 * @throws ValidationError when the body is larger than `maxBytes` or is not UTF-8
 */
export async function readTextBody(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new ValidationError(`the notification body is larger than ${maxBytes} bytes`)
  const declared = Number(request.headers.get('content-length') ?? NaN)
  if (declared > maxBytes) {
    throw tooLarge()
  }
  if (request.body === null) {
    return ''
  }

  const chunks: Uint8Array[] = []
  let total = 0
  for await (const chunk of request.body) {
    total += chunk.length
    if (total > maxBytes) {
      throw tooLarge()
    }
    chunks.push(chunk)
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks))
  } catch (error) {
    throw new ValidationError('the notification body is not UTF-8 text', { cause: error })
  }
}
