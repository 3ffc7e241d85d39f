import { afterEach, beforeEach, describe, expect, test } from 'bun:test'
import { Database } from 'bun:sqlite'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

import type {
  CatalogQuery,
  ListResult,
  NewRepositoryEntry,
  RepositoryEntry,
  RepositorySummary,
  Store,
} from '../store.ts'
import { openEmbedStore } from './open-embed-store.ts'
import { errorOf, fastHash, invalid, openTestStore, recordingLog } from './test-store.ts'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'

/** An image tag whose config and layers are `blobs`; its size is their sum. */
function image(
  repositoryName: string,
  tag: string,
  digest: string,
  blobs: { digest: string; size: number }[],
  more: Partial<NewRepositoryEntry> = {},
): NewRepositoryEntry {
  return {
    repositoryName,
    tag,
    digest,
    mediaType: OCI_MANIFEST,
    configDigest: blobs[0]?.digest ?? null,
    size: blobs.reduce((sum, blob) => sum + blob.size, 0),
    platforms: [],
    blobs,
    createdAt: 1_690_000_000,
    pushedAt: 1_700_000_000,
    raw: `{"digest":"${digest}"}`,
    ...more,
  }
}

/** The stored form of `entry` with its id and pull count. */
function stored(entry: NewRepositoryEntry, id: number, pullCount = 0): RepositoryEntry {
  return { ...entry, id, pullCount }
}

function listsOf(
  entry: RepositoryEntry | null,
): Pick<RepositoryEntry, 'platforms' | 'blobs'> | null {
  return entry === null ? null : { platforms: entry.platforms, blobs: entry.blobs }
}

function tagsOf(store: Store, repositoryName: string): string[] {
  return store.listRepositoryEntries(repositoryName).map((entry) => entry.tag)
}

