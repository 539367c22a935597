// The `http` suite: hotpath's Fastify plugins under load, side by side in one
// run. One server process (bench/http-server-worker.ts) hosts a Fastify
// instance per side, each on its own port; the load comes from wrk, in its
// own process (autocannon tops out near 50k req/s here and would measure itself).
//
//   compression-vs-fastify-compress-br    ~20 KB JSON list, fastifyCompression vs @fastify/compress (its defaults), br
//   compression-vs-fastify-compress-gzip  the same, gzip
//   cached-compressed-vs-uncached-compressed  response-cache hit serving the stored br variant vs serialize + compress
//   response-cache-hit-vs-bare            that hit vs a bare route sending the same bytes and headers from a handler
//   metrics-overhead                      a small JSON route with fastifyMetrics vs the same without
//
// Each pair runs interleaved: a short warmup of each side, then rounds of wrk -t1
// -c50 (A, B, then B, A, …); a ratio is the median of the per-round ratios, a result
// a side's median. Each ratio has a `-cpu` twin (no goal): the server process's CPU
// per request, B's over A's, since on two cores shared with wrk req/s also measures
// how much parallelism a side finds (@fastify/compress compresses on the thread pool).
// Rounds are 3 s for the compression pairs (@fastify/compress ramps up for about a
// second at the start of each wrk run: shorter rounds would favour hotpath) and 1 s
// for the small fast routes (many short rounds pair the sides closer in time on
// a noisy machine). Before measuring, every route is checked to answer what is claimed
// (coding, x-cache HIT, same decoded body on both sides); after, the server's counters
// are checked (no handler call on hits, every request compressed or observed).
// BENCH_ROUNDS and BENCH_ROUND_MS (whole seconds for wrk) override every pair's plan,
// BENCH_WARMUP_MS the warmup of each side (default 1000); BENCH_FILTER=<text> runs only
// the pairs whose name contains it; BENCH_SERVER_PROF=<dir> runs the server under
// --cpu-prof, its profile written there when the suite ends.
// Run: npm run bench -- http   (or directly: npx node --conditions=hotpath-source bench/http.ts)
import { spawn } from 'node:child_process'
import { request } from 'node:http'
import { fileURLToPath } from 'node:url'
import { brotliDecompressSync, gunzipSync } from 'node:zlib'
import type { FromServer, Instance, ServerStats, ToServer } from './http-server-worker.ts'
import {
  emit,
  envInt,
  machine,
  median,
  progress,
  type Ratio,
  type Result,
  round,
  seconds,
} from './lib.ts'
import { ServerProcess } from './server-process.ts'

const results: Result[] = []
const ratios: Ratio[] = []

interface Plan {
  rounds: number
  roundS: number
}

/** A pair's rounds, unless BENCH_ROUNDS / BENCH_ROUND_MS say otherwise. */
function plan(rounds: number, roundS: number): Plan {
  return {
    rounds: envInt('BENCH_ROUNDS', rounds),
    roundS: process.env.BENCH_ROUND_MS ? seconds(envInt('BENCH_ROUND_MS', 1000)) : roundS,
  }
}

const WARMUP_S = seconds(envInt('BENCH_WARMUP_MS', 1000))
/** ~20 KB responses at a few thousand req/s, where @fastify/compress ramps up at each run's start. */
const COMPRESSION = plan(7, 3)
/** A hit at 50-70k req/s against a route at 4k: 2 s rounds. */
const CACHED = plan(7, 2)
/** Small responses at 50-70k req/s, a few % apart: many short rounds. */
const FAST = plan(15, 1)
const CONNECTIONS = 50

// ---- the server process ------------------------------------------------------

class Server extends ServerProcess<FromServer, ToServer> {
  ports = {} as Record<Instance, number>
  jsonBytes = 0
  smallBytes = 0

