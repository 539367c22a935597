import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Db } from './db.ts'

export interface DbMetricsOptions {
  registry: Registry
  /** Metric name prefix. Default: `'hotpath_db_'`. */
  prefix?: string
  /** Histogram buckets, seconds. Default: the guides' query SLO around 50 ms. */
  buckets?: number[]
}

/** Statement label cardinality stays bounded: past this many, statements are labelled `other`. */
const MAX_LABELS = 200

/**
 * Query duration by statement (its `name` option, else a short fingerprint
 * hash), errors, pool connections and cache hits, in a prom-client registry.
 */
export function registerDbMetrics(db: Db, options: DbMetricsOptions): void {
  const p = options.prefix ?? 'hotpath_db_'
  const registers = [options.registry]
  const duration = new Histogram({
    name: `${p}query_duration_seconds`,
    help: 'Statement duration by statement name or fingerprint.',
    labelNames: ['statement', 'endpoint', 'ok'],
    buckets: options.buckets ?? [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers,
  })
  const labels = new Map<string, string>()
  const label = (statement: string, name: string | undefined): string => {
    if (name !== undefined) return name
    let l = labels.get(statement)
    if (l === undefined) {
      l = labels.size < MAX_LABELS ? statement.slice(0, 80) : 'other'
      labels.set(statement, l)
    }
    return l
  }
  db.on('query', (e) => {
    duration.observe(
      { statement: label(e.statement, e.name), endpoint: e.endpoint, ok: e.ok ? 'true' : 'false' },
      e.durationMs / 1000,
    )
  })
  const slow = new Counter({
    name: `${p}slow_queries_total`,
    help: 'Statements over slowQueryMs.',
    registers,
  })
  db.on('slowQuery', () => slow.inc())
  new Gauge({
    name: `${p}pool_connections`,
    help: 'Pool connections by endpoint and state (total, idle, waiting clients, max).',
    labelNames: ['endpoint', 'state'],
    registers,
    collect() {
      for (const [endpoint, c] of Object.entries(db.stats(0).pools)) {
        this.set({ endpoint, state: 'total' }, c.total)
        this.set({ endpoint, state: 'idle' }, c.idle)
        this.set({ endpoint, state: 'waiting' }, c.waiting)
        this.set({ endpoint, state: 'max' }, c.max)
      }
    },
  })
  let lastHits = 0
  let lastMisses = 0
  new Counter({
    name: `${p}cache_lookups_total`,
    help: 'Cached queries by result (hit, miss).',
    labelNames: ['result'],
    registers,
    collect() {
      const s = db.stats(0)
      this.inc({ result: 'hit' }, s.cacheHits - lastHits)
      this.inc({ result: 'miss' }, s.cacheMisses - lastMisses)
      lastHits = s.cacheHits
      lastMisses = s.cacheMisses
    },
  })
  new Gauge({
    name: `${p}replica_up`,
    help: '1 while a replica is in rotation.',
    labelNames: ['endpoint'],
    registers,
    collect() {
      for (const r of db.stats(0).replicas) this.set({ endpoint: r.name }, r.up ? 1 : 0)
    },
  })
}