describe('upsertRepositoryEntry', () => {
  test('adds a new tag with no pulls', async () => {
    using store = await openTestStore()
    const entry = image('ns/app', 'v1', 'sha256:m1', [{ digest: 'sha256:c1', size: 10 }])

    expect(store.upsertRepositoryEntry(entry)).toBe('added')
    expect(store.getRepositoryEntry('ns/app', 'v1')).toEqual(stored(entry, 1))
  })

  test('a re-push with a new digest replaces the content and keeps the id and pull count', async () => {
    using store = await openTestStore()
    store.upsertRepositoryEntry(
      image('ns/app', 'v1', 'sha256:m1', [{ digest: 'sha256:c1', size: 10 }]),
    )
    store.addPulls('ns/app', { tag: 'v1' }, 4)
    const repushed: NewRepositoryEntry = {
      repositoryName: 'ns/app',
      tag: 'v1',
      digest: 'sha256:index',
      mediaType: OCI_INDEX,
      configDigest: null,
      size: 300,
      platforms: [
        { os: 'linux', architecture: 'amd64', digest: 'sha256:amd', size: 100 },
        { os: 'linux', architecture: 'arm64', variant: 'v8', digest: 'sha256:arm', size: 200 },
      ],
      blobs: [
        { digest: 'sha256:c-amd', size: 40 },
        { digest: 'sha256:l-amd', size: 60 },
        { digest: 'sha256:c-arm', size: 50 },
        { digest: 'sha256:l-arm', size: 150 },
      ],
      createdAt: null,
      pushedAt: 1_700_000_500,
      raw: '{"manifests":[]}',
    }

    expect(store.upsertRepositoryEntry(repushed)).toBe('changed')
    expect(store.getRepositoryEntry('ns/app', 'v1')).toEqual(stored(repushed, 1, 4))
  })

  test('the same digest and content is unchanged and keeps the first push time', async () => {
    using store = await openTestStore()
    const first = image('ns/app', 'v1', 'sha256:m1', [{ digest: 'sha256:c1', size: 10 }])
    store.upsertRepositoryEntry(first)

    const again = { ...first, pushedAt: first.pushedAt + 3600, raw: '{"seen":"again"}' }

    expect(store.upsertRepositoryEntry(again)).toBe('unchanged')
    expect(store.getRepositoryEntry('ns/app', 'v1')).toEqual(stored(first, 1))
  })

  test.each<[string, Partial<NewRepositoryEntry>]>([
    ['the digest', { digest: 'sha256:m2' }],
    ['the media type', { mediaType: 'application/vnd.docker.distribution.manifest.v2+json' }],
    ['the config digest', { configDigest: 'sha256:c2' }],
    ['the size', { size: 11 }],
    [
      'the platforms',
      { platforms: [{ os: 'linux', architecture: 'amd64', digest: 'sha256:p', size: 1 }] },
    ],
    [
      'the blobs',
      {
        blobs: [
          { digest: 'sha256:c1', size: 10 },
          { digest: 'sha256:l', size: 1 },
        ],
      },
    ],
    ['a creation time', { createdAt: 1_690_000_001 }],
  ])('a change of %s is a change, with the new push time', async (_, change) => {
    using store = await openTestStore()
    const first = image('ns/app', 'v1', 'sha256:m1', [{ digest: 'sha256:c1', size: 10 }])
    store.upsertRepositoryEntry(first)
    const next = { ...first, ...change, pushedAt: first.pushedAt + 60 }

    expect(store.upsertRepositoryEntry(next)).toBe('changed')
    expect(store.getRepositoryEntry('ns/app', 'v1')).toEqual(stored(next, 1))
  })

  test('an unknown creation time keeps the known one while the digest stays the same', async () => {
    using store = await openTestStore()
    const first = image('ns/app', 'v1', 'sha256:m1', [{ digest: 'sha256:c1', size: 10 }])
    store.upsertRepositoryEntry(first)

    expect(store.upsertRepositoryEntry({ ...first, createdAt: null })).toBe('unchanged')
    expect(store.getRepositoryEntry('ns/app', 'v1')?.createdAt).toBe(first.createdAt)
    expect(store.upsertRepositoryEntry({ ...first, size: 12, createdAt: null })).toBe('changed')
    expect(store.getRepositoryEntry('ns/app', 'v1')?.createdAt).toBe(first.createdAt)
    expect(store.upsertRepositoryEntry({ ...first, digest: 'sha256:m2', createdAt: null })).toBe(
      'changed',
    )
    expect(store.getRepositoryEntry('ns/app', 'v1')?.createdAt).toBeNull()
  })

  test('stores platforms and blobs in one canonical form', async () => {
    using store = await openTestStore()
    const platform = { size: 5, digest: 'sha256:p', architecture: 'arm', os: 'linux', extra: 1 }
    const blob = { size: 5, digest: 'sha256:b', mediaType: 'layer' }
    const entry = image('ns/app', 'v1', 'sha256:m1', [], {
      platforms: [platform] as NewRepositoryEntry['platforms'],
      blobs: [blob] as NewRepositoryEntry['blobs'],
    })

    store.upsertRepositoryEntry(entry)

    expect(store.getRepositoryEntry('ns/app', 'v1')).toEqual({
      ...stored(entry, 1),
      platforms: [{ os: 'linux', architecture: 'arm', digest: 'sha256:p', size: 5 }],
      blobs: [{ digest: 'sha256:b', size: 5 }],
    })
  })

  test.each<[string, Partial<NewRepositoryEntry>, string]>([
    [
      'an empty name',
      { repositoryName: '' },
      'a repository entry needs a non-empty repositoryName',
    ],
    ['an empty tag', { tag: '' }, 'a repository entry needs a non-empty tag'],
    ['an empty digest', { digest: '' }, 'a repository entry needs a non-empty digest'],
    [
      'an empty config digest',
      { configDigest: '' },
      'a repository entry needs a non-empty configDigest',
    ],
    [
      'a negative size',
      { size: -1 },
      'the size of a repository entry must be a non-negative integer',
    ],
    [
      'a fractional push time',
      { pushedAt: 1.5 },
      'the pushedAt of a repository entry must be an integer',
    ],
    [
      'platforms that are not a list',
      { platforms: {} as never },
      'the platforms of a repository entry must be a list',
    ],
    [
      'a blob without a size',
      { blobs: [{ digest: 'sha256:b' }] as never },
      'a blob needs a text digest and a non-negative integer size',
    ],
    [
      'a platform without an os',
      { platforms: [{ architecture: 'amd64', digest: 'sha256:p', size: 1 }] as never },
      'a platform needs text os, architecture and digest, a non-negative integer size and an optional text variant',
    ],
  ])('rejects %s', async (_, change, message) => {
    using store = await openTestStore()
    const entry = {
      ...image('ns/app', 'v1', 'sha256:m1', [{ digest: 'sha256:c1', size: 1 }]),
      ...change,
    }

    expect(errorOf(() => store.upsertRepositoryEntry(entry))).toEqual(invalid(message))
    expect(store.listRepositoryNames()).toEqual([])
  })
})

