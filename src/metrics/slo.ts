import { EventEmitter } from 'node:events'
import { HotpathError } from '../errors.ts'

/**
 * Service level objectives, declared once and evaluated in process over a
 * sliding window of one-second slots: latency percentiles from bucket
 * counts (exact at the objective's levels, since they are made histogram
 * bounds), the share of 5xx responses, availability. A state change is an
 * `alert` event; the same declarations give Prometheus rules (`sloRules`).
 */

/** Warning and critical levels: ms for latency, fractions (0..1) for ratios. */
export interface SloLevels {
  readonly warning: number
  readonly critical: number
}

export type LatencyIndicator = 'p50' | 'p90' | 'p95' | 'p99'
export type SloIndicator = LatencyIndicator | 'errorRate' | 'availability'
/** `no-data`: fewer requests in the window than `minRequests`. */
export type SloState = 'ok' | 'warning' | 'critical' | 'no-data'

export interface SloTarget {
  /** Unique; a Prometheus label value. */
  readonly name: string
  readonly description?: string
  /** Route templates covered (`/api/products/:id`). Default: every route. */
  readonly routes?: readonly string[]
  /** Methods covered. Default: every method. */
  readonly methods?: readonly string[]
  /** Latency objectives in ms: `{ p95: { warning: 300, critical: 1000 } }` is "p95 above 300 ms warns". */
  readonly latency?: Readonly<Partial<Record<LatencyIndicator, SloLevels>>>
  /** Share of 5xx responses: `{ warning: 0.01, critical: 0.05 }`. */
  readonly errorRate?: SloLevels
  /** Share of non-5xx responses, levels are floors: `{ warning: 0.999, critical: 0.99 }`. */
  readonly availability?: SloLevels
  /** The sliding window. Default: 300 (s), the guides' "for 5 minutes". */
  readonly windowSeconds?: number
  /** Fewer requests than this in the window: `no-data`, no alert. Default: 20. */
  readonly minRequests?: number
}

export interface SloIndicatorStatus {
  readonly indicator: SloIndicator
  readonly levels: SloLevels
  /** ms for latency (interpolated inside its bucket), a fraction for ratios; null with no data. */
  readonly value: number | null
  readonly state: SloState
}

export interface SloStatus {
  readonly name: string
  readonly description: string
  readonly windowSeconds: number
  readonly requests: number
  /** The worst of the indicators. */
  readonly state: SloState
  readonly indicators: readonly SloIndicatorStatus[]
}

export interface SloAlert {
  readonly slo: string
  readonly indicator: SloIndicator
  readonly state: SloState
  readonly previous: SloState
  readonly value: number | null
  readonly levels: SloLevels
  readonly at: number
}

const PERCENTILE: Record<LatencyIndicator, number> = { p50: 0.5, p90: 0.9, p95: 0.95, p99: 0.99 }
const RANK: Record<SloState, number> = { 'no-data': -1, ok: 0, warning: 1, critical: 2 }
const NAME = /^[A-Za-z0-9_.:-]{1,64}$/

function invalid(field: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [field, why])
}

/** Checks targets once, at creation; every ms level of every target, for histogram bounds. */
export function checkSloTargets(targets: readonly SloTarget[]): number[] {
  const levels: number[] = []
  const names = new Set<string>()
  for (const [i, t] of targets.entries()) {
    const at = `slos[${i}]`
    if (typeof t?.name !== 'string' || !NAME.test(t.name))
      throw invalid(`${at}.name`, 'expected 1-64 of A-Z a-z 0-9 _ . : -')
    if (names.has(t.name)) throw invalid(`${at}.name`, `"${t.name}" is declared twice`)
    names.add(t.name)
    const pair = (f: string, l: SloLevels | undefined, ratio: boolean, floor = false) => {
      if (l === undefined) return
      const ok = (v: unknown) =>
        typeof v === 'number' && Number.isFinite(v) && v > 0 && (!ratio || v <= 1)
      if (!ok(l.warning) || !ok(l.critical)) {
        throw invalid(
          `${at}.${f}`,
          `warning and critical must be ${ratio ? 'fractions in (0, 1]' : 'ms above 0'}`,
        )
      }
      if (floor ? l.critical > l.warning : l.critical < l.warning) {
        throw invalid(`${at}.${f}`, `critical must be ${floor ? 'below' : 'above'} warning`)
      }
    }
    for (const [k, l] of Object.entries(t.latency ?? {})) {
      if (!(k in PERCENTILE)) throw invalid(`${at}.latency.${k}`, 'expected p50, p90, p95 or p99')
      pair(`latency.${k}`, l, false)
      levels.push(l.warning, l.critical)
    }
    pair('errorRate', t.errorRate, true)
    pair('availability', t.availability, true, true)
    if (t.latency === undefined && t.errorRate === undefined && t.availability === undefined) {
      throw invalid(at, 'declares no objective (latency, errorRate or availability)')
    }
    const w = t.windowSeconds ?? 300
    if (!Number.isInteger(w) || w < 1 || w > 86_400)
      throw invalid(`${at}.windowSeconds`, 'expected whole seconds, 1..86400')
  }
  return levels
}

