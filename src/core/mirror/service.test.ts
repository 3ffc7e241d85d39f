import { describe, expect, test } from 'bun:test'
import pino from 'pino'

import type { RegistryEvent } from './events.ts'
import { LAST_SYNC_SETTING, MirrorService, type MirrorServiceOptions } from './service.ts'
import { fakeMirrorStore, FakeRegistry, pushImage } from './test-fakes.ts'

const NOW = Date.parse('2025-03-01T12:00:00Z')
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const SERVER = '$registry-admin'
const trusted = { trusted: true }
const untrusted = { trusted: false }

const setup = (
  registry: FakeRegistry | null = new FakeRegistry(),
  options: Partial<MirrorServiceOptions> = {},
) => {
  const store = fakeMirrorStore()
  const mirror = new MirrorService({
    store,
    registry,
    log: pino({ level: 'silent' }),
    ownActors: [SERVER],
    now: () => NOW,
    pushConfirmDelaysMs: [],
    ...options,
  })

  return { store, mirror, registry: registry as FakeRegistry }
}

/** Holds the repository's queue until the returned function is called. */
const hold = (mirror: MirrorService, repository: string) => {
  let release: () => void = () => undefined
  const held = new Promise<void>((resolve) => (release = resolve))
  void mirror.runExclusive(repository, () => held)
  return release
}

/** Timers that fire only when told to, for re-reads and catch-up syncs. */
const manualTimers = () => {
  const waiting: { ms: number; fire: () => void }[] = []
  const asked: number[] = []
  let onAsk: () => void = () => undefined
  const delay = (ms: number) =>
    new Promise<void>((resolve) => {
      waiting.push({ ms, fire: resolve })
      asked.push(ms)
      onAsk()
    })
  const fireAll = () => waiting.splice(0).forEach((timer) => timer.fire())
  /** Resolves once `count` timers have been asked for in all. */
  const asks = (count: number) =>
    new Promise<void>((resolve) => {
      onAsk = () => asked.length >= count && resolve()
      onAsk()
    })
  return { delay, waiting, asked, fireAll, asks }
}

const calls = (registry: FakeRegistry, operation: string) =>
  registry.calls.filter(([name]) => name === operation).map(([, ...args]) => args.join(' '))

let counter = 0
const push = (repository: string, tag: string, digest: string): RegistryEvent => ({
  id: `push-${++counter}`,
  timestamp: '2025-03-01T11:59:59Z',
  action: 'push',
  target: { mediaType: MANIFEST, repository, tag, digest },
  request: { method: 'PUT' },
  actor: { name: 'alice' },
})
const pull = (
  repository: string,
  target: { tag?: string; digest: string },
  extra: { method?: string; actor?: string } = {},
): RegistryEvent => ({
  id: `pull-${++counter}`,
  action: 'pull',
  target: { mediaType: MANIFEST, repository, ...target },
  request: { method: extra.method ?? 'GET' },
  actor: { name: extra.actor ?? 'bob' },
})
const deleted = (repository: string, target: { tag: string } | { digest: string }) => ({
  id: `delete-${++counter}`,
  action: 'delete',
  target: { repository, ...target },
})