describe('reading the mirror', () => {
  test('getRepositoryEntry returns null for a missing tag', async () => {
    using store = await openTestStore()

    expect(store.getRepositoryEntry('ns/app', 'v1')).toBeNull()
  })

  test('listRepositoryEntries returns the tags of one repository by tag', async () => {
    using store = await openTestStore()
    const b = image('ns/app', 'b', 'sha256:m1', [])
    const a = image('ns/app', 'a', 'sha256:m2', [])
    store.upsertRepositoryEntry(b)
    store.upsertRepositoryEntry(image('ns/other', 'a', 'sha256:m3', []))
    store.upsertRepositoryEntry(a)

    expect(store.listRepositoryEntries('ns/app')).toEqual([stored(a, 3), stored(b, 1)])
    expect(store.listRepositoryEntries('ns/none')).toEqual([])
  })

  test('listRepositoryNames lists each repository once, sorted', async () => {
    using store = await openTestStore()
    for (const [name, tag] of [
      ['zeta', 'v1'],
      ['alpha', 'v1'],
      ['zeta', 'v2'],
      ['mid/x', 'v1'],
    ]) {
      store.upsertRepositoryEntry(image(name ?? '', tag ?? '', 'sha256:m', []))
    }

    expect(store.listRepositoryNames()).toEqual(['alpha', 'mid/x', 'zeta'])
  })
})

describe('deleting from the mirror', () => {
  async function seeded(): Promise<Store> {
    const store = await openTestStore()
    store.upsertRepositoryEntry(image('ns/app', 'latest', 'sha256:d1', []))
    store.upsertRepositoryEntry(image('ns/app', 'v1', 'sha256:d1', []))
    store.upsertRepositoryEntry(image('ns/app', 'v2', 'sha256:d2', []))
    store.upsertRepositoryEntry(image('ns/copy', 'v1', 'sha256:d1', []))

    return store
  }

  test('deleteRepositoryDigest removes every tag of that digest, only in that repository', async () => {
    using store = await seeded()

    expect(store.deleteRepositoryDigest('ns/app', 'sha256:d1')).toEqual(['latest', 'v1'])
    expect(tagsOf(store, 'ns/app')).toEqual(['v2'])
    expect(tagsOf(store, 'ns/copy')).toEqual(['v1'])
  })

  test('deleteRepositoryDigest of an unknown digest removes nothing', async () => {
    using store = await seeded()

    expect(store.deleteRepositoryDigest('ns/app', 'sha256:none')).toEqual([])
    expect(tagsOf(store, 'ns/app')).toEqual(['latest', 'v1', 'v2'])
  })

  test('deleteRepositoryTags removes the named tags that exist', async () => {
    using store = await seeded()

    expect(store.deleteRepositoryTags('ns/app', ['v1', 'v2', 'missing'])).toBe(2)
    expect(store.deleteRepositoryTags('ns/app', [])).toBe(0)
    expect(tagsOf(store, 'ns/app')).toEqual(['latest'])
    expect(tagsOf(store, 'ns/copy')).toEqual(['v1'])
  })

  test('deleteRepositoryTags rejects tags that are not strings', async () => {
    using store = await seeded()

    expect(errorOf(() => store.deleteRepositoryTags('ns/app', [1] as never))).toEqual(
      invalid('tags must be a list of strings'),
    )
  })

  test('deleteRepository removes every tag of one repository', async () => {
    using store = await seeded()

    expect(store.deleteRepository('ns/app')).toBe(3)
    expect(store.deleteRepository('ns/app')).toBe(0)
    expect(store.listRepositoryNames()).toEqual(['ns/copy'])
  })
})

