/**
 * Starts Debian's real CNCF Distribution registry (`/usr/bin/docker-registry`, 2.8.2) for
 * end-to-end tests.
 *
 * ```ts
 * await using registry = await startRegistry({ auth: { token: { realm, service, issuer,
 *   rootCertBundle } }, notifications: { url: `${listener.url}events` } })
 * await skopeoCopy(image.ref, registry.ref('ns/app:1.0'), { destCreds })
 * ```
 *
 * Each registry gets its own YAML config in a temp dir, listens on `127.0.0.1:0` (the real port
 * is read from its `listening on 127.0.0.1:NNNNN` log line, so there are no fixed ports), and
 * is a `Bun.spawn` child whose handle is kept, so `stop()` ends exactly that process. Readiness
 * and log waits poll on the collected output, never on a timer; a registry that exits while
 * being waited for fails the wait with its whole log. Plain HTTP only: drive it with
 * `--tls-verify=false` (the skopeo helpers do).
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { Subprocess } from 'bun'
import { stringify } from 'yaml'
import { tempDir, type TempDir } from './temp.ts'
import { requireTool } from './tools.ts'

/** How the registry authenticates clients. */
export type RegistryAuth =
  | {
      /** Bearer tokens from a realm (the product's token server). */
      token: {
        /** Token endpoint URL sent in the `Www-Authenticate` challenge. */
        realm: string
        /** Must equal the token's `aud`. */
        service: string
        /** Must equal the token's `iss`. */
        issuer: string
        /** PEM file with one or more certificates; read once at start-up. */
        rootCertBundle: string
      }
    }
  | {
      /** Basic auth against an htpasswd file of bcrypt hashes (see {@link writeHtpasswd}). */
      htpasswd: {
        path: string
        /** @default 'registry' */
        realm?: string
      }
    }
  | 'none'

/** One notification endpoint; the registry POSTs one event per envelope to it. */
export interface RegistryNotifications {
  url: string
  /** Sent with every delivery, for example `{ Authorization: ['Bearer x'] }`. */
  headers?: Record<string, string[]>
  /** @default '2s' */
  timeout?: string
  /** Failures before the endpoint backs off. @default 3 */
  threshold?: number
  /** Pause between retries once backing off. @default '1s' */
  backoff?: string
}

/** Options of {@link startRegistry}. */
export interface RegistryOptions {
  auth: RegistryAuth
  /** Adds a notification endpoint named `registry-admin` with `includereferences: true`. */
  notifications?: RegistryNotifications
  /** Allows `DELETE` of manifests and blobs. @default true */
  deleteEnabled?: boolean
  /**
   * Filesystem storage root. Kept after `stop()`; pass it to a later `startRegistry` to reuse
   * the data. @default a fresh temp dir, removed by `stop()`
   */
  dataDir?: string
  /** @default 'info' (already logs every auth failure reason) */
  logLevel?: 'error' | 'warn' | 'info' | 'debug'
}

/** A running registry. Dispose it (`await using`) or call `stop()`. */
export interface RunningRegistry extends AsyncDisposable {
  /** `http://127.0.0.1:PORT`, without a trailing slash. */
  readonly url: string
  /** `127.0.0.1:PORT`, the registry part of image references. */
  readonly hostPort: string
  readonly port: number
  readonly dataDir: string
  /** The YAML config it runs with (valid until `stop()`), e.g. for `garbage-collect`. */
  readonly configPath: string
  /** `docker://127.0.0.1:PORT/<nameAndTag>`, e.g. `ref('ns/app:1.0')`. */
  ref(nameAndTag: string): string
  /** Everything the registry wrote to stdout and stderr so far, across restarts. */
  logs(): string
  /**
   * Waits until a complete log line written after character offset `after` (for example a
   * `logs().length` taken earlier) matches `pattern`, and returns that line.
   *
   * @throws Error with the whole log if the registry exits or is stopped first.
   */
  waitForLog(pattern: RegExp | string, options?: { after?: number }): Promise<string>
  /**
   * Stops the process and starts it again on the same config and data dir, on the same port
   * when it is still free (otherwise on a new one; `url` and `hostPort` follow). Pending
   * notifications are lost, as in production: the registry queues them in memory only.
   */
  restart(): Promise<void>
  /** Runs `docker-registry garbage-collect` on this registry's config (never throws). */
  garbageCollect(options?: { dryRun?: boolean; deleteUntagged?: boolean }): Promise<{
    exitCode: number
    stdout: string
    stderr: string
  }>
  /** Stops the process and removes the temp dirs it created. Safe to call twice. */
  stop(): Promise<void>
}

