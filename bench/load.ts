// The `load` suite: hotpath's load generator (runLoad, constant-vus) against
// autocannon and wrk, side by side in one run, all hitting the same bare
// node:http server (bench/load-server-worker.ts, its own process and core)
// with the same connections and one generating thread each:
//
//   generator-vs-autocannon  hotpath's req/s over autocannon's (programmatic API, in this process)
//   generator-vs-wrk         hotpath's req/s over wrk's (-t1), for reference: wrk is C
//
// 50 connections = 50 VUs; hotpath runs `workers: 1` (plus its coordinator,
// idle but for a message a second), autocannon its default single thread, wrk
// -t1. hotpath with `workers: 2` is recorded beside them (no ratio). Every side
// is warmed up once, then rounds run interleaved (the order reversing every
// round); a ratio is the median of the per-round ratios, a result a side's
// median. hotpath's req/s is its steady state, from its third second on (its
// worker thread is new each run and its first second or two run code not yet
// optimized; autocannon is already warm in this process); its whole-run
// figure is kept as `hotpath-incl-startup`.
// Each side's count is checked against the requests the server answered
// during its run, and its responses must all be 2xx. The client CPU per request
// of the in-process generators (hotpath, autocannon) is recorded too: with the
// server on the other core, a generator that saturates its core is capped by it.
// BENCH_ROUNDS (default 3), BENCH_ROUND_MS (whole seconds, default 10 s) and
// BENCH_WARMUP_MS (default 1 s) change the plan.
// Run: npm run bench -- load   (or directly: npx node --conditions=hotpath-source bench/load.ts)
import { spawn, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { runLoad, SeriesStore } from 'hotpath/load'
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
import type { FromServer, ToServer } from './load-server-worker.ts'
import { ServerProcess } from './server-process.ts'

const CONNECTIONS = 50

const ROUNDS = envInt('BENCH_ROUNDS', 3)
const ROUND_S = process.env.BENCH_ROUND_MS ? seconds(envInt('BENCH_ROUND_MS', 10_000)) : 10
/** hotpath's first seconds are its fresh worker thread starting and compiling: counted apart. */
const STARTUP_S = 3
const WARMUP_S = seconds(envInt('BENCH_WARMUP_MS', 1000))

const gc = (globalThis as { gc?: () => void }).gc

// ---- the server process ------------------------------------------------------

class Server extends ServerProcess<FromServer, ToServer> {
  port = 0
  body = ''

  constructor() {
    super({
      name: 'load',
      file: fileURLToPath(new URL('./load-server-worker.ts', import.meta.url)),
      execArgv: [],
    })
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async ready(): Promise<void> {
    const m = await this.next('ready', 20_000)
    this.port = m.port
    this.body = m.body
  }
}

/** One GET, to check the server answers what every generator will count. */
function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, (res) => {
      let body = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => {
        body += c
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

// ---- the generators ----------------------------------------------------------

/** One run of one generator, as it reports it. */
interface Run {
  /** Steady-state req/s (for hotpath: the seconds after its thread's first). */
  rps: number
  /** hotpath: req/s over the whole run, its worker's start-up included. */
  startupRps?: number
  p99Ms: number
  /** Responses the generator counted. */
  requests: number
  /** This process's CPU per request (the in-process generators only), µs. */
  clientCpuUs?: number
}

type Generator = (url: string, seconds: number) => Promise<Run>

/**
 * Scenario files, one per duration, with the values written in: the
 * coordinator imports a file once per process (its ESM cache), so a file
 * read at import time could not change between the warmup and the rounds.
 * No imports: defineScenario is the identity, and a temp file could not
 * resolve 'hotpath/load' outside the repo.
 */
class Scenarios {
  readonly #dir = mkdtempSync(join(tmpdir(), 'hotpath-bench-load-'))
  readonly #files = new Map<number, string>()

  file(seconds: number): string {
    let file = this.#files.get(seconds)
    if (file === undefined) {
      file = join(this.#dir, `get-${CONNECTIONS}-vus-${seconds}s.mjs`)
      writeFileSync(
        file,
        `// Written by bench/load.ts: the one request autocannon and wrk send too, in a loop.
export default {
  name: 'bench-load',
  executor: 'constant-vus',
  vus: ${CONNECTIONS},
  duration: '${seconds}s',
  async journey(vu) {
    await vu.get('/')
  },
}
`,
      )
      this.#files.set(seconds, file)
    }
    return file
  }

  remove(): void {
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

function cpuMicros(): number {
  const c = process.cpuUsage()
  return c.user + c.system
}

/**
 * hotpath's runLoad. req/s is the requests counted over the scenario's
 * duration (the workers' start-up is before it, as a CLI run's is). The CPU
 * per request is taken between the first and the last second's report, so
 * the worker's start-up (thread, module loading) is left out of it.
 */
function hotpath(scenarios: Scenarios, workers: number): Generator {
  return async (url, seconds) => {
    let cpuAt1s: number | undefined
    let cpuAtEnd = 0
    let windowReqs = 0
    const result = await runLoad({
      files: [scenarios.file(seconds)],
      baseUrl: url,
      workers,
      onProgress(p) {
        if (p.elapsedMs === Math.min(STARTUP_S, seconds - 1) * 1000) cpuAt1s = cpuMicros()
        else if (cpuAt1s !== undefined && p.elapsedMs <= seconds * 1000) {
          cpuAtEnd = cpuMicros()
          windowReqs += p.rps
        }
      },
    })
    if (result.aborted !== null) throw new Error(`hotpath: the run was aborted: ${result.aborted}`)
    if (result.warnings.length > 0) {
      throw new Error(`hotpath: warnings:\n${result.warnings.join('\n')}`)
    }
    const store = new SeriesStore()
    for (const s of result.series) store.add(s)
    const reqs = store.values('http_reqs', {}, result.durationMs)?.count ?? 0
    const failed = store.values('http_req_failed', {}, result.durationMs)?.value ?? 0
    if (reqs === 0) throw new Error('hotpath: no request was recorded')
    if (failed > 0) throw new Error(`hotpath: ${failed} of ${reqs} requests failed`)
    const p99 = store.values('http_req_duration', {}, result.durationMs)?.percentile?.(99)
    return {
      // Steady state, as autocannon (warm in this process after the warmup) is
      // measured: a fresh worker thread spends its first seconds loading and
      // compiling (its first second ~10 % under the rest), so hotpath's req/s
      // counts from STARTUP_S on; `startupRps` keeps the whole run.
      rps:
        windowReqs > 0 && seconds > 1
          ? windowReqs / (seconds - Math.min(STARTUP_S, seconds - 1))
          : reqs / seconds,
      startupRps: reqs / seconds,
      p99Ms: p99 ?? Number.NaN,
      requests: reqs,
      ...(windowReqs > 0 ? { clientCpuUs: (cpuAtEnd - (cpuAt1s ?? 0)) / windowReqs } : {}),
    }
  }
}

/** autocannon's programmatic API in this process: its default, one thread. */
const cannon: Generator = async (url, seconds) => {
  const cpu0 = cpuMicros()
  const r = await autocannon({ url, connections: CONNECTIONS, duration: seconds })
  const cpu = cpuMicros() - cpu0
  if (r.errors > 0 || r.non2xx > 0) {
    throw new Error(`autocannon: ${r.errors} errors, ${r.non2xx} non-2xx responses`)
  }
  const requests = r.requests.total
  if (requests === 0) throw new Error('autocannon: no request completed')
  return {
    rps: requests / r.duration,
    p99Ms: r.latency.p99,
    requests,
    clientCpuUs: cpu / requests,
  }
}

const UNITS: Record<string, number> = { us: 1e-3, ms: 1, s: 1e3, m: 6e4 }

/** Reads wrk's report: req/s, p99 (from --latency), completed requests; throws on errors. */
function parseWrk(out: string): Run {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const p99 = /^\s+99%\s+([\d.]+)([a-z]+)/m.exec(out)
  const total = /(\d+) requests in /.exec(out)
  const unit = p99 === null ? undefined : UNITS[p99[2]!]
  if (rps === null || p99 === null || unit === undefined || total === null) {
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
  return { rps: Number(rps[1]), p99Ms: Number(p99[1]) * unit, requests: Number(total[1]) }
}

const wrk: Generator = (url, seconds) =>
  new Promise((resolve, reject) => {
    const args = ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', `${url}/`]
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let err = ''
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c
    })
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      err += c
    })
    child.on('error', (e) => reject(new Error(`cannot run wrk: ${e.message}`)))
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

/** Is wrk on the PATH? Without it the suite still runs, with no wrk ratio. */
function hasWrk(): boolean {
  const r = spawnSync('wrk', ['--version'], { stdio: 'ignore' })
  return r.error === undefined
}

// ---- rounds ------------------------------------------------------------------

interface Side {
  name: string
  run: Generator
}

interface SideRuns {
  rps: number[]
  /** hotpath: req/s with its worker's start-up. */
  startupRps: number[]
  p99Ms: number[]
  clientCpuUs: number[]
  /** Event-loop utilization of the server, per round. */
  serverLoop: number[]
}

/** Runs the generator and checks its count against the requests the server answered meanwhile. */
async function measure(
  server: Server,
  side: Side,
  seconds: number,
): Promise<Run & { loop: number }> {
  gc?.()
  const s0 = await server.stats()
  const run = await side.run(server.url, seconds)
  const s1 = await server.stats()
  const served = s1.served - s0.served
  // A generator counts the responses it got: never more than the server answered, and
  // fewer by at most the requests in flight when it stopped (one per connection).
  if (run.requests > served || run.requests < served - 2 * CONNECTIONS) {
    throw new Error(`${side.name}: counted ${run.requests} requests, the server answered ${served}`)
  }
  const active = s1.loopActiveMs - s0.loopActiveMs
  return { ...run, loop: active / (active + s1.loopIdleMs - s0.loopIdleMs) }
}

function fmtRps(rps: number): string {
  return `${(rps / 1000).toFixed(1)}k req/s`
}

async function rounds(server: Server, sides: Side[]): Promise<SideRuns[]> {
  progress(`warmup: every side once for ${WARMUP_S} s`)
  for (const s of sides) await measure(server, s, WARMUP_S)
  progress(`${ROUNDS} rounds of ${ROUND_S} s per side, the order reversing every round`)
  const runs: SideRuns[] = sides.map(() => ({
    rps: [],
    startupRps: [],
    p99Ms: [],
    clientCpuUs: [],
    serverLoop: [],
  }))
  for (let r = 0; r < ROUNDS; r++) {
    const order = sides.map((_, i) => i)
    if (r % 2 === 1) order.reverse()
    for (const i of order) {
      const side = sides[i]!
      const run = await measure(server, side, ROUND_S)
      const into = runs[i]!
      into.rps.push(run.rps)
      into.p99Ms.push(run.p99Ms)
      if (run.clientCpuUs !== undefined) into.clientCpuUs.push(run.clientCpuUs)
      if (run.startupRps !== undefined) into.startupRps.push(run.startupRps)
      into.serverLoop.push(run.loop)
      const cpu =
        run.clientCpuUs === undefined ? '' : `, client ${run.clientCpuUs.toFixed(1)} µs CPU/req`
      progress(
        `  round ${r + 1} ${side.name}: ${fmtRps(run.rps)}, p99 ${run.p99Ms.toFixed(2)} ms${cpu}, ` +
          `server loop ${(run.loop * 100).toFixed(0)}% busy`,
      )
    }
    const hp = runs[0]!.rps[r]!
    const vs = sides.slice(1).map((s, j) => `${s.name} ${(hp / runs[j + 1]!.rps[r]!).toFixed(3)}`)
    progress(`  round ${r + 1}: hotpath over ${vs.join(', ')}`)
  }
  return runs
}

// ---- main --------------------------------------------------------------------

async function main(): Promise<void> {
  const results: Result[] = []
  const ratios: Ratio[] = []
  const server = new Server()
  const scenarios = new Scenarios()
  const t0 = performance.now()
  try {
    await server.ready()
    const check = await get(`${server.url}/`)
    if (check.status !== 200 || check.body !== server.body) {
      throw new Error(`load server: GET / answered ${check.status} ${JSON.stringify(check.body)}`)
    }
    // hotpath first: the ratios are the first side's req/s over another's.
    const sides: Side[] = [
      { name: 'hotpath', run: hotpath(scenarios, 1) },
      { name: 'autocannon', run: cannon },
    ]
    if (hasWrk()) sides.push({ name: 'wrk', run: wrk })
    else progress('wrk is not on the PATH: generator-vs-wrk is skipped (apt-get install wrk)')
    sides.push({ name: 'hotpath-2-workers', run: hotpath(scenarios, 2) })
    progress(
      `load suite: GET ${server.url}/ (${Buffer.byteLength(server.body)} bytes of text), ` +
        `${CONNECTIONS} connections, one generating thread each; sides ${sides.map((s) => s.name).join(', ')}`,
    )

    const runs = await rounds(server, sides)
    sides.forEach((s, i) => {
      const r = runs[i]!
      results.push(
        { name: s.name, value: round(median(r.rps)), unit: 'req/s' },
        { name: `${s.name}-p99`, value: round(median(r.p99Ms), 3), unit: 'ms' },
      )
      if (r.startupRps.length > 0) {
        const v = round(median(r.startupRps))
        results.push({ name: `${s.name}-incl-startup`, value: v, unit: 'req/s' })
      }
      if (r.clientCpuUs.length > 0) {
        results.push({
          name: `${s.name}-client-cpu`,
          value: round(median(r.clientCpuUs), 3),
          unit: 'µs/req',
        })
      }
      progress(
        `${s.name}: ${fmtRps(median(r.rps))}, p99 ${median(r.p99Ms).toFixed(2)} ms` +
          (r.clientCpuUs.length > 0
            ? `, client ${median(r.clientCpuUs).toFixed(1)} µs CPU/req`
            : '') +
          `, server loop ${(median(r.serverLoop) * 100).toFixed(0)}% busy`,
      )
    })
    const paired = (peer: string): number | undefined => {
      const j = sides.findIndex((s) => s.name === peer)
      if (j < 0) return undefined
      const a = runs[0]!.rps
      const b = runs[j]!.rps
      return round(median(a.map((v, i) => v / b[i]!)), 3)
    }
    const vsCannon = paired('autocannon')
    if (vsCannon !== undefined) {
      ratios.push({ name: 'generator-vs-autocannon', value: vsCannon, better: 'higher', goal: 1 })
    }
    const vsWrk = paired('wrk')
    if (vsWrk !== undefined) {
      ratios.push({ name: 'generator-vs-wrk', value: vsWrk, better: 'higher' })
    }
    results.push({ name: 'connections', value: CONNECTIONS, unit: 'connections' })
  } finally {
    scenarios.remove()
    await server.close()
  }
  progress(`load suite: ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  emit({ suite: 'load', machine: machine(), results, ratios })
}

main().catch((err: unknown) => {
  progress(`load suite failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
