import { basename, dirname } from 'node:path'

import type { Logger } from 'pino'
import { createStream, type RotatingFileStream } from 'rotating-file-stream'

import type { LoggerConfig } from '../../config.ts'

/** Where access log lines go. */
export interface AccessLogSink {
  /** Writes one line; the newline is added. */
  write(line: string): void
  /** Flushes and closes the file, if any. */
  close(): Promise<void>
}

/** Access lines on stdout, the legacy default. */
export const stdoutSink: AccessLogSink = {
  write: (line) => {
    process.stdout.write(`${line}\n`)
  },
  close: () => Promise.resolve(),
}

/**
 * Opens a size-rotated access log: `filename` grows to `maxSize` bytes, then becomes
 * `filename.1.gz` (the newest) up to `filename.<maxBackups>.gz`; older files are deleted.
 * With `stdout` set, every line is also copied to stdout. Missing folders are created.
 */
export function createRotatingStream(config: LoggerConfig): RotatingFileStream {
  return createStream(basename(config.filename), {
    path: dirname(config.filename),
    size: `${config.maxSize}B`,
    rotate: config.maxBackups,
    compress: 'gzip',
    // The log holds client addresses and logins.
    mode: 0o640,
    teeToStdout: config.stdout,
  })
}

/**
 * The access log the configuration asks for: stdout when `logger.enabled` is off, else the
 * rotating file of {@link createRotatingStream}. Write failures are logged, never thrown.
 */
export function openAccessLog(config: LoggerConfig, log: Logger): AccessLogSink {
  if (!config.enabled) {
    return stdoutSink
  }

  const stream = createRotatingStream(config)
  stream.on('error', (error: Error) => {
    log.error({ err: error, file: config.filename }, 'access log write failed')
  })
  stream.on('warning', (error: Error) => {
    log.warn({ err: error, file: config.filename }, 'access log rotation problem')
  })
  return {
    write: (line) => {
      stream.write(`${line}\n`)
    },
    close: () => new Promise((resolve) => stream.end(resolve)),
  }
}
