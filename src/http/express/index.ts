import type { RequestHandler } from 'express'
import type { TieredCache } from '../../cache/cache.ts'
import type { Db } from '../../db/db.ts'
import type { Metrics } from '../../metrics/index.ts'
import type { Compressor } from '../compression.ts'
import { wireMetrics } from '../wiring.ts'

export { type ExpressCompressionOptions, expressCompression as compression } from './compression.ts'
export { type ExpressDashboardOptions, expressDashboard as dashboard } from './dashboard.ts'
export {
  type ExpressErrorsOptions,
  expressErrorHandler as errorHandler,
  expressNotFound as notFound,
} from './errors.ts'
export { type ExpressFieldsetsOptions, expressFieldsets as fieldsets } from './fieldsets.ts'
export { type ExpressHealthOptions, expressHealth as health } from './health.ts'
export { type ExpressMetricsOptions, expressMetrics as metrics, labelRoute } from './metrics.ts'
export {
  type ExpressRateLimit,
  type ExpressRateLimitOptions,
  expressRateLimit as rateLimit,
} from './rate-limit.ts'
export {
  type ExpressResponseCache,
  type ExpressResponseCacheOptions,
  expressResponseCache as responseCache,
} from './response-cache.ts'
export { type ExpressSheddingOptions, expressShedding as shedding } from './shedding.ts'

/**
 * One database scope per request (read-your-writes, N+1 detection): place it
 * after the body parser; every handler after it runs inside the scope.
 */
export function dbScope(db: Db): RequestHandler {
  return (_req, _res, next) => {
    db.scope(() => next())
  }
}

/** Registers cache and db metrics in `metrics` and adds their `/metrics.json` sections. */
export function wire(parts: {
  metrics: Metrics
  cache?: TieredCache
  db?: Db
  compressor?: Compressor
}): void {
  wireMetrics(parts)
}
