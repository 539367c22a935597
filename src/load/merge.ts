import { HotpathError } from '../errors.ts'
import {
  createLatencyHistogram,
  decodeLatencyHistogram,
  type LatencyHistogram,
} from './histogram.ts'
import {
  RESULT_FORMAT,
  RESULT_VERSION,
  type RunResult,
  type ScenarioSummary,
  type ThresholdOutcome,
  type TimelineCounts,
  type TimelinePoint,
  timelinePoint,
} from './result.ts'
import { type SeriesRecord, SeriesStore, seriesKey } from './samples.ts'
import { evaluateThresholds, parseThresholds } from './thresholds.ts'

/**
 * `hotpath report merge`: results of the same scenarios run on several
 * machines at about the same time, added up as one run. Histograms are
 * added, never averaged, so merged percentiles are exact; thresholds are
 * evaluated again on the merged series, since the runs' own outcomes
 * disagree, and a count that passes on every machine can fail on their sum.
 */

/** Gauges that count each machine's own VUs: the merged run has all of them at once. */
const SUMMED_GAUGES = new Set(['vus', 'vus_max'])

type Counts = TimelineCounts

const COUNT_FIELDS = [
  'reqs',
  'failed',
  'iterations',
  'dropped',
  'checks',
  'checksFailed',
  'vus',
  'bytesReceived',
] as const satisfies readonly (keyof Counts)[]

interface Second {
  counts: { -readonly [K in keyof Counts]: number }
  latency: LatencyHistogram
}

function emptySecond(): Second {
  const counts = Object.fromEntries(COUNT_FIELDS.map((f) => [f, 0])) as Second['counts']
  return { counts, latency: createLatencyHistogram() }
}

function check(results: readonly RunResult[]): void {
  if (results.length === 0) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['results', 'nothing to merge'])
  }
  results.forEach((r, i) => {
    if (r?.format !== RESULT_FORMAT || r.version !== RESULT_VERSION) {
      throw new HotpathError('HP_ERR_LOAD_INVALID_RESULT', [
        `result ${i + 1}`,
        `not a ${RESULT_FORMAT} version ${RESULT_VERSION}`,
      ])
    }
  })
}

function mergeTimeline(results: readonly RunResult[], baseSecond: number): TimelinePoint[] {
  const seconds = new Map<number, Second>()
  for (const r of results) {
    // Aligned on wall-clock seconds: machines started at different instants.
    const offset = Math.floor(r.startedAtMs / 1000) - baseSecond
    for (const p of r.timeline) {
      const t = offset + p.t
      let s = seconds.get(t)
      if (s === undefined) {
        s = emptySecond()
        seconds.set(t, s)
      }
      for (const f of COUNT_FIELDS) s.counts[f] += p[f] ?? 0
      if (p.latency) s.latency.add(decodeLatencyHistogram(p.latency))
    }
  }
  if (seconds.size === 0) return []
  // A loop, not Math.max(...): a day-long timeline is too many arguments.
  let last = 0
  for (const t of seconds.keys()) last = Math.max(last, t)
  const points: TimelinePoint[] = []
  // Seconds between runs that did not overlap had no traffic: say so with zeros.
  for (let t = 0; t <= last; t++) {
    const { counts, latency: h } = seconds.get(t) ?? emptySecond()
    points.push(timelinePoint(t, counts, h))
  }
  return points
}

function mergeSeries(
  results: readonly RunResult[],
  timeline: readonly TimelinePoint[],
): SeriesStore {
  const store = new SeriesStore()
  const summed = new Map<string, SeriesRecord>()
  for (const r of results) {
    // Within a run a gauge is its highest value; across runs the VUs add up.
    const own = new Map<string, SeriesRecord>()
    for (const s of r.series) {
      if (s.kind !== 'gauge' || !SUMMED_GAUGES.has(s.metric)) {
        store.add(s)
        continue
      }
      const key = seriesKey(s.metric, s.tags)
      const prev = own.get(key)
      if (prev === undefined || s.count > prev.count) own.set(key, s)
    }
    for (const [key, s] of own) {
      const prev = summed.get(key)
      summed.set(
        key,
        prev === undefined ? s : { ...prev, count: prev.count + s.count, sum: prev.sum + s.sum },
      )
    }
  }
  // The peak of the summed per-second VUs is exact; the sum of each machine's
  // peak overstates it when the peaks did not coincide.
  const peak = timeline.reduce((n, p) => Math.max(n, p.vus), 0)
  for (const s of summed.values()) {
    const exact = s.metric === 'vus_max' && peak > 0 && Object.keys(s.tags).length === 0
    store.add(exact ? { ...s, count: peak, sum: peak } : s)
  }
  return store
}

function mergeScenarios(results: readonly RunResult[]): ScenarioSummary[] {
  const byName = new Map<string, ScenarioSummary>()
  for (const r of results) {
    for (const s of r.scenarios) {
      const prev = byName.get(s.name)
      byName.set(
        s.name,
        prev === undefined
          ? s
          : {
              ...prev,
              durationMs: Math.max(prev.durationMs, s.durationMs),
              maxVUs: prev.maxVUs + s.maxVUs,
            },
      )
    }
  }
  return [...byName.values()]
}

function mergeThresholds(
  results: readonly RunResult[],
  store: SeriesStore,
  durationMs: number,
): ThresholdOutcome[] {
  const unique = new Map<string, ThresholdOutcome>()
  for (const r of results) {
    for (const t of r.thresholds) {
      const id = `${t.key}\u0000${t.threshold}`
      const prev = unique.get(id)
      if (prev === undefined) unique.set(id, t)
      else if (t.abortOnFail && !prev.abortOnFail) unique.set(id, { ...prev, abortOnFail: true })
    }
  }
  const lookup = store.lookup(durationMs)
  return [...unique.values()].map((t) => {
    const parsed = parseThresholds({
      [t.key]: [{ threshold: t.threshold, abortOnFail: t.abortOnFail }],
    })
    const [r] = evaluateThresholds(parsed, lookup)
    return {
      key: t.key,
      threshold: t.threshold,
      abortOnFail: t.abortOnFail,
      ok: r?.ok ?? false,
      actual: r?.actual ?? null,
      noData: r?.noData ?? true,
    }
  })
}

/** Adds up results of runs made side by side (one per machine) into one result. */
export function mergeResults(results: readonly RunResult[]): RunResult {
  check(results)
  const startedAtMs = Math.min(...results.map((r) => r.startedAtMs))
  const endMs = Math.max(...results.map((r) => r.startedAtMs + r.durationMs))
  const durationMs = endMs - startedAtMs
  const timeline = mergeTimeline(results, Math.floor(startedAtMs / 1000))
  const store = mergeSeries(results, timeline)
  const reasons = results.flatMap((r, i) =>
    r.aborted === null ? [] : [`run ${i + 1}: ${r.aborted}`],
  )
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    startedAt: new Date(startedAtMs).toISOString(),
    startedAtMs,
    durationMs,
    runs: results.reduce((n, r) => n + (r.runs ?? 1), 0),
    scenarios: mergeScenarios(results),
    thresholds: mergeThresholds(results, store, durationMs),
    series: store.records(),
    timeline,
    warnings: results.flatMap((r, i) => r.warnings.map((w) => `run ${i + 1}: ${w}`)),
    aborted: reasons.length === 0 ? null : reasons.join('; '),
  }
}
