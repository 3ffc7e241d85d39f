import { describe, expect, test } from 'bun:test'
import { createPublicKey, generateKeyPairSync } from 'node:crypto'
import { join } from 'node:path'
import { libtrustKeyId } from './key-id.ts'

const FIXTURES = join(import.meta.dir, '../../../test/fixtures/legacy-certs')

function spkiOfPem(pem: string): Buffer {
  const body = pem.replace(/^kid: .*$/m, '')
  return createPublicKey(body).export({ type: 'spki', format: 'der' })
}

/** The key id as computed with openssl and coreutils, independently of our code. */
async function opensslKeyId(spkiDer: Buffer): Promise<string> {
  const script =
    'openssl pkey -pubin -inform DER -outform DER | openssl dgst -sha256 -binary | head -c 30 | ' +
    "base32 -w0 | sed 's/=//g; s/\\(....\\)/\\1:/g; s/:$//'"
  const child = Bun.spawn(['sh', '-c', script], { stdin: spkiDer, stdout: 'pipe' })
  const output = await new Response(child.stdout).text()
  expect(await child.exited).toBe(0)
  return output.trim()
}

describe('libtrustKeyId', () => {
  test('gives the id of the P-256 example key of the registry token spec', () => {
    const key = createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: 'm7zUpx3b-zmVE5cymSs64POG9QcyEpJaYCD82-549_Q',
        y: 'dU3biz8sZ_8GPB-odm8Wxz3lNDr1xcAQQPQaOcr1fmc',
      },
      format: 'jwk',
    })

    const kid = libtrustKeyId(key.export({ type: 'spki', format: 'der' }))

    expect(kid).toBe('PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6')
  })

  test.each([
    ['rsa', '7A6Y:CJ7L:ZBTK:BDYD:QJMT:YVDC:L3RK:AJHA:HKXG:RQLA:SYV3:7QHE'],
    ['ec', 'DYVL:DKEE:XFCS:6XYG:XDBE:JUGX:BS57:2Q5W:UTXV:RYXH:7HZC:FCII'],
  ])('gives the id openssl computed for the %s legacy fixture', async (set, expected) => {
    const pem = await Bun.file(join(FIXTURES, set, 'registry_auth.pub')).text()

    expect(libtrustKeyId(spkiOfPem(pem))).toBe(expected)
  })

  test.each(['rsa', 'ec'] as const)('agrees with openssl on a fresh %s key', async (type) => {
    const { publicKey } =
      type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const spki = publicKey.export({ type: 'spki', format: 'der' })

    const kid = libtrustKeyId(spki)

    expect(kid).toBe(await opensslKeyId(spki))
    expect(kid).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/)
  })
})