  constructor(profileDir: string | undefined) {
    const execArgv = ['--conditions=hotpath-source']
    if (profileDir) execArgv.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`)
    super({
      name: 'http',
      file: fileURLToPath(new URL('./http-server-worker.ts', import.meta.url)),
      execArgv,
    })
  }

  async ready(): Promise<void> {
    const m = await this.next('ready', 20_000)
    this.ports = m.ports
    this.jsonBytes = m.jsonBytes
    this.smallBytes = m.smallBytes
  }
}

// ---- wrk ---------------------------------------------------------------------

interface Target {
  instance: Instance
  path: string
  /** The Accept-Encoding sent, if any. */
  encoding?: 'br' | 'gzip'
}

interface WrkRun {
  rps: number
  p99Ms: number
  requests: number
  bytesRead: number
}

const UNITS: Record<string, number> = {
  us: 1e-3,
  ms: 1,
  s: 1e3,
  m: 6e4,
  B: 1,
  KB: 1024,
  MB: 1024 ** 2,
  GB: 1024 ** 3,
}

function quantity(text: string, what: string): number {
  const m = /^([\d.]+)([a-zA-Z]+)$/.exec(text)
  const unit = m === null ? undefined : UNITS[m[2]!]
  if (m === null || unit === undefined) throw new Error(`wrk: cannot read ${what} "${text}"`)
  return Number(m[1]) * unit
}

/** Reads wrk's report: req/s, p99 (from --latency), completed requests, bytes read; throws on errors. */
function parseWrk(out: string): WrkRun {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p99 = /^\s+99%\s+(\S+)/m.exec(out)
  const total = /(\d+) requests in [\d.]+\w+, ([\d.]+\w+) read/.exec(out)
  if (rps === null || p99 === null || total === null) {
    throw new Error(`wrk: unexpected output:\n${out}`)
  }
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  if (non2xx !== null) throw new Error(`wrk: ${non2xx[1]} responses were not 2xx or 3xx`)
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  if (errors !== null) {
    const n = errors.slice(1).reduce((a, v) => a + Number(v), 0)
    // A few read errors can come from connections closed as the run ends; more is a broken server.
    if (n > Number(total[1]) / 1000) throw new Error(`wrk: socket errors: ${errors[0]}`)
    progress(`    (${errors[0]})`)
  }
  return {
    rps: Number(rps[1]),
    p99Ms: quantity(p99[1]!, 'the p99 latency'),
    requests: Number(total[1]),
    bytesRead: quantity(total[2]!, 'the bytes read'),
  }
}

function wrk(server: Server, t: Target, seconds: number): Promise<WrkRun> {
  const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency']
  if (t.encoding !== undefined) args.push('-H', `accept-encoding: ${t.encoding}`)
  args.push(`http://127.0.0.1:${server.ports[t.instance]}${t.path}`)
  return new Promise((resolve, reject) => {
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c
    })
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c
    })
    child.on('error', (e) =>
      reject(new Error(`cannot run wrk (apt-get install wrk): ${e.message}`)),
    )
    child.on('close', (code) => {
      if (code !== 0) reject(new Error(`wrk exited with ${code}: ${err || out}`))
      else {
        try {
          resolve(parseWrk(out))
        } catch (e) {
          reject(e)
        }
      }
    })
  })
}

// ---- checks before measuring -------------------------------------------------

interface Response {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: Buffer
}