describe('addPulls', () => {
  async function seeded(): Promise<Store> {
    const store = await openTestStore()
    store.upsertRepositoryEntry(image('ns/app', 'latest', 'sha256:d1', []))
    store.upsertRepositoryEntry(image('ns/app', 'v1', 'sha256:d1', []))
    store.upsertRepositoryEntry(image('ns/app', 'v2', 'sha256:d2', []))
    store.upsertRepositoryEntry(image('ns/copy', 'v1', 'sha256:d1', []))

    return store
  }

  function pulls(store: Store): Record<string, number> {
    const { items } = store.listCatalogTags({})

    return Object.fromEntries(items.map((e) => [`${e.repositoryName}:${e.tag}`, e.pullCount]))
  }

  test('counts pulls of one tag', async () => {
    using store = await seeded()

    store.addPulls('ns/app', { tag: 'v1' }, 2)
    store.addPulls('ns/app', { tag: 'v1' }, 1)
    store.addPulls('ns/app', { tag: 'missing' }, 5)

    expect(pulls(store)).toEqual({
      'ns/app:latest': 0,
      'ns/app:v1': 3,
      'ns/app:v2': 0,
      'ns/copy:v1': 0,
    })
  })

  test('counts a pull by digest for every tag of that digest in that repository', async () => {
    using store = await seeded()

    store.addPulls('ns/app', { digest: 'sha256:d1' }, 3)

    expect(pulls(store)).toEqual({
      'ns/app:latest': 3,
      'ns/app:v1': 3,
      'ns/app:v2': 0,
      'ns/copy:v1': 0,
    })
  })

  test.each([-1, 1.5, Number.NaN])('rejects the count %p', async (count) => {
    using store = await seeded()

    expect(errorOf(() => store.addPulls('ns/app', { tag: 'v1' }, count))).toEqual(
      invalid('a pull count must be a non-negative integer'),
    )
  })

  test('rejects a target with neither tag nor digest', async () => {
    using store = await seeded()

    expect(errorOf(() => store.addPulls('ns/app', {} as never, 1))).toEqual(
      invalid('pulls are counted by tag or by digest'),
    )
  })
})

/**
 * ns/app: v1 and v2 share the base layer; ns/tool: one legacy-style tag without blobs;
 * team_x/db: one tag whose layer is also the base of ns/app.
 */
function seedCatalog(store: Store): void {
  const base = { digest: 'sha256:base', size: 1000 }
  store.upsertRepositoryEntry(
    image(
      'ns/app',
      'v1',
      'sha256:app1',
      [{ digest: 'sha256:c1', size: 1 }, base, { digest: 'sha256:l1', size: 10 }],
      {
        pushedAt: 100,
        createdAt: 50,
      },
    ),
  )
  store.upsertRepositoryEntry(
    image(
      'ns/app',
      'v2',
      'sha256:app2',
      [{ digest: 'sha256:c2', size: 2 }, base, { digest: 'sha256:l2', size: 20 }],
      {
        pushedAt: 300,
        createdAt: null,
      },
    ),
  )
  store.upsertRepositoryEntry(
    image('ns/tool', '1.0', 'sha256:tool', [], {
      size: 77,
      configDigest: 'sha256:ct',
      pushedAt: 200,
      mediaType: '',
    }),
  )
  store.upsertRepositoryEntry(
    image('team_x/db', 'latest', 'sha256:db', [{ digest: 'sha256:c3', size: 3 }, base], {
      pushedAt: 150,
      createdAt: 60,
    }),
  )
  store.addPulls('ns/app', { tag: 'v1' }, 5)
  store.addPulls('ns/app', { tag: 'v2' }, 1)
  store.addPulls('team_x/db', { tag: 'latest' }, 2)
}

