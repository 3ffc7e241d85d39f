/**
 * Repository sync benchmark against Debian's real `docker-registry` 2.8:
 * 1. fills a registry with REPOSITORIES repositories of TAGS tags each: small generated images,
 *    a layer shared per repository and a config per tag, PUT directly over HTTP into a
 *    registry without auth (pushing ten thousand tags with skopeo would take far longer);
 * 2. restarts that registry on the same data with token auth and notifications to the server,
 *    which runs in this process on a fresh store, assembled as `main.ts` does it;
 * 3. measures the sync the server runs at start (empty mirror), a second sync with nothing
 *    changed, and notification ingestion: one synthetic push event per tag is posted to the
 *    endpoint, one envelope at a time as the registry sends them, until every event is
 *    confirmed, once into an emptied mirror (every tag must be read and recorded) and once into
 *    a current one;
 * 4. prints a table with peak RSS and writes it to docs/benchmarks.md.
 *
 * Usage: bun run bench:sync [-- --repositories=2000 --tags=5 --registry-data=DIR]
 * (`--registry-data` keeps the filled registry in DIR and reuses it on the next run.)
 */
import 'reflect-metadata'

import { loadavg } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import pino from 'pino'

import { createApp } from '../src/app.ts'
import { loadConfig } from '../src/config.ts'
import { Authenticator } from '../src/core/authenticator.ts'
import { LoginThrottle } from '../src/core/login-throttle.ts'
import { createMirrorService, mapLimited, type SyncSummary } from '../src/core/mirror/index.ts'
import { openEmbedStore } from '../src/core/sqlite/index.ts'
import { createTokenSigner } from '../src/core/token-signer.ts'
import { resolveSessionSecret } from '../src/plugins/admin-api/index.ts'
import { loadOrCreateSigningKeys } from '../src/plugins/certs/index.ts'
import { stringify } from 'yaml'

import { registryConfig, type RegistryOptions } from '../test/support/registry.ts'
import { tempDir } from '../test/support/temp.ts'
import { requireTool } from '../test/support/tools.ts'
import { freePort, updateBenchmarkSection } from './bench-support.ts'

const { values } = parseArgs({
  options: {
    repositories: { type: 'string', default: '2000' },
    tags: { type: 'string', default: '5' },
    notifications: { type: 'string', default: 'on' },
    // keeps the filled registry data in this folder, and reuses it when it is already there
    'registry-data': { type: 'string' },
  },
})
const REPOSITORIES = Number(values.repositories)
const TAGS = Number(values.tags)
const FILL_CONCURRENCY = 16
const SERVICE = 'registry.bench'
const ISSUER = 'registry-admin-bench'
const SECRET = 'bench-events-secret'
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'

const dir = tempDir('ra-bench-sync-')
const dataDir = values['registry-data'] ?? join(dir.path, 'registry-data')
const reuseData =
  values['registry-data'] !== undefined && (await Bun.file(join(dataDir, 'filled')).exists())
const log = pino({ level: 'silent' })
const loadAtStart = loadavg()
const rssSamples: number[] = []
const sampler = setInterval(() => rssSamples.push(process.memoryUsage.rss()), 100)

interface PushedTag {
  repository: string
  tag: string
  digest: string
}

let registry: QuietRegistry | undefined
try {
  const fillStarted = performance.now()
  const filler = reuseData ? null : await startQuietRegistry('filler', { auth: 'none' })
  const pushed = await fill(filler)
  await filler?.stop()
  await Bun.write(join(dataDir, 'filled'), `${pushed.length}\n`)
  progress(`filled ${pushed.length} tags`)
  const fillSeconds = (performance.now() - fillStarted) / 1000

  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  const certs = certsConfig()
  const keys = await loadOrCreateSigningKeys(certs, log)
  registry = await startQuietRegistry('token', {
    auth: {
      token: {
        realm: `${base}/api/v1/registry/auth`,
        service: SERVICE,
        issuer: ISSUER,
        rootCertBundle: certs.caRoot,
      },
    },
    notifications: {
      url: `${base}/api/v1/registry/events`,
      headers: { Authorization: [`Bearer ${SECRET}`] },
    },
  })

  const server = await startServer(port, registry.url, keys)
  const first = await server.firstSync()
  progress('first sync done')
  const second = await server.sync()
  progress('second sync done')
  const ingestion = await server.ingest(pushed, { empty: true })
  progress('ingestion into an empty mirror done')
  const confirmation = await server.ingest(pushed, { empty: false })
  progress('ingestion into a current mirror done')
  const peakRss = Math.max(...rssSamples, peakRssOfProcess()) / 1024 / 1024
  await server.stop()

  const table = report({
    fillSeconds: reuseData ? null : fillSeconds,
    first,
    second,
    ingestion,
    confirmation,
    peakRss,
    tags: pushed.length,
    load: loadAtStart,
  })
  console.log(table)
  await updateBenchmarkSection('Repository sync (`bun run bench:sync`)', table)
} finally {
  clearInterval(sampler)
  await registry?.stop()
  await dir.remove()
}

