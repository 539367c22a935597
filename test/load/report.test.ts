import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { describe, it } from 'node:test'
import { runInNewContext } from 'node:vm'
import {
  createLatencyHistogram,
  decodeLatencyHistogram,
  evaluateThresholds,
  type LatencyHistogram,
  parseThresholds,
  RESULT_FORMAT,
  RESULT_VERSION,
  type RunResult,
  SeriesStore,
} from '../../src/load/index.ts'
import { formatMs, renderReport } from '../../src/load/report.ts'
import { CHART_SCRIPT } from '../../src/load/report-page.ts'
import { outcome } from '../../src/load/run.ts'
import { Recorder, seriesKey } from '../../src/load/samples.ts'

// A result with known samples: two endpoints (one named to break out of a
// <script>), one of them answering in two statuses, a check, thresholds
// that pass and fail, and optionally an arrival-rate scenario.
const EVIL = '<script>alert(1)</script>'
const T0 = 1_700_000_000_000

function build(open: boolean): { result: RunResult; a: LatencyHistogram } {
  const rec = new Recorder()
  const a = createLatencyHistogram()
  const request = (name: string, status: string, ms: number) => {
    const tags = { scenario: 'api', name, method: 'GET', status }
    rec.add(seriesKey('http_reqs', tags), 'http_reqs', tags)
    rec.trend(seriesKey('http_req_duration', tags), 'http_req_duration', tags, ms)
    if (open) {
      const u = 'http_req_duration_uncorrected'
      rec.trend(seriesKey(u, tags), u, tags, ms / 2)
    }
    rec.rate(seriesKey('http_req_failed', tags), 'http_req_failed', tags, status !== '200')
    const check = { scenario: 'api', check: EVIL }
    rec.rate(seriesKey('checks', check), 'checks', check, status === '200')
  }
  for (let ms = 1; ms <= 900; ms++) {
    request('GET /a', '200', ms)
    a.record(ms)
  }
  for (let i = 0; i < 100; i++) {
    request('GET /a', '500', 2000 + i)
    a.record(2000 + i)
  }
  for (let i = 0; i < 10; i++) request(EVIL, '200', 5)
  const store = new SeriesStore()
  for (const r of rec.flush()) store.add(r)
  store.gauge('vus_max', 4)
  const thresholds = parseThresholds({
    'http_req_duration{name:GET /a}': ['p(95)<10000', 'p(99)<100'],
    [`http_req_duration{name:${EVIL}}`]: ['max<50'],
  })
  const timeline = [0, 1].map((t) => {
    const h = createLatencyHistogram()
    h.record(10 * (t + 1))
    return {
      ...{ t, reqs: 505, failed: 50, iterations: 505, dropped: t, checks: 0, checksFailed: 0 },
      ...{ vus: 4, bytesReceived: 1000, avg: h.avg, p50: h.percentile(50), p90: h.max },
      ...{ p95: h.max, p99: h.max, max: h.max, latency: h.encode() },
    }
  })
  const result: RunResult = {
    format: RESULT_FORMAT,
    version: RESULT_VERSION,
    startedAt: new Date(T0).toISOString(),
    startedAtMs: T0,
    durationMs: 2000,
    runs: 2,
    scenarios: [
      {
        name: 'api',
        file: 'api.ts',
        executor: open ? 'constant-arrival-rate' : 'constant-vus',
        open,
        durationMs: 2000,
        maxVUs: 4,
      },
    ],
    thresholds: evaluateThresholds(thresholds, store.lookup(2000)).map(outcome),
    series: store.records(),
    timeline,
    warnings: [`api: 3 iterations were dropped ${EVIL}`],
    aborted: 'interrupted',
  }
  return { result, a }
}

function rowOf(html: string, name: string): string[] {
  const row = html.split('\n').find((l) => l.startsWith(`<tr><td>${name}</td>`))
  assert.ok(row, `a row for ${name}`)
  return [...row.matchAll(/<td[^>]*>(.*?)<\/td>/g)].map((m) => m[1] ?? '')
}

function jsonBlock(html: string): string {
  const m = /<script type="application\/json" id="hp-data">(.*?)<\/script>/s.exec(html)
  assert.ok(m?.[1])
  return m[1]
}

