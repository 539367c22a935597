import { HotpathError } from '../errors.ts'

/**
 * k6-style thresholds: `{ 'http_req_duration{name:login}': ['p(95)<200'] }`.
 * Parsed once, before any load is sent, so a typo fails the run at once with
 * a message naming the threshold instead of after ten minutes of traffic.
 */

export type ThresholdAggregate =
  | { readonly type: 'p'; readonly percentile: number }
  | { readonly type: 'avg' | 'med' | 'min' | 'max' | 'count' | 'rate' | 'value' }

export type ThresholdOperator = '<' | '<=' | '>' | '>=' | '==' | '!='

export interface Threshold {
  /** `metric{tags}: expression`, as written, for messages and reports. */
  readonly source: string
  readonly metric: string
  /** The `{key:value,…}` filter; empty for the metric as a whole. */
  readonly tags: Readonly<Record<string, string>>
  readonly aggregate: ThresholdAggregate
  readonly operator: ThresholdOperator
  readonly value: number
  /** Stop the run as soon as this threshold fails (after `delayAbortEvalMs`). */
  readonly abortOnFail: boolean
  readonly delayAbortEvalMs: number
}

/** One threshold expression, or k6's object form with abort options. */
export type ThresholdSpec =
  | string
  | {
      readonly threshold: string
      readonly abortOnFail?: boolean
      /** Milliseconds, or a duration such as `'10s'`, `'1m'`, `'500ms'`. */
      readonly delayAbortEval?: number | string
    }

export type ThresholdsConfig = Readonly<Record<string, readonly ThresholdSpec[] | ThresholdSpec>>

