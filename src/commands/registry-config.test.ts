import { describe, expect, test } from 'bun:test'

import { parse } from 'yaml'

import { loadConfig, type Config } from '../config.ts'
import { publicBaseUrl, registryConfigYaml } from './registry-config.ts'

const configOf = (flags: string[]): Config => {
  const loaded = loadConfig(flags, { HOME: '/home/ops' })
  if (loaded.kind !== 'config') {
    throw new Error('unexpected help')
  }
  return loaded.config
}

describe('registryConfigYaml', () => {
  test('matches the realm, service, issuer, bundle and notification settings', () => {
    const config = configOf([
      '--hostname=ra.example',
      '--port=8080',
      '--registry.service=registry.example',
      '--registry.issuer=ra',
      '--registry.certs.path=/srv/certs',
      '--registry.events-secret=s3cret',
    ])

    expect(parse(registryConfigYaml(config))).toEqual({
      auth: {
        token: {
          realm: 'http://ra.example:8080/api/v1/registry/auth',
          service: 'registry.example',
          issuer: 'ra',
          rootcertbundle: '/srv/certs/registry_auth_ca.crt',
        },
      },
      notifications: {
        events: { includereferences: true },
        endpoints: [
          {
            name: 'registry-admin',
            url: 'http://ra.example:8080/api/v1/registry/events',
            headers: { Authorization: ['Bearer s3cret'] },
            timeout: '3s',
            threshold: 5,
            backoff: '2s',
            ignoredmediatypes: ['application/octet-stream'],
          },
        ],
      },
    })
  })

  test('leaves the secret out when asked, and says what is not set', () => {
    const withSecret = configOf(['--registry.service=reg', '--registry.events-secret=s3cret'])
    const bare = configOf([])

    expect(registryConfigYaml(withSecret, { revealSecret: false })).not.toContain('s3cret')
    expect(registryConfigYaml(withSecret, { revealSecret: false })).toContain(
      'Bearer <registry.events-secret>',
    )
    expect(registryConfigYaml(bare)).toContain('# registry.service is not set')
    expect(registryConfigYaml(bare)).toContain('# registry.events-secret is not set')
    expect(registryConfigYaml(withSecret)).not.toContain('is not set')
  })
})

describe('publicBaseUrl', () => {
  test.each([
    [['--port=80'], 'http://localhost'],
    [['--port=8080'], 'http://localhost:8080'],
    [['--ssl.type=static', '--ssl.cert=c', '--ssl.key=k'], 'https://localhost'],
    [
      ['--ssl.type=static', '--ssl.cert=c', '--ssl.key=k', '--ssl.port=8443'],
      'https://localhost:8443',
    ],
    [['--hostname=ra.example', '--port=8080'], 'http://ra.example:8080'],
    [['--hostname=https://ra.example', '--port=8080'], 'https://ra.example'],
    [['--hostname=http://ra.example:9000', '--port=8080'], 'http://ra.example:9000'],
  ])('%j gives %s', (flags, expected) => {
    expect(publicBaseUrl(configOf(flags))).toBe(expected)
  })
})
