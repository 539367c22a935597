import { HotpathError } from '../errors.ts'
import type { LatencyHistogram } from './histogram.ts'
import type { SeriesRecord, SeriesStore } from './samples.ts'
import type { ExecutorName } from './scenario.ts'

/**
 * What `hotpath load --out result.json` writes: every series with its HDR
 * histogram and a per-second timeline, also with histograms, so results
 * from several machines add up exactly (`hotpath report merge`) and the
 * HTML report can be drawn later from the file alone.
 */
export const RESULT_FORMAT = 'hotpath-load-result'
export const RESULT_VERSION = 1

/** Latency figures of a histogram, in ms; 0 without samples. */
export interface LatencyFigures {
  readonly avg: number
  readonly p50: number
  readonly p90: number
  readonly p95: number
  readonly p99: number
  readonly max: number
}

/** Anything with a histogram's figures: a LatencyHistogram, or a store's MetricValues. */
interface HasLatency {
  readonly avg?: number | undefined
  readonly max?: number | undefined
  percentile?(q: number): number
}

export function latencyFigures(h: HasLatency | undefined): LatencyFigures {
  const p = (q: number) => h?.percentile?.(q) ?? 0
  return { avg: h?.avg ?? 0, p50: p(50), p90: p(90), p95: p(95), p99: p(99), max: h?.max ?? 0 }
}

/** One endpoint (a `name` tag, or all), as the summary and the report print it. */
export interface EndpointRow extends LatencyFigures {
  readonly name: string
  readonly requests: number
  readonly failedRate: number
}

export function endpointRow(
  store: SeriesStore,
  name: string,
  filter: Readonly<Record<string, string>>,
  durationMs: number,
): EndpointRow {
  const lat = store.values('http_req_duration', filter, durationMs)
  return {
    name,
    requests: store.values('http_reqs', filter, durationMs)?.value ?? lat?.count ?? 0,
    failedRate: store.values('http_req_failed', filter, durationMs)?.rate ?? 0,
    ...latencyFigures(lat),
  }
}

/** One second of the run, all workers (and merged machines) added up. */
export interface TimelinePoint extends LatencyFigures {
  /** Seconds since the run's start (`startedAtMs`). */
  readonly t: number
  readonly reqs: number
  /** Requests that failed (network error or an unexpected status). */
  readonly failed: number
  readonly iterations: number
  readonly dropped: number
  readonly checks: number
  readonly checksFailed: number
  /** VUs allocated at the end of the second. */
  readonly vus: number
  readonly bytesReceived: number
  // The latency figures: `http_req_duration` of the second (corrected in arrival-rate scenarios).
  /** The second's encoded latency histogram, for merging. */
  readonly latency: string
}

/** A point's counters, without its latency figures. */
export type TimelineCounts = Omit<
  TimelinePoint,
  't' | 'avg' | 'p50' | 'p90' | 'p95' | 'p99' | 'max' | 'latency'
>

/** A timeline point from a second's counters and latency histogram. */
export function timelinePoint(
  t: number,
  counts: TimelineCounts,
  h: LatencyHistogram,
): TimelinePoint {
  return { t, ...counts, ...latencyFigures(h), latency: h.encode() }
}

export interface ThresholdOutcome {
  /** The key as written, with any implied `scenario:` filter: `http_req_duration{name:login}`. */
  readonly key: string
  /** The expression: `p(95)<200`. */
  readonly threshold: string
  readonly abortOnFail: boolean
  readonly ok: boolean
  /** The measured aggregate; null when the metric had no samples. */
  readonly actual: number | null
  readonly noData: boolean
}

export interface ScenarioSummary {
  readonly name: string
  readonly file: string
  readonly executor: ExecutorName
  /** Arrival-rate (open model): latency is corrected for coordinated omission. */
  readonly open: boolean
  readonly durationMs: number
  readonly maxVUs: number
}

export interface RunResult {
  readonly format: typeof RESULT_FORMAT
  readonly version: typeof RESULT_VERSION
  /** ISO time and epoch milliseconds of the run's start. */
  readonly startedAt: string
  readonly startedAtMs: number
  readonly durationMs: number
  /** How many runs were merged into this one (1 for a plain run). */
  readonly runs: number
  readonly scenarios: readonly ScenarioSummary[]
  readonly thresholds: readonly ThresholdOutcome[]
  readonly series: readonly SeriesRecord[]
  readonly timeline: readonly TimelinePoint[]
  /** Dropped iterations, missed rates, journey errors: printed loudly and kept here. */
  readonly warnings: readonly string[]
  /** Why the run stopped early (a threshold with abortOnFail, an interrupt); null when it ran out. */
  readonly aborted: string | null
}

function invalid(where: string, why: string): HotpathError<'HP_ERR_LOAD_INVALID_RESULT'> {
  return new HotpathError('HP_ERR_LOAD_INVALID_RESULT', [where, why])
}

/** Parses and checks a result file's text; `where` names it in errors. */
export function parseRunResult(text: string, where: string): RunResult {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    throw invalid(where, `not JSON (${(err as Error).message})`)
  }
  const r = v as Partial<RunResult> | null
  if (r === null || typeof r !== 'object' || r.format !== RESULT_FORMAT) {
    throw invalid(where, `"format" is not "${RESULT_FORMAT}"`)
  }
  if (r.version !== RESULT_VERSION) {
    throw invalid(where, `version ${String(r.version)} is not ${RESULT_VERSION}`)
  }
  for (const f of ['series', 'timeline', 'thresholds', 'scenarios', 'warnings'] as const) {
    if (!Array.isArray(r[f])) throw invalid(where, `"${f}" is not an array`)
  }
  if (typeof r.startedAtMs !== 'number' || typeof r.durationMs !== 'number') {
    throw invalid(where, '"startedAtMs" and "durationMs" must be numbers')
  }
  for (const s of r.series ?? []) {
    if (
      typeof s?.metric !== 'string' ||
      typeof s.count !== 'number' ||
      typeof s.tags !== 'object'
    ) {
      throw invalid(where, 'a series lacks metric, tags or count')
    }
  }
  return r as RunResult
}
