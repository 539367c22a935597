import { Counter, Gauge, type Registry } from 'prom-client'
import type { CacheStats } from './types.ts'

interface StatsSource {
  readonly namespace: string
  stats(): CacheStats
}

export interface CacheMetricsOptions {
  /** Registry to register in. Required: hotpath never touches the global default registry. */
  registry: Registry
  /** Metric name prefix. Default: `'hotpath_cache_'`. */
  prefix?: string
}

type Read = (s: CacheStats) => number

/**
 * Exposes `cache.stats()` as Prometheus metrics, read at scrape time (no
 * work on the cache's hot path). Labelled by namespace so several caches can
 * share one registry.
 */
export function registerCacheMetrics(cache: StatsSource, options: CacheMetricsOptions): void {
  const p = options.prefix ?? 'hotpath_cache_'
  const registers = [options.registry]
  const ns = cache.namespace
  let current: CacheStats | null = null
  let at = 0
  // One stats() per scrape, shared by every metric below.
  const read = (): CacheStats => {
    const now = Date.now()
    if (current === null || now - at > 100) {
      current = cache.stats()
      at = now
    }
    return current
  }

  const counter = (name: string, help: string, byTier: Record<string, Read>) => {
    const last = new Map<string, number>()
    new Counter({
      name: p + name,
      help,
      labelNames: ['namespace', 'tier'],
      registers,
      collect() {
        const s = read()
        for (const [tier, f] of Object.entries(byTier)) {
          const v = f(s)
          const d = v - (last.get(tier) ?? 0)
          last.set(tier, v)
          if (d > 0) this.inc({ namespace: ns, tier }, d)
          else this.inc({ namespace: ns, tier }, 0)
        }
      },
    })
  }
  const gauge = (name: string, help: string, byTier: Record<string, Read>) => {
    new Gauge({
      name: p + name,
      help,
      labelNames: ['namespace', 'tier'],
      registers,
      collect() {
        const s = read()
        for (const [tier, f] of Object.entries(byTier)) this.set({ namespace: ns, tier }, f(s))
      },
    })
  }

  counter('hits_total', 'Cache hits by tier.', { l1: (s) => s.l1.hits, l2: (s) => s.l2.hits })
  // tier="all": found in no tier; l1/l2: missed in that tier (an L1 miss may still hit L2).
  counter('misses_total', 'Reads that found no fresh value: in any tier (all), or per tier.', {
    all: (s) => s.misses,
    l1: (s) => s.l1.misses,
    l2: (s) => s.l2.misses,
  })
  counter('l2_errors_total', 'Redis commands that failed.', { l2: (s) => s.l2.errors })
  counter('l2_write_failures_total', 'Writes and invalidations L2 could not take.', {
    l2: (s) => s.l2.writeFailures,
  })
  counter('evictions_total', 'L1 entries evicted for room.', { l1: (s) => s.l1.evictions })
  counter('factory_calls_total', 'Factory calls (misses that computed a value).', {
    all: (s) => s.factoryCalls,
  })
  counter('collapsed_total', 'getOrSet calls that joined a factory call under way.', {
    all: (s) => s.collapsed,
  })
  counter('graced_total', 'Stale values served within grace.', { all: (s) => s.graced })
  counter('bus_messages_total', 'Invalidation bus messages received.', {
    bus: (s) => s.bus.received,
  })
  gauge('entries', 'Entries held.', { l1: (s) => s.l1.size })
  gauge('bytes', 'Estimated bytes held.', { l1: (s) => s.l1.bytes })
  gauge('hit_ratio', 'Hits / reads since start.', { all: (s) => s.hitRatio })
  gauge('circuit_open', '1 while the L2 circuit breaker is open.', {
    l2: (s) => (s.l2.circuitOpen ? 1 : 0),
  })
}
