import { checkSloTargets, type LatencyIndicator, type SloTarget } from './slo.ts'

/**
 * Prometheus recording and alerting rules from the same SLO targets the
 * service evaluates itself, so the in-process `/slo` view and the alerts in
 * Prometheus cannot drift apart. The result is the rule file's structure;
 * serialize it as YAML (`hotpath slo rules` does).
 */
export interface SloRulesOptions {
  /** The metrics prefix the service uses (`createMetrics({ prefix })`). Default: `''`. */
  readonly prefix?: string
  /** Rule group name prefix. Default: `'hotpath-slo'`. */
  readonly group?: string
}

interface RecordingRule {
  record: string
  expr: string
  labels: Record<string, string>
}

interface AlertingRule {
  alert: string
  expr: string
  for: string
  labels: Record<string, string>
  annotations: Record<string, string>
}

export interface RuleFile {
  groups: { name: string; interval?: string; rules: (RecordingRule | AlertingRule)[] }[]
}

const QUANTILE: Record<LatencyIndicator, string> = {
  p50: '0.5',
  p90: '0.9',
  p95: '0.95',
  p99: '0.99',
}

/** A label matcher value: RE2 specials escaped, then escaped again for the PromQL string. */
function alternatives(values: readonly string[]): string {
  return values.map((v) => v.replace(/[.+*?()|[\]{}^$\\]/g, (c) => `\\\\${c}`)).join('|')
}

function selector(t: SloTarget, extra = ''): string {
  const m: string[] = []
  if (t.routes !== undefined) m.push(`route=~"${alternatives(t.routes)}"`)
  if (t.methods !== undefined)
    m.push(`method=~"${alternatives(t.methods.map((x) => x.toUpperCase()))}"`)
  if (extra !== '') m.push(extra)
  return m.length === 0 ? '' : `{${m.join(',')}}`
}

function seconds(ms: number): string {
  return String(ms / 1000)
}

export function sloRules(targets: readonly SloTarget[], o: SloRulesOptions = {}): RuleFile {
  checkSloTargets(targets)
  const p = o.prefix ?? ''
  const group = o.group ?? 'hotpath-slo'
  const recording: RecordingRule[] = []
  const alerting: AlertingRule[] = []
  for (const t of targets) {
    const w = t.windowSeconds ?? 300
    const range = `${w}s`
    const labels = { slo: t.name }
    const count = `${p}http_request_duration_seconds_count`
    const ratioName = `${p}slo:http_error_ratio:rate${range}`
    if (t.errorRate !== undefined || t.availability !== undefined) {
      recording.push({
        record: ratioName,
        expr: `sum(rate(${count}${selector(t, 'status_code=~"5.."')}[${range}])) / sum(rate(${count}${selector(t)}[${range}]))`,
        labels: { ...labels },
      })
    }
    for (const [k, levels] of Object.entries(t.latency ?? {}) as [
      LatencyIndicator,
      { warning: number; critical: number },
    ][]) {
      const name = `${p}slo:http_request_duration_seconds:${k}_rate${range}`
      recording.push({
        record: name,
        expr: `histogram_quantile(${QUANTILE[k]}, sum by (le) (rate(${p}http_request_duration_seconds_bucket${selector(t)}[${range}])))`,
        labels: { ...labels },
      })
      for (const severity of ['warning', 'critical'] as const) {
        alerting.push({
          alert: 'SloLatencyHigh',
          expr: `${name}{slo="${t.name}"} > ${seconds(levels[severity])}`,
          for: range,
          labels: { ...labels, indicator: k, severity },
          annotations: {
            summary: `${t.name}: ${k} latency above ${levels[severity]} ms`,
            description: `${k} over ${range} is {{ $value | humanizeDuration }} (${severity} above ${levels[severity]} ms).${t.description ? ` ${t.description}` : ''}`,
          },
        })
      }
    }
    for (const severity of ['warning', 'critical'] as const) {
      if (t.errorRate !== undefined) {
        alerting.push({
          alert: 'SloErrorRateHigh',
          expr: `${ratioName}{slo="${t.name}"} > ${t.errorRate[severity]}`,
          for: range,
          labels: { ...labels, indicator: 'errorRate', severity },
          annotations: {
            summary: `${t.name}: 5xx share above ${t.errorRate[severity] * 100} %`,
            description: `5xx share over ${range} is {{ $value | humanizePercentage }} (${severity} above ${t.errorRate[severity] * 100} %).`,
          },
        })
      }
      if (t.availability !== undefined) {
        alerting.push({
          alert: 'SloAvailabilityLow',
          expr: `(1 - ${ratioName}{slo="${t.name}"}) < ${t.availability[severity]}`,
          for: range,
          labels: { ...labels, indicator: 'availability', severity },
          annotations: {
            summary: `${t.name}: availability below ${t.availability[severity] * 100} %`,
            description: `Non-5xx share over ${range} is {{ $value | humanizePercentage }} (${severity} below ${t.availability[severity] * 100} %).`,
          },
        })
      }
    }
  }
  return {
    groups: [
      { name: `${group}-recording`, interval: '30s', rules: recording },
      { name: `${group}-alerts`, rules: alerting },
    ],
  }
}