const LISTENING = /listening on (127\.0\.0\.1:(\d+))"/
const ADDRESS_IN_USE = /address already in use/
const live = new Set<Subprocess>()
let exitHookInstalled = false

/**
 * Writes an htpasswd file with one bcrypt line per user, in the format the registry reads.
 *
 * NOTE: the registry checks the bcrypt hash on every request, about 60 ms each at cost 10, and a
 * push makes a dozen requests. Tests that push a lot can pass `cost: 4` (the bcrypt minimum).
 * KNOWN LIMIT: Bun pre-hashes passwords longer than 72 bytes, so such passwords never match in
 * the registry; keep test passwords short.
 *
 * @param options.cost bcrypt cost. @default 10
 */
export async function writeHtpasswd(
  path: string,
  users: Record<string, string>,
  options: { cost?: number } = {},
): Promise<void> {
  const cost = options.cost ?? 10
  const lines = await Promise.all(
    Object.entries(users).map(async ([user, password]) => {
      const hash = await Bun.password.hash(password, { algorithm: 'bcrypt', cost })
      return `${user}:${hash}\n`
    }),
  )
  await writeFile(path, lines.join(''), { mode: 0o600 })
}

/**
 * Starts a registry and resolves once it listens.
 *
 * @throws Error with the install command when `docker-registry` is not installed, or with the
 * collected log when the registry exits during start-up (a bad config, a missing bundle…).
 */
export async function startRegistry(options: RegistryOptions): Promise<RunningRegistry> {
  const binary = requireTool('docker-registry')
  const work = tempDir('registry-')
  const dataDir = options.dataDir ?? join(work.path, 'data')
  await mkdir(dataDir, { recursive: true })

  const registry = new Registry(binary, work, dataDir, options)
  try {
    await registry.start('127.0.0.1:0')
  } catch (error) {
    await registry.stop()
    throw error
  }

  return registry
}

/** Builds the registry's YAML config as a plain object. */
export function registryConfig(
  options: RegistryOptions,
  addr: string,
  dataDir: string,
): Record<string, unknown> {
  const config: Record<string, unknown> = {
    version: 0.1,
    log: {
      level: options.logLevel ?? 'info',
      formatter: 'text',
      fields: { service: 'registry' },
    },
    storage: {
      filesystem: { rootdirectory: dataDir },
      delete: { enabled: options.deleteEnabled ?? true },
      cache: { blobdescriptor: 'inmemory' },
      maintenance: { uploadpurging: { enabled: false } },
    },
    http: {
      addr,
      secret: crypto.randomUUID(),
      headers: { 'X-Content-Type-Options': ['nosniff'] },
    },
    health: { storagedriver: { enabled: false } },
  }

  const auth = authConfig(options.auth)
  if (auth !== undefined) {
    config.auth = auth
  }
  if (options.notifications !== undefined) {
    const n = options.notifications
    config.notifications = {
      events: { includereferences: true },
      endpoints: [
        {
          name: 'registry-admin',
          url: n.url,
          headers: n.headers ?? {},
          timeout: n.timeout ?? '2s',
          threshold: n.threshold ?? 3,
          backoff: n.backoff ?? '1s',
        },
      ],
    }
  }

  return config
}

function authConfig(auth: RegistryAuth): Record<string, unknown> | undefined {
  if (auth === 'none') {
    return undefined
  }
  if ('token' in auth) {
    const { realm, service, issuer, rootCertBundle } = auth.token
    return { token: { realm, service, issuer, rootcertbundle: rootCertBundle } }
  }

  return { htpasswd: { realm: auth.htpasswd.realm ?? 'registry', path: auth.htpasswd.path } }
}

class Registry implements RunningRegistry {
  readonly configPath: string
  private proc: Subprocess<'ignore', 'pipe', 'pipe'> | undefined
  private currentHostPort = ''
  private output = ''
  private exited = true
  private stopped = false
  private waiters = new Set<() => void>()

  constructor(
    private readonly binary: string,
    private readonly work: TempDir,
    readonly dataDir: string,
    private readonly options: RegistryOptions,
  ) {
    this.configPath = join(work.path, 'config.yml')
  }

  get hostPort(): string {
    return this.currentHostPort
  }

  get port(): number {
    return Number(this.currentHostPort.split(':')[1])
  }

  get url(): string {
    return `http://${this.currentHostPort}`
  }

  ref(nameAndTag: string): string {
    return `docker://${this.currentHostPort}/${nameAndTag}`
  }

  logs(): string {
    return this.output
  }

