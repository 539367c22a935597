import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  createLatencyHistogram,
  decodeLatencyHistogram,
  evaluateThresholds,
  isHotpathError,
  parseRunResult,
  parseThresholds,
  RESULT_FORMAT,
  RESULT_VERSION,
  type RunResult,
  SeriesStore,
  type ThresholdsConfig,
  type TimelinePoint,
} from '../../src/load/index.ts'
import { mergeResults } from '../../src/load/merge.ts'
import { timelinePoint } from '../../src/load/result.ts'
import { outcome } from '../../src/load/run.ts'
import { Recorder, seriesKey } from '../../src/load/samples.ts'

// Results as `hotpath load --out` writes them, built from known samples:
// `n` requests of `ms` each, spread evenly over `seconds` seconds.
interface Spec {
  readonly startedAtMs: number
  readonly ms: number
  readonly n: number
  readonly vus: number
  readonly seconds?: number
  readonly thresholds?: ThresholdsConfig
  readonly warnings?: string[]
  readonly aborted?: string | null
}

const T0 = 1_700_000_000_000

function build(spec: Spec): RunResult {
  const seconds = spec.seconds ?? 5
  const rec = new Recorder()
  const tags = { scenario: 'api', name: 'GET /items', method: 'GET', status: '200' }
  const iterTags = { scenario: 'api' }
  const perSecond = Array.from({ length: seconds }, () => ({
    reqs: 0,
    h: createLatencyHistogram(),
  }))
  for (let i = 0; i < spec.n; i++) {
    rec.add(seriesKey('http_reqs', tags), 'http_reqs', tags)
    rec.trend(seriesKey('http_req_duration', tags), 'http_req_duration', tags, spec.ms)
    rec.rate(seriesKey('http_req_failed', tags), 'http_req_failed', tags, false)
    rec.add(seriesKey('iterations', iterTags), 'iterations', iterTags)
    const s = perSecond[i % seconds]
    assert.ok(s)
    s.reqs++
    s.h.record(spec.ms)
  }
  const store = new SeriesStore()
  for (const r of rec.flush()) store.add(r)
  store.gauge('vus', spec.vus)
  store.gauge('vus_max', spec.vus)
  const durationMs = seconds * 1000
  const results = evaluateThresholds(
    parseThresholds(spec.thresholds ?? {}),
    store.lookup(durationMs),
  )
  const timeline: TimelinePoint[] = perSecond.map(({ reqs, h }, t) =>
    timelinePoint(
      t,
      {
        reqs,
        failed: 0,
        iterations: reqs,
        dropped: 0,
        checks: 0,
        checksFailed: 0,
        vus: spec.vus,
        bytesReceived: reqs * 100,
      },
      h,
    ),
  )
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    startedAt: new Date(spec.startedAtMs).toISOString(),
    startedAtMs: spec.startedAtMs,
    durationMs,
    runs: 1,
    scenarios: [
      {
        name: 'api',
        file: 'api.ts',
        executor: 'constant-vus',
        open: false,
        durationMs,
        maxVUs: spec.vus,
      },
    ],
    thresholds: results.map(outcome),
    series: store.records(),
    timeline,
    warnings: spec.warnings ?? [],
    aborted: spec.aborted ?? null,
  }
}

// 3 significant digits: a value is reported within 0.1 % of itself.
function near(actual: number | undefined, expected: number, what: string): void {
  assert.ok(actual !== undefined, `${what}: undefined`)
  assert.ok(
    Math.abs(actual - expected) <= expected * 0.001 + 0.001,
    `${what}: ${actual} vs ${expected}`,
  )
}

function storeOf(r: RunResult): SeriesStore {
  const s = new SeriesStore()
  for (const x of r.series) s.add(x)
  return s
}

const thresholds: ThresholdsConfig = {
  http_req_duration: ['p(95)<50'],
  'http_reqs{scenario:api}': ['count<1500'],
  dropped_iterations: ['count<1'],
}
const fast = build({ startedAtMs: T0, ms: 10, n: 1000, vus: 10, thresholds, warnings: ['slow'] })
// Started 1.2 s later: its second 0 is the first run's second 1.
const slow = build({
  startedAtMs: T0 + 1200,
  ms: 100,
  n: 1000,
  vus: 5,
  thresholds,
  aborted: 'interrupted',
})

