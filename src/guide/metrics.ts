import { createMetrics, type Metrics } from '../metrics/red.ts'
import { cacheService } from './cache-service.ts'
import { compressionMiddleware } from './compression.ts'
import { queryOptimizer } from './query-optimizer.ts'

export interface GuideMetricsSnapshot {
  cache: unknown
  database: unknown
  pool: unknown
  compression: unknown
  timestamp: number
}

let metrics: Metrics | null = null

/**
 * The guides' `/metrics` route body, `{ cache, database, pool, compression,
 * timestamp }`, from `createMetrics().snapshot()`: the sections are read in
 * parallel, and one whose service is not connected (or that throws or hangs)
 * reads `{ error }` instead of failing the rest.
 */
export async function getMetricsSnapshot(): Promise<GuideMetricsSnapshot> {
  metrics ??= createMetrics({
    defaultMetrics: false,
    stats: {
      cache: () => cacheService.getStats(),
      database: () => queryOptimizer.getMetrics(),
      pool: () => queryOptimizer.getPoolStats(),
      compression: () => compressionMiddleware.getMetrics(),
    },
  })
  const s = await metrics.snapshot()
  return {
    cache: s.cache,
    database: s.database,
    pool: s.pool,
    compression: s.compression,
    timestamp: s.timestamp,
  }
}
