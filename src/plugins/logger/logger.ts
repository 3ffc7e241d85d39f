import pino, { type DestinationStream, type Logger } from 'pino'

/**
 * Field paths pino replaces with `***` wherever they appear at the top of a log object or one
 * level down, so that a credential passed to a log call by mistake never reaches the output.
 */
export const REDACT_PATHS: readonly string[] = [
  'password',
  '*.password',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'cookie',
  '*.cookie',
  'secret',
  '*.secret',
  'privateKey',
  '*.privateKey',
  'refresh_token',
]

/** What the root logger needs from the configuration. */
export interface RootLoggerOptions {
  /** Log at `debug` instead of `info`. */
  debug: boolean
}

/**
 * Creates the application's root logger: JSON lines on stdout (or `destination`), level
 * `info`, or `debug` when `debug` is set, with {@link REDACT_PATHS} masked. It writes in process
 * (no pino transport), so it also works inside a compiled binary.
 */
export function createLogger(options: RootLoggerOptions, destination?: DestinationStream): Logger {
  const settings = {
    level: options.debug ? 'debug' : 'info',
    redact: { paths: [...REDACT_PATHS], censor: '***' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  }
  return destination ? pino(settings, destination) : pino(settings)
}
