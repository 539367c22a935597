// The live dashboard: one EventSource, one JSON frame per interval, uPlot
// charts over the last few minutes. Every text from the server goes in
// through textContent, never as markup.
;(() => {
  const WINDOW_S = 180
  const TOP_ROUTES = 6
  const STATES = new Set(['ok', 'warning', 'critical', 'no-data'])
  const $ = (id) => document.getElementById(id)
  const el = (tag, cls, text) => {
    const e = document.createElement(tag)
    if (cls) e.className = cls
    if (text !== undefined) e.textContent = String(text)
    return e
  }

  const fmtMs = (v) =>
    v == null ? '–' : `${v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0)} ms`
  const fmtRate = (v) => (v == null ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1))
  const fmtPct = (v) => (v == null ? '–' : `${(v * 100).toFixed(v > 0 && v < 0.01 ? 2 : 1)}%`)
  const pct = (v) => (v == null ? null : v * 100)
  const clock = (t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })

  // Series over time, aligned on `t` (seconds); null where there was no value.
  const KEYS = ['p50', 'p95', 'p99', 'rps', 'err', 'l1', 'l2', 'total', 'idle', 'waiting', 'max']
  const series = { t: [] }
  for (const k of KEYS) series[k] = []
  const routes = new Map() // route → { p50, p95, p99, rps } arrays aligned on series.t

  function record(f) {
    const t = f.t / 1000
    const last = series.t[series.t.length - 1]
    if (last !== undefined && t <= last) return false // replayed after a reconnect
    const n = series.t.length
    series.t.push(t)
    const s = f.totals
    const v = {
      p50: s.p50,
      p95: s.p95,
      p99: s.p99,
      rps: s.rps,
      err: pct(s.errorRate),
      l1: pct(f.cache?.l1HitRatio),
      l2: pct(f.cache?.l2HitRatio),
      total: f.pool?.total ?? null,
      idle: f.pool?.idle ?? null,
      waiting: f.pool?.waiting ?? null,
      max: f.pool?.max ?? null,
    }
    for (const k of KEYS) series[k].push(v[k] ?? null)
    const seen = new Set()
    for (const r of f.routes) {
      let a = routes.get(r.route)
      if (!a) {
        const fill = (x) => Array(n).fill(x)
        a = { p50: fill(null), p95: fill(null), p99: fill(null), rps: fill(0) }
        routes.set(r.route, a)
      }
      for (const k of ['p50', 'p95', 'p99', 'rps']) a[k].push(r[k])
      seen.add(r.route)
    }
    for (const [name, a] of routes) {
      if (seen.has(name)) continue
      for (const k of ['p50', 'p95', 'p99']) a[k].push(null)
      a.rps.push(0)
    }
    // Drop what fell out of the window, and routes with no traffic left in it.
    let cut = 0
    while (cut < series.t.length && series.t[cut] < t - WINDOW_S) cut++
    if (cut > 0) {
      for (const k of ['t', ...KEYS]) series[k].splice(0, cut)
      for (const a of routes.values()) for (const k in a) a[k].splice(0, cut)
    }
    for (const [name, a] of routes) if (!a.rps.some((x) => x > 0)) routes.delete(name)
    return true
  }

  const charts = []
  function chart(target, height, lines, scales, axes) {
    const opts = {
      width: Math.max(200, target.clientWidth),
      height,
      scales: { x: { time: true }, ...scales },
      axes: [
        {
          stroke: '#667085',
          grid: { stroke: '#f2f4f7' },
          space: 70,
          incrs: [1, 2, 5, 10, 15, 30, 60, 120, 300],
          values: (_u, ts) => ts.map(clock),
        },
        ...axes,
      ],
      series: [
        { value: (_u, t) => (t == null ? '–' : clock(t)) },
        ...lines.map((l) => ({ spanGaps: false, width: 1.5, points: { show: false }, ...l })),
      ],
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    }
    const u = new uPlot(opts, [[], ...lines.map(() => [])], target)
    const c = { u, target, height }
    charts.push(c)
    return c
  }
  const axis = (scale, fmt, side = 3) => ({
    scale,
    side,
    stroke: '#667085',
    size: 56,
    grid: { show: side === 3, stroke: '#f2f4f7' },
    values: (_u, vals) => vals.map(fmt),
  })
  const num = (v) => (v == null ? '' : String(+v.toFixed(2)))
  const msLines = () => [
    { label: 'p50', stroke: '#2e90fa', scale: 'ms', value: (_u, v) => fmtMs(v) },
    { label: 'p95', stroke: '#f79009', scale: 'ms', value: (_u, v) => fmtMs(v) },
    { label: 'p99', stroke: '#d92d20', scale: 'ms', value: (_u, v) => fmtMs(v) },
  ]
  const msScale = { ms: { range: (_u, _min, max) => [0, Math.max(1, max ?? 1) * 1.1] } }

  // Sets a chart's data; its legend shows the latest values unless the cursor is on it.
  function draw(c, data) {
    c.u.setData(data)
    if (c.u.cursor.left == null || c.u.cursor.left < 0) c.u.setLegend({ idx: data[0].length - 1 })
  }

  let latency, rate, cache, pool
  function setup() {
    latency = chart($('chart-latency'), 240, msLines(), msScale, [axis('ms', num)])
    rate = chart(
      $('chart-rate'),
      200,
      [
        {
          label: 'req/s',
          stroke: '#12b76a',
          fill: 'rgba(18,183,106,0.08)',
          scale: 'rps',
          value: (_u, v) => fmtRate(v),
        },
        {
          label: 'errors',
          stroke: '#d92d20',
          scale: '%',
          value: (_u, v) => (v == null ? '–' : `${v.toFixed(2)}%`),
        },
      ],
      {
        rps: { range: (_u, _a, max) => [0, Math.max(1, max ?? 1) * 1.1] },
        '%': { range: [0, 100] },
      },
      [axis('rps', num), axis('%', (v) => `${v}%`, 1)],
    )
    const pctValue = (_u, v) => (v == null ? '–' : `${v.toFixed(1)}%`)
    cache = chart(
      $('chart-cache'),
      200,
      [
        { label: 'L1', stroke: '#7a5af8', scale: '%', value: pctValue },
        { label: 'L2', stroke: '#0ba5ec', scale: '%', value: pctValue },
      ],
      { '%': { range: [0, 100] } },
      [axis('%', (v) => `${v}%`)],
    )
    pool = chart(
      $('chart-pool'),
      200,
      [
        { label: 'open', stroke: '#344054', scale: 'n' },
        { label: 'idle', stroke: '#12b76a', scale: 'n' },
        { label: 'waiting', stroke: '#d92d20', scale: 'n' },
        { label: 'max', stroke: '#98a2b3', dash: [4, 4], scale: 'n' },
      ],
      { n: { range: (_u, _a, max) => [0, Math.max(4, max ?? 4) * 1.1] } },
      [axis('n', num)],
    )
    window.addEventListener('resize', () => {
      for (const c of charts)
        c.u.setSize({ width: Math.max(200, c.target.clientWidth), height: c.height })
    })
  }

  // Small multiples for the busiest routes, rebuilt when the set changes.
  let shown = ''
  const routeCharts = new Map()
  function drawRoutes() {
    const total = (a) => a.rps.reduce((x, y) => x + y, 0)
    const top = [...routes]
      .sort((a, b) => total(b[1]) - total(a[1]))
      .slice(0, TOP_ROUTES)
      .map(([n]) => n)
    // The set, not its order: a chart moves only when a route enters or leaves the top.
    const key = JSON.stringify([...top].sort())
    if (key !== shown) {
      shown = key
      for (const c of routeCharts.values()) {
        c.u.destroy()
        charts.splice(charts.indexOf(c), 1)
      }
      routeCharts.clear()
      const box = $('route-charts')
      box.replaceChildren()
      for (const name of top) {
        const panel = el('div', 'panel')
        const title = el('h3')
        title.append(el('code', null, name), el('span', 'muted rate'))
        const target = el('div')
        panel.append(title, target)
        box.append(panel)
        const c = chart(target, 150, msLines(), msScale, [axis('ms', num)])
        c.rate = title.lastChild
        routeCharts.set(name, c)
      }
      if (top.length === 0) box.append(el('p', 'muted', 'no traffic yet'))
    }
    for (const [name, c] of routeCharts) {
      const a = routes.get(name)
      draw(c, [series.t, a.p50, a.p95, a.p99])
      c.rate.textContent = `${fmtRate(a.rps[a.rps.length - 1])} req/s`
    }
  }

  function drawTables(f) {
    const rows = f.routes.map((r) => {
      const tr = el('tr')
      tr.append(
        el('td', null, r.route),
        el('td', 'num', fmtRate(r.rps)),
        el('td', 'num', fmtPct(r.errorRate)),
        el('td', 'num', fmtMs(r.p50)),
        el('td', 'num', fmtMs(r.p95)),
        el('td', 'num', fmtMs(r.p99)),
      )
      return tr
    })
    if (rows.length === 0) rows.push(emptyRow(6, 'no requests in the last interval'))
    $('routes').replaceChildren(...rows.slice(0, 12))
    const slow = f.slowQueries.map((q) => {
      const tr = el('tr')
      const sql = el('td')
      sql.append(el('code', null, q.statement))
      tr.append(
        el('td', 'nowrap', new Date(q.at).toLocaleTimeString()),
        el('td', 'num', q.ms.toFixed(1)),
        el('td', null, q.endpoint),
        sql,
      )
      return tr
    })
    if (slow.length === 0) slow.push(emptyRow(4, 'none'))
    $('slow').replaceChildren(...slow)
  }
  function emptyRow(span, text) {
    const td = el('td', 'muted', text)
    td.colSpan = span
    const tr = el('tr')
    tr.append(td)
    return tr
  }

  function drawSlos(slos) {
    if (!Array.isArray(slos) || slos.length === 0) return
    const badges = slos.map((s) => {
      const state = STATES.has(s.state) ? s.state : 'no-data'
      const b = el('div', `badge ${state}`)
      b.title = s.description || s.name
      const head = el('div', 'badge-head')
      head.append(el('strong', null, s.name), el('span', 'state', state))
      const list = el('ul')
      for (const x of s.indicators) {
        const st = STATES.has(x.state) ? x.state : 'no-data'
        const latency = /^p\d+$/.test(x.indicator)
        const value = latency ? fmtMs(x.value) : fmtPct(x.value)
        const limit = latency ? fmtMs(x.levels.warning) : fmtPct(x.levels.warning)
        const li = el('li', st)
        li.append(
          el('span', 'ind', x.indicator),
          el('span', 'val', value),
          el('span', 'muted', `warn ${x.indicator === 'availability' ? '<' : '>'} ${limit}`),
        )
        list.append(li)
      }
      b.append(
        head,
        list,
        el('div', 'muted small', `${s.requests} requests / ${s.windowSeconds} s`),
      )
      return b
    })
    $('slos').replaceChildren(...badges)
  }

  function render(f) {
    if (!record(f)) return
    const s = f.totals
    $('tile-rps').textContent = fmtRate(s.rps)
    $('tile-err').textContent = fmtPct(s.errorRate)
    $('tile-p50').textContent = fmtMs(s.p50)
    $('tile-p95').textContent = fmtMs(s.p95)
    $('tile-p99').textContent = fmtMs(s.p99)
    $('tile-inflight').textContent = String(s.inFlight)
    $('tile-hit').textContent = fmtPct(f.cache?.hitRatio)
    $('updated').textContent = `updated ${new Date(f.t).toLocaleTimeString()}`
    draw(latency, [series.t, series.p50, series.p95, series.p99])
    // For tests and scrapers: how many latency points the chart holds.
    latency.target.dataset.points = String(series.p95.filter((v) => v != null).length)
    draw(rate, [series.t, series.rps, series.err])
    draw(cache, [series.t, series.l1, series.l2])
    draw(pool, [series.t, series.total, series.idle, series.waiting, series.max])
    drawRoutes()
    drawTables(f)
    drawSlos(f.slos)
  }

  let lastFrame = 0
  let intervalMs = 1000
  function setStatus(live) {
    const s = $('status')
    s.textContent = live ? 'live' : 'disconnected'
    s.className = `status ${live ? 'on' : 'off'}`
  }

  function start() {
    setup()
    const es = new EventSource(document.body.dataset.events)
    es.onopen = () => setStatus(true)
    es.onerror = () => setStatus(false) // EventSource reconnects by itself (retry hint)
    es.onmessage = (e) => {
      let f
      try {
        f = JSON.parse(e.data)
      } catch {
        return
      }
      lastFrame = Date.now()
      intervalMs = f.intervalMs || intervalMs
      setStatus(true)
      render(f)
    }
    // An open connection that brings no frames is as good as a closed one.
    setInterval(() => {
      if (lastFrame > 0 && Date.now() - lastFrame > Math.max(5000, 3 * intervalMs)) setStatus(false)
    }, 1000)
  }

  if (typeof uPlot === 'undefined') setStatus(false)
  else start()
})()