describe('MirrorService events', () => {
  test('records what the registry serves for a pushed tag, not what the event claims', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')

    const result = mirror.acceptEvents([push('ns/app', '1.0', `sha256:${'f'.repeat(64)}`)], trusted)
    await mirror.idle()

    expect(result).toEqual({ queued: 1, merged: 0, duplicates: 0, ignored: 0, dropped: 0 })
    expect(store.rows().map((row) => [row.tag, row.digest, row.pushedAt])).toEqual([
      ['1.0', image.digest, Date.parse('2025-03-01T11:59:59Z') / 1000],
    ])
  })

  test('takes the push time of an untrusted sender from the confirmation, not the event', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    const old = { ...push('ns/app', '1.0', image.digest), timestamp: '2020-01-01T00:00:00Z' }

    mirror.acceptEvents([old], untrusted)
    await mirror.idle()

    expect(store.getRepositoryEntry('ns/app', '1.0')?.pushedAt).toBe(NOW / 1000)
  })

  test('takes the push time of a trusted sender from the event, never later than now', async () => {
    const { store, mirror, registry } = setup()
    const a = pushImage(registry, 'ns/app', '1.0')
    const b = pushImage(registry, 'ns/app', '2.0')
    const past = { ...push('ns/app', '1.0', a.digest), timestamp: '2020-01-01T00:00:00Z' }
    const future = { ...push('ns/app', '2.0', b.digest), timestamp: '2030-01-01T00:00:00Z' }

    mirror.acceptEvents([past, future], trusted)
    await mirror.idle()

    expect(store.rows().map((row) => [row.tag, row.pushedAt])).toEqual([
      ['1.0', Date.parse('2020-01-01T00:00:00Z') / 1000],
      ['2.0', NOW / 1000],
    ])
  })

  test('waits for the registry to write a pushed tag that its notification announced early', async () => {
    const store = fakeMirrorStore()
    const registry = new FakeRegistry()
    const old = pushImage(registry, 'ns/app', '1.0')
    const mirror = new MirrorService({
      store,
      registry,
      log: pino({ level: 'silent' }),
      ownActors: [],
      pushConfirmDelaysMs: [0, 0, 0],
    })
    mirror.acceptEvents([push('ns/app', '1.0', old.digest)], trusted)
    await mirror.idle()
    // the registry announces the new digest while the tag still points at the old one
    const next = pushImage(registry, 'ns/app', '1.1', { layers: ['new'] })
    registry.tag('ns/app', '1.0', old.digest)
    const get = registry.getManifest.bind(registry)
    let reads = 0
    registry.getManifest = async (repository, reference) => {
      if (reference === '1.0' && ++reads === 2) {
        registry.tag('ns/app', '1.0', next.digest)
      }
      return get(repository, reference)
    }

    mirror.acceptEvents([push('ns/app', '1.0', next.digest)], trusted)
    await mirror.idle()

    expect([store.getRepositoryEntry('ns/app', '1.0')?.digest, reads]).toEqual([next.digest, 2])
  })

  test('asks again when the registry fails while it writes a pushed tag', async () => {
    const store = fakeMirrorStore()
    const registry = new FakeRegistry()
    const image = pushImage(registry, 'ns/app', '1.0')
    const mirror = new MirrorService({
      store,
      registry,
      log: pino({ level: 'silent' }),
      ownActors: [],
      pushConfirmDelaysMs: [0, 0],
    })
    registry.fail('getManifest', 'server-error')
    const get = registry.getManifest.bind(registry)
    registry.getManifest = async (repository, reference) => {
      const answer = get(repository, reference)
      registry.heal()
      return answer
    }

    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await mirror.idle()

    expect(store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(image.digest)
  })

  test('reads nothing for a push of the digest the tag already has', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await mirror.idle()
    registry.calls.length = 0

    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await mirror.idle()

    expect([registry.calls, store.getRepositoryEntry('ns/app', '1.0')?.digest]).toEqual([
      [],
      image.digest,
    ])
  })

  test('records nothing for a forged push of a manifest the registry does not have', async () => {
    const { store, mirror } = setup()

    mirror.acceptEvents([push('ns/ghost', '1.0', `sha256:${'e'.repeat(64)}`)], trusted)
    await mirror.idle()

    expect(store.rows()).toEqual([])
  })

  test('removes nothing for a forged delete of a manifest the registry still has', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await mirror.idle()

    mirror.acceptEvents(
      [deleted('ns/app', { digest: image.digest }), deleted('ns/app', { tag: '1.0' })],
      trusted,
    )
    await mirror.idle()

    expect(store.rows().map((row) => row.tag)).toEqual(['1.0'])
  })

  test('removes every tag of a deleted manifest, only in its own repository', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    registry.tag('ns/app', 'latest', image.digest)
    const other = pushImage(registry, 'ns/other', '1.0')
    mirror.acceptEvents(
      [
        push('ns/app', '1.0', image.digest),
        push('ns/app', 'latest', image.digest),
        push('ns/other', '1.0', other.digest),
      ],
      trusted,
    )
    await mirror.idle()

    registry.deleteManifest('ns/app', image.digest)
    mirror.acceptEvents([deleted('ns/app', { digest: image.digest })], trusted)
    await mirror.idle()

    expect(store.rows().map((row) => `${row.repositoryName}:${row.tag}`)).toEqual(['ns/other:1.0'])
  })

  test('applies a redelivered event once', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    const event = pull('ns/app', { tag: '1.0', digest: image.digest })

    const first = mirror.acceptEvents([event], trusted)
    const again = mirror.acceptEvents([event], trusted)
    await mirror.idle()

    expect([first, again]).toEqual([
      { queued: 1, merged: 0, duplicates: 0, ignored: 0, dropped: 0 },
      { queued: 0, merged: 0, duplicates: 1, ignored: 0, dropped: 0 },
    ])
    expect(store.getRepositoryEntry('ns/app', '1.0')?.pullCount).toBe(1)
  })

  test('handles every event of an envelope', async () => {
    const { store, mirror, registry } = setup()
    const a = pushImage(registry, 'ns/a', '1.0')
    const b = pushImage(registry, 'ns/b', '1.0')

    mirror.acceptEvents([push('ns/a', '1.0', a.digest), push('ns/b', '1.0', b.digest)], trusted)
    await mirror.idle()

    expect(store.listRepositoryNames()).toEqual(['ns/a', 'ns/b'])
  })

  test('counts manifest GETs by tag and by digest, and nothing else', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    registry.tag('ns/app', 'latest', image.digest)
    const other = pushImage(registry, 'ns/app', '2.0')
    mirror.acceptEvents(
      ['1.0', 'latest', '2.0'].map((tag) => push('ns/app', tag, image.digest)),
      trusted,
    )

    mirror.acceptEvents(
      [
        pull('ns/app', { tag: '1.0', digest: image.digest }),
        pull('ns/app', { digest: image.digest }),
        pull('ns/app', { tag: '2.0', digest: other.digest }, { method: 'HEAD' }),
        pull('ns/app', { tag: '2.0', digest: other.digest }, { actor: SERVER }),
        {
          id: 'blob-read',
          action: 'pull',
          target: {
            mediaType: 'application/octet-stream',
            repository: 'ns/app',
            digest: other.digest,
          },
          request: { method: 'GET' },
          actor: { name: 'bob' },
        },
      ],
      trusted,
    )
    await mirror.idle()

    expect(store.rows().map((row) => [row.tag, row.pullCount])).toEqual([
      ['1.0', 2],
      ['2.0', 0],
      ['latest', 1],
    ])
  })

  test('does not count pulls from a delivery that is not trusted with them', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], untrusted)

    const result = mirror.acceptEvents(
      [pull('ns/app', { tag: '1.0', digest: image.digest })],
      untrusted,
    )
    await mirror.idle()

    expect(result).toEqual({ queued: 0, merged: 0, duplicates: 0, ignored: 1, dropped: 0 })
    expect(store.getRepositoryEntry('ns/app', '1.0')?.pullCount).toBe(0)
  })

  test('applies the events of one repository in arrival order', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    const head = registry.headManifest.bind(registry)
    registry.headManifest = async (repository, reference) => {
      await held
      return head(repository, reference)
    }

    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    mirror.acceptEvents([pull('ns/app', { tag: '1.0', digest: image.digest })], trusted)
    release()
    await mirror.idle()

    // the pull waited for the push's confirmation, so it found the row to count on
    expect(store.getRepositoryEntry('ns/app', '1.0')?.pullCount).toBe(1)
  })

  test('waits for a running sync of the repository before confirming an event', async () => {
    const { store, mirror, registry } = setup()
    pushImage(registry, 'ns/app', '1.0')
    const order: string[] = []
    const listTags = registry.listTags.bind(registry)
    registry.listTags = async (repository) => {
      order.push('sync reads tags')
      const tags = await listTags(repository)
      mirror.acceptEvents([deleted('ns/app', { tag: '1.0' })], trusted)
      registry.untag('ns/app', '1.0')
      return tags
    }
    const get = registry.getManifest.bind(registry)
    registry.getManifest = async (repository, reference) => {
      order.push(`get ${reference}`)
      return get(repository, reference)
    }

    await mirror.sync()
    await mirror.idle()

    // the sync reads the tag before the event's turn; the event then finds no row to check
    expect(order).toEqual(['sync reads tags', 'get 1.0'])
    expect(store.rows()).toEqual([])
  })

  test('runs exclusive work on a repository only after its queued confirmations', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    let release: () => void = () => undefined
    const held = new Promise<void>((resolve) => (release = resolve))
    const get = registry.getManifest.bind(registry)
    registry.getManifest = async (repository, reference) => {
      await held
      return get(repository, reference)
    }
    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)

    const seen = mirror.runExclusive('ns/app', async () => store.rows().map((row) => row.tag))
    release()

    // the exclusive task waited for the confirmation, so it sees the row it recorded
    expect(await seen).toEqual(['1.0'])
  })

  test('accepts events without confirming them when no registry is configured', async () => {
    const { store, mirror } = setup(null)

    const result = mirror.acceptEvents([push('ns/app', '1.0', `sha256:${'a'.repeat(64)}`)], trusted)
    await mirror.idle()

    expect([result, store.rows(), mirror.enabled]).toEqual([
      { queued: 0, merged: 0, duplicates: 0, ignored: 1, dropped: 0 },
      [],
      false,
    ])
  })

  test('remembers when the last notification arrived', () => {
    const { mirror } = setup()
    const before = mirror.lastEventAt

    mirror.acceptEvents([], trusted)

    expect([before, mirror.lastEventAt]).toEqual([null, NOW])
  })
})

