import { formatDuration } from './duration.ts'
import { endpointRow, type RunResult } from './result.ts'
import { SeriesStore } from './samples.ts'

/**
 * The end-of-run summary, as k6 prints it: one row per endpoint (the
 * `name` tag) with counts and latency percentiles, then checks, iterations
 * and thresholds, then warnings. Plain text, no colours: it is read in CI
 * logs as often as in terminals.
 */

export function ms(v: number): string {
  if (v >= 10_000) return `${(v / 1000).toFixed(1)}s`
  if (v >= 100) return `${v.toFixed(0)}ms`
  return `${v.toFixed(v >= 10 ? 1 : 2)}ms`
}

function table(rows: readonly (readonly string[])[], rightFrom: number): string {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)))
  return rows
    .map((r) =>
      r
        .map((cell, i) =>
          i >= rightFrom ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n')
}

export function storeOf(result: RunResult): SeriesStore {
  const store = new SeriesStore()
  for (const s of result.series) store.add(s)
  return store
}

export function formatSummary(result: RunResult): string {
  const store = storeOf(result)
  const d = result.durationMs
  const out: string[] = []
  const open = result.scenarios.some((s) => s.open)
  out.push(
    `scenarios: ${result.scenarios.map((s) => `${s.name} (${s.executor}, ≤${s.maxVUs} VUs, ${formatDuration(s.durationMs)})`).join(', ')}`,
  )
  out.push(
    `duration:  ${formatDuration(d)}${result.runs > 1 ? `, ${result.runs} runs merged` : ''}`,
  )
  out.push('')

  const header = ['endpoint', 'reqs', 'req/s', 'failed', 'avg', 'p50', 'p90', 'p95', 'p99', 'max']
  const rows: string[][] = [header]
  const row = (label: string, filter: Record<string, string>) => {
    const r = endpointRow(store, label, filter, d)
    rows.push([
      label,
      String(r.requests),
      (r.requests / Math.max(d / 1000, 1e-9)).toFixed(1),
      `${(r.failedRate * 100).toFixed(2)}%`,
      ...[r.avg, r.p50, r.p90, r.p95, r.p99, r.max].map(ms),
    ])
  }
  for (const name of store.tagValues('http_req_duration', 'name').sort()) row(name, { name })
  if (rows.length > 2) row('all', {})
  out.push(table(rows, 1))
  if (open) {
    const c = store.values('http_req_duration', {}, d)
    const u = store.values('http_req_duration_uncorrected', {}, d)
    if (c !== undefined && u !== undefined) {
      out.push(
        `\narrival-rate latency: corrected p95 ${ms(c.percentile?.(95) ?? 0)} p99 ${ms(c.percentile?.(99) ?? 0)}` +
          ` · uncorrected p95 ${ms(u.percentile?.(95) ?? 0)} p99 ${ms(u.percentile?.(99) ?? 0)}` +
          ' (corrected counts from each iteration’s scheduled start)',
      )
    }
  }

  const checks = store.tagValues('checks', 'check').sort()
  if (checks.length > 0) {
    out.push('\nchecks')
    const crows = checks.map((check) => {
      const v = store.values('checks', { check }, d)
      const n = v?.count ?? 0
      const pass = v?.value ?? 0
      return [
        `  ${pass === n ? '✓' : '✗'} ${check}`,
        `${pass}/${n}`,
        `${((100 * pass) / Math.max(n, 1)).toFixed(2)}%`,
      ]
    })
    out.push(table(crows, 1))
  }

  const count = (m: string) => store.values(m, {}, d)?.value ?? 0
  const iter = store.values('iteration_duration', {}, d)
  out.push(
    `\niterations: ${count('iterations')} (${(count('iterations') / Math.max(d / 1000, 1e-9)).toFixed(1)}/s)` +
      (iter === undefined
        ? ''
        : `, avg ${ms(iter.avg ?? 0)}, p95 ${ms(iter.percentile?.(95) ?? 0)}`) +
      `; errors ${count('iteration_errors')}; dropped ${count('dropped_iterations')}; VUs max ${store.values('vus_max', {}, d)?.value ?? 0}` +
      `; received ${(result.timeline.reduce((a, p) => a + p.bytesReceived, 0) / 1e6).toFixed(1)} MB`,
  )

  if (result.thresholds.length > 0) {
    out.push('\nthresholds')
    out.push(
      table(
        result.thresholds.map((t) => [
          `  ${t.ok ? '✓' : '✗'} ${t.key}`,
          t.threshold,
          t.noData ? 'no data' : `actual ${Number((t.actual ?? 0).toPrecision(4))}`,
        ]),
        3,
      ),
    )
  }
  if (result.aborted !== null) out.push(`\nABORTED: ${result.aborted}`)
  for (const w of result.warnings) out.push(`\nWARNING: ${w}`)
  return `${out.join('\n')}\n`
}
