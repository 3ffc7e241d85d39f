import type { Logger } from 'pino'
import type { CertsConfig } from '../../config.ts'
import type { SigningKeys } from '../../core/token-signer.ts'
import { loadOrCreateSigningKeys } from './signing-keys.ts'

export type { SigningKeys } from '../../core/token-signer.ts'
export { CertsError } from './key-files.ts'
export { libtrustKeyId } from './key-id.ts'
export { EXPIRY_WARNING_DAYS, loadOrCreateSigningKeys } from './signing-keys.ts'

export interface CertsPluginDeps {
  /** `registry.certs`, with the three file paths already resolved. */
  config: CertsConfig
  log: Logger
}

/**
 * Loads (or, on first start, generates) the registry token signing key and certificate, once
 * at start-up. There are no routes: the keys are handed to the token signer, not decorated on
 * the request context, since they do not depend on the request.
 * @throws CertsError naming the files concerned; print its message and stop.
 */
export async function certsPlugin({ config, log }: CertsPluginDeps): Promise<SigningKeys> {
  return loadOrCreateSigningKeys(config, log.child({ component: 'certs' }))
}
