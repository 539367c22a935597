import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type RunResult, runLoad, SeriesStore } from 'hotpath/load'
import { startTarget, type Target } from '../helpers/target.ts'

// The runner against a local server whose latency the test sets: every
// figure the runner reports is checked against what the server did.

type Handler = Target['handler']
let target: Target
let baseUrl = ''
const dir = mkdtempSync(join(tmpdir(), 'hotpath-load-'))

/** A scenario file with no imports (defineScenario is the identity), written to a temp dir. */
function scenario(name: string, source: string): string {
  const file = join(dir, `${name}.mjs`)
  writeFileSync(file, source)
  return file
}

function store(r: RunResult): SeriesStore {
  const s = new SeriesStore()
  for (const x of r.series) s.add(x)
  return s
}

function delayed(ms: number): Handler {
  return (_req, res) => {
    setTimeout(() => res.end('{"ok":true}'), ms)
  }
}

before(async () => {
  target = await startTarget()
  baseUrl = target.url
})

after(async () => {
  await target.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('load runner', () => {
  it('reports a fixed 10 ms server delay as p50 ≈ 10 ms', async () => {
    target.handler = delayed(10)
    const file = scenario(
      'fixed',
      `export default { executor: 'constant-vus', vus: 5, duration: '2s', async journey(vu) { await vu.get('/item') } }`,
    )
    const r = await runLoad({ files: [file], baseUrl, workers: 1 })
    const d = store(r).values('http_req_duration', {}, r.durationMs)
    assert.ok(d !== undefined && d.count !== undefined && d.count > 400, `count ${d?.count}`)
    const p50 = d.percentile?.(50) ?? 0
    assert.ok(p50 >= 10 && p50 < 14, `p50 ${p50}`)
    assert.equal(store(r).values('http_req_failed', {}, 0)?.rate, 0)
    assert.ok(store(r).tagValues('http_req_duration', 'name').includes('GET /item'))
    // The run's duration is the real one (its last second is partial), so req/s is not understated.
    assert.ok(r.durationMs >= 2000 && r.durationMs < 2300, `durationMs ${r.durationMs}`)
  })

  it('shows a 1 s server stall in the corrected p99 of an arrival-rate run, not in the uncorrected one', async () => {
    let n = 0
    target.handler = (_req, res) => {
      // Stop the world once, as a GC pause or a blocking call would.
      if (++n === 150) {
        const until = Date.now() + 1000
        while (Date.now() < until) {}
      }
      res.end('ok')
    }
    const file = scenario(
      'stall',
      `export default { executor: 'constant-arrival-rate', rate: 100, duration: '6s',
         preAllocatedVUs: 2, maxVUs: 2, async journey(vu) { await vu.get('/') } }`,
    )
    const r = await runLoad({ files: [file], baseUrl, workers: 1 })
    const s = store(r)
    const corrected = s.values('http_req_duration', {}, r.durationMs)
    const uncorrected = s.values('http_req_duration_uncorrected', {}, r.durationMs)
    assert.equal(corrected?.count, 600)
    assert.equal(s.values('dropped_iterations', {}, 0)?.value ?? 0, 0)
    const c99 = corrected?.percentile?.(99) ?? 0
    const u99 = uncorrected?.percentile?.(99) ?? 0
    assert.ok(c99 > 500, `corrected p99 ${c99}`)
    assert.ok(u99 < 100, `uncorrected p99 ${u99}`)
    assert.ok((uncorrected?.max ?? 0) > 900, 'the stalled request itself is in both')
  })

  it('keeps the arrival rate within 2 % of the target when the server keeps up', async () => {
    target.handler = delayed(2)
    const file = scenario(
      'rate',
      `export default { executor: 'constant-arrival-rate', rate: 200, duration: '5s',
         preAllocatedVUs: 10, maxVUs: 50, async journey(vu) { await vu.get('/') } }`,
    )
    const r = await runLoad({ files: [file], baseUrl, workers: 2 })
    const s = store(r)
    assert.equal(s.values('iterations', {}, 0)?.value, 1000)
    assert.deepEqual(r.warnings, [])
    // Whole seconds in the middle of the run (the first and last are partial).
    for (const p of r.timeline.slice(1, 4)) {
      assert.ok(Math.abs(p.iterations - 200) <= 4, `second ${p.t}: ${p.iterations} iterations`)
    }
  })

  it('ramps arrival rates and VUs along their stages', async () => {
    target.handler = delayed(1)
    const file = scenario(
      'ramps',
      `export default [
        { name: 'rate', executor: 'ramping-arrival-rate', startRate: 0, preAllocatedVUs: 5, maxVUs: 20,
          stages: [{ duration: '1s', target: 100 }, { duration: '1s', target: 100 }],
          async journey(vu) { await vu.get('/r') } },
        { name: 'vus', executor: 'ramping-vus', startVUs: 0,
          stages: [{ duration: '2s', target: 4 }, { duration: '1s', target: 4 }],
          async journey(vu) { await vu.get('/v'); await vu.think(50) } },
      ]`,
    )
    const r = await runLoad({ files: [file], baseUrl, workers: 2 })
    const s = store(r)
    // 0 → 100/s over 1 s is 50 iterations, then 100 more.
    assert.equal(s.values('iterations', { scenario: 'rate' }, 0)?.value, 150)
    assert.ok((s.values('vus_max', {}, 0)?.value ?? 0) >= 9, 'the 5 pre-allocated + 4 ramped VUs')
    const vusSeen = r.timeline.map((p) => p.vus)
    assert.ok(
      vusSeen[0] !== undefined && vusSeen[0] < (vusSeen[2] ?? 0),
      `VUs over time ${vusSeen}`,
    )
  })

  it('keeps a logged-in session per VU, runs checks and groups, reads JSON and CSV data', async () => {
    target.handler = (req, res) => {
      const sid = /sid=(\w+)/.exec(req.headers.cookie ?? '')?.[1]
      if (req.url === '/login' && req.method === 'POST') {
        let body = ''
        req.on('data', (c) => {
          body += c
        })
        req.on('end', () => {
          const { user } = JSON.parse(body) as { user: string }
          res.setHeader('set-cookie', `sid=${user}; Path=/; HttpOnly`)
          res.end('{}')
        })
        return
      }
      res.statusCode = sid === undefined ? 401 : 200
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ user: sid, tag: req.headers['x-tag'] }))
    }
    writeFileSync(join(dir, 'users.csv'), 'name,role\nann,admin\nbob,user\n')
    writeFileSync(join(dir, 'products.json'), '[{"id":1},{"id":2}]')
    const file = scenario(
      'session',
      `export default { executor: 'constant-vus', vus: 4, duration: '1s',
         data: { users: 'users.csv', products: 'products.json' },
         async init(vu) {
           const u = vu.data.users[vu.id % 2]
           vu.state.user = u.name + vu.id
           await vu.post('/login', { user: vu.state.user })
           vu.headers['x-tag'] = 't' + vu.id
         },
         async journey(vu) {
           await vu.group('account', async () => {
             const r = await vu.get('/me', { name: 'GET /me' })
             vu.check(r, {
               'own session': (x) => x.json().user === vu.state.user,
               'own header': (x) => x.json().tag === 't' + vu.id,
               'data shared': () => vu.data.products.length === 2,
             })
           })
           vu.check(null, { 'always fails': () => false })
           await vu.think(20)
         } }`,
    )
    const r = await runLoad({ files: [file], baseUrl, workers: 2 })
    const s = store(r)
    for (const check of ['own session', 'own header', 'data shared']) {
      assert.equal(s.values('checks', { check }, 0)?.rate, 1, check)
    }
    assert.equal(s.values('checks', { check: 'always fails' }, 0)?.rate, 0)
    assert.equal(s.values('http_req_failed', { name: 'GET /me', group: '::account' }, 0)?.rate, 0)
    assert.ok((s.values('group_duration', { group: '::account' }, 0)?.count ?? 0) > 10)
    assert.equal(s.values('http_reqs', { name: 'POST /login' }, 0)?.value, 4)
  })

  it('stops at the iteration cap, counts journey errors and dropped iterations', async () => {
    target.handler = delayed(30)
    const file = scenario(
      'caps',
      `export default [
        { name: 'capped', executor: 'constant-vus', vus: 3, duration: '20s', iterations: 30,
          async journey(vu) { await vu.get('/c'); if (vu.iteration === 2) throw new Error('boom at 2') } },
        { name: 'starved', executor: 'constant-arrival-rate', rate: 100, duration: '2s',
          preAllocatedVUs: 1, maxVUs: 1, maxLag: '100ms', async journey(vu) { await vu.get('/s') } },
      ]`,
    )
    const started = performance.now()
    const r = await runLoad({ files: [file], baseUrl, workers: 1 })
    assert.ok(performance.now() - started < 10_000, 'the cap ended the 20 s scenario early')
    const s = store(r)
    assert.equal(s.values('http_reqs', { scenario: 'capped' }, 0)?.value, 30)
    assert.equal(s.values('iteration_errors', { scenario: 'capped' }, 0)?.value, 3)
    const dropped = s.values('dropped_iterations', { scenario: 'starved' }, 0)?.value ?? 0
    assert.ok(dropped > 50, `dropped ${dropped}`)
    assert.ok(
      r.warnings.some((w) => w.startsWith('starved:') && w.includes('dropped')),
      r.warnings.join('\n'),
    )
    assert.ok(
      r.warnings.some((w) => w.includes('×3') && w.includes('boom at 2')),
      r.warnings.join('\n'),
    )
  })

  it('counts network failures as failed requests with status 0', async () => {
    const file = scenario(
      'refused',
      `export default { executor: 'constant-vus', vus: 1, duration: '1s', iterations: 5,
         async journey(vu) { const r = await vu.get('/x'); vu.check(r, { 'status 0': (x) => x.status === 0 && x.error !== undefined }) } }`,
    )
    // Port 9 (discard) is closed on these machines: connection refused.
    const r = await runLoad({ files: [file], baseUrl: 'http://127.0.0.1:9', workers: 1 })
    const s = store(r)
    assert.equal(s.values('http_req_failed', { status: '0' }, 0)?.rate, 1)
    assert.equal(s.values('checks', {}, 0)?.rate, 1)
  })

  it('aborts on a failing threshold with abortOnFail after its delay', async () => {
    target.handler = (_req, res) => {
      res.statusCode = 500
      res.end()
    }
    const file = scenario(
      'abort',
      `export default { executor: 'constant-vus', vus: 2, duration: '30s', gracefulStop: '1s',
         thresholds: { http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '1s' }] },
         async journey(vu) { await vu.get('/'); await vu.think(10) } }`,
    )
    const started = performance.now()
    const r = await runLoad({ files: [file], baseUrl, workers: 1 })
    assert.ok(performance.now() - started < 8000)
    assert.match(r.aborted ?? '', /http_req_failed\{scenario:abort\}: rate<0.01 failed/)
    assert.equal(r.thresholds[0]?.ok, false)
  })

  it('sends nothing when a scenario or threshold is malformed', async () => {
    target.served = 0
    const cases: [string, RegExp][] = [
      [
        `export default { executor: 'constant-users', vus: 1, duration: '1s', journey() {} }`,
        /executor: "constant-users" is not one of/,
      ],
      [
        `export default { executor: 'constant-vus', vus: 0, duration: '1s', journey() {} }`,
        /vus: 0 must be a number ≥ 1/,
      ],
      [
        `export default { executor: 'constant-vus', vus: 1, duration: 'soon', journey() {} }`,
        /duration: "soon" is not a duration/,
      ],
      [
        `export default { executor: 'constant-vus', vus: 1, duration: '1s' }`,
        /journey: must be a function/,
      ],
      [
        `export default { executor: 'constant-vus', vus: 1, duration: '1s', journey() {}, thresholds: { http_req_duration: ['p95<200'] } }`,
        /Invalid threshold "http_req_duration: p95<200"/,
      ],
      [
        `export default { executor: 'constant-vus', vus: 1, duration: '1s', journey() {}, thresholds: { http_req_durations: ['p(95)<200'] } }`,
        /unknown metric "http_req_durations"/,
      ],
      [
        `export default { executor: 'constant-vus', vus: 1, duration: '1s', journey() {}, data: { u: 'missing.csv' } }`,
        /missing\.csv: data file cannot be read/,
      ],
      [
        `throw new Error('broken at import')`,
        /Cannot load scenario file .*bad7\.mjs: broken at import/,
      ],
      [`export const x = 1`, /no default export/],
    ]
    for (const [i, [source, message]] of cases.entries()) {
      // A fresh file name each time: an imported module is cached by URL.
      const file = scenario(`bad${i}`, source)
      await assert.rejects(
        runLoad({ files: [file], baseUrl }),
        (err: Error & { code?: string }) => {
          assert.match(err.message, message)
          assert.match(err.code ?? '', /^HP_ERR_/)
          return true
        },
      )
    }
    await assert.rejects(
      runLoad({ files: [join(dir, 'nope.ts')], baseUrl }),
      /nope\.ts: no such file/,
    )
    assert.equal(target.served, 0)
  })
})