describe('MirrorService sync', () => {
  test('refuses a second sync while one runs', async () => {
    const { mirror, registry } = setup()
    pushImage(registry, 'ns/app', '1.0')

    const started = mirror.startSync()
    const again = mirror.startSync()
    const refused = await mirror.sync().catch((error: Error) => error.name)
    await mirror.syncDone()

    expect([started, again, refused]).toEqual([true, false, 'ConflictError'])
  })

  test('shows the running sync, then keeps the last one in the settings', async () => {
    const { store, mirror, registry } = setup()
    pushImage(registry, 'ns/app', '1.0')
    const before = mirror.syncStatus()

    mirror.startSync()
    const during = mirror.syncStatus()
    await mirror.syncDone()
    const after = mirror.syncStatus()

    expect(before).toEqual({ running: false, sync: null })
    expect([during.running, during.sync?.finishedAt]).toEqual([true, null])
    expect(after).toEqual({
      running: false,
      sync: {
        startedAt: '2025-03-01T12:00:00.000Z',
        finishedAt: '2025-03-01T12:00:00.000Z',
        catalogComplete: true,
        repositories: 1,
        repositoriesChecked: 1,
        repositoriesFailed: 0,
        tags: 1,
        added: 1,
        changed: 0,
        removed: 0,
        errorCount: 0,
        errors: [],
        dryRun: false,
      },
    })
    expect(JSON.parse(store.getSetting(LAST_SYNC_SETTING) ?? 'null')).toEqual(after.sync)
  })

  test('refuses to sync without a registry', () => {
    const { mirror } = setup(null)

    expect(() => mirror.startSync()).toThrow('the repository sync is off: registry.host is not set')
  })
})

