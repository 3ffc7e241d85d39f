/**
 * Runs the real `skopeo` (Debian 1.9.3) against a plain-HTTP test registry.
 *
 * Every call:
 * - turns TLS verification off (`--tls-verify=false`, or the `--src-`/`--dest-` forms);
 * - uses an isolated `--authfile` (a fresh empty one in a temp dir unless `authfile` is given),
 *   so nothing is read from or written to the machine's own logins;
 * - runs with `--insecure-policy`, so the machine's signature policy does not matter;
 * - returns `{ exitCode, stdout, stderr }` and never throws on a non-zero exit: tests assert.
 *
 * `skopeoCopy` also deletes skopeo's blob-info cache first. That cache decides which source
 * repositories skopeo tries for cross-repository mounts, so keeping it would make the token
 * scopes requested and the `mount` events depend on earlier tests.
 *
 * References use skopeo's transports: `docker://127.0.0.1:PORT/ns/app:1.0` (see
 * `RunningRegistry.ref`) or `oci:DIR:TAG` (see `OciImage.ref`).
 */
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { tempDir } from './temp.ts'
import { requireTool } from './tools.ts'

/** Where skopeo, running as root, keeps its blob-info cache. */
export const BLOB_INFO_CACHE = '/var/lib/containers/cache/blob-info-cache-v1.boltdb'

/** How skopeo authenticates to a registry. */
export type SkopeoCreds =
  /** Basic credentials; with token auth skopeo trades them at the realm for a token. */
  | { username: string; password: string }
  /** A bearer token sent as is (`--registry-token`), bypassing the realm. */
  | { token: string }
  /** Explicitly anonymous (`--no-creds`). */
  | 'anonymous'

/** Outcome of one skopeo run. */
export interface SkopeoResult {
  exitCode: number
  stdout: string
  stderr: string
}

/** Options shared by every wrapper. */
export interface SkopeoCommonOptions {
  /**
   * Auth file to read logins from (and, for `skopeoLogin`, to write to). Pass the same path to
   * `skopeoLogin` and later calls to reuse a login. @default a fresh empty file per call
   */
  authfile?: string
  /** Extra arguments placed right before the image references. */
  extraArgs?: string[]
}

/** Options of {@link skopeoCopy}. */
export interface SkopeoCopyOptions extends SkopeoCommonOptions {
  srcCreds?: SkopeoCreds
  destCreds?: SkopeoCreds
  /** Copies every image of an index or manifest list (`--all`). */
  all?: boolean
  /** Manifest type written to the destination (`--format`). @default the source's type */
  format?: 'oci' | 'v2s2' | 'v2s1'
}

/** Options of {@link skopeoInspect}. */
export interface SkopeoInspectOptions extends SkopeoCommonOptions {
  creds?: SkopeoCreds
  /** Prints the manifest (or with `config`, the config blob) exactly as stored. */
  raw?: boolean
  /** Prints the image config instead of the summary. */
  config?: boolean
  /** Skips the tag list, which otherwise costs a second realm request. @default false */
  noTags?: boolean
  /** Picks this architecture's child when the reference is an index. */
  overrideArch?: string
  /** Picks this OS's child when the reference is an index. */
  overrideOs?: string
}

/** Options of the wrappers that take one set of credentials. */
export interface SkopeoCredsOptions extends SkopeoCommonOptions {
  creds?: SkopeoCreds
}

/** `skopeo copy SRC DEST`, after deleting the blob-info cache. */
export async function skopeoCopy(
  src: string,
  dest: string,
  options: SkopeoCopyOptions = {},
): Promise<SkopeoResult> {
  await rm(BLOB_INFO_CACHE, { force: true })
  const args = ['copy', '--src-tls-verify=false', '--dest-tls-verify=false']
  args.push(...credsArgs(options.srcCreds, '--src-'), ...credsArgs(options.destCreds, '--dest-'))
  if (options.all === true) {
    args.push('--all')
  }
  if (options.format !== undefined) {
    args.push('--format', options.format)
  }

  return runSkopeo(args, [src, dest], options)
}

