import type { FastifyPluginAsync, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { TieredCache } from '../../cache/cache.ts'
import type { Db } from '../../db/db.ts'
import { createMetrics, type Metrics } from '../../metrics/index.ts'
import { createCompressor } from '../compression.ts'
import { Dashboard } from '../dashboard.ts'
import type { HealthCheck } from '../health.ts'
import { createResponseCache } from '../response-cache.ts'
import { createShedder, type Shedder, sheddingDefaults } from '../shedding.ts'
import { readinessChecks, wireMetrics } from '../wiring.ts'
import { type FastifyCompressionOptions, fastifyCompression } from './compression.ts'
import { type FastifyDashboardOptions, fastifyDashboard } from './dashboard.ts'
import { type FastifyErrorsOptions, fastifyErrors } from './errors.ts'
import { type FastifyFieldsetsOptions, fastifyFieldsets } from './fieldsets.ts'
import { type FastifyHealthOptions, fastifyHealth } from './health.ts'
import { type FastifyMetricsOptions, fastifyMetrics } from './metrics.ts'
import { type FastifyRateLimitOptions, fastifyRateLimit } from './rate-limit.ts'
import { type FastifyResponseCacheOptions, fastifyResponseCache } from './response-cache.ts'
import { type FastifySheddingOptions, fastifyShedding } from './shedding.ts'

export interface HotpathFastifyOptions {
  /** The data cache: response-cache storage, cache metrics, Redis readiness. */
  cache?: TieredCache
  /** The database: one scope per request (read-your-writes, N+1 detection), db metrics, readiness. */
  db?: Db
  /** Where request, cache and db metrics go; `false` for no metrics. Default: a new `createMetrics()`. */
  metrics?: Metrics | false
  /** Problem+json errors and 404s. Default: on. */
  errors?: FastifyErrorsOptions | false
  /** Load shedding. Default: on, with its defaults. */
  shedding?: FastifySheddingOptions | false
  /** `/health` and `/ready` (checks for the db and Redis given). Default: on. */
  health?: FastifyHealthOptions | false
  /** Rate limiting. Default: off (a limit is a product decision). */
  rateLimit?: FastifyRateLimitOptions | false
  /** Response caching for routes with `config.cache`. Default: on when `cache` is given. */
  responseCache?: Omit<FastifyResponseCacheOptions, 'cache'> | false
  /** Compression. Default: on. */
  compression?: FastifyCompressionOptions | false
  /** `?fields=` on routes with a response schema. Default: on. */
  fieldsets?: FastifyFieldsetsOptions | false
  /** Request metrics endpoints. Default: `/metrics` and `/metrics.json`. */
  metricsEndpoints?: Omit<FastifyMetricsOptions, 'metrics'>
  /**
   * The live dashboard (`/dashboard`, its assets and event stream; slow
   * queries from `db`), never shed. Default: on whenever metrics are on.
   */
  dashboard?: Omit<FastifyDashboardOptions, 'metrics'> | false
}

/**
 * Everything hotpath does for a Fastify app, in the order a request needs
 * it: errors, shedding before any work, metrics, health, rate limit, the
 * response cache (hits answered in onRequest), compression, fieldsets, and
 * a database scope around each handler. Register it before your routes.
 */
const plugin: FastifyPluginAsync<HotpathFastifyOptions> = async (app, o) => {
  const metrics = o.metrics === false ? undefined : (o.metrics ?? createMetrics())
  const compressor =
    o.compression === false
      ? undefined
      : (o.compression?.compressor ?? createCompressor(o.compression))
  wireMetrics({ cache: o.cache, db: o.db, metrics, compressor })
  const dashboard =
    metrics === undefined || o.dashboard === false
      ? undefined
      : (o.dashboard?.dashboard ?? new Dashboard({ db: o.db, ...o.dashboard, metrics }))

  if (o.errors !== false) await app.register(fastifyErrors, o.errors ?? {})
  // The dashboard is what one looks at while the service is overloaded.
  const shedder =
    o.shedding === false
      ? undefined
      : (o.shedding?.shedder ??
        createShedder({
          ...o.shedding,
          exempt: [...(o.shedding?.exempt ?? sheddingDefaults.exempt), ...(dashboard?.urls ?? [])],
        }))
  if (shedder !== undefined) {
    await app.register(fastifyShedding, { shedder })
    app.addHook('onClose', async () => shedder.close())
  }
  if (metrics !== undefined) await app.register(fastifyMetrics, { ...o.metricsEndpoints, metrics })
  if (dashboard !== undefined) await app.register(fastifyDashboard, { dashboard })
  if (o.health !== false) {
    const h = o.health ?? {}
    // A shedding instance is not ready: a load balancer should send its traffic elsewhere.
    const load: Record<string, HealthCheck> =
      shedder === undefined ? {} : { load: () => loadCheck(shedder) }
    await app.register(fastifyHealth, {
      ...h,
      checks: { ...readinessChecks({ cache: o.cache, db: o.db }), ...load, ...h.checks },
    })
  }
  if (o.rateLimit !== undefined && o.rateLimit !== false)
    await app.register(fastifyRateLimit, o.rateLimit)
  if (o.cache !== undefined && o.responseCache !== false) {
    const rc = o.responseCache ?? {}
    const responseCache =
      rc.responseCache ??
      createResponseCache({ ...rc, cache: o.cache, compressor: compressor ?? false })
    await app.register(fastifyResponseCache, { responseCache })
  }
  if (compressor !== undefined) await app.register(fastifyCompression, { compressor })
  if (o.fieldsets !== false) await app.register(fastifyFieldsets, o.fieldsets ?? {})
  const db = o.db
  if (db !== undefined) {
    // Wrapping the handler (not enterWith in a hook) keeps the scope across body parsing.
    app.addHook('onRoute', (route: RouteOptions) => {
      const handler = route.handler
      route.handler = function scoped(this: unknown, req, reply) {
        return db.inScope
          ? handler.call(this as never, req, reply)
          : db.scope(() => handler.call(this as never, req, reply))
      }
    })
  }
}

function loadCheck(shedder: Shedder): { overloaded: false } {
  if (shedder.overloaded) throw new Error('shedding load: the event loop is over its threshold')
  return { overloaded: false }
}

export const hotpathFastify = fp(plugin, { fastify: '5.x', name: 'hotpath' })

export type {
  FastifyCompressionOptions,
  FastifyDashboardOptions,
  FastifyErrorsOptions,
  FastifyFieldsetsOptions,
  FastifyHealthOptions,
  FastifyMetricsOptions,
  FastifyRateLimitOptions,
  FastifyResponseCacheOptions,
  FastifySheddingOptions,
}
export {
  fastifyCompression,
  fastifyDashboard,
  fastifyErrors,
  fastifyFieldsets,
  fastifyHealth,
  fastifyMetrics,
  fastifyRateLimit,
  fastifyResponseCache,
  fastifyShedding,
}
