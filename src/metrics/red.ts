import { collectDefaultMetrics, Gauge, type Metric, Registry } from 'prom-client'
import { HotpathError } from '../errors.ts'
import { RequestHistogram, type RouteTotals } from './histogram.ts'
import {
  checkStatsName,
  type MetricsOptions,
  type ResolvedMetricsOptions,
  resolveMetricsOptions,
  type StatsProvider,
} from './options.ts'
import { SloMonitor } from './slo.ts'

/**
 * The route label of requests no route matched. One fixed value, so a scan
 * of random URLs cannot create one series per URL.
 */
export const UNMATCHED_ROUTE = 'unmatched'

/** prom-client default metrics that promtool's linter rejects (gauges ending in `_total`). */
const LINT_FAILURES = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
]

/** What `snapshot()` returns: each provider's stats by name, and when. */
export type StatsSnapshot = { timestamp: number } & Record<string, unknown>

/**
 * RED metrics in one prom-client registry: request rate, errors and
 * duration from one histogram (`_count` is the rate; `status_code` splits
 * errors), requests in flight, Node process metrics, and named stats
 * providers for a JSON view. Other parts register their own metrics in
 * `registry` (`registerCacheMetrics(cache, { registry: metrics.registry })`).
 */
export class Metrics {
  readonly registry: Registry
  /** The `Content-Type` of `text()`. */
  readonly contentType: string
  /** Histogram bounds in seconds (SLO thresholds included). */
  readonly buckets: readonly number[]
  /** Latency thresholds in ms, sorted: room for SLO evaluation over the same histogram. */
  readonly sloThresholdsMs: readonly number[]
  readonly #histogram: RequestHistogram
  readonly #o: ResolvedMetricsOptions
  readonly #stats = new Map<string, StatsProvider>()
  /** The SLO targets (`slos` option) over sliding windows; `status()`, `alert` events. */
  readonly slo: SloMonitor
  #inFlight = 0

  constructor(options: MetricsOptions = {}) {
    const o = resolveMetricsOptions(options)
    this.#o = o
    this.registry = options.registry ?? new Registry()
    this.contentType = this.registry.contentType
    this.buckets = o.bounds
    this.sloThresholdsMs = o.sloThresholdsMs
    for (const [name, provider] of Object.entries(options.stats ?? {}))
      this.addStats(name, provider)

    const p = o.prefix
    this.#histogram = new RequestHistogram(
      `${p}http_request_duration_seconds`,
      'HTTP request duration by method, route template and status code.',
      o.bounds,
    )
    this.slo = new SloMonitor(o.slos, { bounds: o.bounds, evaluateEveryMs: o.sloEvaluateEveryMs })
    const inFlight: Gauge = new Gauge({
      name: `${p}http_requests_in_flight`,
      help: 'HTTP requests being served.',
      registers: [],
      collect: (): void => inFlight.set(this.#inFlight),
    })
    try {
      // The cast is the seam: the registry reads any object with a metric's shape.
      this.registry.registerMetric(this.#histogram as unknown as Metric)
      this.registry.registerMetric(inFlight)
      if (o.slos.length > 0) for (const g of sloGauges(p, this.slo)) this.registry.registerMetric(g)
    } catch (err) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['registry', (err as Error).message], {
        cause: err,
      })
    }
    // A registry may already carry them (several Metrics over one registry).
    if (
      o.defaultMetrics &&
      this.registry.getSingleMetric(`${p}process_cpu_user_seconds_total`) === undefined
    ) {
      collectDefaultMetrics({ register: this.registry, prefix: p })
      // Gauges named like counters fail `promtool check metrics`; each is the
      // sum of the per-type gauge of the same name without `_total`.
      for (const name of LINT_FAILURES) this.registry.removeSingleMetric(p + name)
    }
  }

  /**
   * Records one finished request. `route` is the route template
   * (`/products/:id`), never the raw URL, or `UNMATCHED_ROUTE`.
   */
  observe(method: string, route: string, statusCode: number, seconds: number): void {
    this.#histogram.observe(method, route, statusCode, seconds)
    this.slo.observe(method, route, statusCode, seconds)
  }

  /** A request began: the in-flight gauge counts it until `requestFinished()`. */
  requestStarted(): void {
    this.#inFlight++
  }

  requestFinished(): void {
    this.#inFlight--
  }

  get inFlight(): number {
    return this.#inFlight
  }

  /** Per route totals so far (bounds: `buckets`), for live views that diff two reads. */
  routeTotals(): RouteTotals[] {
    return this.#histogram.routes()
  }

  /** Requests observed so far. */
  get requests(): number {
    return this.#histogram.total()
  }

  /** The registry in Prometheus text format (`contentType`). */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  /** Adds a named stats provider to `snapshot()`; a later one of the same name replaces it. */
  addStats(name: string, provider: StatsProvider): void {
    checkStatsName(name)
    if (typeof provider !== 'function')
      throw new HotpathError('HP_ERR_INVALID_OPTION', [`stats.${name}`, 'expected a function'])
    this.#stats.set(name, provider)
  }

  /**
   * Every provider's stats, read in parallel: `{ cache, database, pool, …,
   * timestamp }`. A provider that throws or does not answer within
   * `statsTimeoutMs` appears as `{ error }` instead of failing the rest.
   */
  async snapshot(): Promise<StatsSnapshot> {
    const names = [...this.#stats.keys()]
    const values = await Promise.all(
      [...this.#stats.values()].map((f) => settle(f, this.#o.statsTimeoutMs)),
    )
    const out = {} as StatsSnapshot
    for (let i = 0; i < names.length; i++) out[names[i]!] = values[i]
    out.timestamp = Date.now()
    return out
  }
}

async function settle(f: StatsProvider, timeoutMs: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined
  try {
    const v = f()
    if (!(v instanceof Promise)) return v
    return await Promise.race([
      v,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
        timer.unref()
      }),
    ])
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) }
  } finally {
    clearTimeout(timer)
  }
}

/** `slo_state` (-1 no data, 0 ok, 1 warning, 2 critical) and `slo_value` per SLO and indicator. */
function sloGauges(prefix: string, slo: SloMonitor): Gauge[] {
  const rank = { 'no-data': -1, ok: 0, warning: 1, critical: 2 } as const
  const labelNames = ['slo', 'indicator'] as const
  const state: Gauge<'slo' | 'indicator'> = new Gauge({
    name: `${prefix}slo_state`,
    help: 'SLO state over its window: -1 no data, 0 ok, 1 warning, 2 critical.',
    labelNames,
    registers: [],
    collect(): void {
      for (const s of slo.status())
        for (const x of s.indicators) {
          state.set({ slo: s.name, indicator: x.indicator }, rank[x.state])
          value.set({ slo: s.name, indicator: x.indicator }, x.value ?? Number.NaN)
        }
    },
  })
  const value: Gauge<'slo' | 'indicator'> = new Gauge({
    name: `${prefix}slo_value`,
    help: 'SLO indicator over its window: latency in ms, ratios as fractions.',
    labelNames,
    registers: [],
  })
  return [state, value]
}

export function createMetrics(options?: MetricsOptions): Metrics {
  return new Metrics(options)
}