/** One target's window: per-second bucket counts in a ring, with running sums. */
class Window {
  readonly #width: number
  readonly #slots: Float64Array
  readonly #totals: Float64Array
  readonly #errors: Float64Array
  readonly sums: Float64Array
  total = 0
  errors = 0
  #second = 0

  constructor(buckets: number, seconds: number) {
    this.#width = buckets
    this.#slots = new Float64Array(buckets * seconds)
    this.#totals = new Float64Array(seconds)
    this.#errors = new Float64Array(seconds)
    this.sums = new Float64Array(buckets)
  }

  /** Moves to `second`, clearing the slots that fell out of the window. */
  advance(second: number): void {
    const n = this.#totals.length
    const steps = Math.min(second - this.#second, n)
    for (let s = 1; s <= steps; s++) {
      const slot = (this.#second + s) % n
      const base = slot * this.#width
      for (let b = 0; b < this.#width; b++) {
        this.sums[b] = (this.sums[b] as number) - (this.#slots[base + b] as number)
        this.#slots[base + b] = 0
      }
      this.total -= this.#totals[slot] as number
      this.errors -= this.#errors[slot] as number
      this.#totals[slot] = 0
      this.#errors[slot] = 0
    }
    if (second > this.#second) this.#second = second
  }

  record(bucket: number, error: boolean): void {
    const slot = this.#second % this.#totals.length
    const i = slot * this.#width + bucket
    this.#slots[i] = (this.#slots[i] as number) + 1
    this.sums[bucket] = (this.sums[bucket] as number) + 1
    this.#totals[slot] = (this.#totals[slot] as number) + 1
    this.total++
    if (error) {
      this.#errors[slot] = (this.#errors[slot] as number) + 1
      this.errors++
    }
  }
}

interface Tracked {
  readonly target: SloTarget
  readonly window: Window
  readonly routes: ReadonlySet<string> | undefined
  readonly methods: ReadonlySet<string> | undefined
  readonly states: Map<SloIndicator, SloState>
}

export interface SloMonitorOptions {
  /** Histogram bounds in seconds, sorted (the request histogram's). */
  readonly bounds: readonly number[]
  /** Milliseconds since the epoch. Default: `Date.now`. */
  readonly clock?: () => number
  /** How often states are evaluated and alerts emitted. Default: 1000 (ms); 0 for manual `evaluate()`. */
  readonly evaluateEveryMs?: number
}

export class SloMonitor extends EventEmitter<{ alert: [SloAlert] }> {
  readonly #bounds: Float64Array
  readonly #tracked: Tracked[]
  readonly #clock: () => number
  // route → method → the targets covering them, found once per combination.
  readonly #routes = new Map<string, Map<string, Tracked[]>>()
  #timer: NodeJS.Timeout | undefined

  constructor(targets: readonly SloTarget[], o: SloMonitorOptions) {
    super()
    checkSloTargets(targets)
    this.#bounds = Float64Array.from(o.bounds)
    this.#clock = o.clock ?? Date.now
    const second = Math.floor(this.#clock() / 1000)
    this.#tracked = targets.map((target) => {
      const window = new Window(o.bounds.length + 1, target.windowSeconds ?? 300)
      window.advance(second)
      return {
        target,
        window,
        routes: target.routes === undefined ? undefined : new Set(target.routes),
        methods:
          target.methods === undefined
            ? undefined
            : new Set(target.methods.map((m) => m.toUpperCase())),
        states: new Map(),
      }
    })
    const every = o.evaluateEveryMs ?? 1000
    if (every > 0 && targets.length > 0) {
      this.#timer = setInterval(() => this.evaluate(), every)
      this.#timer.unref()
    }
  }

  get targets(): readonly SloTarget[] {
    return this.#tracked.map((t) => t.target)
  }

  #covering(method: string, route: string): Tracked[] {
    let byMethod = this.#routes.get(route)
    if (byMethod === undefined) {
      byMethod = new Map()
      this.#routes.set(route, byMethod)
    }
    let list = byMethod.get(method)
    if (list === undefined) {
      list = this.#tracked.filter(
        (t) =>
          (t.routes === undefined || t.routes.has(route)) &&
          (t.methods === undefined || t.methods.has(method)),
      )
      byMethod.set(method, list)
    }
    return list
  }

  /** Records one finished request (the same call as the request histogram's). */
  observe(method: string, route: string, status: number, seconds: number): void {
    // No targets (the default): nothing on the request path.
    if (this.#tracked.length === 0) return
    const list = this.#covering(method, route)
    if (list.length === 0) return
    const b = this.#bounds
    let i = 0
    while (i < b.length && seconds > (b[i] as number)) i++
    const second = Math.floor(this.#clock() / 1000)
    for (const t of list) {
      t.window.advance(second)
      t.window.record(i, status >= 500)
    }
  }

  /** Every target's state now. */
  status(): SloStatus[] {
    const second = Math.floor(this.#clock() / 1000)
    return this.#tracked.map((t) => {
      t.window.advance(second)
      return this.#statusOf(t)
    })
  }

  #statusOf(t: Tracked): SloStatus {
    const w = t.window
    const min = t.target.minRequests ?? 20
    const enough = w.total >= min && w.total > 0
    const indicators: SloIndicatorStatus[] = []
    for (const [k, levels] of Object.entries(t.target.latency ?? {}) as [
      LatencyIndicator,
      SloLevels,
    ][]) {
      const value = enough ? this.#quantile(w.sums, w.total, PERCENTILE[k]) : null
      indicators.push({
        indicator: k,
        levels,
        value,
        state: enough ? this.#latencyState(w, PERCENTILE[k], levels, value as number) : 'no-data',
      })
    }
    const ratio = (
      indicator: 'errorRate' | 'availability',
      levels: SloLevels | undefined,
      value: number,
      floor: boolean,
    ) => {
      if (levels === undefined) return
      const state: SloState = !enough
        ? 'no-data'
        : floor
          ? value < levels.critical
            ? 'critical'
            : value < levels.warning
              ? 'warning'
              : 'ok'
          : value > levels.critical
            ? 'critical'
            : value > levels.warning
              ? 'warning'
              : 'ok'
      indicators.push({ indicator, levels, value: enough ? value : null, state })
    }
    const errorRate = w.total === 0 ? 0 : w.errors / w.total
    ratio('errorRate', t.target.errorRate, errorRate, false)
    ratio('availability', t.target.availability, 1 - errorRate, true)
    const state = indicators.reduce<SloState>(
      (worst, x) => (RANK[x.state] > RANK[worst] ? x.state : worst),
      'no-data',
    )
    return {
      name: t.target.name,
      description: t.target.description ?? '',
      windowSeconds: t.target.windowSeconds ?? 300,
      requests: w.total,
      state,
      indicators,
    }
  }

  /** Share of requests at or under `ms`, exact when `ms` is a bound. */
  #latencyState(w: Window, q: number, levels: SloLevels, estimate: number): SloState {
    const under = (ms: number): number | undefined => {
      const s = ms / 1000
      let acc = 0
      for (let i = 0; i < this.#bounds.length; i++) {
        acc += w.sums[i] as number
        if (Math.abs((this.#bounds[i] as number) - s) < 1e-12) return acc / w.total
      }
      return undefined
    }
    const breaches = (ms: number) => {
      const share = under(ms)
      return share === undefined ? estimate > ms : share < q
    }
    if (breaches(levels.critical)) return 'critical'
    if (breaches(levels.warning)) return 'warning'
    return 'ok'
  }

  /** Prometheus' histogram_quantile: linear inside the bucket holding the rank, in ms. */
  #quantile(sums: Float64Array, total: number, q: number): number {
    const rank = q * total
    let acc = 0
    for (let i = 0; i < sums.length; i++) {
      const c = sums[i] as number
      if (acc + c >= rank && c > 0) {
        const upper = this.#bounds[i]
        if (upper === undefined) return (this.#bounds[this.#bounds.length - 1] ?? 0) * 1000
        const lower = i === 0 ? 0 : (this.#bounds[i - 1] as number)
        return (lower + ((upper - lower) * (rank - acc)) / c) * 1000
      }
      acc += c
    }
    return 0
  }

  /** Evaluates every target and emits an `alert` for each indicator whose state changed. */
  evaluate(): SloStatus[] {
    const all = this.status()
    const at = this.#clock()
    all.forEach((s, i) => {
      const t = this.#tracked[i] as Tracked
      for (const x of s.indicators) {
        // Too few requests says nothing: keep the last known state, alert on no change.
        if (x.state === 'no-data') continue
        const previous = t.states.get(x.indicator) ?? 'ok'
        if (previous === x.state) continue
        t.states.set(x.indicator, x.state)
        this.emit('alert', {
          slo: s.name,
          indicator: x.indicator,
          state: x.state,
          previous,
          value: x.value,
          levels: x.levels,
          at,
        })
      }
    })
    return all
  }

  close(): void {
    clearInterval(this.#timer)
    this.#timer = undefined
  }
}
