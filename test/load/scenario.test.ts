import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { CookieJar, formatDuration, parseDuration } from 'hotpath/load'
import { resolveScenario } from '../../src/load/scenario.ts'
import { arrivalSchedule, arrivalTotal, share, vusAt } from '../../src/load/schedule.ts'

const base = { file: '/s/browse.ts', index: 0, defaultName: 'browse' }
const journey = () => {}

describe('durations', () => {
  it('reads k6 durations and numbers of ms, refuses the rest', () => {
    assert.equal(parseDuration('500ms'), 500)
    assert.equal(parseDuration('1m30s'), 90_000)
    assert.equal(parseDuration('2h'), 7_200_000)
    assert.equal(parseDuration(' 1.5s '), 1500)
    assert.equal(parseDuration(250), 250)
    for (const bad of ['', 's', '10', '1x', '-1s', -5, Number.NaN, null, '1s and more']) {
      assert.equal(parseDuration(bad), undefined, String(bad))
    }
    assert.equal(formatDuration(90_000), '1m30s')
    assert.equal(formatDuration(3_600_000), '1h')
  })
})

describe('scenario options', () => {
  it('fills in defaults and scales durations, VUs and rates', () => {
    const s = resolveScenario({ executor: 'constant-vus', vus: 100, duration: '5m', journey }, base)
    assert.equal(s.name, 'browse')
    assert.equal(s.baseUrl, 'http://127.0.0.1:3000')
    assert.equal(s.gracefulStopMs, 30_000)
    const scaled = resolveScenario(
      { executor: 'constant-vus', vus: 100, duration: '5m', journey },
      { ...base, scale: 0.01 },
    )
    assert.equal(scaled.vus, 1)
    assert.equal(scaled.durationMs, 3000)
    const rate = resolveScenario(
      {
        executor: 'constant-arrival-rate',
        rate: 1000,
        timeUnit: '1m',
        duration: '1m',
        preAllocatedVUs: 10,
        journey,
      },
      { ...base, scale: 0.5 },
    )
    assert.equal(rate.startRate, 500 / 60_000)
    assert.equal(rate.maxVUs, 5)
  })

  it('names the file, the scenario and the field in errors', () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [
        { executor: 'ramping-vus', stages: [], journey },
        /"browse" in \/s\/browse\.ts: stages: must be a non-empty array/,
      ],
      [
        { executor: 'ramping-vus', stages: [{ duration: '1m', target: -1 }], journey },
        /stages\[0\]\.target/,
      ],
      [
        { executor: 'constant-arrival-rate', rate: 0, duration: '1m', preAllocatedVUs: 1, journey },
        /rate: must be above 0/,
      ],
      [
        {
          executor: 'constant-arrival-rate',
          rate: 5,
          duration: '1m',
          preAllocatedVUs: 10,
          maxVUs: 2,
          journey,
        },
        /maxVUs: 2 is below preAllocatedVUs 10/,
      ],
      [
        { executor: 'constant-vus', vus: 1.5, duration: '1s', journey },
        /vus: 1.5 must be a whole number/,
      ],
      [
        { executor: 'constant-vus', vus: 1, duration: '1s', baseUrl: 'ftp://x', journey },
        /baseUrl/,
      ],
      [
        { name: 'has space', executor: 'constant-vus', vus: 1, duration: '1s', journey },
        /name "has space"/,
      ],
    ]
    for (const [raw, message] of cases) {
      assert.throws(
        () => resolveScenario(raw, base),
        (err: Error & { code?: string }) => {
          assert.equal(err.code, 'HP_ERR_LOAD_INVALID_SCENARIO')
          assert.match(err.message, message)
          return true
        },
      )
    }
  })
})

describe('schedules', () => {
  it('shares a whole among workers so the parts add up', () => {
    for (const total of [0, 1, 7, 100, 1001]) {
      for (const count of [1, 2, 3, 8]) {
        let sum = 0
        for (let i = 0; i < count; i++) sum += share(total, i, count)
        assert.equal(sum, total)
      }
    }
  })

  it('interpolates VUs between stages', () => {
    const s = resolveScenario(
      {
        executor: 'ramping-vus',
        startVUs: 0,
        stages: [
          { duration: '10s', target: 100 },
          { duration: '10s', target: 100 },
          { duration: '10s', target: 0 },
        ],
        journey,
      },
      base,
    )
    assert.deepEqual(
      [0, 5000, 10_000, 15_000, 25_000, 40_000].map((t) => vusAt(s, t)),
      [0, 50, 100, 100, 50, 0],
    )
  })

  it('places the k-th arrival exactly, constant or ramping', () => {
    const constant = resolveScenario(
      { executor: 'constant-arrival-rate', rate: 10, duration: '2s', preAllocatedVUs: 1, journey },
      base,
    )
    const due = arrivalSchedule(constant)
    assert.equal(due(0), 0)
    assert.equal(due(5), 500)
    assert.equal(due(20), Number.POSITIVE_INFINITY)
    assert.equal(arrivalTotal(constant), 20)

    const ramp = resolveScenario(
      {
        executor: 'ramping-arrival-rate',
        startRate: 0,
        preAllocatedVUs: 1,
        stages: [
          { duration: '10s', target: 100 },
          { duration: '10s', target: 100 },
        ],
        journey,
      },
      base,
    )
    const at = arrivalSchedule(ramp)
    assert.equal(arrivalTotal(ramp), 1500)
    // 0 → 100/s over 10 s: k iterations are due by t = sqrt(2k/10) s.
    assert.ok(Math.abs(at(125) - 5000) < 1e-6)
    assert.ok(Math.abs(at(500) - 10_000) < 1e-6)
    assert.ok(Math.abs(at(1000) - 15_000) < 1e-6)
    assert.equal(at(1500), Number.POSITIVE_INFINITY)
    let last = -1
    for (let k = 0; k < 1500; k++) {
      const t = at(k)
      assert.ok(t >= last, `schedule goes forward at ${k}`)
      last = t
    }
  })
})

describe('cookie jar', () => {
  it('keeps, sends, expires and scopes cookies by host and path', () => {
    const jar = new CookieJar()
    const u = new URL('http://127.0.0.1:3000/api/login')
    jar.store(u, [
      'sid=abc; Path=/; HttpOnly',
      'pref=1; Path=/api; Max-Age=3600',
      'old=x; Max-Age=0',
    ])
    assert.equal(jar.header(new URL('http://127.0.0.1:3000/api/cart')), 'sid=abc; pref=1')
    assert.equal(jar.header(new URL('http://127.0.0.1:3000/docs')), 'sid=abc')
    assert.equal(jar.header(new URL('http://localhost:3000/api')), undefined)
    jar.store(u, 'sid=; Expires=Thu, 01 Jan 1970 00:00:00 GMT')
    assert.equal(jar.header(new URL('http://127.0.0.1:3000/')), undefined)
    jar.set('127.0.0.1', 'token', 't1')
    assert.equal(jar.get('127.0.0.1', 'token'), 't1')
  })
})