  async waitForLog(pattern: RegExp | string, options: { after?: number } = {}): Promise<string> {
    const matches = (line: string) =>
      typeof pattern === 'string' ? line.includes(pattern) : pattern.test(line)

    return this.waitFor(`a log line matching ${String(pattern)}`, () => {
      const complete = this.output.slice(0, this.output.lastIndexOf('\n') + 1)
      return complete
        .slice(options.after ?? 0)
        .split('\n')
        .find(matches)
    })
  }

  async start(addr: string): Promise<void> {
    await writeFile(this.configPath, stringify(registryConfig(this.options, addr, this.dataDir)))
    const from = this.output.length
    this.spawn()
    const hostPort = await this.waitFor('the "listening on" log line', () => {
      return LISTENING.exec(this.output.slice(from))?.[1]
    })
    this.currentHostPort = hostPort

    // Pin the port so that a restart comes back at the same address.
    await writeFile(
      this.configPath,
      stringify(registryConfig(this.options, hostPort, this.dataDir)),
    )
  }

  async restart(): Promise<void> {
    if (this.stopped) {
      throw new Error('cannot restart a registry that was stopped')
    }
    await this.kill()

    const from = this.output.length
    try {
      await this.start(this.currentHostPort)
    } catch (error) {
      if (!this.exited || !ADDRESS_IN_USE.test(this.output.slice(from))) {
        throw error
      }
      await this.start('127.0.0.1:0')
    }
  }

  async garbageCollect(options: { dryRun?: boolean; deleteUntagged?: boolean } = {}) {
    const args = [this.binary, 'garbage-collect']
    if (options.dryRun === true) {
      args.push('--dry-run')
    }
    if (options.deleteUntagged === true) {
      args.push('--delete-untagged')
    }
    const proc = Bun.spawn([...args, this.configPath], {
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: registryEnv(),
    })
    const [stdout, stderr, exitCode] = await Promise.all([
      new Response(proc.stdout).text(),
      new Response(proc.stderr).text(),
      proc.exited,
    ])

    return { exitCode, stdout, stderr }
  }

  async stop(): Promise<void> {
    if (this.stopped) {
      return
    }
    this.stopped = true
    await this.kill()
    await this.work.remove()
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }

  private spawn(): void {
    installExitHook()
    const proc = Bun.spawn([this.binary, 'serve', this.configPath], {
      cwd: this.work.path,
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      env: registryEnv(),
    })
    this.proc = proc
    this.exited = false
    live.add(proc)

    const pumps = Promise.all([this.pump(proc.stdout), this.pump(proc.stderr)])
    void Promise.all([proc.exited, pumps]).then(([code]) => {
      live.delete(proc)
      if (this.proc === proc) {
        this.exited = true
        this.append(`[harness] registry pid ${proc.pid} exited with code ${code}\n`)
      }
    })
  }

  private async kill(): Promise<void> {
    const proc = this.proc
    if (proc === undefined || this.exited) {
      return
    }
    proc.kill('SIGTERM')
    await proc.exited
    // Let the exit bookkeeping above run, so `exited` is set before the next start.
    await this.waitFor('the registry to exit', () => (this.exited ? true : undefined), true)
  }

  private async pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder()
    for await (const chunk of stream) {
      this.append(decoder.decode(chunk, { stream: true }))
    }
    this.append(decoder.decode())
  }

  private append(text: string): void {
    if (text === '') {
      return
    }
    this.output += text
    this.notify()
  }

  private notify(): void {
    const waiters = [...this.waiters]
    this.waiters.clear()
    for (const wake of waiters) {
      wake()
    }
  }

  /** Re-checks `check` after every chunk of output until it yields a value or the process ends. */
  private async waitFor<T>(
    what: string,
    check: () => T | undefined,
    untilExit = false,
  ): Promise<T> {
    for (;;) {
      const value = check()
      if (value !== undefined) {
        return value
      }
      if (this.exited && !untilExit) {
        throw new Error(`registry exited while waiting for ${what}; its log:\n${this.output}`)
      }
      await new Promise<void>((resolve) => this.waiters.add(resolve))
    }
  }
}

/** The caller's environment without `REGISTRY_*` overrides, which would change the config. */
function registryEnv(): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !key.startsWith('REGISTRY_')) {
      env[key] = value
    }
  }

  return env
}

/** Kills registries still running when the test process exits, so none are left behind. */
function installExitHook(): void {
  if (exitHookInstalled) {
    return
  }
  exitHookInstalled = true
  process.on('exit', () => {
    for (const proc of live) {
      proc.kill('SIGKILL')
    }
  })
}
