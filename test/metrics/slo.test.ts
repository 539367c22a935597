import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { createMetrics, type SloAlert, SloMonitor, type SloTarget, sloRules } from 'hotpath/metrics'
import { stringify } from 'yaml'

// SLOs over sliding windows on a clock the test moves, and the Prometheus
// rules made from the same targets, checked by promtool.

const api: SloTarget = {
  name: 'api',
  latency: { p95: { warning: 300, critical: 1000 } },
  errorRate: { warning: 0.01, critical: 0.05 },
  availability: { warning: 0.999, critical: 0.99 },
  windowSeconds: 60,
  minRequests: 10,
}
const product: SloTarget = {
  name: 'get-product',
  routes: ['/api/products/:id'],
  methods: ['GET'],
  latency: { p95: { warning: 200, critical: 400 } },
}
const BOUNDS = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 1, 2]

function monitor(targets: SloTarget[]) {
  let now = 1_000_000_000_000
  const m = new SloMonitor(targets, { bounds: BOUNDS, clock: () => now, evaluateEveryMs: 0 })
  const alerts: SloAlert[] = []
  m.on('alert', (a) => alerts.push(a))
  return {
    m,
    alerts,
    tick(seconds: number) {
      now += seconds * 1000
    },
  }
}

describe('SLO monitor', () => {
  it('states each indicator over the window and alerts on level changes only', () => {
    const { m, alerts, tick } = monitor([api])
    // Too few requests: no data, no alert.
    for (let i = 0; i < 5; i++) m.observe('GET', '/a', 200, 0.02)
    assert.equal(m.evaluate()[0]?.state, 'no-data')
    assert.equal(alerts.length, 0)
    for (let i = 0; i < 95; i++) m.observe('GET', '/a', 200, 0.02)
    let [s] = m.evaluate()
    assert.equal(s?.state, 'ok')
    assert.equal(s?.requests, 100)
    assert.equal(alerts.length, 0, 'no-data → ok is not an alert')

    // 10 % of requests at 350 ms: p95 is above 300 ms (warning), not 1000 ms.
    tick(1)
    for (let i = 0; i < 11; i++) m.observe('GET', '/a', 200, 0.35)
    ;[s] = m.evaluate()
    const p95 = s?.indicators.find((x) => x.indicator === 'p95')
    assert.equal(p95?.state, 'warning')
    assert.ok((p95?.value ?? 0) > 300 && (p95?.value ?? 0) <= 400, `p95 ${p95?.value}`)
    assert.deepEqual(
      alerts.map((a) => [a.slo, a.indicator, a.previous, a.state]),
      [['api', 'p95', 'ok', 'warning']],
    )

    // 5xx: 8 of 119 → error rate 6.7 % critical, availability 93 % critical.
    for (let i = 0; i < 8; i++) m.observe('POST', '/b', 503, 0.01)
    ;[s] = m.evaluate()
    assert.equal(s?.indicators.find((x) => x.indicator === 'errorRate')?.state, 'critical')
    assert.equal(s?.indicators.find((x) => x.indicator === 'availability')?.state, 'critical')
    assert.equal(s?.state, 'critical')
    assert.equal(m.evaluate().length, 1)
    assert.equal(alerts.length, 3, 'no repeated alert while the state holds')

    // The window slides: a minute later the slow and failed requests are gone.
    tick(61)
    for (let i = 0; i < 50; i++) m.observe('GET', '/a', 200, 0.02)
    ;[s] = m.evaluate()
    assert.equal(s?.state, 'ok')
    assert.equal(s?.requests, 50)
    assert.deepEqual(
      alerts.slice(3).map((a) => [a.indicator, a.state]),
      [
        ['p95', 'ok'],
        ['errorRate', 'ok'],
        ['availability', 'ok'],
      ],
    )
  })

  it('counts only the routes and methods a target covers', () => {
    const { m } = monitor([product])
    for (let i = 0; i < 30; i++) m.observe('GET', '/api/products/:id', 200, 0.5)
    for (let i = 0; i < 100; i++) m.observe('GET', '/api/products', 200, 0.01)
    for (let i = 0; i < 100; i++) m.observe('PUT', '/api/products/:id', 200, 0.01)
    const [s] = m.status()
    assert.equal(s?.requests, 30)
    assert.equal(s?.state, 'critical')
  })

  it('refuses malformed targets with the field named', () => {
    const bad: [unknown, RegExp][] = [
      [{ name: 'x' }, /declares no objective/],
      [{ name: 'has space', errorRate: { warning: 0.01, critical: 0.05 } }, /slos\[0\]\.name/],
      [{ name: 'x', latency: { p42: { warning: 1, critical: 2 } } }, /latency\.p42/],
      [
        { name: 'x', latency: { p95: { warning: 500, critical: 300 } } },
        /critical must be above warning/,
      ],
      [{ name: 'x', errorRate: { warning: 2, critical: 3 } }, /fractions/],
      [
        { name: 'x', availability: { warning: 0.99, critical: 0.999 } },
        /critical must be below warning/,
      ],
    ]
    for (const [t, message] of bad) {
      assert.throws(() => createMetrics({ slos: [t as SloTarget], defaultMetrics: false }), message)
    }
  })
})

describe('SLO metrics and rules', () => {
  it('adds the SLO levels to the histogram bounds and exports slo_state / slo_value', async () => {
    const metrics = createMetrics({
      slos: [{ ...api, latency: { p99: { warning: 1200, critical: 2400 } } }],
      defaultMetrics: false,
    })
    try {
      assert.ok(metrics.buckets.includes(1.2) && metrics.buckets.includes(2.4))
      for (let i = 0; i < 20; i++) metrics.observe('GET', '/a', 200, 0.01)
      const text = await metrics.text()
      assert.match(text, /slo_state\{slo="api",indicator="p99"\} 0/)
      assert.match(text, /slo_value\{slo="api",indicator="errorRate"\} 0/)
    } finally {
      metrics.slo.close()
    }
  })

  it('writes rule files promtool accepts', () => {
    const file = sloRules(
      [
        api,
        product,
        { name: 'odd.route', routes: ['/a.b/(x)'], errorRate: { warning: 0.01, critical: 0.05 } },
      ],
      {
        prefix: 'shop_',
      },
    )
    const alerts = file.groups[1]?.rules ?? []
    assert.ok(
      alerts.some(
        (r) => 'alert' in r && r.alert === 'SloLatencyHigh' && r.labels.severity === 'critical',
      ),
    )
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-rules-'))
    try {
      const path = join(dir, 'slo.yml')
      writeFileSync(path, stringify(file))
      const r = spawnSync('promtool', ['check', 'rules', path], { encoding: 'utf8' })
      assert.equal(r.status, 0, r.stdout + r.stderr)
      assert.match(r.stdout, /SUCCESS: \d+ rules found/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