describe('renderReport', () => {
  const { result, a } = build(true)
  const html = renderReport(result, { title: `run <1>` })

  it('inlines uPlot and its CSS, and loads nothing from the network', () => {
    const require = createRequire(import.meta.url)
    const asset = (f: string) => readFileSync(require.resolve(`uplot/dist/${f}`), 'utf8')
    assert.ok(html.includes(asset('uPlot.iife.min.js')), 'uPlot inline')
    assert.ok(html.includes(asset('uPlot.min.css')), 'uPlot CSS inline')
    assert.ok(html.startsWith('<!doctype html>'))
    assert.ok(html.trimEnd().endsWith('</html>'))
    assert.doesNotMatch(html, /\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?\/\//i)
    assert.doesNotMatch(html, /<link\b|<script[^>]*\ssrc=|@import|url\(/i)
    assert.match(html, /Content-Security-Policy" content="default-src 'none'/)
  })

  it('escapes every name, in the HTML and in the data block', () => {
    assert.ok(!html.includes(EVIL))
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;'))
    assert.ok(html.includes('<title>run &lt;1&gt;</title>'))
    // Only the three real script elements close.
    assert.equal(html.match(/<\/script/gi)?.length, 3)
    const data = JSON.parse(jsonBlock(html)) as { endpoints: { name: string }[] }
    assert.ok(data.endpoints.some((e) => e.name === EVIL))
  })

  it('shows the header, the abort and the warnings', () => {
    assert.match(html, /<h1>run &lt;1&gt;<\/h1>/)
    assert.match(html, /<dt>Started<\/dt><dd>2023-11-14 22:13:20<\/dd>/)
    assert.match(html, /<dt>Runs merged<\/dt><dd>2<\/dd>/)
    assert.match(html, /constant-arrival-rate · open model/)
    assert.match(html, /class="alert"[^>]*><b>Aborted:<\/b> interrupted/)
    assert.match(html, /<li>api: 3 iterations were dropped &lt;script&gt;/)
  })

  it('marks thresholds passed and failed', () => {
    assert.match(
      html,
      /<tr><td class="ok">✓<\/td><td>http_req_duration\{name:GET \/a\}<\/td><td><code>p\(95\)&lt;10000<\/code>/,
    )
    assert.match(
      html,
      /<tr><td class="bad">✗<\/td><td>http_req_duration\{name:GET \/a\}<\/td><td><code>p\(99\)&lt;100<\/code>/,
    )
    assert.match(html, /<tr><td class="ok">✓<\/td><td>http_req_duration\{name:&lt;script&gt;/)
  })

  it('gives each endpoint its figures from the combined histograms', () => {
    const cells = rowOf(html, 'GET /a')
    // Encoded histograms keep counts only, so max comes back as its bucket's top (within 0.1 %).
    const all = decodeLatencyHistogram(a.encode())
    const expected = [all.avg, ...[50, 90, 95, 99].map((p) => all.percentile(p)), all.max]
    assert.deepEqual(cells, [
      'GET /a',
      '1000',
      '500.0',
      '10.00%',
      ...expected.map((v) => v.toFixed(1)),
    ])
    assert.equal(formatMs(a.percentile(99)), a.percentile(99).toFixed(1))
    const evil = rowOf(html, '&lt;script&gt;alert(1)&lt;/script&gt;')
    assert.deepEqual(evil.slice(1, 4), ['10', '5.0', '0.00%'])
    assert.deepEqual(new Set(evil.slice(4)), new Set(['5.0']))
    assert.match(html, /<tfoot><tr><td>all<\/td><td class="n">1010<\/td>/)
  })

  it('counts checks', () => {
    assert.match(
      html,
      /<tr><td class="bad">✗<\/td><td>&lt;script&gt;alert\(1\)&lt;\/script&gt;<\/td><td class="n">910<\/td><td class="n">100<\/td><td class="n">90\.10%<\/td><\/tr>/,
    )
  })

  it('sets corrected beside uncorrected latency for arrival-rate scenarios only', () => {
    assert.match(html, /time spent waiting to start on schedule/)
    const store = new SeriesStore()
    for (const s of result.series) store.add(s)
    const f = (m: string, p: number) =>
      formatMs(store.values(m, { scenario: 'api' }, 2000)?.percentile?.(p) ?? -1)
    const c = 'http_req_duration'
    const u = 'http_req_duration_uncorrected'
    assert.deepEqual(rowOf(html, 'api'), ['api', f(c, 95), f(u, 95), f(c, 99), f(u, 99)])
    assert.notEqual(f(c, 95), f(u, 95))
    const closed = renderReport(build(false).result)
    assert.doesNotMatch(closed, /Arrival-rate latency/)
    assert.match(closed, /<h1>hotpath load report<\/h1>/)
  })

  it('draws three charts from the timeline', () => {
    const charts: { title: string; series: number; data: unknown[][] }[] = []
    class FakePlot {
      constructor(opts: { title: string; series: unknown[] }, data: unknown[][]) {
        // Out of the vm's realm: its arrays have another prototype.
        charts.push(
          JSON.parse(JSON.stringify({ title: opts.title, series: opts.series.length, data })),
        )
      }
    }
    const json = JSON.parse(jsonBlock(html))
    const el = { textContent: JSON.stringify(json), clientWidth: 900 }
    runInNewContext(CHART_SCRIPT, {
      uPlot: FakePlot,
      document: { getElementById: () => el, querySelector: () => el },
      window: { addEventListener() {} },
    })
    assert.deepEqual(
      charts.map((c) => [c.title, c.series, c.data.length]),
      [
        ['Latency (ms)', 5, 5],
        ['Throughput', 4, 4],
        ['Errors', 3, 3],
      ],
    )
    assert.deepEqual(charts[0]?.data[0], [T0 / 1000, T0 / 1000 + 1])
    assert.deepEqual(
      charts[0]?.data[3],
      result.timeline.map((p) => p.p99),
    )
    assert.deepEqual(charts[1]?.data.slice(1), [
      [505, 505],
      [505, 505],
      [4, 4],
    ])
    assert.deepEqual(charts[2]?.data.slice(1), [
      [50, 50],
      [0, 1],
    ])
  })
})