/** `skopeo inspect REF`; parse `stdout` with `JSON.parse` on success. */
export async function skopeoInspect(
  ref: string,
  options: SkopeoInspectOptions = {},
): Promise<SkopeoResult> {
  const global: string[] = []
  if (options.overrideArch !== undefined) {
    global.push('--override-arch', options.overrideArch)
  }
  if (options.overrideOs !== undefined) {
    global.push('--override-os', options.overrideOs)
  }

  const args = ['inspect', '--tls-verify=false', ...credsArgs(options.creds, '--')]
  if (options.raw === true) {
    args.push('--raw')
  }
  if (options.config === true) {
    args.push('--config')
  }
  if (options.noTags === true) {
    args.push('--no-tags')
  }

  return runSkopeo(args, [ref], options, global)
}

/** `skopeo list-tags REF`, where REF names a repository: `docker://HOST/ns/app`. */
export async function skopeoListTags(
  ref: string,
  options: SkopeoCredsOptions = {},
): Promise<SkopeoResult> {
  return runSkopeo(
    ['list-tags', '--tls-verify=false', ...credsArgs(options.creds, '--')],
    [ref],
    options,
  )
}

/**
 * `skopeo delete REF`. NOTE: skopeo resolves a tag to its digest and deletes the manifest, which
 * removes every tag pointing at that digest.
 */
export async function skopeoDelete(
  ref: string,
  options: SkopeoCredsOptions = {},
): Promise<SkopeoResult> {
  return runSkopeo(
    ['delete', '--tls-verify=false', ...credsArgs(options.creds, '--')],
    [ref],
    options,
  )
}

/**
 * `skopeo login HOST:PORT`, with the password on stdin so it never appears in a process list.
 * The login lands in `options.authfile`; without one it is written to a temp file and lost,
 * which still checks the credentials.
 */
export async function skopeoLogin(
  hostPort: string,
  creds: { username: string; password: string },
  options: SkopeoCommonOptions = {},
): Promise<SkopeoResult> {
  const args = ['login', '--tls-verify=false', '--username', creds.username, '--password-stdin']

  return runSkopeo(args, [hostPort], options, [], `${creds.password}\n`)
}

function credsArgs(creds: SkopeoCreds | undefined, prefix: '--' | '--src-' | '--dest-'): string[] {
  if (creds === undefined) {
    return []
  }
  if (creds === 'anonymous') {
    return [`${prefix}no-creds`]
  }
  if ('token' in creds) {
    return [`${prefix}registry-token`, creds.token]
  }

  return [`${prefix}creds`, `${creds.username}:${creds.password}`]
}

async function runSkopeo(
  args: string[],
  refs: string[],
  options: SkopeoCommonOptions,
  globalArgs: string[] = [],
  stdin?: string,
): Promise<SkopeoResult> {
  const binary = requireTool('skopeo')
  await using scratch = tempDir('skopeo-')
  const authfile = options.authfile ?? join(scratch.path, 'auth.json')

  const proc = Bun.spawn(
    [
      binary,
      '--insecure-policy',
      '--tmpdir',
      scratch.path,
      ...globalArgs,
      ...args,
      '--authfile',
      authfile,
      ...(options.extraArgs ?? []),
      ...refs,
    ],
    {
      stdin: stdin === undefined ? 'ignore' : new TextEncoder().encode(stdin),
      stdout: 'pipe',
      stderr: 'pipe',
      env: skopeoEnv(scratch.path),
    },
  )
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ])

  return { exitCode, stdout, stderr }
}

/**
 * The caller's environment with every place skopeo looks for logins besides `--authfile`
 * (`$XDG_RUNTIME_DIR`, `$XDG_CONFIG_HOME`, `~/.docker`, `$DOCKER_CONFIG`) moved into `home`.
 */
function skopeoEnv(home: string): Record<string, string> {
  const env: Record<string, string> = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && !SKOPEO_ENV_OVERRIDDEN.has(key)) {
      env[key] = value
    }
  }

  return { ...env, HOME: home, XDG_CONFIG_HOME: join(home, 'config') }
}

const SKOPEO_ENV_OVERRIDDEN = new Set([
  'HOME',
  'XDG_CONFIG_HOME',
  'XDG_RUNTIME_DIR',
  'DOCKER_CONFIG',
  'REGISTRY_AUTH_FILE',
])
