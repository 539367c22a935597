import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { planLoad, type RunResult, runLoad, SeriesStore } from 'hotpath/load'
import baselineRate from '../../scenarios/baseline-rate.ts'
import { ROUTES, THINK_MS } from '../../scenarios/journeys.ts'
import normal from '../../scenarios/normal.ts'
import peak from '../../scenarios/peak.ts'
import soak from '../../scenarios/soak.ts'
import spike from '../../scenarios/spike.ts'
import stress from '../../scenarios/stress.ts'
import { startInstance, startShop, type TestShop } from '../app/shop.ts'
import { unless } from '../helpers/services.ts'

// The shop's load profiles (scenarios/): their figures are the guides', each
// one plans, and the scaled-down runs of two of them against a real shop
// complete every journey with no failed request or check.

const NAMES = ['normal', 'peak', 'spike', 'stress', 'soak', 'baseline-rate'] as const
const file = (name: string): string =>
  fileURLToPath(new URL(`../../scenarios/${name}.ts`, import.meta.url))

function store(r: RunResult): SeriesStore {
  const s = new SeriesStore()
  for (const x of r.series) s.add(x)
  return s
}

describe('shop load scenarios: the guides’ figures', () => {
  it('every file plans (options, thresholds) without sending load', async () => {
    for (const name of NAMES) {
      const plan = await planLoad({ files: [file(name)], scale: 0.01 })
      assert.equal(plan.scenarios.length, 1, name)
      assert.equal(plan.scenarios[0]?.name, name)
      assert.ok(plan.thresholds.length >= 4, name)
    }
  })

  it('uses 004’s loads: 100 users 5 min, 500 users 10 min, 100 → 1000 in 1 min, 100 users 24 h', () => {
    assert.deepEqual([normal.vus, normal.duration], [100, '5m'])
    assert.deepEqual([peak.vus, peak.duration], [500, '10m'])
    assert.deepEqual([soak.vus, soak.duration], [100, '24h'])
    assert.equal(spike.startVUs, 100)
    const top = spike.stages.findIndex((s) => s.target === 1000)
    assert.deepEqual(spike.stages[top], { duration: '1m', target: 1000 })
    assert.equal(spike.stages[top - 1]?.target, 100)
    assert.ok(Math.max(...stress.stages.map((s) => s.target)) > peak.vus)
    // A request every 6 s per VU: 100 VUs make 1000 a minute.
    assert.equal((100 * 60_000) / ((THINK_MS[0] + THINK_MS[1]) / 2), 1000)
    // Two requests a visit at 500 visits a minute.
    assert.deepEqual([baselineRate.rate, baselineRate.timeUnit], [500, '1m'])
  })
})

const skip = (await unless('postgres')) || (await unless('redis'))

describe('shop load scenarios against the shop, scaled to seconds', { skip }, () => {
  let shop: TestShop
  const thinkScale = process.env.LOAD_THINK_SCALE
  before(async () => {
    shop = await startShop({ products: 120, users: 2, orders: 0 })
    // The workers copy this environment: think times of 90–270 ms.
    process.env.LOAD_THINK_SCALE = '0.03'
  })
  after(async () => {
    if (thinkScale === undefined) delete process.env.LOAD_THINK_SCALE
    else process.env.LOAD_THINK_SCALE = thinkScale
    await shop?.stop()
  })

  it('normal.ts: browsers and a buyer go through every route, nothing fails', async () => {
    // 100 VUs × 0.015 = 2 (VU 1 buys, VU 2 browses), 5 min × 0.015 = 4.5 s.
    const r = await runLoad({
      files: [file('normal')],
      baseUrl: shop.base,
      scale: 0.015,
      workers: 1,
    })
    assert.deepEqual(r.warnings, [])
    assert.equal(r.aborted, null)
    const s = store(r)
    const failed = s.values('http_req_failed', {}, r.durationMs)
    assert.ok((failed?.count ?? 0) > 20, `requests: ${failed?.count}`)
    assert.equal(failed?.rate, 0)
    assert.equal(s.values('checks', {}, r.durationMs)?.rate, 1)
    assert.ok((s.values('iterations', {}, r.durationMs)?.value ?? 0) >= 2)
    const names = s.tagValues('http_req_duration', 'name')
    for (const route of Object.values(ROUTES)) assert.ok(names.includes(route), route)
    assert.equal(names.length, Object.values(ROUTES).length, names.join(', '))
    const paid = s.values('http_reqs', { name: ROUTES.pay, status: '200' }, r.durationMs)
    assert.ok((paid?.value ?? 0) >= 1, 'an order was paid')
    const { rows } = await shop.resources.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM orders WHERE status = 'paid'",
    )
    assert.equal(rows[0]?.n, paid?.value)

    for (const t of r.thresholds) assert.equal(t.noData, false, `${t.key}: ${t.threshold}`)
    const outcome = (key: string) => r.thresholds.find((t) => t.key === key)
    assert.equal(outcome('http_req_failed{scenario:normal}')?.ok, true)
    assert.equal(outcome('checks{scenario:normal}')?.ok, true)
    assert.ok(outcome(`http_req_duration{name:${ROUTES.login},status:200,scenario:normal}`))
  })

  it('baseline-rate.ts: the open model records corrected and uncorrected latency', async () => {
    const r = await runLoad({
      files: [file('baseline-rate')],
      baseUrl: shop.base,
      scale: 0.01,
      workers: 1,
    })
    assert.deepEqual(r.warnings, [])
    assert.equal(r.scenarios[0]?.open, true)
    const s = store(r)
    for (const metric of ['http_req_duration', 'http_req_duration_uncorrected']) {
      assert.deepEqual(
        s.tagValues(metric, 'name').sort(),
        [ROUTES.products, ROUTES.product],
        metric,
      )
    }
    assert.equal(s.values('http_req_failed', {}, r.durationMs)?.rate, 0)
    assert.equal(s.values('dropped_iterations', {}, r.durationMs), undefined)
    for (const t of r.thresholds) assert.equal(t.noData, false, `${t.key}: ${t.threshold}`)
  })

  it('a buyer whose login gets 429 browses on instead of failing or retrying at once', async () => {
    // One login an hour per address: of buyers VU 1 and VU 11, one at least is refused.
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-scenarios-'))
    const strict = await startInstance(shop, {
      loginLimits: { perIp: { limit: 1, window: '1h' }, perAccount: { limit: 5, window: '1m' } },
    })
    try {
      const journeys = new URL('../../scenarios/journeys.ts', import.meta.url).href
      const scenario = join(dir, 'logins.mjs')
      writeFileSync(
        scenario,
        `import { init, shopper } from '${journeys}'
export default { name: 'logins', executor: 'constant-vus', vus: 11, duration: '2s', init, journey: shopper }`,
      )
      const r = await runLoad({ files: [scenario], baseUrl: strict.base, workers: 1 })
      assert.deepEqual(r.warnings, [])
      const s = store(r)
      const logins = (status: string) =>
        s.values('http_reqs', { name: ROUTES.login, status }, r.durationMs)?.value ?? 0
      assert.ok(logins('429') >= 1, 'a login was refused')
      // Refused once, the VU waits for Retry-After (an hour) instead of asking again.
      assert.ok(logins('429') + logins('200') <= 2, `${logins('429')} + ${logins('200')} logins`)
      assert.equal(s.values('http_req_failed', {}, r.durationMs)?.rate, 0)
      assert.equal(s.values('checks', {}, r.durationMs)?.rate, 1)
    } finally {
      rmSync(dir, { recursive: true, force: true })
      await strict.stop()
    }
  })
})
