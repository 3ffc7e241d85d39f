import { createHash } from 'node:crypto'

const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** libtrust hashes the key and keeps this many bytes: 240 bits, exactly 48 base32 characters. */
const KEY_ID_HASH_BYTES = 30

/**
 * The libtrust key id that registry 2.x expects in a token's `kid` header: the SHA-256 of the
 * DER SubjectPublicKeyInfo, cut to 30 bytes, base32 encoded (RFC 4648 alphabet, no padding) and
 * split into 12 groups of 4 characters joined by `:`.
 *
 * @example libtrustKeyId(publicKey.export({ type: 'spki', format: 'der' }))
 * // 'PYYO:TEWU:V7JH:26JV:AQTZ:LJC3:SXVJ:XGHA:34F2:2LAQ:ZRMK:Z7Q6'
 */
export function libtrustKeyId(spkiDer: Uint8Array): string {
  const digest = createHash('sha256').update(spkiDer).digest().subarray(0, KEY_ID_HASH_BYTES)
  const encoded = encodeBase32(digest)
  const groups: string[] = []
  for (let i = 0; i < encoded.length; i += 4) {
    groups.push(encoded.slice(i, i + 4))
  }
  return groups.join(':')
}

/** RFC 4648 base32 without padding; the input here is always a multiple of 5 bytes. */
function encodeBase32(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = ((buffer << 8) | byte) & 0xffff
    bits += 8
    while (bits >= 5) {
      out += BASE32_ALPHABET[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
  }
  if (bits > 0) {
    out += BASE32_ALPHABET[(buffer << (5 - bits)) & 31]
  }
  return out
}
