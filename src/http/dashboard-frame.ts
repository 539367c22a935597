import type { Metrics, RouteTotals, SloStatus } from '../metrics/index.ts'

/** One route over the last interval: rates per second, latency in ms (null: no request). */
export interface DashboardRoute {
  route: string
  rps: number
  errorRate: number | null
  p50: number | null
  p95: number | null
  p99: number | null
}

export interface DashboardCache {
  /** L1 hits / L1 lookups over the interval; null with no lookup. */
  l1HitRatio: number | null
  /** L2 hits / L2 lookups (the L1 misses that reached Redis) over the interval. */
  l2HitRatio: number | null
  /** Both tiers over the interval. */
  hitRatio: number | null
  l1Items: number
  l1Bytes: number
  l2Connected: boolean
}

export interface DashboardPool {
  /** Summed over every endpoint (primary, replicas). */
  total: number
  idle: number
  waiting: number
  max: number
  endpoints: { name: string; total: number; idle: number; waiting: number; max: number }[]
}

export interface DashboardSlowQuery {
  /** The statement's fingerprint (literals replaced), never its text with values. */
  statement: string
  ms: number
  /** Milliseconds since the epoch. */
  at: number
  endpoint: string
}

/** What the sampler sends every interval. */
export interface DashboardFrame {
  /** Milliseconds since the epoch. */
  t: number
  intervalMs: number
  /** Routes with traffic in the interval, busiest first. */
  routes: DashboardRoute[]
  totals: Omit<DashboardRoute, 'route'> & { inFlight: number }
  cache: DashboardCache | null
  pool: DashboardPool | null
  slowQueries: DashboardSlowQuery[]
  slos: SloStatus[]
}

/** Prometheus' histogram_quantile over one interval's bucket counts: linear inside the bucket, ms. */
export function quantileMs(counts: Float64Array, bounds: readonly number[], q: number): number {
  let total = 0
  for (const c of counts) total += c
  const rank = q * total
  let acc = 0
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i] as number
    if (acc + c >= rank && c > 0) {
      const upper = bounds[i]
      // Above the highest bound nothing is known but that bound.
      if (upper === undefined) return (bounds[bounds.length - 1] ?? 0) * 1000
      const lower = i === 0 ? 0 : (bounds[i - 1] as number)
      return (lower + ((upper - lower) * (rank - acc)) / c) * 1000
    }
    acc += c
  }
  return 0
}

const round = (v: number, digits = 2): number => {
  const f = 10 ** digits
  return Math.round(v * f) / f
}

function stats(
  counts: Float64Array,
  n: number,
  errors: number,
  seconds: number,
  bounds: readonly number[],
): Omit<DashboardRoute, 'route'> {
  const q = (p: number) => (n === 0 ? null : round(quantileMs(counts, bounds, p)))
  return {
    rps: round(n / seconds),
    errorRate: n === 0 ? null : round(errors / n, 4),
    p50: q(0.5),
    p95: q(0.95),
    p99: q(0.99),
  }
}

interface CacheCounters {
  l1h: number
  l1m: number
  l2h: number
  l2m: number
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null
const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) ? v : 0)
const ratio = (hits: number, misses: number): number | null =>
  hits + misses <= 0 ? null : round(hits / (hits + misses), 4)

/**
 * Turns cumulative counters into one interval's frame: route totals from
 * `metrics.routeTotals()` and cache counters from `metrics.snapshot()` are
 * diffed against the previous read. Routes at or under `own` (the dashboard
 * itself) count in the totals but are not listed.
 */
export class FrameBuilder {
  readonly #metrics: Metrics
  readonly #own: string
  readonly #maxRoutes: number
  #routes = new Map<string, RouteTotals>()
  #cache: CacheCounters | null = null
  #at = 0

  constructor(metrics: Metrics, own: string, maxRoutes: number) {
    this.#metrics = metrics
    this.#own = own
    this.#maxRoutes = maxRoutes
  }

  /** Reads the baseline: the first frame covers the time from here. */
  reset(now: number): void {
    this.#routes = new Map(this.#metrics.routeTotals().map((r) => [r.route, r]))
    this.#cache = null
    this.#at = now
  }

  /** Routes, totals and SLOs since the last call, read synchronously at `now` (ms, monotonic). */
  routes(now: number): Pick<DashboardFrame, 'routes' | 'totals' | 'slos'> {
    const seconds = Math.max(1e-3, (now - this.#at) / 1000)
    this.#at = now
    const bounds = this.#metrics.buckets
    const all = new Float64Array(bounds.length + 1)
    let n = 0
    let errors = 0
    const routes: DashboardRoute[] = []
    const next = new Map<string, RouteTotals>()
    for (const r of this.#metrics.routeTotals()) {
      next.set(r.route, r)
      const before = this.#routes.get(r.route)
      const dn = r.count - (before?.count ?? 0)
      if (dn <= 0) continue
      const counts = new Float64Array(r.counts.length)
      for (let i = 0; i < counts.length; i++) {
        counts[i] = (r.counts[i] as number) - (before?.counts[i] ?? 0)
        all[i] = (all[i] as number) + (counts[i] as number)
      }
      const de = r.errors - (before?.errors ?? 0)
      n += dn
      errors += de
      const own = r.route === this.#own || r.route.startsWith(`${this.#own}/`)
      if (!own) routes.push({ route: r.route, ...stats(counts, dn, de, seconds, bounds) })
    }
    this.#routes = next
    routes.sort((a, b) => b.rps - a.rps || (a.route < b.route ? -1 : 1))
    routes.length = Math.min(routes.length, this.#maxRoutes)
    return {
      routes,
      totals: { ...stats(all, n, errors, seconds, bounds), inFlight: this.#metrics.inFlight },
      slos: this.#metrics.slo.status(),
    }
  }

  /** The cache section from a `cache` stats provider (`CacheStats`), null if there is none. */
  cache(stats: unknown): DashboardCache | null {
    if (!isObject(stats) || !isObject(stats.l1) || !isObject(stats.l2)) return null
    const c = {
      l1h: num(stats.l1.hits),
      l1m: num(stats.l1.misses),
      l2h: num(stats.l2.hits),
      l2m: num(stats.l2.misses),
    }
    const p = this.#cache ?? c
    this.#cache = c
    const hits = c.l1h - p.l1h + (c.l2h - p.l2h)
    const lookups = c.l1h - p.l1h + (c.l1m - p.l1m)
    return {
      l1HitRatio: ratio(c.l1h - p.l1h, c.l1m - p.l1m),
      l2HitRatio: ratio(c.l2h - p.l2h, c.l2m - p.l2m),
      hitRatio: ratio(hits, lookups - hits),
      l1Items: num(stats.l1.size),
      l1Bytes: num(stats.l1.bytes),
      l2Connected: stats.l2.connected === true,
    }
  }

  /** The pool section from a `pool` stats provider (`{ [endpoint]: PoolCounts }`). */
  pool(stats: unknown): DashboardPool | null {
    if (!isObject(stats) || 'error' in stats) return null
    const out: DashboardPool = { total: 0, idle: 0, waiting: 0, max: 0, endpoints: [] }
    for (const [name, v] of Object.entries(stats)) {
      if (!isObject(v)) continue
      const e = {
        name,
        total: num(v.total),
        idle: num(v.idle),
        waiting: num(v.waiting),
        max: num(v.max),
      }
      out.endpoints.push(e)
      out.total += e.total
      out.idle += e.idle
      out.waiting += e.waiting
      out.max += e.max
    }
    return out.endpoints.length === 0 ? null : out
  }
}