function get(server: Server, t: Target): Promise<Response> {
  const headers = t.encoding === undefined ? {} : { 'accept-encoding': t.encoding }
  const port = server.ports[t.instance]
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: t.path, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

function decoded(r: Response): string {
  const coding = r.headers['content-encoding']
  if (coding === 'br') return brotliDecompressSync(r.body).toString()
  if (coding === 'gzip') return gunzipSync(r.body).toString()
  if (coding === undefined) return r.body.toString()
  throw new Error(`unexpected content-encoding ${coding}`)
}

/** What one target must answer, checked before it is measured. */
async function expect(
  server: Server,
  label: string,
  t: Target,
  want: { coding?: string; xCache?: string },
): Promise<Response> {
  const r = await get(server, t)
  const coding = r.headers['content-encoding']
  if (r.status !== 200) throw new Error(`${label}: status ${r.status}`)
  if (coding !== want.coding) {
    throw new Error(`${label}: content-encoding ${coding}, expected ${want.coding ?? 'none'}`)
  }
  if (want.xCache !== undefined && r.headers['x-cache'] !== want.xCache) {
    throw new Error(`${label}: x-cache ${r.headers['x-cache']}, expected ${want.xCache}`)
  }
  progress(
    `  ${label}: 200, content-encoding ${coding ?? 'none'}, ${r.body.length} bytes` +
      (r.headers['x-cache'] === undefined ? '' : `, x-cache ${r.headers['x-cache']}`),
  )
  return r
}

// ---- pairs -------------------------------------------------------------------

interface Side {
  name: string
  target: Target
}

interface SideRuns {
  rps: number[]
  p99Ms: number[]
  /** Server CPU µs per request (all threads), per round. */
  cpuUs: number[]
  /** Event-loop utilization of the server, per round. */
  loop: number[]
  requests: number
  bytesRead: number
}

/** Warms each side up, then runs the plan's rounds of both, the order alternating every round. */
async function pair(server: Server, p: Plan, a: Side, b: Side): Promise<[SideRuns, SideRuns]> {
  progress(`  ${p.rounds} rounds of ${p.roundS} s per side, after ${WARMUP_S} s of warmup each`)
  for (const s of [a, b]) await wrk(server, s.target, WARMUP_S)
  const runs: [SideRuns, SideRuns] = [
    { rps: [], p99Ms: [], cpuUs: [], loop: [], requests: 0, bytesRead: 0 },
    { rps: [], p99Ms: [], cpuUs: [], loop: [], requests: 0, bytesRead: 0 },
  ]
  for (let r = 0; r < p.rounds; r++) {
    const order = r % 2 === 0 ? [0, 1] : [1, 0]
    for (const i of order) {
      const side = i === 0 ? a : b
      const s0 = await server.stats()
      const run = await wrk(server, side.target, p.roundS)
      const s1 = await server.stats()
      const active = s1.loopActiveMs - s0.loopActiveMs
      const into = runs[i]!
      into.rps.push(run.rps)
      into.p99Ms.push(run.p99Ms)
      into.cpuUs.push((s1.cpuMicros - s0.cpuMicros) / run.requests)
      into.loop.push(active / (active + s1.loopIdleMs - s0.loopIdleMs))
      into.requests += run.requests
      into.bytesRead += run.bytesRead
    }
    const [x, y] = runs
    const side = (s: Side, v: SideRuns) =>
      `${s.name} ${fmtRps(v.rps[r]!)} (server ${v.cpuUs[r]!.toFixed(0)} µs CPU/req, loop ${pct(v.loop[r]!)})`
    progress(
      `    round ${r + 1}: ${side(a, x)}, ${side(b, y)}, ratio ${(x.rps[r]! / y.rps[r]!).toFixed(3)}`,
    )
  }
  return runs
}

function pct(fraction: number): string {
  return `${(fraction * 100).toFixed(0)}%`
}

function fmtRps(rps: number): string {
  return `${(rps / 1000).toFixed(1)}k req/s`
}

/**
 * Records both sides' median req/s, p99 and server CPU per request, the median of the
 * per-round req/s ratios (the goal's) and, beside it, of the per-round ratios of server
 * CPU per request (B's over A's: higher is better for A, as req/s): on two cores shared
 * with wrk, a side whose server is not saturated is capped by the client, and CPU per
 * request still shows what the server spends.
 */
function record(
  ratioName: string,
  goal: number,
  sides: [Side, Side],
  runs: [SideRuns, SideRuns],
): void {
  for (let i = 0; i < 2; i++) {
    const s = sides[i]!
    const r = runs[i]!
    const perResponse = r.bytesRead / r.requests
    progress(
      `  ${s.name}: ${fmtRps(median(r.rps))}, p99 ${median(r.p99Ms).toFixed(2)} ms, ` +
        `server ${median(r.cpuUs).toFixed(1)} µs CPU/req, loop ${pct(median(r.loop))} busy, ` +
        `${Math.round(perResponse)} bytes read per response (headers included)`,
    )
    results.push(
      { name: s.name, value: round(median(r.rps)), unit: 'req/s' },
      { name: `${s.name}-p99`, value: round(median(r.p99Ms), 3), unit: 'ms' },
      { name: `${s.name}-server-cpu`, value: round(median(r.cpuUs), 3), unit: 'µs/req' },
    )
  }
  const [a, b] = runs
  const perRound = a.rps.map((v, i) => v / b.rps[i]!)
  ratios.push({ name: ratioName, value: round(median(perRound), 3), better: 'higher', goal })
  const cpuPerRound = a.cpuUs.map((v, i) => b.cpuUs[i]! / v)
  ratios.push({ name: `${ratioName}-cpu`, value: round(median(cpuPerRound), 3), better: 'higher' })
}

function atLeast(label: string, what: string, counted: number, requests: number): void {
  if (counted < requests) {
    throw new Error(`${label}: ${what} ${counted}, fewer than the ${requests} requests wrk counted`)
  }
}

// ---- the comparisons ---------------------------------------------------------

async function compression(server: Server, encoding: 'br' | 'gzip'): Promise<void> {
  const name = `compression-vs-fastify-compress-${encoding}`
  progress(
    `${name}: GET /products (${server.jsonBytes} bytes of JSON, serialized per request), ` +
      `fastifyCompression vs @fastify/compress (defaults), accept-encoding: ${encoding}`,
  )
  const hp: Side = {
    name: `compression-${encoding}-hotpath`,
    target: { instance: 'hotpath', path: '/products', encoding },
  }
  const fc: Side = {
    name: `compression-${encoding}-fastify-compress`,
    target: { instance: 'fastify-compress', path: '/products', encoding },
  }
  const a = await expect(server, hp.name, hp.target, { coding: encoding })
  const b = await expect(server, fc.name, fc.target, { coding: encoding })
  if (decoded(a) !== decoded(b))
    throw new Error(`${name}: the two sides decode to different bodies`)
  if (Buffer.byteLength(decoded(a)) !== server.jsonBytes) {
    throw new Error(`${name}: the decoded body is not the ${server.jsonBytes}-byte list`)
  }

  const before = await server.stats()
  const runs = await pair(server, COMPRESSION, hp, fc)
  const after = await server.stats()
  const calls = (i: Instance) => after.handlerCalls[i] - before.handlerCalls[i]
  const compressed =
    after.hotpath.byEncoding[encoding].count - before.hotpath.byEncoding[encoding].count
  atLeast(hp.name, 'handler calls', calls('hotpath'), runs[0].requests)
  atLeast(hp.name, `${encoding} compressions`, compressed, runs[0].requests)
  atLeast(fc.name, 'handler calls', calls('fastify-compress'), runs[1].requests)
  // @fastify/compress keeps no counters: what wrk read per response says it compressed every one.
  const perResponse = runs[1].bytesRead / runs[1].requests
  if (perResponse > server.jsonBytes / 2) {
    throw new Error(`${fc.name}: ${Math.round(perResponse)} bytes per response: not compressed`)
  }
  record(name, 1.15, [hp, fc], runs)
}

async function cachedVsUncached(server: Server): Promise<void> {
  const name = 'cached-compressed-vs-uncached-compressed'
  progress(`${name}: GET /products, response-cache hit (stored br) vs serialize + compress (br)`)
  const cached: Side = {
    name: 'cached-br-hit',
    target: { instance: 'cached', path: '/products', encoding: 'br' },
  }
  const uncached: Side = {
    name: 'uncached-br',
    target: { instance: 'hotpath', path: '/products', encoding: 'br' },
  }
  const a = await expect(server, cached.name, cached.target, { coding: 'br', xCache: 'HIT' })
  const b = await expect(server, uncached.name, uncached.target, { coding: 'br' })
  if (decoded(a) !== decoded(b))
    throw new Error(`${name}: the two sides decode to different bodies`)

  const before = await server.stats()
  const runs = await pair(server, CACHED, cached, uncached)
  const after = await server.stats()
  checkHits(cached.name, before, after, runs[0].requests)
  atLeast(
    uncached.name,
    'br compressions',
    after.hotpath.byEncoding.br.count - before.hotpath.byEncoding.br.count,
    runs[1].requests,
  )
  record(name, 8, [cached, uncached], runs)
}

/** Hits only: no handler call, no miss, nothing compressed, a hit per request. */
function checkHits(label: string, before: ServerStats, after: ServerStats, requests: number): void {
  const calls = after.handlerCalls.cached - before.handlerCalls.cached
  const misses = after.responseCache.misses - before.responseCache.misses
  const compressed = after.cachedCompressor.compressed - before.cachedCompressor.compressed
  if (calls !== 0 || misses !== 0 || compressed !== 0) {
    throw new Error(
      `${label}: ${calls} handler calls, ${misses} misses, ${compressed} compressions while measuring hits`,
    )
  }
  atLeast(label, 'hits', after.responseCache.hits - before.responseCache.hits, requests)
}

async function hitVsBare(server: Server): Promise<void> {
  const name = 'response-cache-hit-vs-bare'
  progress(`${name}: the br hit vs a bare Fastify route sending the same bytes and headers`)
  const cached: Side = {
    name: 'response-cache-hit-br',
    target: { instance: 'cached', path: '/products', encoding: 'br' },
  }
  const bare: Side = {
    name: 'bare-same-bytes-br',
    target: { instance: 'bare', path: '/bytes', encoding: 'br' },
  }
  const a = await expect(server, cached.name, cached.target, { coding: 'br', xCache: 'HIT' })
  const b = await expect(server, bare.name, bare.target, { coding: 'br' })
  if (!a.body.equals(b.body)) throw new Error(`${name}: the bare route sends other bytes`)
  // Every header but Date, with its value: the same bytes on the wire.
  const headers = (r: Response) =>
    Object.keys(r.headers)
      .filter((k) => k !== 'date')
      .sort()
      .map((k) => `${k}: ${r.headers[k]}`)
      .join('\n')
  if (headers(a) !== headers(b)) {
    throw new Error(`${name}: headers differ:\n${headers(a)}\n-- vs --\n${headers(b)}`)
  }

  const before = await server.stats()
  const runs = await pair(server, FAST, cached, bare)
  const after = await server.stats()
  checkHits(cached.name, before, after, runs[0].requests)
  atLeast(
    bare.name,
    'handler calls',
    after.handlerCalls.bare - before.handlerCalls.bare,
    runs[1].requests,
  )
  record(name, 0.8, [cached, bare], runs)
}

async function metricsOverhead(server: Server): Promise<void> {
  const name = 'metrics-overhead'
  progress(
    `${name}: GET /products/:id (${server.smallBytes} bytes of JSON), with fastifyMetrics vs without`,
  )
  const on: Side = { name: 'metrics-on', target: { instance: 'metrics', path: '/products/42' } }
  const off: Side = { name: 'metrics-off', target: { instance: 'bare', path: '/products/42' } }
  const a = await expect(server, on.name, on.target, {})
  const b = await expect(server, off.name, off.target, {})
  if (!a.body.equals(b.body)) throw new Error(`${name}: the two sides send different bodies`)

  const before = await server.stats()
  const runs = await pair(server, FAST, on, off)
  const after = await server.stats()
  atLeast(
    on.name,
    'observed requests',
    after.metricsRequests - before.metricsRequests,
    runs[0].requests,
  )
  atLeast(
    off.name,
    'handler calls',
    after.handlerCalls.bare - before.handlerCalls.bare,
    runs[1].requests,
  )
  record(name, 0.9, [on, off], runs)
}

// ---- main --------------------------------------------------------------------

async function main(): Promise<void> {
  const profileDir = process.env.BENCH_SERVER_PROF
  const server = new Server(profileDir)
  const t0 = performance.now()
  try {
    await server.ready()
    progress(
      `http suite: wrk -t1 -c${CONNECTIONS} --latency; server ports ${JSON.stringify(server.ports)}` +
        (profileDir ? `; server profiled into ${profileDir}` : ''),
    )
    // Every route once before any pair, so the first pair does not measure JIT tiers and heap growth.
    const warm: Target[] = [
      { instance: 'hotpath', path: '/products', encoding: 'br' },
      { instance: 'fastify-compress', path: '/products', encoding: 'br' },
      { instance: 'hotpath', path: '/products', encoding: 'gzip' },
      { instance: 'fastify-compress', path: '/products', encoding: 'gzip' },
      { instance: 'cached', path: '/products', encoding: 'br' },
      { instance: 'bare', path: '/bytes', encoding: 'br' },
      { instance: 'metrics', path: '/products/42' },
      { instance: 'bare', path: '/products/42' },
    ]
    progress(`warmup: ${warm.length} routes, ${WARMUP_S} s each`)
    for (const t of warm) await wrk(server, t, WARMUP_S)
    const cases: [string, () => Promise<void>][] = [
      ['compression-vs-fastify-compress-br', () => compression(server, 'br')],
      ['compression-vs-fastify-compress-gzip', () => compression(server, 'gzip')],
      ['cached-compressed-vs-uncached-compressed', () => cachedVsUncached(server)],
      ['response-cache-hit-vs-bare', () => hitVsBare(server)],
      ['metrics-overhead', () => metricsOverhead(server)],
    ]
    const only = process.env.BENCH_FILTER
    for (const [name, run] of cases) if (!only || name.includes(only)) await run()
    results.push(
      { name: 'list-json-bytes', value: server.jsonBytes, unit: 'bytes' },
      { name: 'product-json-bytes', value: server.smallBytes, unit: 'bytes' },
    )
  } finally {
    await server.close()
  }
  progress(`http suite: ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  emit({ suite: 'http', machine: machine(), results, ratios })
}

main().catch((err: unknown) => {
  progress(`http suite failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