/**
 * Pushes the images and returns every tag with its manifest digest. The images are the same on
 * every run, so without a `target` only the digests are computed (for data filled earlier).
 */
async function fill(target: QuietRegistry | null): Promise<PushedTag[]> {
  const names = Array.from(
    { length: REPOSITORIES },
    (_, i) => `bench/repo-${String(i).padStart(5, '0')}`,
  )
  const tags = await mapLimited(names, FILL_CONCURRENCY, async (repository, index) => {
    const layer = bytes(`layer of ${repository}\n${'x'.repeat(200 + (index % 50))}`)
    await target?.upload(repository, layer)
    const result: PushedTag[] = []
    for (let t = 0; t < TAGS; t++) {
      const tag = `v${t}`
      const config = bytes(
        JSON.stringify({
          created: new Date(Date.UTC(2025, 0, 1, 0, 0, index * TAGS + t)).toISOString(),
          architecture: 'amd64',
          os: 'linux',
          rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
        }),
      )
      await target?.upload(repository, config)
      const manifest = bytes(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          config: {
            mediaType: 'application/vnd.oci.image.config.v1+json',
            digest: digestOf(config),
            size: config.length,
          },
          layers: [
            {
              mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
              digest: digestOf(layer),
              size: layer.length,
            },
          ],
        }),
      )
      await target?.putManifest(repository, tag, manifest)
      result.push({ repository, tag, digest: digestOf(manifest) })
    }
    return result
  })

  return tags.flat()
}

/** A two-request upload: POST for a session, PUT with the bytes and their digest. */
async function uploadBlob(url: string, repository: string, blob: Uint8Array) {
  const started = await expectStatus(
    fetch(`${url}/v2/${repository}/blobs/uploads/`, { method: 'POST' }),
    202,
    `upload start in ${repository}`,
  )
  const location = new URL(started.headers.get('location') ?? '', url)
  location.searchParams.set('digest', digestOf(blob))
  await expectStatus(
    fetch(location, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: blob,
    }),
    201,
    `upload in ${repository}`,
  )
}

interface QuietRegistry {
  url: string
  upload(repository: string, blob: Uint8Array): Promise<void>
  putManifest(repository: string, tag: string, manifest: Uint8Array): Promise<void>
  stop(): Promise<void>
}

/**
 * A registry on `dataDir` that logs errors only: the test harness's registry keeps every log
 * line in memory, which would count in this process's RSS after tens of thousands of requests.
 */
async function startQuietRegistry(
  name: string,
  options: Omit<RegistryOptions, 'dataDir' | 'logLevel'>,
): Promise<QuietRegistry> {
  const port = await freePort()
  const configPath = join(dir.path, `${name}-registry.yml`)
  const config = registryConfig({ ...options, logLevel: 'error' }, `127.0.0.1:${port}`, dataDir)
  const notifications = config.notifications as { endpoints: Record<string, unknown>[] } | undefined
  for (const endpoint of notifications?.endpoints ?? []) {
    // as the registry-config command writes it: blob events are of no use to the mirror
    endpoint.ignoredmediatypes = ['application/octet-stream']
  }
  await Bun.write(configPath, stringify(config))
  const proc = Bun.spawn([requireTool('docker-registry'), 'serve', configPath], {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
  })
  const url = `http://127.0.0.1:${port}`
  let exited = false
  void proc.exited.then(() => (exited = true))
  // any answer will do: with token auth `/v2/` answers 401
  while (
    (await fetch(`${url}/v2/`).then(
      (r) => r.status,
      () => 0,
    )) === 0
  ) {
    if (exited) {
      throw new Error(`the registry exited: ${await new Response(proc.stderr).text()}`)
    }
    await Bun.sleep(20)
  }

  return {
    url,
    upload: (repository, blob) => uploadBlob(url, repository, blob),
    putManifest: async (repository, tag, manifest) => {
      await expectStatus(
        fetch(`${url}/v2/${repository}/manifests/${tag}`, {
          method: 'PUT',
          headers: { 'content-type': OCI_MANIFEST },
          body: manifest,
        }),
        201,
        `manifest ${repository}:${tag}`,
      )
    },
    stop: async () => {
      proc.kill()
      await proc.exited
    },
  }
}

