import { ValidationError } from '../../errors.ts'

/** Longest display name of a user, group or access rule. */
export const MAX_NAME_LENGTH = 128

/** Longest description of a user or group. */
export const MAX_DESCRIPTION_LENGTH = 1024

/** A required display name: not blank, and at most {@link MAX_NAME_LENGTH} characters. */
export const checkName = (name: string): string => {
  if (name.trim() === '') {
    throw new ValidationError('name is required')
  }
  if (name.length > MAX_NAME_LENGTH) {
    throw new ValidationError(`name must be at most ${MAX_NAME_LENGTH} characters long`)
  }
  return name
}

export const checkDescription = (description: string): string => {
  if (description.length > MAX_DESCRIPTION_LENGTH) {
    throw new ValidationError(
      `description must be at most ${MAX_DESCRIPTION_LENGTH} characters long`,
    )
  }
  return description
}

/** Rejects a body whose `id` names another record than the URL. */
export const checkEchoedId = (echoed: unknown, id: number): void => {
  if (echoed === undefined || echoed === null || String(echoed) === String(id)) {
    return
  }
  throw new ValidationError(`the id in the body does not match the id ${id} in the URL`)
}

/** Keeps an echoed value readable and short in an error message. */
export const printable = (text: string): string => text.replace(/[^\x20-\x7e]/g, '?').slice(0, 40)
