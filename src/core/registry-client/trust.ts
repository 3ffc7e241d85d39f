import { X509Certificate } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import type { Logger } from 'pino'
import type { RegistryConfig } from '../../config.ts'
import { RegistryConfigError } from './errors.ts'

/** The TLS settings of every HTTPS call to the registry. */
export interface RegistryTls {
  /** The system roots, then the extra certificates from the configured files. */
  ca: string[]
  rejectUnauthorized: boolean
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/**
 * Reads, once, what an HTTPS registry is trusted with: the system roots, plus the CA file of
 * the token signing key (`registry.certs.ca_root`) when it exists, since setups often serve
 * the registry with that certificate, plus `registry.certs.https_cert` when one is given.
 * `registry.https_insecure` turns verification off, with a warning.
 *
 * @throws RegistryConfigError when `https_cert` is missing, or a file holds no readable
 * certificate.
 */
export function loadRegistryTls(config: RegistryConfig, baseUrl: string, log: Logger): RegistryTls {
  const extra: string[] = []
  const caRoot = config.certs.caRoot
  if (caRoot !== '' && existsSync(caRoot)) {
    extra.push(...readCertificates(caRoot, 'registry.certs.ca_root'))
  }
  const httpsCert = config.certs.httpsCert
  if (httpsCert !== '') {
    if (!existsSync(httpsCert)) {
      throw new RegistryConfigError('registry.certs.https_cert', `${httpsCert} does not exist`)
    }
    extra.push(...readCertificates(httpsCert, 'registry.certs.https_cert'))
  }

  if (config.httpsInsecure) {
    log.warn(
      { registry: baseUrl },
      'registry certificate is not verified (registry.https_insecure); anyone on the path can impersonate it',
    )
  }
  return { ca: [...rootCertificates, ...extra], rejectUnauthorized: !config.httpsInsecure }
}

function readCertificates(path: string, option: string): string[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (error) {
    throw new RegistryConfigError(option, `${path} cannot be read`, { cause: error })
  }

  const blocks = text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) {
    throw new RegistryConfigError(option, `${path} holds no PEM certificate`)
  }
  for (const block of blocks) {
    try {
      new X509Certificate(block)
    } catch (error) {
      throw new RegistryConfigError(option, `${path} holds a certificate that cannot be parsed`, {
        cause: error,
      })
    }
  }
  return blocks
}