describe('MirrorService limits', () => {
  const unknown = `sha256:${'e'.repeat(64)}`

  test('merges events for a tag that waits for its confirmation, and reads the registry once', async () => {
    const { store, mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    const release = hold(mirror, 'ns/app')

    const result = mirror.acceptEvents(
      [push('ns/app', '1.0', unknown), push('ns/app', '1.0', image.digest)],
      trusted,
    )
    const again = mirror.acceptEvents([push('ns/app', '1.0', image.digest)], untrusted)
    release()
    await mirror.idle()

    expect([result, again]).toEqual([
      { queued: 1, merged: 1, duplicates: 0, ignored: 0, dropped: 0 },
      { queued: 0, merged: 1, duplicates: 0, ignored: 0, dropped: 0 },
    ])
    expect(calls(registry, 'getManifest')).toEqual(['ns/app 1.0'])
    expect(store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(image.digest)
  })

  test('merges deletes of a digest that waits for its confirmation', async () => {
    const { mirror, registry } = setup()
    const image = pushImage(registry, 'ns/app', '1.0')
    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await mirror.idle()
    const release = hold(mirror, 'ns/app')

    const result = mirror.acceptEvents(
      [1, 2, 3].map(() => deleted('ns/app', { digest: image.digest })),
      untrusted,
    )
    release()
    await mirror.idle()

    expect(result).toEqual({ queued: 1, merged: 2, duplicates: 0, ignored: 0, dropped: 0 })
    expect(calls(registry, 'headManifest')).toEqual([`ns/app ${image.digest}`])
  })

  test('reads the registry when a merged claim names the digest the row already has', async () => {
    const { store, mirror, registry } = setup()
    const old = pushImage(registry, 'ns/app', '1.0')
    mirror.acceptEvents([push('ns/app', '1.0', old.digest)], trusted)
    await mirror.idle()
    const next = pushImage(registry, 'ns/app', '1.0', { layers: ['new'] })
    const release = hold(mirror, 'ns/app')

    // a forged event claims the recorded digest right after the registry's own
    mirror.acceptEvents([push('ns/app', '1.0', next.digest)], trusted)
    mirror.acceptEvents([push('ns/app', '1.0', old.digest)], untrusted)
    release()
    await mirror.idle()

    expect(store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(next.digest)
  })

  test('drops events over the pending limit without recording their ids, and asks for a sync', async () => {
    const { store, mirror, registry } = setup(new FakeRegistry(), {
      limits: { pending: 2 },
    })
    const images = ['1', '2', '3'].map((tag) => pushImage(registry, 'ns/app', tag))
    const events = images.map((image, index) => push('ns/app', String(index + 1), image.digest))
    const release = hold(mirror, 'ns/app')

    const result = mirror.acceptEvents(events, trusted)
    const syncing = mirror.syncStatus().running
    release()
    await mirror.syncDone()
    await mirror.idle()
    store.deleteRepository('ns/app')
    const redelivered = mirror.acceptEvents([events[2] as RegistryEvent], trusted)
    await mirror.idle()

    expect(result).toEqual({ queued: 2, merged: 0, duplicates: 0, ignored: 0, dropped: 1 })
    expect(syncing).toBe(true)
    expect(redelivered).toEqual({ queued: 1, merged: 0, duplicates: 0, ignored: 0, dropped: 0 })
    expect(store.rows().map((row) => row.tag)).toEqual(['3'])
  })

  test('takes at most the envelope limit of events from one envelope', async () => {
    const { mirror } = setup(new FakeRegistry(), {
      limits: { perEnvelope: 3, untrustedPerEnvelope: 2 },
    })
    const release = hold(mirror, 'ns/app')
    const envelope = () => ['a', 'b', 'c', 'd'].map((tag) => push('ns/app', tag, unknown))

    const fromRegistry = mirror.acceptEvents(envelope(), trusted)
    const fromUser = mirror.acceptEvents(envelope(), untrusted)
    release()
    await mirror.idle()

    expect([fromRegistry.queued + fromRegistry.merged, fromRegistry.dropped]).toEqual([3, 1])
    expect([fromUser.queued + fromUser.merged, fromUser.dropped]).toEqual([2, 2])
  })

  test('holds untrusted senders to their own pending limit, and the registry still gets through', async () => {
    const { mirror } = setup(new FakeRegistry(), { limits: { untrustedPending: 3 } })
    const release = hold(mirror, 'ns/app')
    const envelope = (prefix: string) =>
      ['a', 'b'].map((tag) => push('ns/app', `${prefix}${tag}`, unknown))

    const first = mirror.acceptEvents(envelope('x'), untrusted)
    const second = mirror.acceptEvents(envelope('y'), untrusted)
    const registry = mirror.acceptEvents(envelope('z'), trusted)
    release()
    await mirror.idle()

    expect([first.queued, second.queued, second.dropped, registry.queued]).toEqual([2, 1, 1, 2])
  })

  test('gives an untrusted envelope at most 100 confirmations by default', async () => {
    const { mirror } = setup()
    const release = hold(mirror, 'ns/app')

    const result = mirror.acceptEvents(
      Array.from({ length: 150 }, (_, index) => push('ns/app', `t${index}`, unknown)),
      untrusted,
    )
    release()
    await mirror.idle()

    expect([result.queued, result.dropped]).toEqual([100, 50])
  })

  test('waits for a re-read on a timer, so other work on the repository goes on', async () => {
    const timers = manualTimers()
    const { store, mirror, registry } = setup(new FakeRegistry(), {
      pushConfirmDelaysMs: [800],
      delay: timers.delay,
    })
    const other = pushImage(registry, 'ns/app', '2.0')

    mirror.acceptEvents(
      [push('ns/app', '1.0', unknown), push('ns/app', '2.0', other.digest)],
      trusted,
    )
    await mirror.runExclusive('ns/app', async () => undefined)
    const meanwhile = {
      rows: store.rows().map((row) => row.tag),
      timers: timers.waiting.map((timer) => timer.ms),
    }
    timers.fireAll()
    await mirror.idle()

    expect(meanwhile).toEqual({ rows: ['2.0'], timers: [800] })
    expect(calls(registry, 'getManifest')).toEqual(['ns/app 1.0', 'ns/app 2.0', 'ns/app 1.0'])
    expect(mirror.pending).toBe(0)
  })

  test('starts at most one catch-up sync per interval', async () => {
    const timers = manualTimers()
    const { mirror, registry } = setup(new FakeRegistry(), {
      limits: { perEnvelope: 0 },
      delay: timers.delay,
      catchUpIntervalMs: 60_000,
    })
    const catalogReads = () => calls(registry, 'listRepositories').length

    mirror.acceptEvents([push('ns/app', '1.0', unknown)], trusted)
    await mirror.syncDone()
    mirror.acceptEvents([push('ns/app', '1.0', unknown)], trusted)
    mirror.acceptEvents([push('ns/app', '1.0', unknown)], trusted)
    await mirror.syncDone()
    const beforeTimer = catalogReads()
    const waiting = timers.waiting.map((timer) => timer.ms)
    timers.fireAll()
    await mirror.requestSync()
    await mirror.syncDone()

    expect([beforeTimer, waiting, catalogReads()]).toEqual([1, [60_000], 2])
  })
})

describe('MirrorService failures', () => {
  const setupFailing = () => {
    const timers = manualTimers()
    const fixture = setup(new FakeRegistry(), { delay: timers.delay })
    return { ...fixture, timers }
  }
  /** Fires every timer as it is asked for, `count` times. */
  const fireEach = async (timers: ReturnType<typeof manualTimers>, count: number) => {
    for (let fired = 1; fired <= count; fired++) {
      await timers.asks(fired)
      timers.fireAll()
    }
  }

  test('confirms an event again after the registry fails, with growing waits', async () => {
    const { store, mirror, registry, timers } = setupFailing()
    const image = pushImage(registry, 'ns/app', '1.0')
    registry.fail('getManifest', 'server-error')

    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await timers.asks(1)
    timers.fireAll()
    await timers.asks(2)
    registry.heal()
    timers.fireAll()
    await mirror.idle()

    expect(timers.asked).toEqual([1000, 2000])
    expect(store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(image.digest)
  })

  test('tries a delete again while the registry cannot be reached', async () => {
    const { store, mirror, registry, timers } = setupFailing()
    const image = pushImage(registry, 'ns/app', '1.0')
    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await mirror.idle()
    registry.deleteManifest('ns/app', image.digest)
    registry.fail('headManifest', 'refused')

    mirror.acceptEvents([deleted('ns/app', { digest: image.digest })], trusted)
    await timers.asks(1)
    registry.heal()
    timers.fireAll()
    await mirror.idle()

    expect(store.rows()).toEqual([])
  })

  test('gives up after the last wait and leaves the event to the next sync', async () => {
    const { store, mirror, registry, timers } = setupFailing()
    const image = pushImage(registry, 'ns/app', '1.0')
    registry.fail('getManifest', 'timeout')

    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await fireEach(timers, 6)
    await mirror.idle()

    expect([calls(registry, 'getManifest').length, timers.asked, mirror.pending]).toEqual([
      7,
      [1000, 2000, 4000, 8000, 16_000, 32_000],
      0,
    ])
    expect(store.rows()).toEqual([])
  })

  test('does not try again when the registry refuses this server', async () => {
    const { mirror, registry, timers } = setupFailing()
    const image = pushImage(registry, 'ns/app', '1.0')
    registry.fail('getManifest', 'unauthorized')

    mirror.acceptEvents([push('ns/app', '1.0', image.digest)], trusted)
    await mirror.idle()

    expect([calls(registry, 'getManifest').length, timers.asked]).toEqual([1, []])
  })
})
