import { formatDuration } from './duration.ts'
import { esc, renderPage } from './report-page.ts'
import { type EndpointRow, endpointRow, latencyFigures, type RunResult } from './result.ts'
import { SeriesStore } from './samples.ts'

/**
 * `hotpath report`: one self-contained HTML page drawn from a result file
 * alone (a plain run or a merge): what ran, whether thresholds held, every
 * endpoint's latency from the exact histograms, checks, and the per-second
 * timeline as charts.
 */
export interface ReportOptions {
  /** The page's heading; default "hotpath load report". */
  readonly title?: string
}

/** Milliseconds as the report prints them: 1 decimal, 3 below 1 ms (the histograms keep µs). */
export function formatMs(v: number): string {
  return v === 0 || v >= 1 ? v.toFixed(1) : v.toFixed(3)
}

const pct = (rate: number) => `${(rate * 100).toFixed(2)}%`
const td = (v: string | number) => `<td class="n">${esc(v)}</td>`

function table(head: readonly string[], rows: readonly string[], foot = ''): string {
  const ths = head.map((h, i) => (i === 0 ? `<th>${h}</th>` : `<th class="n">${h}</th>`))
  return `<table><thead><tr>${ths.join('')}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody>${foot}</table>`
}

function endpointCells(r: EndpointRow, seconds: number): string {
  const figures = [r.avg, r.p50, r.p90, r.p95, r.p99, r.max].map((v) => td(formatMs(v)))
  const rate = (r.requests / Math.max(seconds, 1e-9)).toFixed(1)
  return `<tr><td>${esc(r.name)}</td>${td(r.requests)}${td(rate)}${td(pct(r.failedRate))}${figures.join('')}</tr>`
}

function header(result: RunResult, title: string, store: SeriesStore): string {
  const d = result.durationMs
  const count = (metric: string) => store.values(metric, {}, d)?.value ?? 0
  const scenarios = result.scenarios.map(
    (s) =>
      `<li><b>${esc(s.name)}</b> <span class="tag${s.open ? ' open' : ''}">${esc(s.executor)}` +
      `${s.open ? ' · open model' : ' · closed model'}</span> ≤${esc(s.maxVUs)} VUs, ` +
      `${esc(formatDuration(s.durationMs))} <code>${esc(s.file)}</code></li>`,
  )
  const reqs = count('http_reqs')
  const received = result.timeline.reduce((a, p) => a + p.bytesReceived, 0)
  const meta: [string, string][] = [
    ['Started', esc(new Date(result.startedAtMs).toISOString().replace('T', ' ').slice(0, 19))],
    ['Duration', esc(formatDuration(d))],
    ['Runs merged', esc(result.runs)],
    ['Requests', `${esc(reqs)} (${esc((reqs / Math.max(d / 1000, 1e-9)).toFixed(1))}/s)`],
    [
      'Iterations',
      `${esc(count('iterations'))}, errors ${esc(count('iteration_errors'))}, dropped ${esc(count('dropped_iterations'))}`,
    ],
    ['VUs max', esc(count('vus_max'))],
    ['Received', `${esc((received / 1e6).toFixed(1))} MB`],
  ]
  const out = [
    `<h1>${esc(title)}</h1>`,
    `<dl class="meta">${meta.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`,
    `<h2>Scenarios</h2><ul>${scenarios.join('')}</ul>`,
  ]
  if (result.aborted !== null) {
    out.push(`<div class="alert" role="alert"><b>Aborted:</b> ${esc(result.aborted)}</div>`)
  }
  if (result.warnings.length > 0) {
    const items = result.warnings.map((w) => `<li>${esc(w)}</li>`).join('')
    out.push(`<div class="alert" role="alert"><b>Warnings</b><ul>${items}</ul></div>`)
  }
  return out.join('\n')
}

function thresholds(result: RunResult): string {
  if (result.thresholds.length === 0) return ''
  const rows = result.thresholds.map((t) => {
    const actual =
      t.noData || t.actual === null ? 'no data' : String(Number(t.actual.toPrecision(4)))
    const mark = t.ok ? '<td class="ok">✓</td>' : '<td class="bad">✗</td>'
    return `<tr>${mark}<td>${esc(t.key)}</td><td><code>${esc(t.threshold)}</code></td>${td(actual)}</tr>`
  })
  const head = ['', 'metric', 'threshold', 'actual']
  const ths = head.map((h, i) => `<th${i === 3 ? ' class="n"' : ''}>${h}</th>`).join('')
  return `<h2>Thresholds</h2><table><thead><tr>${ths}</tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`
}

