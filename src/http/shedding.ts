import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { Counter, Gauge, type Registry } from 'prom-client'
import { HotpathError } from '../errors.ts'
import { urlPathIs } from './health.ts'
import { PROBLEM_TYPE, problem } from './problem.ts'

export interface SheddingOptions {
  /** Shed while the event-loop delay seen in the last sample is over this. `false`: never on delay. Default: 200 (ms). */
  maxEventLoopDelayMs?: number | false
  /** Shed while the event loop was busy more than this share of the last sample. `false`: never on utilization. Default: 0.98. */
  maxEventLoopUtilization?: number | false
  /** How often the sampler looks, and so how fast shedding starts and stops. Default: 100 (ms). */
  sampleIntervalMs?: number
  /** `Retry-After` of a shed response. Default: 10 (s). */
  retryAfterSeconds?: number
  /** Paths never shed, so probes and scrapes still answer. Default: `['/health', '/ready', '/metrics']`. */
  exempt?: readonly string[]
  /** Register `hotpath_http_shed_requests_total` and `hotpath_http_overloaded` here. Default: none. */
  registry?: Registry
}

/** Defaults, in one place (units in the names). */
export const sheddingDefaults = Object.freeze({
  maxEventLoopDelayMs: 200 as number | false,
  maxEventLoopUtilization: 0.98 as number | false,
  sampleIntervalMs: 100,
  retryAfterSeconds: 10,
  exempt: Object.freeze(['/health', '/ready', '/metrics']) as readonly string[],
})

export interface SheddingStats {
  /** Requests answered 503 since start. */
  shed: number
  /** Whether requests are being shed now. */
  overloaded: boolean
  /** Event-loop delay of the last sample (ms). */
  eventLoopDelayMs: number
  /** Event-loop utilization of the last sample (0–1). */
  eventLoopUtilization: number
}

/** The histogram's timer period (ms); a sample reads its max minus this. */
const RESOLUTION_MS = 10

function invalid(name: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [name, why])
}

function limit(name: string, v: unknown, max: number): number | false {
  if (v === false) return false
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || v > max)
    throw invalid(name, `expected a number in (0, ${max}] or false`)
  return v
}

/**
 * Load shedding. One unref'd timer samples the event loop every
 * `sampleIntervalMs`: the delay is the worst of the loop-delay histogram's
 * max and the sampler's own lateness (a long block is seen by the first
 * timer that runs after it, before the requests queued behind it are read),
 * the utilization is `performance.eventLoopUtilization()` over the sample.
 * Between samples `shouldShed` is a boolean and a clock read (an overdue
 * sampler means the loop is blocked now), and the 503 it leads to is
 * prebuilt: shedding costs less than the work it refuses.
 */
export class Shedder {
  readonly maxEventLoopDelayMs: number | false
  readonly maxEventLoopUtilization: number | false
  readonly sampleIntervalMs: number
  readonly retryAfterSeconds: number
  readonly exempt: readonly string[]
  /** Headers of a shed response (`Retry-After`, problem+json, no-store). */
  readonly headers: Readonly<Record<string, string>>
  /** `headers` and `Content-Length`, for a raw `writeHead`. */
  readonly rawHeaders: Readonly<Record<string, string>>
  /** The shed response's problem+json body, built once. */
  readonly body: string
  #overloaded = false
  #shed = 0
  #delayMs = 0
  #elu = 0
  #last: number
  #lastElu: ReturnType<typeof performance.eventLoopUtilization>
  readonly #histogram: ReturnType<typeof monitorEventLoopDelay>
  readonly #timer: NodeJS.Timeout