const METRIC = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
const KEY = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\{(.*)\})?\s*$/s
const EXPRESSION =
  /^\s*(?:(avg|med|min|max|count|rate|value)|p\(\s*(\d+(?:\.\d+)?)\s*\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i
const DURATION = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

function invalid(source: string, why: string): HotpathError<'HP_ERR_LOAD_INVALID_THRESHOLD'> {
  return new HotpathError('HP_ERR_LOAD_INVALID_THRESHOLD', [source, why])
}

/** Parses `metric` or `metric{tag:value,…}`. */
export function parseThresholdKey(key: string): {
  metric: string
  tags: Readonly<Record<string, string>>
} {
  const m = KEY.exec(key)
  const metric = m?.[1]
  if (m === null || metric === undefined || !METRIC.test(metric)) {
    throw invalid(key, 'expected a metric name, optionally followed by {tag:value}')
  }
  const tags: Record<string, string> = {}
  const filter = m[2]
  if (filter !== undefined) {
    for (const pair of filter.split(',')) {
      // Split on the first colon only: k6 group tags look like `group:::checkout`.
      const at = pair.indexOf(':')
      const name = pair.slice(0, at).trim()
      const value = pair.slice(at + 1).trim()
      if (at < 0 || name === '' || value === '') {
        throw invalid(key, `tag filter "${pair.trim()}" is not tag:value`)
      }
      if (Object.hasOwn(tags, name)) throw invalid(key, `tag "${name}" is given twice`)
      tags[name] = value
    }
  }
  return { metric, tags }
}

/** Parses one expression such as `p(95)<200` or `rate<0.01`. */
export function parseThresholdExpression(
  expression: string,
  source: string = expression,
): { aggregate: ThresholdAggregate; operator: ThresholdOperator; value: number } {
  const m = EXPRESSION.exec(expression)
  if (m === null) {
    throw invalid(
      source,
      'expected <aggregate> <operator> <number>, with aggregate avg, med, min, max, count, rate, value or p(N) and operator <, <=, >, >=, == or !=',
    )
  }
  const [, name, p, op = '', raw = ''] = m
  let aggregate: ThresholdAggregate
  if (p === undefined) {
    aggregate = { type: (name ?? '').toLowerCase() as Exclude<ThresholdAggregate['type'], 'p'> }
  } else {
    const percentile = Number(p)
    if (percentile > 100) throw invalid(source, `percentile ${p} is over 100`)
    aggregate = { type: 'p', percentile }
  }
  const value = Number(raw)
  if (!Number.isFinite(value)) throw invalid(source, `${raw} is not a finite number`)
  const operator = (op === '===' ? '==' : op) as ThresholdOperator
  return { aggregate, operator, value }
}

function parseDelay(source: string, delay: number | string | undefined): number {
  if (delay === undefined) return 0
  if (typeof delay === 'number') {
    if (Number.isFinite(delay) && delay >= 0) return delay
  } else {
    const m = DURATION.exec(delay)
    if (m !== null) return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
  }
  throw invalid(source, `delayAbortEval ${String(delay)} is not a duration such as 10s`)
}

/** Parses a whole `thresholds` block; the first malformed entry throws. */
export function parseThresholds(config: ThresholdsConfig): Threshold[] {
  const out: Threshold[] = []
  for (const [key, specs] of Object.entries(config)) {
    const { metric, tags } = parseThresholdKey(key)
    const list: readonly ThresholdSpec[] = Array.isArray(specs) ? specs : [specs as ThresholdSpec]
    if (list.length === 0) throw invalid(key, 'no threshold expression given')
    for (const spec of list) {
      const obj = typeof spec === 'string' ? { threshold: spec } : spec
      if (obj === null || typeof obj !== 'object' || typeof obj.threshold !== 'string') {
        throw invalid(
          key,
          'each threshold is a string or { threshold, abortOnFail?, delayAbortEval? }',
        )
      }
      const source = `${key}: ${obj.threshold.trim()}`
      if (obj.abortOnFail !== undefined && typeof obj.abortOnFail !== 'boolean') {
        throw invalid(source, 'abortOnFail is not a boolean')
      }
      out.push({
        source,
        metric,
        tags,
        ...parseThresholdExpression(obj.threshold, source),
        abortOnFail: obj.abortOnFail ?? false,
        delayAbortEvalMs: parseDelay(source, obj.delayAbortEval),
      })
    }
  }
  return out
}

/**
 * What a metric holds at one moment. Trends (latency) fill the
 * percentile/avg/med/min/max fields; rates (`http_req_failed`, `checks`)
 * fill `rate`; counters `count` (and `rate`, per second); gauges `value`.
 * A `LatencyHistogram` is one as it is. `count: 0` means no samples yet.
 */
export interface MetricValues {
  readonly count?: number
  readonly rate?: number
  readonly avg?: number
  readonly med?: number
  readonly min?: number
  readonly max?: number
  readonly value?: number
  percentile?(p: number): number
}

export interface ThresholdResult {
  readonly threshold: Threshold
  /** Passed. A threshold whose metric has no samples does not pass: see `noData`. */
  readonly ok: boolean
  /** The aggregate's value, undefined when there was nothing to compare. */
  readonly actual: number | undefined
  /** No samples for the metric and tags (a typo in a tag or a path never hit). */
  readonly noData: boolean
}

function actualOf(a: ThresholdAggregate, v: MetricValues): number | undefined {
  if (a.type === 'p') return v.percentile?.(a.percentile)
  return v[a.type]
}

function compare(actual: number, op: ThresholdOperator, limit: number): boolean {
  switch (op) {
    case '<':
      return actual < limit
    case '<=':
      return actual <= limit
    case '>':
      return actual > limit
    case '>=':
      return actual >= limit
    case '==':
      return actual === limit
    case '!=':
      return actual !== limit
  }
}

/** Evaluates one threshold against the values of its metric (undefined: never recorded). */
export function evaluateThreshold(
  threshold: Threshold,
  values: MetricValues | undefined,
): ThresholdResult {
  // A counter that was never incremented holds a 0 (`value` set): that is data.
  const empty = values === undefined || (values.count === 0 && values.value === undefined)
  const actual = empty ? undefined : actualOf(threshold.aggregate, values)
  if (actual === undefined || Number.isNaN(actual)) {
    return { threshold, ok: false, actual: undefined, noData: true }
  }
  return {
    threshold,
    ok: compare(actual, threshold.operator, threshold.value),
    actual,
    noData: false,
  }
}

/** Evaluates every threshold; `lookup` finds a metric's values for a tag filter. */
export function evaluateThresholds(
  thresholds: readonly Threshold[],
  lookup: (metric: string, tags: Readonly<Record<string, string>>) => MetricValues | undefined,
): ThresholdResult[] {
  return thresholds.map((t) => evaluateThreshold(t, lookup(t.metric, t.tags)))
}
