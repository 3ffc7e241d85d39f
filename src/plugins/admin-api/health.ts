import { Elysia } from 'elysia'

import {
  RegistryError,
  RegistryUnavailableError,
  type RegistryClient,
} from '../../core/registry-client/index.ts'
import { principalPlugin, requireUser, type PrincipalDeps } from './principal.ts'

/** The registry call the health check makes. */
export type HealthRegistry = Pick<RegistryClient, 'ping'>

/** The last sync as the mirror reports it; only these fields are read. */
export interface SyncReport {
  startedAt: string
  finishedAt: string | null
  /** False when the catalog could not be read through, so the sync could not finish its job. */
  catalogComplete: boolean
  errorCount: number
  /** The first errors; a summary saved by an older version may lack the fields below. */
  errors?: readonly { repository: string | null; tag?: string; message: string }[]
  /** Repositories the sync set out to read. */
  repositoriesChecked?: number
  /** Of those, the ones it could not read completely. */
  repositoriesFailed?: number
}

/** What the health check reads from the repository mirror. */
export interface MirrorHealth {
  /** When the last notification was accepted (ms since the epoch), `null` before the first. */
  readonly lastEventAt: number | null
  /** The running sync with its counts so far, else the last finished one. */
  syncStatus(): { running: boolean; sync: SyncReport | null }
}

/** What `GET /api/v1/registry/health` answers. */
export interface HealthReport {
  healthy: boolean
  registry: {
    /** False when `registry.host` is not set. */
    configured: boolean
    /** The registry answered `GET /v2/` at all. */
    reachable: boolean
    /** It answered 200 to this server's own credentials (a token, or basic credentials). */
    acceptsTokens: boolean
    /** The HTTP status of the answer, when there was one. */
    status?: number
    error?: string
  }
  /** RFC 3339, or `null` when none arrived since this server started. */
  lastNotificationAt: string | null
  /** The last sync (or the running one, with `running: true`); `null` when none ever finished. */
  lastSync: (SyncReport & { running: boolean; [field: string]: unknown }) | null
  /** Why it is not healthy; empty when healthy. */
  reasons: string[]
  /** What is wrong without making it unhealthy: a sync that could not read everything. */
  warnings: string[]
}

/** What the health check reads from the htpasswd file of basic mode. */
export interface HtpasswdHealth {
  /** Why the last write failed, while no write has succeeded since; else `null`. */
  readonly writeError: string | null
}

/** What the health check works with. */
export interface HealthDeps {
  /** `null` when `registry.host` is not set. */
  registry: HealthRegistry | null
  /** @default none: no notification time and no sync are reported */
  mirror?: MirrorHealth
  /** The htpasswd file in basic mode. @default none */
  htpasswd?: HtpasswdHealth | null
}

/**
 * Checks the registry and the mirror. Unhealthy when:
 * - the registry does not answer `GET /v2/` with 200 to this server's credentials;
 * - the last finished sync could not read the whole catalog (so it could remove nothing);
 * - the last finished sync could not read more than half of the repositories it set out to;
 * - in basic mode, the htpasswd file could not be written since the last change of the users
 *   (the registry still lets in whom the old file lists).
 *
 * A finished sync with fewer failures stays healthy with a warning that counts them and
 * names the first. Never throws.
 */
export const checkHealth = async (deps: HealthDeps): Promise<HealthReport> => {
  const reasons: string[] = []
  const warnings: string[] = []
  const registry = await checkRegistry(deps.registry)
  if (registry.error !== undefined) {
    reasons.push(registry.error)
  }

  const status = deps.mirror?.syncStatus() ?? null
  const lastSync = status?.sync ? { ...status.sync, running: status.running } : null
  if (lastSync?.finishedAt) {
    judgeSync(lastSync, reasons, warnings)
  }
  const htpasswdError = deps.htpasswd?.writeError ?? null
  if (htpasswdError !== null) {
    reasons.push(`the htpasswd file could not be written: ${htpasswdError}`)
  }
  const lastEventAt = deps.mirror?.lastEventAt ?? null

  return {
    healthy: reasons.length === 0,
    registry,
    lastNotificationAt: lastEventAt === null ? null : new Date(lastEventAt).toISOString(),
    lastSync,
    reasons,
    warnings,
  }
}

/** Adds what a finished sync's failures mean to `reasons` (unhealthy) or `warnings`. */
const judgeSync = (sync: SyncReport, reasons: string[], warnings: string[]): void => {
  if (!sync.catalogComplete) {
    reasons.push('the last sync could not read the whole registry catalog')
    return
  }
  if (sync.errorCount === 0) {
    return
  }
  const first = sync.errors?.[0]
  const where =
    first === undefined || first.repository === null
      ? ''
      : `${first.repository}${first.tag === undefined ? '' : `:${first.tag}`}: `
  const detail = `${sync.errorCount} errors${first === undefined ? '' : `; first: ${where}${first.message}`}`
  const { repositoriesChecked: checked, repositoriesFailed: failed } = sync
  if (checked === undefined || failed === undefined) {
    warnings.push(`the last sync could not read everything (${detail})`)
    return
  }
  const message = `the last sync could not read ${failed} of ${checked} repositories (${detail})`
  if (failed * 2 > checked) {
    reasons.push(message)
  } else {
    warnings.push(message)
  }
}

const checkRegistry = async (
  registry: HealthRegistry | null,
): Promise<HealthReport['registry']> => {
  if (registry === null) {
    return {
      configured: false,
      reachable: false,
      acceptsTokens: false,
      error: 'no registry is configured: set registry.host',
    }
  }

  try {
    const ping = await registry.ping()
    if (ping.ok) {
      return { configured: true, reachable: true, acceptsTokens: true, status: ping.status }
    }
    const refused = ping.status === 401 || ping.status === 403
    const error = refused
      ? `the registry refuses this server's credentials (HTTP ${ping.status}); check that it trusts this server's tokens (auth.token settings) or, in basic mode, registry.login and registry.password`
      : `the registry answered HTTP ${ping.status}${ping.error ? `: ${ping.error.message}` : ''}`
    return { configured: true, reachable: true, acceptsTokens: false, status: ping.status, error }
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error)
    if (error instanceof RegistryUnavailableError || !(error instanceof RegistryError)) {
      return {
        configured: true,
        reachable: false,
        acceptsTokens: false,
        error: `the registry cannot be reached: ${message}`,
      }
    }
    return {
      configured: true,
      reachable: true,
      acceptsTokens: false,
      ...(error.status === 0 ? {} : { status: error.status }),
      error: `the registry answered, but not as expected: ${message}`,
    }
  }
}

/**
 * `GET /api/v1/registry/health`, for any authenticated user: 200 with the report when healthy,
 * 503 with the same report (and the reasons in `message`) otherwise.
 */
export const healthRoutes = (deps: HealthDeps & PrincipalDeps) =>
  new Elysia({ name: 'admin-api/health' })
    .use(principalPlugin(deps))
    .get('/api/v1/registry/health', async ({ principal, set }) => {
      requireUser(principal)
      const report = await checkHealth(deps)
      set.status = report.healthy ? 200 : 503
      set.headers['cache-control'] = 'no-store'
      return {
        error: !report.healthy,
        message: report.healthy ? 'ok' : report.reasons.join('; '),
        ...report,
      }
    })