describe('listCatalogTags', () => {
  async function listTags(query: CatalogQuery): Promise<{ total: number; tags: string[] }> {
    using store = await openTestStore()
    seedCatalog(store)
    const { total, items } = store.listCatalogTags(query)

    return { total, tags: items.map((e) => `${e.repositoryName}:${e.tag}`) }
  }

  const all = ['ns/app:v1', 'ns/app:v2', 'ns/tool:1.0', 'team_x/db:latest']

  test.each<[string, CatalogQuery, { total: number; tags: string[] }]>([
    ['every tag by id', {}, { total: 4, tags: all }],
    ['q over repository names', { q: 'NS/' }, { total: 3, tags: all.slice(0, 3) }],
    ['q over tags', { q: 'latest' }, { total: 1, tags: ['team_x/db:latest'] }],
    ['q matching either', { q: '1' }, { total: 2, tags: ['ns/app:v1', 'ns/tool:1.0'] }],
    ['q with _ matched literally', { q: 'm_x' }, { total: 1, tags: ['team_x/db:latest'] }],
    [
      'q with a range keeps the full total',
      { q: 'ns', range: { start: 1, end: 1 } },
      { total: 3, tags: ['ns/app:v2'] },
    ],
    [
      'filter repository_name',
      { filters: { repository_name: 'ns/app' } },
      { total: 2, tags: all.slice(0, 2) },
    ],
    ['filter tag', { filters: { tag: 'v2' } }, { total: 1, tags: ['ns/app:v2'] }],
    [
      'filter digest',
      { filters: { digest: 'sha256:db' } },
      { total: 1, tags: ['team_x/db:latest'] },
    ],
    [
      'filter config_digest',
      { filters: { config_digest: 'sha256:ct' } },
      { total: 1, tags: ['ns/tool:1.0'] },
    ],
    [
      'filter media_type empty',
      { filters: { media_type: '' } },
      { total: 1, tags: ['ns/tool:1.0'] },
    ],
    ['filter size as text', { filters: { size: '77' } }, { total: 1, tags: ['ns/tool:1.0'] }],
    ['filter pull_counter', { filters: { pull_counter: 0 } }, { total: 1, tags: ['ns/tool:1.0'] }],
    [
      'filter created_at',
      { filters: { created_at: 60 } },
      { total: 1, tags: ['team_x/db:latest'] },
    ],
    ['ids', { ids: [4, 1, 99] }, { total: 2, tags: ['ns/app:v1', 'team_x/db:latest'] }],
    [
      'sort by size descending',
      { sort: { field: 'size', order: 'DESC' } },
      { total: 4, tags: ['ns/app:v2', 'ns/app:v1', 'team_x/db:latest', 'ns/tool:1.0'] },
    ],
    [
      'sort by timestamp with a range',
      { sort: { field: 'timestamp', order: 'DESC' }, range: { start: 0, end: 1 } },
      { total: 4, tags: ['ns/app:v2', 'ns/tool:1.0'] },
    ],
    [
      'sort by pull_counter',
      { sort: { field: 'pull_counter', order: 'ASC' } },
      { total: 4, tags: ['ns/tool:1.0', 'ns/app:v2', 'team_x/db:latest', 'ns/app:v1'] },
    ],
    [
      'sort by created_at, unknown first',
      { sort: { field: 'created_at', order: 'ASC' } },
      { total: 4, tags: ['ns/app:v2', 'ns/app:v1', 'team_x/db:latest', 'ns/tool:1.0'] },
    ],
    [
      'sort by tag',
      { sort: { field: 'tag', order: 'ASC' } },
      { total: 4, tags: ['ns/tool:1.0', 'team_x/db:latest', 'ns/app:v1', 'ns/app:v2'] },
    ],
    [
      'sort by media_type, then id',
      { sort: { field: 'media_type', order: 'DESC' } },
      { total: 4, tags: ['ns/app:v1', 'ns/app:v2', 'team_x/db:latest', 'ns/tool:1.0'] },
    ],
    ['range past the end', { range: { start: 10, end: 19 } }, { total: 4, tags: [] }],
    [
      'repositoryNames',
      { repositoryNames: ['team_x/db', 'ns/tool', 'ns/none'] },
      { total: 2, tags: ['ns/tool:1.0', 'team_x/db:latest'] },
    ],
    [
      'repositoryNames with q and a filter',
      { repositoryNames: ['ns/app', 'ns/tool'], q: 'v', filters: { pull_counter: 1 } },
      { total: 1, tags: ['ns/app:v2'] },
    ],
    ['no repositoryNames', { repositoryNames: [] }, { total: 0, tags: [] }],
    ['no repositoryNames, with q', { repositoryNames: [], q: 'ns' }, { total: 0, tags: [] }],
  ])('%s', async (_, query, expected) => {
    expect(await listTags(query)).toEqual(expected)
  })

  test('a long repositoryNames list is one parameter', async () => {
    const names = Array.from({ length: 3000 }, (_, n) => `ns/repo-${n}`)
    names[1234] = 'ns/app'
    names[2999] = 'team_x/db'

    expect(
      await listTags({ repositoryNames: names, sort: { field: 'tag', order: 'DESC' } }),
    ).toEqual({
      total: 3,
      tags: ['ns/app:v2', 'ns/app:v1', 'team_x/db:latest'],
    })
  })

  test('returns whole entries', async () => {
    using store = await openTestStore()
    seedCatalog(store)

    expect(store.listCatalogTags({ filters: { tag: 'latest' } }).items).toEqual([
      {
        id: 4,
        repositoryName: 'team_x/db',
        tag: 'latest',
        digest: 'sha256:db',
        mediaType: OCI_MANIFEST,
        configDigest: 'sha256:c3',
        size: 1003,
        platforms: [],
        blobs: [
          { digest: 'sha256:c3', size: 3 },
          { digest: 'sha256:base', size: 1000 },
        ],
        createdAt: 60,
        pushedAt: 150,
        pullCount: 2,
        raw: '{"digest":"sha256:db"}',
      },
    ])
  })

  const TAG_FIELDS =
    'id, repository_name, tag, digest, config_digest, media_type, size, pull_counter, timestamp, created_at'

  test.each<[string, CatalogQuery, string]>([
    [
      'an unknown sort field',
      { sort: { field: 'raw', order: 'ASC' } },
      `unknown sort field 'raw' for repository tags; allowed: ${TAG_FIELDS}`,
    ],
    [
      'a grouped-only sort field',
      { sort: { field: 'tag_count', order: 'ASC' } },
      `unknown sort field 'tag_count' for repository tags; allowed: ${TAG_FIELDS}`,
    ],
    [
      'an unknown filter field',
      { filters: { blobs: '[]' } },
      `unknown filter field 'blobs' for repository tags; allowed: ${TAG_FIELDS}`,
    ],
    [
      'text for an integer filter',
      { filters: { size: 'big' } },
      "filter 'size' must be an integer",
    ],
    [
      'repositoryNames that are not a list',
      { repositoryNames: 'ns/app' as never },
      'repositoryNames must be a list of strings',
    ],
    [
      'repositoryNames with a number',
      { repositoryNames: ['ns/app', 7] as never },
      'repositoryNames must be a list of strings',
    ],
  ])('rejects %s', async (_, query, message) => {
    using store = await openTestStore()

    expect(errorOf(() => store.listCatalogTags(query))).toEqual(invalid(message))
  })
})

