import { describe, expect, test } from 'bun:test'

import { classifyEvent, eventIdOf, parseEnvelope, type RegistryEvent } from './events.ts'

const DIGEST = `sha256:${'a'.repeat(64)}`
const NOW = 1_800_000_000
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const BLOB = 'application/octet-stream'

const rules = { ownActors: new Set(['$registry-admin']), countPulls: true, nowSeconds: NOW }

/** An event shaped like registry 2.8's, with the given target and request fields. */
const event = (
  action: string,
  target: Record<string, unknown>,
  extra: { method?: string; actor?: string; timestamp?: string } = {},
): RegistryEvent => ({
  id: crypto.randomUUID(),
  timestamp: extra.timestamp ?? '2026-12-03T19:55:30.038447107Z',
  action,
  target: { repository: 'ns/app', ...target },
  request: { method: extra.method ?? 'GET' },
  actor: { name: extra.actor ?? 'alice' },
})

describe('classifyEvent', () => {
  test.each([
    [
      'a manifest push by tag re-reads the tag at the event time',
      event('push', { mediaType: MANIFEST, digest: DIGEST, tag: '1.0' }, { method: 'PUT' }),
      {
        kind: 'tag',
        repository: 'ns/app',
        tag: '1.0',
        pushedAt: 1796327730,
        claimedDigest: DIGEST,
      },
    ],
    [
      'a push dated in the future is recorded at now',
      event(
        'push',
        { mediaType: MANIFEST, digest: DIGEST, tag: '1.0' },
        { timestamp: '2999-01-01T00:00:00Z' },
      ),
      { kind: 'tag', repository: 'ns/app', tag: '1.0', pushedAt: NOW, claimedDigest: DIGEST },
    ],
    ['a blob push changes nothing', event('push', { mediaType: BLOB, digest: DIGEST }), 'blob'],
    [
      'a push by digest (an index child) lists no tag',
      event('push', { mediaType: MANIFEST, digest: DIGEST }),
      'untagged push',
    ],
    [
      'a manifest delete asks to drop the digest',
      event('delete', { digest: DIGEST }, { method: 'DELETE' }),
      { kind: 'digest-delete', repository: 'ns/app', digest: DIGEST },
    ],
    [
      'a tag delete re-reads the tag',
      event('delete', { tag: '1.1' }, { method: 'DELETE' }),
      { kind: 'tag', repository: 'ns/app', tag: '1.1', pushedAt: NOW },
    ],
    [
      'a manifest GET by tag counts for the tag',
      event('pull', { mediaType: MANIFEST, digest: DIGEST, tag: '1.0' }),
      { kind: 'pull', repository: 'ns/app', target: { tag: '1.0' } },
    ],
    [
      'a manifest GET by digest counts for the digest',
      event('pull', { mediaType: MANIFEST, digest: DIGEST }),
      { kind: 'pull', repository: 'ns/app', target: { digest: DIGEST } },
    ],
    [
      'a manifest HEAD does not count',
      event('pull', { mediaType: MANIFEST, digest: DIGEST, tag: '1.0' }, { method: 'HEAD' }),
      'head',
    ],
    ['a blob read does not count', event('pull', { mediaType: BLOB, digest: DIGEST }), 'blob'],
    [
      "the server's own read does not count",
      event(
        'pull',
        { mediaType: MANIFEST, digest: DIGEST, tag: '1.0' },
        { actor: '$registry-admin' },
      ),
      'own read',
    ],
    [
      'a mount changes nothing',
      event('mount', { mediaType: BLOB, digest: DIGEST }),
      'unused action',
    ],
    ['an unknown action changes nothing', event('frobnicate', { tag: '1.0' }), 'unused action'],
    ['an event without a target is malformed', { action: 'push' }, 'malformed'],
    [
      'a repository name with a path trick is malformed',
      event('push', { repository: '../etc', mediaType: MANIFEST, tag: '1.0' }),
      'malformed',
    ],
    [
      'a tag that is no tag is malformed',
      event('push', { mediaType: MANIFEST, tag: 'a/b' }),
      'malformed',
    ],
    ['a delete without tag or digest is malformed', event('delete', {}), 'malformed'],
  ])('%s', (_, input, expected) => {
    expect(classifyEvent(input, rules)).toEqual(expected as never)
  })

  test('does not count pulls from an untrusted delivery', () => {
    const pull = event('pull', { mediaType: MANIFEST, digest: DIGEST, tag: '1.0' })

    expect(classifyEvent(pull, { ...rules, countPulls: false })).toBe('untrusted pull')
  })

  test('still re-reads a tag pushed in an untrusted delivery', () => {
    const push = event('push', { mediaType: MANIFEST, digest: DIGEST, tag: '1.0' })

    expect(classifyEvent(push, { ...rules, countPulls: false })).toEqual(
      expect.objectContaining({ kind: 'tag' }),
    )
  })
})

describe('parseEnvelope', () => {
  test('returns every event, with odd entries as empty events', () => {
    const events = parseEnvelope('{"events":[{"id":"1","action":"push"},42,{"id":"2"}]}')

    expect(events).toEqual([{ id: '1', action: 'push' }, {}, { id: '2' }])
  })

  test.each([
    ['not json', 'the notification body is not JSON'],
    ['', 'the notification body is not JSON'],
    ['[]', 'the notification body is not an envelope {"events": [...]}'],
    ['{"events":{}}', 'the notification body is not an envelope {"events": [...]}'],
    ['null', 'the notification body is not an envelope {"events": [...]}'],
  ])('refuses %p', (text, message) => {
    expect(() => parseEnvelope(text)).toThrow(message)
  })
})

describe('eventIdOf', () => {
  test.each([
    [{ id: 'd8c1ab5f-1' }, 'd8c1ab5f-1'],
    [{ id: '' }, null],
    [{ id: 7 }, null],
    [{}, null],
  ])('reads %p as %p', (input, expected) => {
    expect(eventIdOf(input)).toBe(expected)
  })
})
