import { describe, expect, test } from 'bun:test'
import pino from 'pino'

import { runSync, type SyncSummary } from './sync.ts'
import { fakeMirrorStore, FakeRegistry, pushImage, pushIndex } from './test-fakes.ts'

const START = Date.parse('2025-03-01T12:00:00Z')
const log = pino({ level: 'silent' })

/** A registry with two repositories: ns/app (1.0, 1.1) and ns/tool (latest). */
const setup = () => {
  const registry = new FakeRegistry()
  const store = fakeMirrorStore()
  const images = {
    app10: pushImage(registry, 'ns/app', '1.0'),
    app11: pushImage(registry, 'ns/app', '1.1'),
    tool: pushImage(registry, 'ns/tool', 'latest', { format: 'v2s2' }),
  }
  const sync = () => runSync({ store, client: registry, log, now: () => START })

  return { registry, store, images, sync }
}

const tagsOf = (store: ReturnType<typeof fakeMirrorStore>) =>
  store.rows().map((row) => `${row.repositoryName}:${row.tag}@${row.digest.slice(7, 13)}`)

const summary = (fields: Partial<SyncSummary>): SyncSummary => ({
  startedAt: '2025-03-01T12:00:00.000Z',
  finishedAt: '2025-03-01T12:00:00.000Z',
  catalogComplete: true,
  repositories: 2,
  repositoriesChecked: 2,
  repositoriesFailed: 0,
  tags: 3,
  added: 0,
  changed: 0,
  removed: 0,
  errorCount: 0,
  errors: [],
  dryRun: false,
  ...fields,
})

