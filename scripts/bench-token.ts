/**
 * Token realm benchmark: starts the server on a temporary store, then measures tokens per
 * second and latency at 1, 8 and 32 concurrent clients sending valid, repeated credentials,
 * next to this machine's raw single-thread RS256 signing rate and the server's peak RSS.
 * Prints a table and writes it to docs/benchmarks.md.
 *
 * Usage: bun run bench:token [-- --seconds=5]
 */
import 'reflect-metadata'

import { sign } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

import pino from 'pino'

import { loadOrCreateSigningKeys } from '../src/plugins/certs/index.ts'
import { freePort, updateBenchmarkSection, waitForHttp } from './bench-support.ts'

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '5' } } })
const SECONDS = Number(values.seconds)
const CONCURRENCY = [1, 8, 32]
const SERVICE = 'registry.bench'
const USER = { login: 'bench', password: 'bench-password' }

const dir = await mkdtemp(join(tmpdir(), 'ra-bench-token-'))
const port = await freePort()
const base = `http://127.0.0.1:${port}`
const admin = `Basic ${btoa('admin:admin')}`

const server = Bun.spawn(
  [
    process.execPath,
    'run',
    'src/main.ts',
    `--listen=127.0.0.1`,
    `--port=${port}`,
    `--registry.service=${SERVICE}`,
    `--registry.certs.path=${join(dir, 'certs')}`,
    `--store.embed.path=${join(dir, 'data.db')}`,
  ],
  { cwd: join(import.meta.dir, '..'), stdout: 'ignore', stderr: 'pipe' },
)

try {
  await waitForHttp(`${base}/ping`, server)
  await seedUser()

  const rawRate = await rawSigningRate(join(dir, 'certs'))
  const rows = []
  for (const clients of CONCURRENCY) {
    rows.push({ clients, ...(await load(clients)) })
  }
  const peakRss = await peakRssMiB(server.pid)

  const table = [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${navigator.hardwareConcurrency} cores, Bun ${Bun.version}, ${SECONDS} s per row; server in its own process, clients in the benchmark process, both on loopback.`,
    '',
    `Raw single-thread RS256 signing rate of this machine: **${rawRate.toFixed(0)} signatures/s**.`,
    '',
    '| clients | tokens/s | p50 ms | p99 ms | errors |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...rows.map(
      (row) =>
        `| ${row.clients} | ${row.rate.toFixed(0)} | ${row.p50.toFixed(2)} | ${row.p99.toFixed(2)} | ${row.errors} |`,
    ),
    '',
    `Server peak RSS: **${peakRss.toFixed(1)} MiB**.`,
    '',
    'Targets: at 8 clients at least half the raw signing rate, p99 under 20 ms, RSS under 150 MB.',
  ].join('\n')

  console.log(table)
  await updateBenchmarkSection('Token realm (`bun run bench:token`)', table)
} finally {
  server.kill()
  await server.exited
  await rm(dir, { recursive: true, force: true })
}

/** A user with one pull/push rule, so each request runs the rule path, not the admin shortcut. */
async function seedUser() {
  const headers = { authorization: admin, 'content-type': 'application/json' }
  const created = await fetch(`${base}/api/v1/users`, {
    method: 'POST',
    headers,
    body: JSON.stringify({ ...USER, name: 'bench', role: 'user', group: 1 }),
  })
  const body = (await created.json()) as { id: number }
  const rule = await fetch(`${base}/api/v1/access`, {
    method: 'POST',
    headers,
    body: JSON.stringify({
      name: 'bench push',
      owner_id: body.id,
      is_group: false,
      type: 'repository',
      resource_name: 'bench/**',
      action: 'push',
    }),
  })
  if (!created.ok || !rule.ok) {
    throw new Error(`could not seed the bench user: ${created.status} ${rule.status}`)
  }
}

async function load(clients: number) {
  const url = `${base}/api/v1/registry/auth?service=${SERVICE}&scope=repository:bench/app:pull,push`
  const headers = { authorization: `Basic ${btoa(`${USER.login}:${USER.password}`)}` }
  // Warm the password cache and the JIT before measuring.
  for (let i = 0; i < 20; i++) {
    await (await fetch(url, { headers })).arrayBuffer()
  }

  const latencies: number[] = []
  let errors = 0
  const deadline = performance.now() + SECONDS * 1000
  const worker = async () => {
    while (performance.now() < deadline) {
      const start = performance.now()
      const response = await fetch(url, { headers })
      const body = (await response.json()) as { access_token?: string }
      latencies.push(performance.now() - start)
      if (!response.ok || !body.access_token) {
        errors++
      }
    }
  }
  const started = performance.now()
  await Promise.all(Array.from({ length: clients }, worker))
  const elapsed = (performance.now() - started) / 1000

  latencies.sort((a, b) => a - b)
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0
  return { rate: latencies.length / elapsed, p50: at(0.5), p99: at(0.99), errors }
}

/** RS256 signatures per second on one thread, with the server's own key. */
async function rawSigningRate(certsPath: string): Promise<number> {
  const keys = await loadOrCreateSigningKeys(
    {
      path: certsPath,
      key: join(certsPath, 'registry_auth.key'),
      publicKey: join(certsPath, 'registry_auth.pub'),
      caRoot: join(certsPath, 'registry_auth_ca.crt'),
      fqdns: [],
      ip: '',
      httpsCert: '',
    },
    pino({ level: 'silent' }),
  )
  const data = Buffer.from('x'.repeat(600))
  let count = 0
  const deadline = performance.now() + 2000
  const started = performance.now()
  while (performance.now() < deadline) {
    sign('sha256', data, keys.privateKey)
    count++
  }
  return count / ((performance.now() - started) / 1000)
}

async function peakRssMiB(pid: number): Promise<number> {
  const status = await Bun.file(`/proc/${pid}/status`).text()
  const kib = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0)
  return kib / 1024
}
