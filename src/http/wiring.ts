import type { TieredCache } from '../cache/cache.ts'
import { registerCacheMetrics } from '../cache/prometheus.ts'
import type { Db } from '../db/db.ts'
import { registerDbMetrics } from '../db/prometheus.ts'
import type { Metrics } from '../metrics/index.ts'
import type { Compressor } from './compression.ts'
import type { HealthCheck } from './health.ts'

/** The parts an app hands the HTTP layer; every one optional. */
export interface Parts {
  cache?: TieredCache
  db?: Db
  metrics?: Metrics
  compressor?: Compressor
}

const wired = new WeakSet<object>()

/**
 * Joins the parts once: cache and db metrics in the metrics registry, and
 * the guides' `/metrics.json` sections (cache, database, pool, compression).
 */
export function wireMetrics({ cache, db, metrics, compressor }: Parts): void {
  if (metrics === undefined || wired.has(metrics)) return
  wired.add(metrics)
  if (cache !== undefined) {
    registerCacheMetrics(cache, { registry: metrics.registry })
    metrics.addStats('cache', () => cache.stats())
  }
  if (db !== undefined) {
    registerDbMetrics(db, { registry: metrics.registry })
    metrics.addStats('database', () => {
      const { pools: _pools, ...rest } = db.stats()
      return rest
    })
    metrics.addStats('pool', () => db.stats(0).pools)
  }
  if (compressor !== undefined) metrics.addStats('compression', () => compressor.stats())
}

/** Readiness checks for the parts given: the primary database answers; Redis answers (with L2). */
export function readinessChecks(
  { cache, db }: Parts,
  timeoutMs = 500,
): Record<string, HealthCheck> {
  const checks: Record<string, HealthCheck> = {}
  if (db !== undefined) {
    checks.database = async () => {
      const all = await db.health(timeoutMs)
      const primary = all.find((h) => h.name === 'primary' || h.name === 'embedded')
      if (primary !== undefined && !primary.ok) throw new Error(primary.error ?? 'no answer')
      return all
    }
  }
  if (cache?.stats().l2.enabled) {
    checks.redis = async () => {
      if (!(await cache!.ready(timeoutMs))) throw new Error('Redis does not answer')
      return { ok: true }
    }
  }
  return checks
}
