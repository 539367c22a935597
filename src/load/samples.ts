import {
  createLatencyHistogram,
  decodeLatencyHistogram,
  type LatencyHistogram,
} from './histogram.ts'
import type { MetricValues } from './thresholds.ts'

/**
 * The run's metrics, k6's names and kinds. A series is one metric with one
 * set of tags (scenario, group, name, method, status, …); workers record
 * into series of their own and ship what changed each second as deltas, the
 * coordinator adds the deltas up, so histograms merge exactly.
 */
export type MetricKind = 'trend' | 'rate' | 'counter' | 'gauge'

export const METRICS: Readonly<Record<string, MetricKind>> = Object.freeze({
  http_reqs: 'counter',
  /** In arrival-rate scenarios, from each iteration's scheduled start (coordinated-omission-correct). */
  http_req_duration: 'trend',
  /** From the actual send, what a closed-loop tool reports; arrival-rate scenarios only. */
  http_req_duration_uncorrected: 'trend',
  http_req_failed: 'rate',
  checks: 'rate',
  iterations: 'counter',
  iteration_duration: 'trend',
  iteration_errors: 'counter',
  dropped_iterations: 'counter',
  group_duration: 'trend',
  vus: 'gauge',
  vus_max: 'gauge',
})

/** One series as shipped between threads and written to result files. */
export interface SeriesRecord {
  readonly metric: string
  readonly kind: MetricKind
  readonly tags: Readonly<Record<string, string>>
  /** Samples (rate, trend), the sum of increments (counter), or the gauge's highest value. */
  readonly count: number
  /** Sum of the values (trend ms, counter increments). */
  readonly sum: number
  /** Rate samples that were true. */
  readonly passes: number
  /** Encoded HDR histogram (trends only). */
  readonly histogram?: string
}

export function seriesKey(metric: string, tags: Readonly<Record<string, string>>): string {
  let key = metric
  for (const name of Object.keys(tags).sort()) key += `\u0000${name}\u0001${tags[name]}`
  return key
}

class Series {
  count = 0
  sum = 0
  passes = 0
  hist: LatencyHistogram | undefined
  dirty = false
  readonly metric: string
  readonly kind: MetricKind
  readonly tags: Readonly<Record<string, string>>

  constructor(metric: string, kind: MetricKind, tags: Readonly<Record<string, string>>) {
    this.metric = metric
    this.kind = kind
    this.tags = tags
    if (kind === 'trend') this.hist = createLatencyHistogram()
  }

  toRecord(): SeriesRecord {
    const r = {
      metric: this.metric,
      kind: this.kind,
      tags: this.tags,
      count: this.count,
      sum: this.sum,
      passes: this.passes,
    }
    return this.hist === undefined ? r : { ...r, histogram: this.hist.encode() }
  }
}

/** A worker's recorder: cheap records, `flush()` returns and clears what changed. */
export class Recorder {
  #series = new Map<string, Series>()
  #dirty: Series[] = []

  #get(key: string, metric: string, tags: Readonly<Record<string, string>>): Series {
    let s = this.#series.get(key)
    if (s === undefined) {
      s = new Series(metric, METRICS[metric] ?? 'counter', tags)
      this.#series.set(key, s)
    }
    if (!s.dirty) {
      s.dirty = true
      this.#dirty.push(s)
    }
    return s
  }

  /** `key` must be `seriesKey(metric, tags)`; callers cache it to keep the hot path allocation-free. */
  trend(key: string, metric: string, tags: Readonly<Record<string, string>>, ms: number): void {
    const s = this.#get(key, metric, tags)
    s.count++
    s.sum += ms
    s.hist?.record(ms)
  }

  rate(key: string, metric: string, tags: Readonly<Record<string, string>>, pass: boolean): void {
    const s = this.#get(key, metric, tags)
    s.count++
    if (pass) s.passes++
  }

  add(key: string, metric: string, tags: Readonly<Record<string, string>>, n = 1): void {
    const s = this.#get(key, metric, tags)
    s.count += n
    s.sum += n
  }

  flush(): SeriesRecord[] {
    const out = this.#dirty.map((s) => {
      const r = s.toRecord()
      s.count = 0
      s.sum = 0
      s.passes = 0
      s.hist?.reset()
      s.dirty = false
      return r
    })
    this.#dirty = []
    return out
  }
}

/** The coordinator's (or a merge's) totals: deltas added up, looked up by tag filter. */
export class SeriesStore {
  #series = new Map<string, Series>()

  add(r: SeriesRecord): void {
    const key = seriesKey(r.metric, r.tags)
    let s = this.#series.get(key)
    if (s === undefined) {
      s = new Series(r.metric, r.kind, r.tags)
      this.#series.set(key, s)
    }
    if (r.kind === 'gauge') {
      s.count = Math.max(s.count, r.count)
    } else {
      s.count += r.count
      s.sum += r.sum
      s.passes += r.passes
    }
    if (r.histogram !== undefined && s.hist !== undefined) {
      s.hist.add(decodeLatencyHistogram(r.histogram))
    }
  }

  /** Sets a gauge to the given value (the coordinator sums the workers' VUs itself). */
  gauge(metric: string, value: number): void {
    this.add({ metric, kind: 'gauge', tags: {}, count: value, sum: value, passes: 0 })
  }

  records(): SeriesRecord[] {
    return [...this.#series.values()].map((s) => s.toRecord())
  }

  /** Every series of `metric` whose tags include `filter`, combined. */
  values(
    metric: string,
    filter: Readonly<Record<string, string>>,
    elapsedMs: number,
  ): MetricValues | undefined {
    const names = Object.keys(filter)
    const matches = [...this.#series.values()].filter(
      (s) => s.metric === metric && names.every((n) => s.tags[n] === filter[n]),
    )
    if (matches.length === 0) return undefined
    return combine(matches, elapsedMs)
  }

  /** A threshold lookup over this store; a counter never incremented is a real 0, not missing data. */
  lookup(
    elapsedMs: number,
  ): (metric: string, tags: Readonly<Record<string, string>>) => MetricValues | undefined {
    return (metric, tags) =>
      this.values(metric, tags, elapsedMs) ??
      (METRICS[metric] === 'counter' ? { count: 0, rate: 0, value: 0 } : undefined)
  }

  /** Distinct values of one tag among a metric's series, e.g. every request `name`. */
  tagValues(metric: string, tag: string): string[] {
    const seen = new Set<string>()
    for (const s of this.#series.values()) {
      const v = s.tags[tag]
      if (s.metric === metric && v !== undefined) seen.add(v)
    }
    return [...seen]
  }
}

function combine(series: readonly Series[], elapsedMs: number): MetricValues {
  const kind = series[0]?.kind
  let count = 0
  let passes = 0
  for (const s of series) {
    count = kind === 'gauge' ? Math.max(count, s.count) : count + s.count
    passes += s.passes
  }
  switch (kind) {
    case 'trend': {
      const h = createLatencyHistogram()
      for (const s of series) if (s.hist !== undefined) h.add(s.hist)
      return {
        count,
        avg: h.avg,
        med: h.med,
        min: h.min,
        max: h.max,
        percentile: (p) => h.percentile(p),
      }
    }
    case 'rate':
      return { count, rate: count === 0 ? 0 : passes / count, value: passes }
    case 'gauge':
      return { count: 1, value: count, max: count }
    default:
      return { count, rate: elapsedMs > 0 ? count / (elapsedMs / 1000) : 0, value: count }
  }
}
