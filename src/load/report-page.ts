import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'

/**
 * The HTML report's shell: uPlot (inlined from the installed package, so the
 * page opens offline and years later), the CSS and the chart script. The
 * tables are plain HTML; only the charts need JavaScript.
 */

let assets: { readonly js: string; readonly css: string } | undefined

/** uPlot's script and stylesheet, read once per process. */
export function uplotAssets(): { readonly js: string; readonly css: string } {
  if (assets === undefined) {
    const require = createRequire(import.meta.url)
    const read = (file: string) => readFileSync(require.resolve(`uplot/dist/${file}`), 'utf8')
    assets = { js: read('uPlot.iife.min.js'), css: read('uPlot.min.css') }
  }
  return assets
}

const ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

/** Text for HTML content and quoted attributes. */
export function esc(text: string | number): string {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c)
}

/** JSON for a `<script type="application/json">`: no `<` at all, so no `</script>` either. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c')
}

// Raw-text elements end at the first `</script` or `</style`, wherever it stands.
function rawText(code: string, tag: 'script' | 'style'): string {
  return code.replace(new RegExp(`</(${tag})`, 'gi'), '<\\/$1')
}

const CSS = `
:root { color-scheme: light; --bad: #b42318; --ok: #067647; --line: #e4e7ec; --muted: #667085; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #101828; background: #fff; }
main { max-width: 1100px; margin: 0 auto; padding: 24px 16px 48px; }
h1 { font-size: 22px; margin: 0 0 8px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; margin: 0; }
dl.meta dt { color: var(--muted); }
dl.meta dd { margin: 0; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; background: #f2f4f7; font-size: 12px; }
.tag.open { background: #eef4ff; }
.alert { border: 1px solid var(--bad); background: #fef3f2; color: var(--bad); border-radius: 6px; padding: 8px 12px; margin: 12px 0; }
.alert ul { margin: 4px 0 0; padding-left: 20px; }
table { border-collapse: collapse; width: 100%; margin: 4px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: 12px; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td { font-weight: 600; }
.ok { color: var(--ok); }
.bad { color: var(--bad); }
.note { color: var(--muted); margin: 4px 0; }
.chart { margin: 8px 0 16px; min-height: 40px; }
code { font: 12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
`

// Plain ES5-style for the browser: reads the data block and draws three charts.
// Exported for tests that run it against a stand-in DOM.
export const CHART_SCRIPT = `(function () {
  var d = JSON.parse(document.getElementById('hp-data').textContent)
  var tl = d.timeline
  if (typeof uPlot === 'undefined' || tl.t.length === 0) return
  var main = document.querySelector('main')
  function width() { return Math.max(320, main.clientWidth - 32) }
  function line(label, stroke, extra) {
    var s = { label: label, stroke: stroke, width: 1.5, spanGaps: false, points: { show: false } }
    for (var k in extra || {}) s[k] = extra[k]
    return s
  }
  var charts = []
  function chart(id, title, series, data, axes) {
    var opts = { title: title, width: width(), height: 260, series: [{}].concat(series), axes: [{}].concat(axes) }
    charts.push(new uPlot(opts, [tl.t].concat(data), document.getElementById(id)))
  }
  chart('chart-latency', 'Latency (ms)',
    [line('p50', '#2e90fa'), line('p95', '#f79009'), line('p99', '#d92d20'), line('max', '#7a5af8')],
    [tl.p50, tl.p95, tl.p99, tl.max], [{ label: 'ms', size: 60 }])
  chart('chart-throughput', 'Throughput',
    [line('req/s', '#2e90fa'), line('iterations/s', '#12b76a'), line('VUs', '#667085', { scale: 'vus', dash: [4, 4] })],
    [tl.reqs, tl.iterations, tl.vus],
    [{ label: 'per second', size: 60 }, { scale: 'vus', side: 1, label: 'VUs', size: 60, grid: { show: false } }])
  chart('chart-errors', 'Errors',
    [line('failed req/s', '#d92d20'), line('dropped iterations/s', '#f79009')],
    [tl.failed, tl.dropped], [{ label: 'per second', size: 60 }])
  window.addEventListener('resize', function () {
    for (var i = 0; i < charts.length; i++) charts[i].setSize({ width: width(), height: 260 })
  })
})()`

export interface Page {
  readonly title: string
  /** Trusted HTML: every value in it already escaped. */
  readonly body: string
  readonly data: unknown
}

export function renderPage(page: Page): string {
  const { js, css } = uplotAssets()
  // No network at all: the page must render the same offline and cannot leak the report.
  const csp = "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'"
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<title>${esc(page.title)}</title>
<style>${rawText(css, 'style')}</style>
<style>${CSS}</style>
</head>
<body>
<main>
${page.body}
</main>
<script type="application/json" id="hp-data">${scriptJson(page.data)}</script>
<script>${rawText(js, 'script')}</script>
<script>${CHART_SCRIPT}</script>
</body>
</html>
`
}
