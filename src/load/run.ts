import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import { decodeLatencyHistogram, type LatencyHistogram } from './histogram.ts'
import { type LoadPlan, type PlanOptions, planLoad } from './plan.ts'
import type { FromWorker, Tick, ToWorker, WorkerInput } from './protocol.ts'
import {
  RESULT_FORMAT,
  RESULT_VERSION,
  type RunResult,
  type ThresholdOutcome,
  type TimelinePoint,
  timelinePoint,
} from './result.ts'
import { SeriesStore } from './samples.ts'
import { arrivalTotal } from './schedule.ts'
import { evaluateThreshold, type Threshold, type ThresholdResult } from './thresholds.ts'
import { newSecond } from './vu.ts'

/**
 * The coordinator: plans the run (every check before any load), starts the
 * workers on one shared instant, adds their ticks up second by second,
 * evaluates thresholds as it goes (abortOnFail), and returns the result.
 */
export interface LoadOptions extends PlanOptions {
  /** Load-generating threads. Default: the cores, at most one per VU. */
  readonly workers?: number
  /** Called once per second of the run with the second just completed. */
  readonly onProgress?: (p: Progress) => void
  /** Aborting stops the run gracefully (running iterations get their gracefulStop). */
  readonly signal?: AbortSignal
}

export interface Progress {
  readonly elapsedMs: number
  readonly totalMs: number
  readonly vus: number
  /** Requests completed in the last second. */
  readonly rps: number
  /** p95 of the last second's http_req_duration, ms. */
  readonly p95: number
  readonly reqs: number
  readonly failed: number
  readonly dropped: number
}

interface Acc {
  reported: number
  reqs: number
  failed: number
  iterations: number
  dropped: number
  checks: number
  checksFailed: number
  bytesReceived: number
  vus: number
  latency: LatencyHistogram
}

/** Between the start message and the common start: a message between threads takes well under 1 ms. */
const START_LEAD_MS = 50

const WORKER_URL = new URL(
  import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js',
  import.meta.url,
)

/** Parses, checks and runs: resolves with the result once every worker has finished. */
export async function runLoad(o: LoadOptions): Promise<RunResult> {
  const plan = await planLoad(o)
  return execute(plan, o)
}

/** The outcome shape of a threshold: `key` as written, `threshold` the expression. */
export function outcome(r: ThresholdResult): ThresholdOutcome {
  const t = r.threshold
  const tags = Object.entries(t.tags).map(([k, v]) => `${k}:${v}`)
  const a = t.aggregate
  return {
    key: tags.length === 0 ? t.metric : `${t.metric}{${tags.join(',')}}`,
    threshold: `${a.type === 'p' ? `p(${a.percentile})` : a.type}${t.operator}${t.value}`,
    abortOnFail: t.abortOnFail,
    ok: r.ok,
    actual: r.actual ?? null,
    noData: r.noData,
  }
}

