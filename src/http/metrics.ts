import { HotpathError } from '../errors.ts'
import { createMetrics, Metrics } from '../metrics/index.ts'
import { checkPath } from './health.ts'

export interface RequestMetricsOptions {
  /** Where to record. Default: a new `createMetrics()` (its own registry). */
  metrics?: Metrics
  /** Prometheus text endpoint, or `false` for none. Default: `'/metrics'`. */
  path?: string | false
  /** JSON stats endpoint (`metrics.snapshot()`), or `false` for none. Default: `'/metrics.json'`. */
  jsonPath?: string | false
  /** SLO status endpoint (`metrics.slo.status()` as JSON), or `false` for none. Default: `'/slo'`. */
  sloPath?: string | false
}

/** Defaults, in one place. */
export const requestMetricsDefaults = Object.freeze({
  path: '/metrics' as string | false,
  jsonPath: '/metrics.json' as string | false,
  sloPath: '/slo' as string | false,
})

/** Headers of the JSON endpoint; the text one takes the registry's content type. */
export const METRICS_JSON_HEADERS = Object.freeze({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
})

/**
 * Request metrics over one `Metrics`: the options both adapters share,
 * resolved once. Adapters record each request with `metrics.observe(method,
 * routeTemplate, status, seconds)` and bracket it with `requestStarted()` /
 * `requestFinished()`.
 */
export class RequestMetrics {
  readonly metrics: Metrics
  readonly path: string | false
  readonly jsonPath: string | false
  readonly sloPath: string | false
  /** Headers of the text endpoint. */
  readonly textHeaders: Readonly<Record<string, string>>

  constructor(o: RequestMetricsOptions = {}) {
    if (o.metrics !== undefined && !(o.metrics instanceof Metrics))
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['metrics', 'expected createMetrics()'])
    this.metrics = o.metrics ?? createMetrics()
    this.path = checkPath('path', o.path ?? requestMetricsDefaults.path)
    this.jsonPath = checkPath('jsonPath', o.jsonPath ?? requestMetricsDefaults.jsonPath)
    this.sloPath = checkPath('sloPath', o.sloPath ?? requestMetricsDefaults.sloPath)
    this.textHeaders = Object.freeze({
      'content-type': this.metrics.contentType,
      'cache-control': 'no-store',
    })
  }

  /** The Prometheus text body. */
  text(): Promise<string> {
    return this.metrics.text()
  }

  /** The JSON body: `{ cache, database, pool, compression, …, timestamp }` from the providers. */
  async json(): Promise<string> {
    return JSON.stringify(await this.metrics.snapshot())
  }

  /** The SLO body: `{ slos: [{ name, state, requests, indicators }], timestamp }`. */
  slo(): string {
    return JSON.stringify({ slos: this.metrics.slo.status(), timestamp: Date.now() })
  }
}

export function createRequestMetrics(options?: RequestMetricsOptions): RequestMetrics {
  return new RequestMetrics(options)
}
