const MASK = '***'

/**
 * A value that must never reach a log, an error message or a JSON body by accident.
 * `toString`, `toJSON` and the inspect hook all print a mask; `reveal()` is the only way in.
 */
export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
  }

  reveal(): string {
    return this.#value
  }

  get isEmpty(): boolean {
    return this.#value === ''
  }

  toString(): string {
    return MASK
  }

  toJSON(): string {
    return MASK
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return MASK
  }
}
