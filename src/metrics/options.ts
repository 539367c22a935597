import type { Registry } from 'prom-client'
import { HotpathError } from '../errors.ts'
import { checkSloTargets, type SloTarget } from './slo.ts'

/** Reads one part's stats for `snapshot()` (e.g. `() => cache.stats()`); may be async. */
export type StatsProvider = () => unknown

export interface MetricsOptions {
  /** Registry to register in. Default: a new one per instance (never prom-client's global registry). */
  registry?: Registry
  /** Prefix of every metric name, the Node process metrics' too. Default: `''`. */
  prefix?: string
  /**
   * Histogram bounds in seconds besides the SLO thresholds; both are merged,
   * sorted and deduplicated. Default: `[0.005, 0.01, 0.025, 0.25, 2.5, 5, 10]`.
   */
  buckets?: readonly number[]
  /**
   * Latency thresholds in ms, each made a bucket bound so "share of requests
   * under X ms" is exact rather than interpolated. Default: the guides'
   * targets and alert levels, `[50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000]`.
   */
  sloThresholdsMs?: readonly number[]
  /** Node process metrics (CPU, memory, event-loop lag, GC) in the same registry. Default: `true`. */
  defaultMetrics?: boolean
  /** Named stats providers for `snapshot()` (`/metrics.json`): `{ cache: () => cache.stats() }`. Default: none. */
  stats?: Readonly<Record<string, StatsProvider>>
  /** A provider that has not answered after this long is reported as `{ error }`. Default: 1000 (ms). */
  statsTimeoutMs?: number
  /** Service level objectives evaluated over sliding windows (`metrics.slo`); their levels become histogram bounds. Default: none. */
  slos?: readonly SloTarget[]
  /** How often SLO states are evaluated and `alert` events emitted; 0 for manual `metrics.slo.evaluate()`. Default: 1000 (ms). */
  sloEvaluateEveryMs?: number
}

/** Defaults, in one place (units in the names). */
export const metricsDefaults = Object.freeze({
  prefix: '',
  buckets: Object.freeze([0.005, 0.01, 0.025, 0.25, 2.5, 5, 10]),
  sloThresholdsMs: Object.freeze([50, 100, 150, 200, 300, 500, 750, 1000, 1500, 2000, 3000]),
  defaultMetrics: true,
  statsTimeoutMs: 1000,
  sloEvaluateEveryMs: 1000,
})

export interface ResolvedMetricsOptions {
  prefix: string
  /** The histogram's bounds, seconds: buckets ∪ thresholds, sorted, unique. */
  bounds: readonly number[]
  sloThresholdsMs: readonly number[]
  defaultMetrics: boolean
  statsTimeoutMs: number
  slos: readonly SloTarget[]
  sloEvaluateEveryMs: number
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const STATS_NAME = /^[a-zA-Z_$][a-zA-Z0-9_$]*$/

function invalid(name: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [name, why])
}

function positives(name: string, v: unknown): number[] {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'number' || !Number.isFinite(x) || x <= 0))
    throw invalid(name, 'expected an array of positive finite numbers')
  return v as number[]
}

export function checkStatsName(name: string): void {
  if (typeof name !== 'string' || !STATS_NAME.test(name) || name === 'timestamp')
    throw invalid('stats', `"${name}" is not an identifier other than "timestamp"`)
}

export function resolveMetricsOptions(o: MetricsOptions = {}): ResolvedMetricsOptions {
  const d = metricsDefaults
  const prefix = o.prefix ?? d.prefix
  if (typeof prefix !== 'string' || (prefix !== '' && !NAME.test(prefix)))
    throw invalid('prefix', `"${prefix}" is not a Prometheus metric name prefix`)
  const buckets = positives('buckets', o.buckets ?? d.buckets)
  const slos = o.slos ?? []
  if (!Array.isArray(slos)) throw invalid('slos', 'expected an array of SLO targets')
  const thresholds = [
    ...positives('sloThresholdsMs', o.sloThresholdsMs ?? d.sloThresholdsMs),
    ...checkSloTargets(slos),
  ]
  // ms → s by division, so 150 ms is the double closest to 0.15 (printed "0.15").
  const bounds = [...new Set([...buckets, ...thresholds.map((ms) => ms / 1000)])].sort(
    (a, b) => a - b,
  )
  const statsTimeoutMs = o.statsTimeoutMs ?? d.statsTimeoutMs
  if (!Number.isFinite(statsTimeoutMs) || statsTimeoutMs <= 0)
    throw invalid('statsTimeoutMs', 'expected a positive number of ms')
  for (const name of Object.keys(o.stats ?? {})) checkStatsName(name)
  return {
    prefix,
    bounds: Object.freeze(bounds),
    sloThresholdsMs: Object.freeze([...new Set(thresholds)].sort((a, b) => a - b)),
    defaultMetrics: o.defaultMetrics ?? d.defaultMetrics,
    statsTimeoutMs,
    slos,
    sloEvaluateEveryMs: o.sloEvaluateEveryMs ?? d.sloEvaluateEveryMs,
  }
}