  constructor(o: SheddingOptions = {}) {
    const d = sheddingDefaults
    this.maxEventLoopDelayMs = limit(
      'maxEventLoopDelayMs',
      o.maxEventLoopDelayMs ?? d.maxEventLoopDelayMs,
      3_600_000,
    )
    this.maxEventLoopUtilization = limit(
      'maxEventLoopUtilization',
      o.maxEventLoopUtilization ?? d.maxEventLoopUtilization,
      1,
    )
    this.sampleIntervalMs = o.sampleIntervalMs ?? d.sampleIntervalMs
    if (!Number.isInteger(this.sampleIntervalMs) || this.sampleIntervalMs < RESOLUTION_MS)
      throw invalid('sampleIntervalMs', `expected an integer ≥ ${RESOLUTION_MS} (ms)`)
    this.retryAfterSeconds = o.retryAfterSeconds ?? d.retryAfterSeconds
    if (!Number.isInteger(this.retryAfterSeconds) || this.retryAfterSeconds < 0)
      throw invalid('retryAfterSeconds', 'expected an integer ≥ 0 (s)')
    const exempt = o.exempt ?? d.exempt
    if (!Array.isArray(exempt) || exempt.some((p) => typeof p !== 'string' || !p.startsWith('/')))
      throw invalid('exempt', 'expected an array of paths starting with "/"')
    this.exempt = Object.freeze([...exempt])

    const e = new HotpathError('HP_ERR_HTTP_OVERLOADED', [this.retryAfterSeconds])
    const body = JSON.stringify({ ...problem(e.statusCode, e.message), code: e.code })
    this.body = body
    this.headers = Object.freeze({
      'content-type': PROBLEM_TYPE,
      'retry-after': String(this.retryAfterSeconds),
      'cache-control': 'no-store',
    })
    this.rawHeaders = Object.freeze({
      ...this.headers,
      'content-length': String(Buffer.byteLength(body)),
    })

    this.#histogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
    this.#histogram.enable()
    this.#last = performance.now()
    this.#lastElu = performance.eventLoopUtilization()
    this.#timer = setInterval(() => this.#sample(), this.sampleIntervalMs)
    this.#timer.unref()
    if (o.registry !== undefined) this.#register(o.registry)
  }

  #sample(): void {
    const now = performance.now()
    const late = now - this.#last - this.sampleIntervalMs
    this.#last = now
    const h = this.#histogram
    const max = h.count > 0 ? h.max / 1e6 - RESOLUTION_MS : 0
    h.reset()
    this.#delayMs = Math.max(0, late, max)
    const elu = performance.eventLoopUtilization()
    this.#elu = performance.eventLoopUtilization(elu, this.#lastElu).utilization
    this.#lastElu = elu
    const dl = this.maxEventLoopDelayMs
    const ul = this.maxEventLoopUtilization
    this.#overloaded = (dl !== false && this.#delayMs > dl) || (ul !== false && this.#elu > ul)
  }

  /** Whether a request to `url` (path and query) is to be refused now; counts it if so. */
  shouldShed(url: string): boolean {
    if (!this.#overloaded) {
      // The requests read in the same loop turn as a long block's end come
      // before any timer: a sampler overdue by more than the threshold means
      // the loop is blocked right now, whatever the last sample said.
      const dl = this.maxEventLoopDelayMs
      if (dl === false || performance.now() - this.#last - this.sampleIntervalMs <= dl) return false
    }
    for (const p of this.exempt) if (urlPathIs(url, p)) return false
    this.#shed++
    return true
  }

  get overloaded(): boolean {
    return this.#overloaded
  }

  stats(): SheddingStats {
    return {
      shed: this.#shed,
      overloaded: this.#overloaded,
      eventLoopDelayMs: this.#delayMs,
      eventLoopUtilization: this.#elu,
    }
  }

  /** Stops the sampler (the timer is unref'd: forgetting this keeps no process alive). */
  close(): void {
    clearInterval(this.#timer)
    this.#histogram.disable()
    this.#overloaded = false
    // A stopped sampler is overdue forever: that no longer means a blocked loop.
    this.#last = Number.POSITIVE_INFINITY
  }

  #register(registry: Registry): void {
    let last = 0
    const shed: Counter = new Counter({
      name: 'hotpath_http_shed_requests_total',
      help: 'Requests answered 503 by load shedding.',
      registers: [registry],
      collect: (): void => {
        shed.inc(this.#shed - last)
        last = this.#shed
      },
    })
    const overloaded: Gauge = new Gauge({
      name: 'hotpath_http_overloaded',
      help: '1 while load shedding refuses requests.',
      registers: [registry],
      collect: (): void => overloaded.set(this.#overloaded ? 1 : 0),
    })
  }
}

export function createShedder(options?: SheddingOptions): Shedder {
  return new Shedder(options)
}