function arrival(result: RunResult, store: SeriesStore): string {
  const d = result.durationMs
  const rows: string[] = []
  for (const s of result.scenarios.filter((x) => x.open)) {
    const c = store.values('http_req_duration', { scenario: s.name }, d)
    const u = store.values('http_req_duration_uncorrected', { scenario: s.name }, d)
    if (c === undefined || u === undefined) continue
    const [cf, uf] = [latencyFigures(c), latencyFigures(u)]
    const cells = [cf.p95, uf.p95, cf.p99, uf.p99].map((v) => td(formatMs(v)))
    rows.push(`<tr><td>${esc(s.name)}</td>${cells.join('')}</tr>`)
  }
  if (rows.length === 0) return ''
  return (
    '<h2>Arrival-rate latency</h2><p class="note">The corrected figure counts from each iteration’s scheduled start, so time spent waiting to start on schedule (no free VU or connection) is part of the latency.</p>' +
    table(
      [
        'scenario',
        'p95 corrected ms',
        'p95 uncorrected ms',
        'p99 corrected ms',
        'p99 uncorrected ms',
      ],
      rows,
    )
  )
}

function checks(result: RunResult, store: SeriesStore): string {
  const names = store.tagValues('checks', 'check').sort()
  if (names.length === 0) return ''
  const rows = names.map((check) => {
    const v = store.values('checks', { check }, result.durationMs)
    const n = v?.count ?? 0
    const pass = v?.value ?? 0
    const mark = pass === n ? '<td class="ok">✓</td>' : '<td class="bad">✗</td>'
    return `<tr>${mark}<td>${esc(check)}</td>${td(pass)}${td(n - pass)}${td(pct(n === 0 ? 0 : pass / n))}</tr>`
  })
  return `<h2>Checks</h2><table><thead><tr><th></th><th>check</th><th class="n">passes</th><th class="n">fails</th><th class="n">passed</th></tr></thead><tbody>\n${rows.join('\n')}\n</tbody></table>`
}

function timeline(result: RunResult) {
  const base = Math.floor(result.startedAtMs / 1000)
  const tl = result.timeline
  // No requests in a second: a gap in the latency lines, not a fake 0 ms.
  const lat = (f: 'p50' | 'p95' | 'p99' | 'max') => tl.map((p) => (p.reqs > 0 ? p[f] : null))
  return {
    t: tl.map((p) => base + p.t),
    p50: lat('p50'),
    p95: lat('p95'),
    p99: lat('p99'),
    max: lat('max'),
    reqs: tl.map((p) => p.reqs),
    iterations: tl.map((p) => p.iterations),
    vus: tl.map((p) => p.vus),
    failed: tl.map((p) => p.failed),
    dropped: tl.map((p) => p.dropped),
  }
}

/** The result as a complete HTML page: no network requests, tables readable without JavaScript. */
export function renderReport(result: RunResult, options: ReportOptions = {}): string {
  const title = options.title ?? 'hotpath load report'
  const store = new SeriesStore()
  for (const s of result.series) store.add(s)
  const d = result.durationMs
  const names = store.tagValues('http_req_duration', 'name').sort()
  const endpoints = names.map((name) => endpointRow(store, name, { name }, d))
  const seconds = d / 1000
  const total = names.length === 1 ? undefined : endpointRow(store, 'all', {}, d)
  const head = ['endpoint', 'requests', 'req/s', 'failed', 'avg ms', 'p50 ms', 'p90 ms']
  const endpointTable =
    endpoints.length === 0 && total?.requests === 0
      ? '<p class="note">No HTTP requests.</p>'
      : table(
          [...head, 'p95 ms', 'p99 ms', 'max ms'],
          endpoints.map((r) => endpointCells(r, seconds)),
          total === undefined ? '' : `<tfoot>${endpointCells(total, seconds)}</tfoot>`,
        )
  const body = [
    header(result, title, store),
    thresholds(result),
    `<h2>Endpoints</h2>${endpointTable}`,
    arrival(result, store),
    checks(result, store),
    '<h2>Timeline</h2><noscript><p class="note">The charts need JavaScript; the tables above do not.</p></noscript>',
    '<div class="chart" id="chart-latency"></div>',
    '<div class="chart" id="chart-throughput"></div>',
    '<div class="chart" id="chart-errors"></div>',
  ]
  return renderPage({
    title,
    body: body.filter((s) => s !== '').join('\n'),
    data: { title, startedAtMs: result.startedAtMs, endpoints, timeline: timeline(result) },
  })
}