describe('runSync', () => {
  test('fills an empty mirror with every tag of every repository', async () => {
    const { store, images, sync } = setup()

    const result = await sync()

    expect(result).toEqual(summary({ added: 3 }))
    expect(
      store.rows().map((row) => [row.repositoryName, row.tag, row.digest, row.pushedAt]),
    ).toEqual([
      ['ns/app', '1.0', images.app10.digest, START / 1000],
      ['ns/app', '1.1', images.app11.digest, START / 1000],
      ['ns/tool', 'latest', images.tool.digest, START / 1000],
    ])
  })

  test('checks each tag with a HEAD only when nothing changed', async () => {
    const { registry, sync } = setup()
    await sync()
    registry.calls.length = 0

    const result = await sync()

    expect(result).toEqual(summary({}))
    expect(registry.calls.map(([operation]) => operation).sort()).toEqual([
      'headManifest',
      'headManifest',
      'headManifest',
      'listRepositories',
      'listTags',
      'listTags',
    ])
  })

  test('replaces the digest and size of a re-pushed tag', async () => {
    const { registry, store, sync } = setup()
    await sync()
    const repushed = pushImage(registry, 'ns/app', '1.0', { layers: ['new content, longer'] })

    const result = await sync()

    expect(result).toEqual(summary({ changed: 1 }))
    const row = store.getRepositoryEntry('ns/app', '1.0')
    expect([row?.digest, row?.size]).toEqual([repushed.digest, repushed.size])
  })

  test('records an index tag with its platforms', async () => {
    const { registry, store, sync } = setup()
    const child = pushImage(registry, 'ns/multi', undefined, { architecture: 'arm64' })
    pushIndex(registry, 'ns/multi', '2.0', [
      { digest: child.digest, size: child.manifestSize, architecture: 'arm64' },
    ])

    await sync()

    expect(store.getRepositoryEntry('ns/multi', '2.0')?.platforms).toEqual([
      { os: 'linux', architecture: 'arm64', digest: child.digest, size: child.size },
    ])
    expect(store.listRepositoryEntries('ns/multi').map((row) => row.tag)).toEqual(['2.0'])
  })

  test('removes a tag that its complete tag list no longer has', async () => {
    const { registry, store, sync } = setup()
    await sync()
    registry.untag('ns/app', '1.1')

    const result = await sync()

    expect(result).toEqual(summary({ tags: 2, removed: 1 }))
    expect(tagsOf(store)).toHaveLength(2)
    expect(store.getRepositoryEntry('ns/app', '1.1')).toBeNull()
  })

  test('removes a repository that a complete catalog no longer has', async () => {
    const { registry, store, sync } = setup()
    await sync()
    registry.removeRepository('ns/tool')

    const result = await sync()

    expect(result).toEqual(summary({ repositories: 2, tags: 2, removed: 1 }))
    expect(store.listRepositoryNames()).toEqual(['ns/app'])
  })

  test('keeps every row when the catalog cannot be read, and still refreshes known repositories', async () => {
    const { registry, store, sync } = setup()
    await sync()
    registry.fail('listRepositories', 'unauthorized')
    registry.untag('ns/app', '1.1')
    const before = tagsOf(store)

    const result = await sync()

    expect(result).toEqual(
      summary({
        catalogComplete: false,
        tags: 2,
        removed: 1,
        errorCount: 1,
        errors: [{ repository: null, message: 'unauthorized' }],
      }),
    )
    expect(tagsOf(store)).toEqual(before.filter((tag) => !tag.startsWith('ns/app:1.1')))
  })

  test('keeps a repository unknown to the registry when the catalog failed', async () => {
    const { registry, store, sync } = setup()
    await sync()
    registry.fail('listRepositories', 'server-error')
    registry.removeRepository('ns/tool')

    const result = await sync()

    expect(result).toEqual(
      summary({
        catalogComplete: false,
        repositories: 1,
        repositoriesFailed: 1,
        tags: 2,
        errorCount: 2,
        errors: [
          { repository: null, message: 'internal error' },
          { repository: 'ns/tool', message: 'name_unknown' },
        ],
      }),
    )
    expect(store.listRepositoryNames()).toEqual(['ns/app', 'ns/tool'])
  })

  test('reads nothing further and removes nothing when the registry refuses connections', async () => {
    const { registry, store, sync } = setup()
    await sync()
    const before = tagsOf(store)
    registry.fail('listRepositories', 'refused')

    const result = await sync()

    expect(result).toEqual(
      summary({
        catalogComplete: false,
        repositories: 0,
        repositoriesChecked: 0,
        tags: 0,
        errorCount: 1,
        errors: [{ repository: null, message: 'connection refused' }],
      }),
    )
    expect(tagsOf(store)).toEqual(before)
  })

  test('keeps the rows of a repository whose tag list fails and syncs the others', async () => {
    const { registry, store, sync } = setup()
    await sync()
    registry.fail('listTags', 'server-error', 'ns/app')
    registry.untag('ns/app', '1.1')
    const tool = pushImage(registry, 'ns/tool', 'latest', { layers: ['new tool'] })

    const result = await sync()

    expect(result).toEqual(
      summary({
        repositories: 1,
        repositoriesFailed: 1,
        tags: 1,
        changed: 1,
        errorCount: 1,
        errors: [{ repository: 'ns/app', message: 'internal error' }],
      }),
    )
    expect(store.getRepositoryEntry('ns/app', '1.1')).not.toBeNull()
    expect(store.getRepositoryEntry('ns/tool', 'latest')?.digest).toBe(tool.digest)
  })

  test('keeps the row of a tag whose HEAD fails', async () => {
    const { registry, store, images, sync } = setup()
    await sync()
    pushImage(registry, 'ns/app', '1.0', { layers: ['changed'] })
    registry.fail('headManifest', 'timeout', '1.0')

    const result = await sync()

    expect(result).toEqual(
      summary({
        repositoriesFailed: 1,
        errorCount: 1,
        errors: [{ repository: 'ns/app', tag: '1.0', message: 'timed out' }],
      }),
    )
    expect(store.getRepositoryEntry('ns/app', '1.0')?.digest).toBe(images.app10.digest)
  })

  test('skips the remaining repositories once the registry stops answering', async () => {
    const { registry, store, sync } = setup()
    await sync()
    const before = tagsOf(store)
    registry.fail('listTags', 'refused')

    const result = await runSync(
      { store, client: registry, log, now: () => START },
      { repositoryConcurrency: 1 },
    )

    expect(result).toEqual(
      summary({
        repositories: 0,
        repositoriesFailed: 2,
        tags: 0,
        errorCount: 2,
        errors: [
          { repository: 'ns/app', message: 'connection refused' },
          {
            repository: null,
            message: '1 repositories were not read: the registry could not be reached',
          },
        ],
      }),
    )
    expect(tagsOf(store)).toEqual(before)
  })

  test('removes the rows of a listed repository whose tags were all deleted', async () => {
    const { registry, store, images, sync } = setup()
    await sync()
    registry.deleteManifest('ns/tool', images.tool.digest)
    registry.putManifest('ns/tool', { schemaVersion: 2, note: 'keeps the repository listed' })

    const result = await sync()

    expect(result).toEqual(summary({ tags: 2, removed: 1 }))
    expect(store.listRepositoryNames()).toEqual(['ns/app'])
  })

  test('removes the row of a tag whose HEAD answers 404 after the listing', async () => {
    const { registry, store, sync } = setup()
    await sync()
    const listTags = registry.listTags.bind(registry)
    registry.listTags = async (repository) => {
      const tags = await listTags(repository)
      registry.untag('ns/app', '1.1')
      return tags
    }

    const result = await sync()

    expect(result).toEqual(summary({ removed: 1 }))
    expect(store.getRepositoryEntry('ns/app', '1.1')).toBeNull()
  })

  test('writes nothing in a dry run but reports what it would do', async () => {
    const { registry, store, sync } = setup()
    await sync()
    registry.untag('ns/app', '1.1')
    pushImage(registry, 'ns/app', '2.0')
    const before = tagsOf(store)

    const result = await runSync(
      { store, client: registry, log, now: () => START },
      { dryRun: true },
    )

    expect(result).toEqual(summary({ added: 1, removed: 1, dryRun: true }))
    expect(tagsOf(store)).toEqual(before)
  })

  test('reports a manifest it cannot read and records the other tags', async () => {
    const { registry, store, sync } = setup()
    pushIndex(registry, 'ns/app', 'broken', [
      { digest: `sha256:${'d'.repeat(64)}`, size: 300, architecture: 'amd64' },
    ])

    const result = await sync()

    expect(result).toEqual(
      summary({
        repositoriesFailed: 1,
        tags: 4,
        added: 3,
        errorCount: 1,
        errors: [
          {
            repository: 'ns/app',
            tag: 'broken',
            message: `the index names sha256:${'d'.repeat(64)}, which the registry does not have`,
          },
        ],
      }),
    )
    expect(store.listRepositoryEntries('ns/app').map((row) => row.tag)).toEqual(['1.0', '1.1'])
  })
})