describe('listCatalogRepositories', () => {
  const app = {
    id: 1,
    repositoryName: 'ns/app',
    tagCount: 2,
    size: 1033,
    pullCount: 6,
    pushedAt: 300,
  }
  const tool = {
    id: 3,
    repositoryName: 'ns/tool',
    tagCount: 1,
    size: 77,
    pullCount: 0,
    pushedAt: 200,
  }
  const db = {
    id: 4,
    repositoryName: 'team_x/db',
    tagCount: 1,
    size: 1003,
    pullCount: 2,
    pushedAt: 150,
  }

  async function listRepositories(query: CatalogQuery) {
    using store = await openTestStore()
    seedCatalog(store)

    return store.listCatalogRepositories(query)
  }

  test.each<[string, CatalogQuery, ListResult<RepositorySummary>]>([
    [
      'one row per repository, a shared layer counted once',
      {},
      { total: 3, items: [app, tool, db] },
    ],
    ['q over repository names', { q: 'team' }, { total: 1, items: [db] }],
    ['q over tags keeps the whole summary', { q: 'v2' }, { total: 1, items: [app] }],
    ['q over tags of several repositories', { q: '1' }, { total: 2, items: [app, tool] }],
    [
      'q with a range keeps the full total',
      { q: 'ns', range: { start: 1, end: 5 } },
      { total: 2, items: [tool] },
    ],
    [
      'filter repository_name',
      { filters: { repository_name: 'ns/tool' } },
      { total: 1, items: [tool] },
    ],
    ['filter tag_count', { filters: { tag_count: 2 } }, { total: 1, items: [app] }],
    ['filter size', { filters: { size: 1003 } }, { total: 1, items: [db] }],
    [
      'filter size with a range',
      { filters: { size: 77 }, range: { start: 0, end: 0 } },
      { total: 1, items: [tool] },
    ],
    ['filter pull_counter', { filters: { pull_counter: '6' } }, { total: 1, items: [app] }],
    ['filter timestamp', { filters: { timestamp: 200 } }, { total: 1, items: [tool] }],
    ['ids are the first tag ids', { ids: [3, 4, 2] }, { total: 2, items: [tool, db] }],
    [
      'sort by size',
      { sort: { field: 'size', order: 'DESC' } },
      { total: 3, items: [app, db, tool] },
    ],
    [
      'sort by size with a range',
      { sort: { field: 'size', order: 'ASC' }, range: { start: 1, end: 2 } },
      { total: 3, items: [db, app] },
    ],
    [
      'sort by tag_count, then id',
      { sort: { field: 'tag_count', order: 'DESC' } },
      { total: 3, items: [app, tool, db] },
    ],
    [
      'sort by pull_counter',
      { sort: { field: 'pull_counter', order: 'ASC' } },
      { total: 3, items: [tool, db, app] },
    ],
    [
      'sort by timestamp',
      { sort: { field: 'timestamp', order: 'DESC' } },
      { total: 3, items: [app, tool, db] },
    ],
    [
      'sort by repository_name with a range',
      { sort: { field: 'repository_name', order: 'DESC' }, range: { start: 0, end: 1 } },
      { total: 3, items: [db, tool] },
    ],
    ['sort by id', { sort: { field: 'id', order: 'DESC' } }, { total: 3, items: [db, tool, app] }],
    ['range past the end', { range: { start: 3, end: 9 } }, { total: 3, items: [] }],
    [
      'repositoryNames',
      { repositoryNames: ['team_x/db', 'ns/app'] },
      { total: 2, items: [app, db] },
    ],
    [
      'repositoryNames with q and a size sort',
      { repositoryNames: ['team_x/db', 'ns/tool'], q: 'ns', sort: { field: 'size', order: 'ASC' } },
      { total: 1, items: [tool] },
    ],
    ['no repositoryNames', { repositoryNames: [] }, { total: 0, items: [] }],
    [
      'no repositoryNames, by size',
      { repositoryNames: [], sort: { field: 'size', order: 'ASC' } },
      { total: 0, items: [] },
    ],
  ])('%s', async (_, query, expected) => {
    expect(await listRepositories(query)).toEqual(expected)
  })

  test('a long repositoryNames list is one parameter', async () => {
    const names = Array.from({ length: 3000 }, (_, n) => `ns/repo-${n}`)
    names[10] = 'team_x/db'
    names[2500] = 'ns/tool'

    expect(
      await listRepositories({ repositoryNames: names, sort: { field: 'size', order: 'DESC' } }),
    ).toEqual({ total: 2, items: [db, tool] })
  })

  test('two legacy tags of one manifest count its size once', async () => {
    using store = await openTestStore()
    const legacy = { size: 500, blobs: [], mediaType: '' }
    store.upsertRepositoryEntry(image('old', 'latest', 'sha256:m', [], legacy))
    store.upsertRepositoryEntry(image('old', '1.0', 'sha256:m', [], legacy))
    store.upsertRepositoryEntry(image('old', '0.9', 'sha256:m0', [], { ...legacy, size: 40 }))

    expect(store.listCatalogRepositories({ range: { start: 0, end: 9 } }).items).toEqual([
      {
        id: 1,
        repositoryName: 'old',
        tagCount: 3,
        size: 540,
        pullCount: 0,
        pushedAt: 1_700_000_000,
      },
    ])
  })

  const REPOSITORY_FIELDS = 'id, repository_name, tag_count, size, pull_counter, timestamp'

  test.each<[string, CatalogQuery, string]>([
    [
      'a tag-only sort field',
      { sort: { field: 'tag', order: 'ASC' } },
      `unknown sort field 'tag' for repositories; allowed: ${REPOSITORY_FIELDS}`,
    ],
    [
      'SQL as a sort field',
      { sort: { field: 'size; DROP TABLE repositories', order: 'ASC' } },
      `unknown sort field 'size; DROP TABLE repositories' for repositories; allowed: ${REPOSITORY_FIELDS}`,
    ],
    [
      'an unknown filter field',
      { filters: { digest: 'sha256:m' } },
      `unknown filter field 'digest' for repositories; allowed: ${REPOSITORY_FIELDS}`,
    ],
    [
      'a bad sort order',
      { sort: { field: 'size', order: 'UP' as 'ASC' } },
      "sort order must be ASC or DESC, not 'UP'",
    ],
    [
      'repositoryNames that are not a list',
      { repositoryNames: {} as never },
      'repositoryNames must be a list of strings',
    ],
  ])('rejects %s', async (_, query, message) => {
    using store = await openTestStore()
    seedCatalog(store)

    expect(errorOf(() => store.listCatalogRepositories(query))).toEqual(invalid(message))
  })
})

