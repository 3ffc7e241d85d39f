import { describe, expect, test } from 'bun:test'
import { registryBaseUrl, resolveRegistryAddress } from './base-url.ts'
import { RegistryConfigError } from './errors.ts'

describe('registryBaseUrl', () => {
  test.each([
    ['http://registry', 5000, 'http://registry:5000'],
    ['https://reg.example.com', 443, 'https://reg.example.com'],
    ['https://reg.example.com/', 5000, 'https://reg.example.com:5000'],
    ['  http://registry/  ', 5000, 'http://registry:5000'],
    ['HTTP://Registry.Example.COM', 5000, 'http://registry.example.com:5000'],
    ['http://my_registry', 5000, 'http://my_registry:5000'],
    ['http://my_registry:5001', 5000, 'http://my_registry:5001'],
    ['http://[::1]', 5000, 'http://[::1]:5000'],
    ['http://[::1]:5001', 5000, 'http://[::1]:5001'],
    ['http://[2001:db8::7]', 5000, 'http://[2001:db8::7]:5000'],
    ['::1', 5000, 'http://[::1]:5000'],
    ['http://::1', 5000, 'http://[::1]:5000'],
    ['https://proxy.example/registry', 5000, 'https://proxy.example:5000/registry'],
    ['https://proxy.example/registry/', 443, 'https://proxy.example/registry'],
    ['https://proxy.example:8443/a/b', 5000, 'https://proxy.example:8443/a/b'],
    ['http://registry:5000/v2/', 5000, 'http://registry:5000'],
    ['http://reg:5001', 5000, 'http://reg:5001'],
    ['https://reg:443', 5000, 'https://reg'],
    ['http://10.0.0.7', 5000, 'http://10.0.0.7:5000'],
    ['registry', 5000, 'https://registry:5000'],
    ['reg.example.com:5443', 5000, 'https://reg.example.com:5443'],
    ['localhost', 5000, 'http://localhost:5000'],
    ['localhost:5001', 5000, 'http://localhost:5001'],
    ['127.0.0.1', 5000, 'http://127.0.0.1:5000'],
    ['registry.localhost', 5000, 'http://registry.localhost:5000'],
    ['[::1]:5001', 5000, 'http://[::1]:5001'],
  ])('%s with port %d is %s', (host, port, expected) => {
    expect(registryBaseUrl({ host, port })).toBe(expected)
  })

  test.each([
    ['', 5000, 'registry.host: is not set'],
    ['   ', 5000, 'registry.host: is not set'],
    [
      'ftp://registry',
      5000,
      "registry.host: 'ftp://registry' has the scheme 'ftp'; use http:// or https://",
    ],
    [
      'http://user:pw@registry',
      5000,
      'registry.host: must not carry credentials; set registry.login and registry.password instead',
    ],
    [
      'http://registry?x=1',
      5000,
      "registry.host: 'http://registry?x=1' must be a URL without spaces, query or fragment",
    ],
    [
      'http://reg istry',
      5000,
      "registry.host: 'http://reg istry' must be a URL without spaces, query or fragment",
    ],
    ['http://registry:0', 5000, "registry.host: 'http://registry:0' has an invalid port '0'"],
    [
      'http://registry:70000',
      5000,
      "registry.host: 'http://registry:70000' has an invalid port '70000'",
    ],
    ['http://registry:abc', 5000, "registry.host: 'http://registry:abc' has an invalid port 'abc'"],
    [
      'http://a:b:c',
      5000,
      "registry.host: 'http://a:b:c': write an IPv6 address in brackets, as in http://[::1]",
    ],
    ['http://[::zz]', 5000, "registry.host: 'http://[::zz]' has a malformed IPv6 address"],
    ['http://', 5000, "registry.host: 'http://' has no valid host name"],
    ['http://bad!host', 5000, "registry.host: 'http://bad!host' has no valid host name"],
    ['http://registry', 0, 'registry.port: 0 is not a port between 1 and 65535'],
    ['http://registry', 65536, 'registry.port: 65536 is not a port between 1 and 65535'],
  ])('rejects %p with port %d', (host, port, message) => {
    expect(() => registryBaseUrl({ host, port })).toThrow(RegistryConfigError)
    expect(() => registryBaseUrl({ host, port })).toThrow(message)
  })

  test('tells whether the scheme was assumed', () => {
    expect(resolveRegistryAddress({ host: 'registry', port: 5000 })).toEqual({
      url: 'https://registry:5000',
      schemeAssumed: true,
    })
    expect(resolveRegistryAddress({ host: 'http://registry', port: 5000 })).toEqual({
      url: 'http://registry:5000',
      schemeAssumed: false,
    })
  })

  test('names the option in the error', () => {
    const error = (() => {
      try {
        registryBaseUrl({ host: 'http://registry', port: -1 })
      } catch (caught) {
        return caught
      }
    })()

    expect(error).toBeInstanceOf(RegistryConfigError)
    expect((error as RegistryConfigError).option).toBe('registry.port')
  })
})