describe('mergeResults', () => {
  const merged = mergeResults([fast, slow])
  const store = storeOf(merged)

  it('adds histograms: percentiles of the whole, not averages', () => {
    const lat = store.values('http_req_duration', { name: 'GET /items' }, merged.durationMs)
    assert.equal(lat?.count, 2000)
    near(lat?.percentile?.(50), 10, 'p50')
    near(lat?.percentile?.(99), 100, 'p99')
    near(lat?.max, 100, 'max')
    near(lat?.avg, 55, 'avg')
  })

  it('sums counters, rates and VUs', () => {
    const d = merged.durationMs
    assert.equal(store.values('http_reqs', {}, d)?.value, 2000)
    assert.equal(store.values('iterations', { scenario: 'api' }, d)?.value, 2000)
    assert.equal(store.values('http_req_failed', {}, d)?.count, 2000)
    assert.equal(store.values('vus', {}, d)?.value, 15)
    assert.equal(store.values('vus_max', {}, d)?.value, 15)
    assert.equal(merged.scenarios.length, 1)
    assert.equal(merged.scenarios[0]?.maxVUs, 15)
    assert.equal(merged.runs, 2)
  })

  it('aligns the timeline on wall-clock seconds', () => {
    assert.equal(merged.startedAtMs, T0)
    assert.equal(merged.startedAt, new Date(T0).toISOString())
    assert.equal(merged.durationMs, 6200)
    assert.deepEqual(
      merged.timeline.map((p) => p.t),
      [0, 1, 2, 3, 4, 5],
    )
    assert.deepEqual(
      merged.timeline.map((p) => p.reqs),
      [200, 400, 400, 400, 400, 200],
    )
    assert.deepEqual(
      merged.timeline.map((p) => p.vus),
      [10, 15, 15, 15, 15, 5],
    )
    const [first, second, , , , last] = merged.timeline
    near(first?.p99, 10, 'second 0: only the fast run')
    near(last?.p50, 100, 'second 5: only the slow run')
    near(second?.p50, 10, 'second 1 p50')
    near(second?.p99, 100, 'second 1 p99')
    near(second?.avg, 55, 'second 1 avg')
    assert.equal(decodeLatencyHistogram(second?.latency ?? '').count, 400)
  })

  it('evaluates thresholds again on the merged series, each once', () => {
    assert.equal(fast.thresholds.find((t) => t.threshold === 'p(95)<50')?.ok, true)
    assert.equal(fast.thresholds.find((t) => t.threshold === 'count<1500')?.ok, true)
    assert.equal(slow.thresholds.find((t) => t.threshold === 'count<1500')?.ok, true)
    assert.equal(merged.thresholds.length, 3)
    const p95 = merged.thresholds.find((t) => t.key === 'http_req_duration')
    assert.equal(p95?.ok, false)
    near(p95?.actual ?? undefined, 100, 'merged p95')
    // Passed on each machine, fails on their sum.
    const count = merged.thresholds.find((t) => t.key === 'http_reqs{scenario:api}')
    assert.deepEqual(
      { ok: count?.ok, actual: count?.actual, noData: count?.noData },
      { ok: false, actual: 2000, noData: false },
    )
    // A counter never incremented is a real 0, not missing data.
    const dropped = merged.thresholds.find((t) => t.key === 'dropped_iterations')
    assert.deepEqual(
      { ok: dropped?.ok, actual: dropped?.actual, noData: dropped?.noData },
      { ok: true, actual: 0, noData: false },
    )
  })

  it('keeps every warning and abort, naming the run', () => {
    assert.deepEqual(merged.warnings, ['run 1: slow'])
    assert.equal(merged.aborted, 'run 2: interrupted')
    assert.equal(mergeResults([fast, fast]).aborted, null)
  })

  it('writes a valid result that merges again', () => {
    const again = mergeResults([parseRunResult(JSON.stringify(merged), 'merged.json'), fast])
    assert.equal(again.runs, 3)
    assert.equal(storeOf(again).values('http_reqs', {}, again.durationMs)?.value, 3000)
    assert.equal(storeOf(again).values('vus_max', {}, again.durationMs)?.value, 25)
  })

  it('counts VUs at the summed peak when the machines peaked apart', () => {
    const later = build({ startedAtMs: T0 + 10_000, ms: 10, n: 10, vus: 7 })
    const apart = mergeResults([fast, later])
    const s = storeOf(apart)
    assert.equal(s.values('vus_max', {}, apart.durationMs)?.value, 10)
    assert.equal(s.values('vus', {}, apart.durationMs)?.value, 17)
    // The seconds between the runs had no traffic.
    assert.equal(apart.timeline.length, 15)
    assert.deepEqual(
      apart.timeline.slice(5, 10).map((p) => [p.reqs, p.vus, p.p99]),
      Array.from({ length: 5 }, () => [0, 0, 0]),
    )
  })

  it('rejects nothing to merge and what is not a result', () => {
    assert.throws(
      () => mergeResults([]),
      (err: unknown) => isHotpathError(err, 'HP_ERR_INVALID_OPTION') && /nothing/.test(err.message),
    )
    const bad = { ...fast, format: 'k6' } as unknown as RunResult
    assert.throws(
      () => mergeResults([fast, bad]),
      (err: unknown) =>
        isHotpathError(err, 'HP_ERR_LOAD_INVALID_RESULT') && err.message.includes('result 2'),
    )
  })
})