describe('repository sizes stay right after every kind of write', () => {
  const bySize: CatalogQuery = { sort: { field: 'size', order: 'DESC' } }

  function sizes(store: Store, query: CatalogQuery = bySize): Record<string, number> {
    return Object.fromEntries(
      store.listCatalogRepositories(query).items.map((item) => [item.repositoryName, item.size]),
    )
  }

  test('upserts and deletes through the store', async () => {
    using store = await openTestStore()
    seedCatalog(store)
    expect(sizes(store)).toEqual({ 'ns/app': 1033, 'team_x/db': 1003, 'ns/tool': 77 })

    store.upsertRepositoryEntry(
      image('ns/tool', '2.0', 'sha256:t2', [{ digest: 'sha256:big', size: 5000 }]),
    )
    expect(sizes(store)).toEqual({ 'ns/tool': 5077, 'ns/app': 1033, 'team_x/db': 1003 })

    store.upsertRepositoryEntry(
      image('ns/tool', '2.0', 'sha256:t3', [{ digest: 'sha256:small', size: 5 }]),
    )
    expect(sizes(store)).toEqual({ 'ns/app': 1033, 'team_x/db': 1003, 'ns/tool': 82 })

    store.deleteRepositoryTags('ns/app', ['v2'])
    expect(sizes(store)).toEqual({ 'ns/app': 1011, 'team_x/db': 1003, 'ns/tool': 82 })

    store.deleteRepositoryDigest('ns/tool', 'sha256:tool')
    expect(sizes(store)).toEqual({ 'ns/app': 1011, 'team_x/db': 1003, 'ns/tool': 5 })

    store.deleteRepository('team_x/db')
    expect(sizes(store)).toEqual({ 'ns/app': 1011, 'ns/tool': 5 })
    expect(sizes(store, { filters: { size: 5 } })).toEqual({ 'ns/tool': 5 })
  })

  describe('with another connection on the same file', () => {
    let dir = ''

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'mirror-'))
    })

    afterEach(() => {
      rmSync(dir, { recursive: true, force: true })
    })

    async function openFileStore(): Promise<{ store: Store; other: Database }> {
      const path = join(dir, 'data.db')
      const { store } = await openEmbedStore({
        path,
        adminPassword: 'admin-password',
        log: recordingLog(),
        hashPassword: fastHash,
      })

      return { store, other: new Database(path, { strict: true }) }
    }

    test('sees the other connection writes', async () => {
      const { store, other } = await openFileStore()
      using _store = store
      using _other = other
      seedCatalog(store)
      expect(sizes(store)).toEqual({ 'ns/app': 1033, 'team_x/db': 1003, 'ns/tool': 77 })

      other.run("UPDATE repositories SET size = 9999 WHERE repository_name = 'ns/tool'")

      expect(sizes(store)).toEqual({ 'ns/tool': 9999, 'ns/app': 1033, 'team_x/db': 1003 })
    })

    test('reads blobs and platforms that are not JSON lists as empty', async () => {
      const { store, other } = await openFileStore()
      using _store = store
      using _other = other
      seedCatalog(store)

      other.run(
        `UPDATE repositories SET blobs = 'not json', platforms = '{"os":"linux"}'
         WHERE repository_name = 'team_x/db'`,
      )
      other.run(
        `UPDATE repositories
         SET blobs = '[{"digest":"sha256:c1","size":1}, 5, "text", {"digest":2}]',
             platforms = '[{"os":"linux","architecture":"amd64","digest":"sha256:p","size":1}, null]'
         WHERE tag = 'v1'`,
      )

      expect(listsOf(store.getRepositoryEntry('team_x/db', 'latest'))).toEqual({
        platforms: [],
        blobs: [],
      })
      expect(listsOf(store.getRepositoryEntry('ns/app', 'v1'))).toEqual({
        platforms: [{ os: 'linux', architecture: 'amd64', digest: 'sha256:p', size: 1 }],
        blobs: [{ digest: 'sha256:c1', size: 1 }],
      })
      expect(sizes(store)).toEqual({ 'ns/app': 1023, 'team_x/db': 1003, 'ns/tool': 77 })
      expect(sizes(store, { range: { start: 0, end: 9 } })).toEqual({
        'ns/app': 1023,
        'ns/tool': 77,
        'team_x/db': 1003,
      })
    })
  })
})