/** The server on a fresh store, listening on `port`, as `main.ts` assembles it. */
async function startServer(
  port: number,
  registryUrl: string,
  keys: Awaited<ReturnType<typeof loadOrCreateSigningKeys>>,
) {
  const loaded = loadConfig(
    [
      '--listen=127.0.0.1',
      `--port=${port}`,
      `--registry.host=${registryUrl}`,
      `--registry.service=${SERVICE}`,
      `--registry.issuer=${ISSUER}`,
      `--registry.events-secret=${SECRET}`,
      `--registry.certs.path=${join(dir.path, 'certs')}`,
      `--store.embed.path=${join(dir.path, 'data.db')}`,
      // access lines go to a file, as on a server that keeps them
      '--logger.enabled',
      `--logger.file=${join(dir.path, 'access.log')}`,
    ],
    { HOME: dir.path },
  )
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help output')
  }
  const { config } = loaded
  const { store } = await openEmbedStore({
    path: config.store.embed.path,
    adminPassword: 'admin',
    log,
  })
  const signer = createTokenSigner({ keys, issuer: ISSUER })
  const authenticator = new Authenticator({ store, throttle: new LoginThrottle() })
  const sessionSecret = await resolveSessionSecret(store, config, log)
  const mirror = createMirrorService({ config, store, log, signer })
  const app = createApp({ config, log, store, authenticator, signer, sessionSecret, mirror })
  app.listen({ hostname: '127.0.0.1', port })
  const events = `http://127.0.0.1:${port}/api/v1/registry/events`

  /** Waits until the registry has delivered its backlog (the syncs' own reads) for a second. */
  const quiet = async () => {
    await mirror.idle()
    while (Date.now() - (mirror.lastEventAt ?? 0) < 1000) {
      await Bun.sleep(100)
    }
  }

  const finished = (): SyncSummary => {
    const summary = mirror.syncStatus().sync
    if (summary === null || summary.errorCount > 0) {
      throw new Error(`the sync failed: ${JSON.stringify(summary?.errors.slice(0, 3))}`)
    }
    return summary
  }

  return {
    /** The sync that started with the listener, from an empty mirror. */
    firstSync: async () => {
      await mirror.syncDone()
      return finished()
    },
    sync: async () => {
      await mirror.sync()
      return finished()
    },
    /**
     * Posts one push event per tag, waits until all are confirmed, and checks every tag is
     * recorded. With `empty`, the mirror is emptied first, so each event costs a manifest and a
     * config read; else each needs no registry read at all.
     */
    ingest: async (tags: PushedTag[], options: { empty: boolean }) => {
      await quiet()
      if (options.empty) {
        for (const name of store.listRepositoryNames()) {
          store.deleteRepository(name)
        }
      }
      const started = performance.now()
      for (const { repository, tag, digest } of tags) {
        await expectStatus(
          fetch(events, {
            method: 'POST',
            headers: {
              authorization: `Bearer ${SECRET}`,
              'content-type': 'application/vnd.docker.distribution.events.v1+json',
            },
            body: JSON.stringify({ events: [pushEvent(repository, tag, digest)] }),
          }),
          200,
          'notification',
        )
      }
      const posted = performance.now()
      await mirror.idle()
      const done = performance.now()
      const recorded = store.listCatalogTags({ range: { start: 0, end: 0 } }).total
      if (recorded !== tags.length) {
        throw new Error(`only ${recorded} of ${tags.length} tags were recorded`)
      }
      return { postSeconds: (posted - started) / 1000, seconds: (done - started) / 1000 }
    },
    stop: async () => {
      await app.stop()
      await mirror.idle()
      store.close()
    },
  }
}

