/**
 * A separate process for the tests of concurrent opens: `bun open-store-child.ts <path>` prints
 * `ready`, opens the store at `<path>` when a line arrives on stdin (so that several children
 * start together), closes it and prints what happened as one JSON line. Exits 1 when the open
 * fails.
 */
import { openEmbedStore } from './open-embed-store.ts'
import { fastHash, recordingLog } from './test-store.ts'

/** What a child prints after its open. */
export type ChildOutcome = { created: boolean; logged: string[] } | { error: string }

const path = process.argv[2] ?? ''
const stdin = Bun.stdin.stream().getReader()
process.stdout.write('ready\n')
await stdin.read()

const log = recordingLog()
let outcome: ChildOutcome
try {
  const { store, created } = await openEmbedStore({
    path,
    adminPassword: 'child-password',
    log,
    hashPassword: fastHash,
  })
  store.close()
  outcome = { created, logged: log.entries.map((entry) => entry.msg) }
} catch (error) {
  outcome = { error: error instanceof Error ? error.message : String(error) }
  process.exitCode = 1
}
process.stdout.write(`${JSON.stringify(outcome)}\n`)
stdin.releaseLock()
