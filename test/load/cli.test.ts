import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parseRunResult } from 'hotpath/load'
import { runScript } from '../helpers/script.ts'
import { startTarget, type Target } from '../helpers/target.ts'

// `hotpath load` and `hotpath report` as a user runs them: exit codes,
// output files, and nothing sent when the input is bad.

let target: Target
let baseUrl = ''
const dir = mkdtempSync(join(tmpdir(), 'hotpath-cli-'))

const run = (args: string[]) => runScript('src/cli/index.ts', args)
/** `hotpath load <file>` against the test server, one worker, no progress line. */
const load = (file: string, ...more: string[]) =>
  run(['load', file, '--base-url', baseUrl, '--workers', '1', '--quiet', ...more])

function scenario(name: string, thresholds: string): string {
  const file = join(dir, `${name}.mjs`)
  writeFileSync(
    file,
    `export default { executor: 'constant-vus', vus: 2, duration: '1s',
       thresholds: ${thresholds},
       async journey(vu) { const r = await vu.get('/p', { name: 'GET /p' }); vu.check(r, { ok: (x) => x.status === 200 }) } }`,
  )
  return file
}

before(async () => {
  target = await startTarget((_req, res) => {
    setTimeout(() => res.end('ok'), 5)
  })
  baseUrl = target.url
})

after(async () => {
  await target.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('hotpath load', () => {
  it('exits 0 when thresholds pass, writes the result and the report', async () => {
    const file = scenario('pass', `{ http_req_duration: ['p(95)<500'], checks: ['rate>0.99'] }`)
    const out = join(dir, 'pass.json')
    const r = await load(file, '--out', out)
    assert.equal(r.code, 0, r.stderr + r.stdout)
    assert.match(r.stdout, /GET \/p\s+\d+/)
    assert.match(r.stdout, /✓ http_req_duration\{scenario:pass\}\s+p\(95\)<500/)
    const result = parseRunResult(readFileSync(out, 'utf8'), out)
    assert.ok(
      result.series.some((s) => s.metric === 'http_req_duration' && s.histogram !== undefined),
    )
    assert.ok(result.timeline.length >= 1)

    const html = join(dir, 'pass.html')
    const rep = await run(['report', out, '-o', html])
    assert.equal(rep.code, 0, rep.stderr)
    assert.match(readFileSync(html, 'utf8'), /<html/i)
  })

  it('exits 99 when a threshold fails, and only then', async () => {
    const file = scenario('fail', `{ http_req_duration: ['p(95)<1'] }`)
    const r = await load(file)
    assert.equal(r.code, 99, r.stderr)
    assert.match(r.stdout, /✗ http_req_duration\{scenario:fail\}\s+p\(95\)<1\s+actual/)
  })

  it('merges results from two runs into one', async () => {
    const file = scenario('m', `{ http_reqs: ['count>0'] }`)
    const a = join(dir, 'a.json')
    const b = join(dir, 'b.json')
    for (const out of [a, b]) {
      const r = await load(file, '--out', out)
      assert.equal(r.code, 0, r.stderr)
    }
    const merged = join(dir, 'merged.json')
    const r = await run(['report', 'merge', a, b, '-o', merged])
    assert.equal(r.code, 0, r.stderr)
    const count = (f: string) =>
      parseRunResult(readFileSync(f, 'utf8'), f)
        .series.filter((s) => s.metric === 'http_reqs')
        .reduce((n, s) => n + s.count, 0)
    assert.equal(count(merged), count(a) + count(b))
    assert.equal(parseRunResult(readFileSync(merged, 'utf8'), merged).runs, 2)
  })

  it('exits 2 with the file and field named, before sending anything, on bad input', async () => {
    target.served = 0
    const bad = join(dir, 'bad.mjs')
    writeFileSync(
      bad,
      `export default { executor: 'constant-vu', vus: 1, duration: '1s', journey() {} }`,
    )
    const cases: [string[], RegExp][] = [
      [['load', bad, '--base-url', baseUrl], /bad\.mjs: executor: "constant-vu" is not one of/],
      [['load', join(dir, 'missing.ts')], /missing\.ts: no such file/],
      [
        ['load', scenario('t', `{ http_req_failed: ['rate<<0.01'] }`), '--base-url', baseUrl],
        /Invalid threshold "http_req_failed: rate<<0.01"/,
      ],
      [['load', bad, '--scale', 'fast'], /--scale fast is not a number/],
      [['load'], /at least one scenario file/],
      [['load', bad, '--bogus'], /Unknown option '--bogus'/],
      [['report', join(dir, 'bad.mjs')], /Not a hotpath load result/],
    ]
    for (const [args, message] of cases) {
      const r = await run(args)
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
    }
    assert.equal(target.served, 0)
    assert.equal(existsSync(join(dir, 'bad.html')), false)
  })
})