async function execute(plan: LoadPlan, o: LoadOptions): Promise<RunResult> {
  const maxVUs = plan.scenarios.reduce((n, s) => n + s.maxVUs, 0)
  const count = Math.max(1, Math.min(o.workers ?? availableParallelism(), maxVUs))
  const store = new SeriesStore()
  const timeline = new Map<number, Acc>()
  const points: TimelinePoint[] = []
  const errors = new Map<string, number>()
  let aborted: string | null = null
  let totals = { reqs: 0, failed: 0, dropped: 0 }
  let vusMax = 0

  const workers = Array.from({ length: count }, (_, index) => {
    const data: WorkerInput = { index, workers: count, scenarios: plan.scenarios }
    return new Worker(WORKER_URL, { workerData: data })
  })
  const send = (m: ToWorker) => {
    for (const w of workers) w.postMessage(m)
  }
  let stopped = false
  const stop = (reason: string | null) => {
    if (stopped) return
    stopped = true
    aborted ??= reason
    send({ type: 'stop' })
  }

  // Set when every worker is ready (they load modules and data first), so none starts late.
  let startEpoch = 0
  let endedAt = 0
  const finalize = (t: number, acc: Acc) => {
    timeline.delete(t)
    const { reported: _, latency, ...counts } = acc
    const point = timelinePoint(t, counts, latency)
    points.push(point)
    totals = {
      reqs: totals.reqs + acc.reqs,
      failed: totals.failed + acc.failed,
      dropped: totals.dropped + acc.dropped,
    }
    vusMax = Math.max(vusMax, acc.vus)
    const elapsedMs = (t + 1) * 1000
    o.onProgress?.({
      elapsedMs,
      totalMs: plan.totalMs,
      vus: acc.vus,
      rps: acc.reqs,
      p95: point.p95,
      ...totals,
    })
    checkAborts(elapsedMs)
  }
  const checkAborts = (elapsedMs: number) => {
    if (stopped) return
    for (const t of plan.thresholds) {
      if (!t.abortOnFail || elapsedMs < t.delayAbortEvalMs) continue
      const r = evaluateThreshold(t, store.lookup(elapsedMs)(t.metric, t.tags))
      if (!r.ok && !r.noData) {
        stop(
          `threshold ${outcome(r).key}: ${outcome(r).threshold} failed (${r.actual?.toFixed(3)}) with abortOnFail`,
        )
        return
      }
    }
  }
  const onTick = (m: Tick) => {
    for (const s of m.series) store.add(s)
    for (const [msg, n] of m.errors) errors.set(msg, (errors.get(msg) ?? 0) + n)
    let acc = timeline.get(m.t)
    if (acc === undefined) {
      acc = { ...newSecond(), reported: 0, vus: 0 }
      timeline.set(m.t, acc)
    }
    acc.reported++
    acc.reqs += m.reqs
    acc.failed += m.failed
    acc.iterations += m.iterations
    acc.dropped += m.dropped
    acc.checks += m.checks
    acc.checksFailed += m.checksFailed
    acc.bytesReceived += m.bytesReceived
    acc.vus += m.vus
    acc.latency.add(decodeLatencyHistogram(m.latency))
    // Seconds complete in order once every worker has reported them.
    for (const [t, a] of [...timeline].sort((x, y) => x[0] - y[0])) {
      if (a.reported < count) break
      finalize(t, a)
    }
  }

  const onAbort = () => stop('interrupted')
  o.signal?.addEventListener('abort', onAbort, { once: true })
  let hardCap: NodeJS.Timeout | undefined
  try {
    await new Promise<void>((resolve, reject) => {
      let ready = 0
      let done = 0
      const fail = (err: Error) => {
        for (const w of workers) void w.terminate()
        reject(err)
      }
      for (const w of workers) {
        w.on('message', (m: FromWorker) => {
          switch (m.type) {
            case 'ready':
              if (++ready === count) {
                // A short lead: every worker gets the message before the common start.
                startEpoch = performance.timeOrigin + performance.now() + START_LEAD_MS
                send({ type: 'start', startEpoch })
                // Bounded by construction: past the plan's end (+ slack), workers are cut.
                hardCap = setTimeout(() => {
                  aborted ??=
                    'the run overran its duration and graceful stop; workers were terminated'
                  for (const x of workers) void x.terminate()
                  resolve()
                }, plan.totalMs + 10_000)
                if (o.signal?.aborted) stop('interrupted')
              }
              return
            case 'tick':
              onTick(m)
              return
            case 'done':
              if (++done === count) {
                endedAt = performance.timeOrigin + performance.now()
                resolve()
              }
              return
            case 'fatal':
              fail(
                Object.assign(new Error(m.message), m.code === undefined ? {} : { code: m.code }),
              )
          }
        })
        w.on('error', fail)
        w.on('exit', (code) => {
          if (code !== 0 && done < count && !stopped)
            fail(new Error(`a load worker exited with code ${code}`))
        })
      }
    })
  } finally {
    clearTimeout(hardCap)
    o.signal?.removeEventListener('abort', onAbort)
    await Promise.all(workers.map((w) => w.terminate()))
  }
  for (const [t, a] of [...timeline].sort((x, y) => x[0] - y[0])) finalize(t, a)

  // From the common start to the last worker's end (its last second is partial), as rates are per real second.
  const lastTickEnd = ((points.at(-1)?.t ?? 0) + 1) * 1000
  const durationMs =
    points.length === 0
      ? 0
      : Math.min(plan.totalMs, endedAt > startEpoch ? Math.ceil(endedAt - startEpoch) : lastTickEnd)
  store.gauge('vus_max', vusMax)
  store.gauge('vus', points.at(-1)?.vus ?? 0)
  const results = plan.thresholds.map((t: Threshold) =>
    evaluateThreshold(t, store.lookup(durationMs)(t.metric, t.tags)),
  )
  return {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    startedAt: new Date(startEpoch).toISOString(),
    startedAtMs: Math.round(startEpoch),
    durationMs,
    runs: 1,
    scenarios: plan.scenarios.map((s) => ({
      name: s.name,
      file: s.file,
      executor: s.executor,
      open: s.open,
      durationMs: s.durationMs,
      maxVUs: s.maxVUs,
    })),
    thresholds: results.map(outcome),
    series: store.records(),
    timeline: points.sort((a, b) => a.t - b.t),
    warnings: warnings(plan, store, errors, aborted !== null),
    aborted,
  }
}

function warnings(
  plan: LoadPlan,
  store: SeriesStore,
  errors: Map<string, number>,
  aborted: boolean,
): string[] {
  const out: string[] = []
  for (const s of plan.scenarios) {
    if (!s.open) continue
    const count = (metric: string) => store.values(metric, { scenario: s.name }, 0)?.value ?? 0
    const dropped = count('dropped_iterations')
    const started = count('iterations') + count('iteration_errors')
    const due = Math.min(arrivalTotal(s), s.iterations ?? Number.POSITIVE_INFINITY)
    if (dropped > 0) {
      out.push(
        `${s.name}: ${dropped} of ${due} iterations were dropped: no VU was free within maxLag (${s.maxLagMs} ms); raise maxVUs or the service is too slow for the target rate`,
      )
    }
    if (!aborted && due > 0 && started < due * 0.98) {
      out.push(
        `${s.name}: the target rate was missed: ${started} of ${due} due iterations ran (${((100 * started) / due).toFixed(1)} %)`,
      )
    }
  }
  const top = [...errors].sort((a, b) => b[1] - a[1]).slice(0, 10)
  for (const [message, n] of top) out.push(`journey error ×${n}: ${message}`)
  if (errors.size > 10) out.push(`… and ${errors.size - 10} other journey errors`)
  return out
}

/** True when every threshold passed and the run was not aborted. */
export function passed(result: RunResult): boolean {
  return result.aborted === null && result.thresholds.every((t) => t.ok)
}