function progress(message: string): void {
  process.stderr.write(
    `bench:sync: ${message} (rss ${(process.memoryUsage.rss() / 1048576).toFixed(0)} MiB, peak ${(Math.max(0, ...rssSamples) / 1048576).toFixed(0)} MiB)\n`,
  )
}

function pushEvent(repository: string, tag: string, digest: string) {
  return {
    id: crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    action: 'push',
    target: { mediaType: OCI_MANIFEST, repository, tag, digest, size: 400 },
    request: { method: 'PUT', useragent: 'bench' },
    actor: { name: 'bench' },
  }
}

function report(figures: {
  fillSeconds: number | null
  first: SyncSummary
  second: SyncSummary
  ingestion: { postSeconds: number; seconds: number }
  confirmation: { postSeconds: number; seconds: number }
  peakRss: number
  tags: number
  /** `os.loadavg()` when the benchmark started. */
  load: number[]
}): string {
  const seconds = (summary: SyncSummary) =>
    (Date.parse(summary.finishedAt ?? summary.startedAt) - Date.parse(summary.startedAt)) / 1000
  const rate = (run: { seconds: number }) => (figures.tags / run.seconds).toFixed(0)
  const filled =
    figures.fillSeconds === null
      ? 'filled by an earlier run'
      : `filled in ${figures.fillSeconds.toFixed(0)} s`
  const changes = figures.second.added + figures.second.changed + figures.second.removed

  return [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${navigator.hardwareConcurrency} cores, Bun ${Bun.version}, with registry 2.8 (token auth, filesystem storage) on the same machine: ${REPOSITORIES} repositories of ${TAGS} tags, ${figures.tags} tags in all (${filled}). The server runs in the benchmark process, writing its access log to a file; the registry notifies it of every manifest read, the sync's own included, and drops blob events as the registry-config command sets it up.`,
    '',
    '| measure | result | target |',
    '| --- | ---: | ---: |',
    `| first sync, empty mirror (${figures.first.added} tags added) | ${seconds(figures.first).toFixed(1)} s | < 60 s |`,
    `| second sync, nothing changed (${changes} changes) | ${seconds(figures.second).toFixed(1)} s | < 20 s |`,
    `| notification ingestion into an empty mirror, until every tag is recorded | ${rate(figures.ingestion)} events/s | ≥ 500 events/s |`,
    `| notification ingestion into a current mirror, until every event is confirmed | ${rate(figures.confirmation)} events/s | ≥ 500 events/s |`,
    `| peak RSS of the process | ${figures.peakRss.toFixed(1)} MiB | < 200 MB |`,
    '',
    `Events are posted one envelope at a time, as the registry sends them (posting took ${figures.ingestion.postSeconds.toFixed(1)} s and ${figures.confirmation.postSeconds.toFixed(1)} s). Into an empty mirror each push costs a manifest GET by tag and a config GET before it is recorded; into a current mirror a push of the digest already recorded needs no registry read. The machine is shared: the load average was ${figures.load.map((l) => l.toFixed(1)).join(', ')} at the start, and the sync times move with it.`,
  ].join('\n')
}

function certsConfig() {
  const path = join(dir.path, 'certs')
  return {
    path,
    key: join(path, 'registry_auth.key'),
    publicKey: join(path, 'registry_auth.pub'),
    caRoot: join(path, 'registry_auth_ca.crt'),
    fqdns: [],
    ip: '',
    httpsCert: '',
  }
}

async function expectStatus(request: Promise<Response>, status: number, what: string) {
  const response = await request
  if (response.status !== status) {
    throw new Error(`${what}: HTTP ${response.status} ${await response.text()}`)
  }
  await response.arrayBuffer()
  return response
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text)
}

function digestOf(data: Uint8Array): string {
  return `sha256:${new Bun.CryptoHasher('sha256').update(data).digest('hex')}`
}

function peakRssOfProcess(): number {
  return process.resourceUsage().maxRSS * 1024
}
