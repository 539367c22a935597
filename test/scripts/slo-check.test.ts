import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import pg from 'pg'
import { DEFAULT_THINK_SCALE, parseSloArgs } from '../../scripts/slo-check.ts'
import { ROOT, runScript } from '../helpers/script.ts'
import { DATABASE_URL, unless } from '../helpers/services.ts'

// scripts/slo-check.ts as `npm run slo-check` runs it, but tiny: a small
// seed, 2 VUs for 8 s twice, Redis stopped half-way through the second run.
// The second run must have no failed request, and the shop must have seen
// Redis go (/ready 503) while it kept answering.

const DB = 'hotpath_slo_check_test'

const sloCheck = (args: string[]) => runScript('scripts/slo-check.ts', args)

/** The slo-check section of BENCHMARKS.md, or '' when there is none. */
function section(): string {
  const text = readFileSync(join(ROOT, 'BENCHMARKS.md'), 'utf8')
  return /<!-- bench:slo-check:start -->[\s\S]*?<!-- bench:slo-check:end -->/.exec(text)?.[0] ?? ''
}

interface Figures {
  requests: number
  failed: number
  serverErrors: number
  thresholdsPassed: boolean
  failedThresholds: string[]
  endpoints: { name: string; requests: number; p95: number }[]
}

interface Written {
  durationMs: number
  sloCheck: {
    run: number
    ok: boolean
    durationMs: number
    figures: Figures
    outage?: {
      redisStoppedAtMs: number
      redisExit: string
      after: { requests: number; failed: number }
      shopKeptAnswering: boolean
      outageSeenByShop: boolean
    }
  }
}

describe('slo-check: arguments (no services)', () => {
  it('defaults to 20 VUs for 60 s of the normal profile on hotpath_slo_check', () => {
    const a = parseSloArgs([], {})
    assert.equal(a.db, 'hotpath_slo_check')
    assert.equal(a.serverUrl, 'postgres://postgres@127.0.0.1:5432/test')
    assert.deepEqual([a.products, a.users, a.orders], [100_000, 10_000, 100_000])
    assert.deepEqual([a.scale, a.vus, a.durationMs], [0.2, 20, 60_000])
    assert.equal(a.thinkScale, DEFAULT_THINK_SCALE)
    assert.deepEqual([a.reuse, a.drop, a.write, a.customDuration], [false, false, true, false])
  })

  it('takes sizes, scale, duration and think scale; LOAD_THINK_SCALE is the default', () => {
    const a = parseSloArgs(
      ['--scale', '0.02', '--duration', '8s', '--products', '50', '--no-write', '--drop'],
      { LOAD_THINK_SCALE: '0.5' },
    )
    assert.deepEqual([a.vus, a.durationMs, a.customDuration], [2, 8000, true])
    assert.deepEqual([a.products, a.thinkScale, a.write, a.drop], [50, 0.5, false, true])
    assert.equal(parseSloArgs(['--think-scale', '1'], { LOAD_THINK_SCALE: '0.5' }).thinkScale, 1)
  })

  it('refuses bad values, and the DATABASE_URL database itself', () => {
    const env = { DATABASE_URL: 'postgres://u@db:5432/shop' }
    for (const args of [
      ['--scale', '0'],
      ['--scale', 'x'],
      ['--duration', 'soon'],
      ['--users', '1.5'],
      ['--think-scale', '11'],
      ['--db', 'Bad-Name'],
      ['--db', 'shop'],
      ['--unknown'],
    ]) {
      assert.throws(
        () => parseSloArgs(args, env),
        { code: 'HP_ERR_INVALID_OPTION' },
        args.join(' '),
      )
    }
  })
})

const skip = (await unless('postgres')) || (await unless('redis'))

describe('slo-check end to end, tiny', { skip, timeout: 120_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'slo-check-test-'))
  after(() => rmSync(out, { recursive: true, force: true }))

  it('passes run 1 and keeps run 2 free of failures with Redis stopped half-way', async () => {
    const before = section()
    const r = await sloCheck([
      ...['--products', '2000', '--users', '200', '--orders', '2000'],
      ...['--scale', '0.02', '--duration', '8s', '--think-scale', '0.02'],
      ...['--db', DB, '--drop', '--no-write', '--out-dir', out],
    ])
    const log = `exit ${r.code}\n${r.stdout}\n${r.stderr}`
    assert.ok(r.code === 0 || r.code === 1, log)
    for (const f of ['result.json', 'redis-down.json', 'report.html', 'redis-down.html']) {
      assert.ok(existsSync(join(out, f)), `${f} missing\n${log}`)
    }
    const run1 = JSON.parse(readFileSync(join(out, 'result.json'), 'utf8')) as Written
    const run2 = JSON.parse(readFileSync(join(out, 'redis-down.json'), 'utf8')) as Written
    assert.equal(r.code, run1.sloCheck.ok ? 0 : 1, log)

    // Run 1: requests on every browsing route, none failed; on a shared machine only a
    // latency bar may be missed, which the exit code then reports.
    const f1 = run1.sloCheck.figures
    assert.equal(run1.sloCheck.run, 1)
    assert.equal(f1.failed, 0, log)
    assert.equal(f1.serverErrors, 0, log)
    for (const route of [
      'GET /api/products',
      'GET /api/products/search',
      'GET /api/products/:id',
    ]) {
      assert.ok((f1.endpoints.find((e) => e.name === route)?.requests ?? 0) > 0, route)
    }
    for (const t of f1.failedThresholds) assert.match(t, /^http_req_duration/, log)
    if (f1.thresholdsPassed) assert.equal(r.code, 0, log)

    // Run 2: Redis stopped in the middle, the shop saw it and kept answering.
    const f2 = run2.sloCheck.figures
    const o = run2.sloCheck.outage
    assert.ok(o !== undefined, log)
    const d = run2.sloCheck.durationMs
    assert.ok(o.redisStoppedAtMs >= d * 0.3 && o.redisStoppedAtMs <= d * 0.8, log)
    assert.notEqual(o.redisExit, 'not stopped')
    assert.ok(o.after.requests > 0, log)
    assert.equal(o.after.failed, 0, log)
    assert.equal(f2.failed, 0, log)
    assert.equal(f2.serverErrors, 0, log)
    assert.ok(o.shopKeptAnswering, log)
    assert.ok(o.outageSeenByShop, `/ready never answered 503 after the stop\n${log}`)

    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /^<!doctype html>/i)
    assert.match(r.stdout, /\| GET \/api\/products +\|/)
    assert.equal(section(), before, '--no-write must leave BENCHMARKS.md alone')

    // --drop removed the database.
    const c = new pg.Client({ connectionString: DATABASE_URL })
    await c.connect()
    try {
      const { rows } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [DB])
      assert.equal(rows.length, 0)
    } finally {
      await c.end()
    }
  })
})
