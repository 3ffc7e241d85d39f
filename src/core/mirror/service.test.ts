import { describe, expect, test } from 'bun:test'
import pino from 'pino'

import type { RegistryEvent } from './events.ts'
import { LAST_SYNC_SETTING, MirrorService } from './service.ts'
import { fakeMirrorStore, FakeRegistry, pushImage } from './test-fakes.ts'

const NOW = Date.parse('2025-03-01T12:00:00Z')
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const SERVER = '$registry-admin'
const trusted = { trusted: true }
const untrusted = { trusted: false }

const setup = (registry: FakeRegistry | null = new FakeRegistry()) => {
  const store = fakeMirrorStore()
  const mirror = new MirrorService({
    store,
    registry,
    log: pino({ level: 'silent' }),
    ownActors: [SERVER],
    now: () => NOW,
    pushConfirmDelaysMs: [],
  })

  return { store, mirror, registry: registry as FakeRegistry }
}

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

    expect(result).toEqual({ queued: 1, duplicates: 0, ignored: 0 })
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
      { queued: 1, duplicates: 0, ignored: 0 },
      { queued: 0, duplicates: 1, ignored: 0 },
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

    expect(result).toEqual({ queued: 0, duplicates: 0, ignored: 1 })
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
      { queued: 0, duplicates: 0, ignored: 1 },
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
