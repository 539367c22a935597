// `npm run slo-check`: the proof that the shop meets the guides' targets on
// the real services. Seeds a PostgreSQL database (100k products, 10k users,
// 100k orders), starts a throwaway redis-server and the shop (app/main.ts,
// one process), runs scenarios/normal.ts scaled to the machine with its
// thresholds (run 1), then again with Redis stopped half-way (run 2: the
// cache and the rate limiter must fall back without a failed request).
//
//   npm run slo-check                          # 20 VUs for 60 s; the database is kept
//   npm run slo-check -- --reuse               # reuse it when seeded at the same sizes
//   npm run slo-check -- --scale 0.5 --duration 2m --think-scale 0.5
//
// Writes <out-dir>/result.{json,html} (run 1), redis-down.{json,html} (run 2)
// and shop.log, prints the per-endpoint table and rewrites the slo-check
// section of BENCHMARKS.md (`--no-write` keeps it). Exit codes: 0 run 1's
// thresholds held and run 2 had no failed request with Redis stopped; 1 not;
// 2 the check could not run.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { availableParallelism, cpus, platform, release, tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { createDb, type Db } from 'hotpath/db'
import { HotpathError } from 'hotpath/errors'
import {
  formatDuration,
  type Progress,
  parseDuration,
  passed,
  type RunResult,
  renderReport,
  runLoad,
  SeriesStore,
} from 'hotpath/load'
import pg from 'pg'
import { migrate } from '../app/resources.ts'
import { isEmpty, resetShop, seedShop } from '../app/seed/seed.ts'
import { shopSlos } from '../app/slo.ts'
import { writeBenchSection } from '../bench/lib.ts'
import { AUTH_P95, ROUTE_P95, ROUTES, shopThresholds } from '../scenarios/journeys.ts'
import normal from '../scenarios/normal.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const NORMAL_FILE = join(ROOT, 'scenarios', 'normal.ts')
const DEFAULT_SERVER = 'postgres://postgres@127.0.0.1:5432/test'
/** Below this many timed answers a p95 is about the maximum: flagged, not trusted. */
export const MIN_SAMPLES = 20
/**
 * Think times × 0.1 by default. At × 1 (the guides' 10 requests a minute per
 * user) the 2 buyers among 20 VUs place about 2 orders a minute: no p95. At
 * × 0.1 each VU sends what 10 users would (20 VUs: about 2000 requests a
 * minute, twice the normal profile's rate) and orders and payments get ~20.
 */
export const DEFAULT_THINK_SCALE = 0.1

export interface SloCheckArgs {
  readonly help: boolean
  /** A database URL of the server; the check's own database is created beside it. */
  readonly serverUrl: string
  readonly db: string
  readonly products: number
  readonly users: number
  readonly orders: number
  readonly reuse: boolean
  readonly drop: boolean
  readonly scale: number
  readonly vus: number
  readonly durationMs: number
  /** `--duration` given: the run length no longer follows the scale. */
  readonly customDuration: boolean
  readonly thinkScale: number
  readonly outDir: string
  readonly write: boolean
}

export const USAGE = `usage: npm run slo-check -- [options]
  --scale N        share of the normal profile's 100 VUs and 5 min (default 0.2: 20 VUs, 60 s)
  --duration D     run length ('90s', '2m'), whatever the scale
  --think-scale N  think times × N (default: LOAD_THINK_SCALE, else ${DEFAULT_THINK_SCALE}; 1 is the
                   guides' 10 requests a minute per user)
  --products N --users N --orders N   seeded sizes (default 100000, 10000, 100000)
  --db NAME        database on DATABASE_URL's server (default hotpath_slo_check)
  --reuse          keep that database when it is seeded at these sizes (default: recreate)
  --drop           drop the database at the end (default: keep it for --reuse)
  --out-dir DIR    reports and shop log (default slo-check/)
  --no-write       leave BENCHMARKS.md as it is`

function bad(name: string, why: string): HotpathError<'HP_ERR_INVALID_OPTION'> {
  return new HotpathError('HP_ERR_INVALID_OPTION', [name, why])
}

function number(name: string, raw: string | undefined, fallback: number, min: number): number {
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(n) || n < min) {
    throw bad(`--${name}`, `expected a number ≥ ${min}, got ${JSON.stringify(raw)}`)
  }
  return n
}

function whole(name: string, raw: string | undefined, fallback: number): number {
  const n = number(name, raw, fallback, 0)
  if (!Number.isInteger(n)) throw bad(`--${name}`, `expected a whole number, got ${raw}`)
  return n
}

export function parseSloArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): SloCheckArgs {
  let v: ReturnType<typeof parse>['values']
  try {
    v = parse(argv).values
  } catch (err) {
    throw bad('(arguments)', (err as Error).message)
  }
  const serverUrl = env.DATABASE_URL?.trim() || DEFAULT_SERVER
  if (!/^postgres(ql)?:\/\//.test(serverUrl) || !URL.canParse(serverUrl)) {
    throw bad('DATABASE_URL', 'expected a postgres:// URL')
  }
  const db = v.db ?? 'hotpath_slo_check'
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(db))
    throw bad('--db', 'expected lower-case letters, _, digits')
  if (db === dbName(serverUrl)) throw bad('--db', `${db} is DATABASE_URL's own database`)
  const scale = number('scale', v.scale, 0.2, 0)
  if (scale === 0 || scale > 10) throw bad('--scale', `expected a number above 0, at most 10`)
  const thinkScale = number(
    'think-scale',
    v['think-scale'] ?? env.LOAD_THINK_SCALE,
    DEFAULT_THINK_SCALE,
    0,
  )
  if (thinkScale > 10) throw bad('--think-scale', `${thinkScale} is above 10`)
  const scaledMs = Math.max(1000, Math.round((parseDuration(normal.duration) ?? 0) * scale))
  let durationMs = scaledMs
  if (v.duration !== undefined) {
    const ms = parseDuration(v.duration)
    if (ms === undefined || ms < 2000) throw bad('--duration', 'expected 2s or longer, like 90s')
    durationMs = ms
  }
  const products = whole('products', v.products, 100_000)
  const users = whole('users', v.users, 10_000)
  if (products < 1 || users < 1)
    throw bad('--products/--users', 'the shop needs at least 1 of each')
  return {
    help: v.help === true,
    serverUrl,
    db,
    products,
    users,
    orders: whole('orders', v.orders, 100_000),
    reuse: v.reuse === true,
    drop: v.drop === true,
    scale,
    vus: Math.max(1, Math.round(normal.vus * scale)),
    durationMs,
    customDuration: v.duration !== undefined,
    thinkScale,
    outDir: resolve(v['out-dir'] ?? join(ROOT, 'slo-check')),
    write: v.write !== false,
  }
}

function parse(argv: readonly string[]) {
  const s = { type: 'string' } as const
  return parseArgs({
    args: [...argv],
    allowNegative: true,
    options: {
      scale: s,
      duration: s,
      'think-scale': s,
      products: s,
      users: s,
      orders: s,
      db: s,
      'out-dir': s,
      reuse: { type: 'boolean' },
      drop: { type: 'boolean' },
      write: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

function dbName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres'
}

function withDb(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

function log(line: string): void {
  process.stderr.write(`slo-check: ${line}\n`)
}

// ── the database ────────────────────────────────────────────────────────────

async function admin<T>(serverUrl: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5000 })
  c.on('error', () => {}) // surfaces on the next query instead
  try {
    await c.connect()
  } catch (err) {
    await c.end().catch(() => {})
    const where = serverUrl.replace(/\/\/[^@]*@/, '//')
    throw new HotpathError('HP_ERR_DB_UNAVAILABLE', [where, (err as Error).message], { cause: err })
  }
  try {
    return await fn(c)
  } finally {
    await c.end()
  }
}

export interface SeedInfo {
  readonly reused: boolean
  /** Seeding time (0 when reused). */
  readonly ms: number
}

/** Seeded rows only: the load's own accounts (load-…@example.org) and their orders do not count. */
async function seededCounts(db: Db): Promise<{ products: number; users: number; orders: number }> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*) FROM products)::int AS products,
       (SELECT count(*) FROM users WHERE email LIKE 'user%@example.com')::int AS users,
       (SELECT count(*) FROM orders o JOIN users u ON u.id = o.customer_id
         WHERE u.email LIKE 'user%@example.com')::int AS orders`,
    [],
    { primary: true },
  )
  return rows[0] as { products: number; users: number; orders: number }
}

/** Creates (or with --reuse keeps) the check's database, migrated and seeded at the sizes asked. */
async function prepareDatabase(a: SloCheckArgs): Promise<SeedInfo> {
  await admin(a.serverUrl, async (c) => {
    const exists = (await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [a.db])).rows
    if (exists.length > 0 && !a.reuse) await c.query(`DROP DATABASE ${a.db} WITH (FORCE)`)
    if (exists.length === 0 || !a.reuse) await c.query(`CREATE DATABASE ${a.db}`)
  })
  // Bulk loads and ANALYZE outlast a request-sized statement timeout.
  const db = createDb({
    primary: withDb(a.serverUrl, a.db),
    statementTimeoutMs: 0,
    pool: { min: 0, max: 2 },
    nPlusOne: false,
  })
  try {
    await migrate(db)
    const have = await seededCounts(db)
    if (have.products === a.products && have.users === a.users && have.orders === a.orders) {
      return { reused: true, ms: 0 }
    }
    if (!(await isEmpty(db))) await resetShop(db)
    const r = await seedShop(db, { products: a.products, users: a.users, orders: a.orders })
    return { reused: false, ms: r.ms }
  } finally {
    await db.close()
  }
}

async function dropDatabase(a: SloCheckArgs): Promise<void> {
  await admin(a.serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS ${a.db} WITH (FORCE)`))
}

// ── the processes: a throwaway redis-server and the shop ────────────────────

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer()
    srv.once('error', fail)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => done(port))
    })
  })
}

function answers(port: number): Promise<boolean> {
  return new Promise((done) => {
    const s = new Socket()
    const end = (ok: boolean) => {
      s.destroy()
      done(ok)
    }
    s.setTimeout(200, () => end(false))
    s.once('error', () => end(false))
    s.connect(port, '127.0.0.1', () => end(true))
  })
}

/** Children still running, killed if this process exits without stopping them. */
const children = new Set<ChildProcess>()
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL')
})

function running(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null
}

/** SIGTERM, then SIGKILL after `graceMs`: resolves with how it ended. */
async function stopChild(c: ChildProcess, graceMs: number): Promise<string> {
  if (c.pid === undefined) return 'not started' // spawn failed: no exit event will come
  if (running(c)) {
    const exited = once(c, 'exit')
    c.kill('SIGTERM')
    const t = setTimeout(() => c.kill('SIGKILL'), graceMs)
    await exited
    clearTimeout(t)
  }
  children.delete(c)
  return c.signalCode ?? `exit code ${c.exitCode}`
}

interface Redis {
  readonly url: string
  readonly pid: number | undefined
  stop(): Promise<string>
}

/** Its own redis-server on a spare port, so stopping it leaves the machine's Redis alone. */
async function startRedis(): Promise<Redis> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'slo-check-redis-'))
  const proc = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { cwd: dir, stdio: 'ignore' },
  )
  children.add(proc)
  let spawnError: Error | undefined
  proc.once('error', (err) => {
    spawnError = err
  })
  const stop = async () => {
    const how = await stopChild(proc, 5000)
    rmSync(dir, { recursive: true, force: true })
    return how
  }
  const deadline = Date.now() + 5000
  while (!(await answers(port))) {
    if (spawnError !== undefined || !running(proc) || Date.now() > deadline) {
      await stop()
      throw bad(
        'redis-server',
        `did not answer on port ${port} (${spawnError?.message ?? 'exited'})`,
      )
    }
    await sleep(25)
  }
  return { url: `redis://127.0.0.1:${port}`, pid: proc.pid, stop }
}

interface Shop {
  readonly base: string
  stop(): Promise<string>
}

async function status(url: string, timeoutMs = 2000): Promise<number> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    await res.arrayBuffer()
    return res.status
  } catch {
    return 0
  }
}

/** `node --conditions=hotpath-source app/main.ts`, one process, until /ready answers 200. */
async function startShop(databaseUrl: string, redisUrl: string, outDir: string): Promise<Shop> {
  const port = await freePort()
  const dataDir = mkdtempSync(join(tmpdir(), 'slo-check-shop-'))
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    PORT: String(port),
    HOST: '127.0.0.1',
    WORKERS: '1',
    LOG_LEVEL: 'warn',
    // Production settings: no N+1 detector, no error details in answers.
    NODE_ENV: 'production',
    // Cursor secret and mail files in a scratch folder, not the repository's .data.
    SHOP_DATA_DIR: dataDir,
  }
  delete env.DATABASE_REPLICA_URLS
  const proc = spawn(process.execPath, ['--conditions=hotpath-source', 'app/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(proc)
  const logFile = createWriteStream(join(outDir, 'shop.log'))
  proc.stdout?.pipe(logFile, { end: false })
  proc.stderr?.pipe(logFile, { end: false })
  // Its own banner, so a stranger that took the port between freePort() and listen is not taken for it.
  let banner = ''
  proc.stdout?.on('data', (d: Buffer) => {
    if (banner.length < 10_000) banner += String(d)
  })
  const stop = async () => {
    const how = await stopChild(proc, 15_000)
    logFile.end()
    rmSync(dataDir, { recursive: true, force: true })
    return how
  }
  const base = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  while (
    !banner.includes(`listening on ${base}`) ||
    (await status(`${base}/ready`, 1000)) !== 200
  ) {
    if (!running(proc) || Date.now() > deadline) {
      const how = await stop()
      throw bad('shop (app/main.ts)', `not ready (${how}); see ${join(outDir, 'shop.log')}`)
    }
    await sleep(100)
  }
  return { base, stop }
}

// ── the figures ─────────────────────────────────────────────────────────────

export interface EndpointFigures {
  /** The route, with the status its latencies are timed on when the target says so. */
  readonly name: string
  /** Every request to the route, whatever its answer. */
  readonly requests: number
  readonly rps: number
  /** Answers the percentiles are taken over. */
  readonly samples: number
  readonly p50: number
  readonly p95: number
  readonly p99: number
  /** The guides' p95 target, ms; null for routes the guides give none. */
  readonly target: number | null
  /** p95 below the target; null without a target. */
  readonly ok: boolean | null
}

export interface RunFigures {
  readonly requests: number
  readonly failed: number
  readonly failedRate: number
  /** Answers 5xx and network errors (status 0). */
  readonly serverErrors: number
  readonly byStatus: Readonly<Record<string, number>>
  readonly checksRate: number
  readonly thresholdsPassed: boolean
  readonly failedThresholds: readonly string[]
  readonly endpoints: readonly EndpointFigures[]
}

/** `'POST /auth/login,status:200'` → the route and its status filter. */
function targets(): Map<string, { status?: string; ms: number }> {
  const out = new Map<string, { status?: string; ms: number }>()
  for (const [key, ms] of Object.entries({ ...ROUTE_P95, ...AUTH_P95 })) {
    const [route = key, filter] = key.split(',')
    const status = filter?.startsWith('status:') ? filter.slice(7) : undefined
    out.set(route, status === undefined ? { ms } : { status, ms })
  }
  return out
}

/** The whole run's p95 bar of the normal profile (`p(95)<500`). */
const OVERALL_P95 = Number(/p\(95\)<(\d+)/.exec(shopThresholds().http_req_duration?.[0] ?? '')?.[1])

export function runFigures(result: RunResult): RunFigures {
  const store = new SeriesStore()
  for (const s of result.series) store.add(s)
  const d = result.durationMs
  const seconds = Math.max(d / 1000, 0.001)
  const bars = targets()
  const order = Object.values(ROUTES) as string[]
  const names = store
    .tagValues('http_reqs', 'name')
    .sort((x, y) => (order.indexOf(x) + 1 || 99) - (order.indexOf(y) + 1 || 99) || (x < y ? -1 : 1))
  const row = (name: string, filter: Record<string, string>, target: number | null) => {
    const lat = store.values('http_req_duration', filter, d)
    const p = (q: number) => lat?.percentile?.(q) ?? 0
    const requests = store.values('http_reqs', filter.name ? { name: filter.name } : {}, d)
    const samples = lat?.count ?? 0
    return {
      name,
      requests: requests?.value ?? 0,
      rps: (requests?.value ?? 0) / seconds,
      samples,
      p50: p(50),
      p95: p(95),
      p99: p(99),
      target,
      ok: target === null ? null : samples > 0 && p(95) < target,
    } satisfies EndpointFigures
  }
  const endpoints = names.map((name) => {
    const bar = bars.get(name)
    const filter: Record<string, string> =
      bar?.status === undefined ? { name } : { name, status: bar.status }
    return row(
      bar?.status === undefined ? name : `${name} (${bar.status})`,
      filter,
      bar?.ms ?? null,
    )
  })
  endpoints.push(row('all', {}, Number.isFinite(OVERALL_P95) ? OVERALL_P95 : null))
  const byStatus: Record<string, number> = {}
  for (const s of store.tagValues('http_reqs', 'status').sort()) {
    byStatus[s] = store.values('http_reqs', { status: s }, d)?.value ?? 0
  }
  const failed = store.values('http_req_failed', {}, d)
  return {
    requests: store.values('http_reqs', {}, d)?.value ?? 0,
    failed: failed?.value ?? 0,
    failedRate: failed?.rate ?? 0,
    serverErrors: Object.entries(byStatus)
      .filter(([s]) => s === '0' || s.startsWith('5'))
      .reduce((n, [, c]) => n + c, 0),
    byStatus,
    checksRate: store.values('checks', {}, d)?.rate ?? 0,
    thresholdsPassed: passed(result),
    failedThresholds: result.thresholds
      .filter((t) => !t.ok)
      .map((t) => `${t.key}: ${t.threshold} (${t.noData ? 'no data' : t.actual?.toFixed(1)})`),
    endpoints,
  }
}

export interface Outage {
  /** When Redis was stopped, ms after the run's start; null: the run ended first. */
  readonly redisStoppedAtMs: number | null
  /** How the redis-server process ended. */
  readonly redisExit: string
  readonly before: { readonly requests: number; readonly failed: number }
  readonly after: { readonly requests: number; readonly failed: number }
  /** /health and /ready once a second: liveness holds, readiness reports Redis down. */
  readonly probes: readonly { t: number; health: number; ready: number }[]
  /** Load requests answered after the stop, none failed, /health 200 throughout. */
  readonly shopKeptAnswering: boolean
  /** /ready answered 503 after the stop: the shop saw the outage. */
  readonly outageSeenByShop: boolean
}

function outage(
  result: RunResult,
  stoppedAtWall: number | null,
  redisExit: string,
  probes: readonly { at: number; health: number; ready: number }[],
): Outage {
  const stoppedAtMs = stoppedAtWall === null ? null : stoppedAtWall - result.startedAtMs
  // The second of the stop counts as after it.
  const cut = stoppedAtMs === null ? Number.POSITIVE_INFINITY : Math.floor(stoppedAtMs / 1000)
  const sum = (pts: RunResult['timeline']) => ({
    requests: pts.reduce((n, p) => n + p.reqs, 0),
    failed: pts.reduce((n, p) => n + p.failed, 0),
  })
  const after = sum(result.timeline.filter((p) => p.t >= cut))
  const seen = probes
    .map((p) => ({ t: p.at - result.startedAtMs, health: p.health, ready: p.ready }))
    .filter((p) => p.t >= 0 && p.t <= result.durationMs)
  return {
    redisStoppedAtMs: stoppedAtMs,
    redisExit,
    before: sum(result.timeline.filter((p) => p.t < cut)),
    after,
    probes: seen,
    shopKeptAnswering:
      after.requests > 0 && after.failed === 0 && seen.every((p) => p.health === 200),
    outageSeenByShop: seen.some(
      (p) => stoppedAtMs !== null && p.t > stoppedAtMs && p.ready === 503,
    ),
  }
}

// ── tables and BENCHMARKS.md ────────────────────────────────────────────────

const ms1 = (v: number) => v.toFixed(v >= 100 ? 0 : 1)
const int = (v: number) => Math.round(v).toLocaleString('en-US')
const pct = (r: number) => `${(r * 100).toFixed(2)} %`

function markdownTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [head, ...rows]
  const w = head.map((_, i) => Math.max(3, ...all.map((r) => (r[i] ?? '').length)))
  const line = (r: readonly string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ')} |`
  const rule = `| ${w.map((n, i) => (i === 0 ? '-'.repeat(n) : `${'-'.repeat(n - 1)}:`)).join(' | ')} |`
  return [line(head), rule, ...rows.map(line)].join('\n')
}

export function endpointTable(endpoints: readonly EndpointFigures[]): string {
  const head = [
    'endpoint',
    'requests',
    'req/s',
    'p50 ms',
    'p95 ms',
    'p99 ms',
    'target p95',
    'result',
  ]
  const rows = endpoints.map((e) => [
    e.name,
    int(e.requests),
    e.rps.toFixed(2),
    ms1(e.p50),
    ms1(e.p95),
    ms1(e.p99),
    e.target === null ? '' : `< ${int(e.target)}`,
    e.ok === null
      ? ''
      : `${e.ok ? 'pass' : '**FAIL**'}${e.samples < MIN_SAMPLES ? ` (n=${e.samples})` : ''}`,
  ])
  return markdownTable(head, rows)
}

/** The whole API against app/slo.ts's warning levels (p50/p95/p99). */
function apiSloLine(all: EndpointFigures | undefined): string {
  const api = shopSlos.find((s) => s.name === 'api')?.latency
  if (all === undefined || api === undefined) return ''
  const parts = (['p50', 'p95', 'p99'] as const).flatMap((q) => {
    const level = api[q]?.warning
    return level === undefined
      ? []
      : [`${q} ${ms1(all[q])} ms (< ${level}: ${all[q] < level ? 'pass' : 'FAIL'})`]
  })
  return `Whole API against app/slo.ts's warning levels: ${parts.join(', ')}.`
}

interface Report {
  readonly args: SloCheckArgs
  readonly command: string
  readonly seed: SeedInfo
  readonly run1: RunFigures
  readonly run1Result: RunResult
  readonly run2: RunFigures
  readonly run2Result: RunResult
  readonly outage: Outage
  readonly ok: boolean
}

/** The folder relative to the repository when inside it. */
function shown(dir: string): string {
  const r = relative(ROOT, dir)
  return r === '' ? './' : r.startsWith('..') ? dir : `${r}/`
}

function stoppedAt(o: Outage): string {
  if (o.redisStoppedAtMs === null) return 'not stopped: the run ended first'
  return `stopped at ${(o.redisStoppedAtMs / 1000).toFixed(1)} s, ${o.redisExit}`
}

function runLine(label: string, f: RunFigures, r: RunResult): string {
  const all = f.endpoints.find((e) => e.name === 'all')
  return (
    `${label}: ${int(f.requests)} requests in ${formatDuration(r.durationMs)}, ` +
    `${int(f.failed)} failed (${pct(f.failedRate)}), ${int(f.serverErrors)} 5xx or network errors, ` +
    (all === undefined ? '' : `p50/p95/p99 ${ms1(all.p50)}/${ms1(all.p95)}/${ms1(all.p99)} ms, `) +
    `checks ${pct(f.checksRate)}, thresholds ${f.thresholdsPassed ? 'pass' : `**FAIL** (${f.failedThresholds.join('; ')})`}`
  )
}

function section(rep: Report, date: string): string {
  const { args: a, run1, run2, outage: o } = rep
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU'
  const thin = run1.endpoints.filter((e) => e.target !== null && e.samples < MIN_SAMPLES)
  return [
    '<!-- bench:slo-check:start -->',
    '## slo-check',
    '',
    `Command: \`${rep.command}\` · ${date} · ${availableParallelism()} CPUs (${model}), ` +
      `Node ${process.version}, ${platform()} ${release()}`,
    '',
    `The shop (\`app/main.ts\`, one process, NODE_ENV=production) on PostgreSQL (database ` +
      `\`${a.db}\`: ${int(a.products)} products, ${int(a.users)} users, ${int(a.orders)} orders) and ` +
      `its own redis-server; the load (\`scenarios/normal.ts\` at scale ${a.scale}: ${a.vus} VUs ` +
      `for ${formatDuration(a.durationMs)}, think times × ${a.thinkScale}, one load thread) on the ` +
      "same machine. Targets: the p95 bars of `scenarios/journeys.ts` (the guides'); the auth " +
      'routes are timed on their successful answers.',
    '',
    a.thinkScale === 1
      ? ''
      : `Think times × ${a.thinkScale}: each VU sends ${a.thinkScale === 0 ? 'as fast as it is answered' : `what ${+(1 / a.thinkScale).toFixed(1)} of the guides' users would`} ` +
        `(${int(run1.requests / (rep.run1Result.durationMs / 60_000))} ` +
        `requests a minute here against the normal profile's 1,000), so that orders and payments ` +
        'get enough answers for a p95. Whatever the think time, each buyer VU (one in ten) ' +
        'registers and logs in once, so the auth rows rest on a few answers.',
    '',
    `${runLine('Run 1', run1, rep.run1Result)}.`,
    '',
    endpointTable(run1.endpoints),
    '',
    apiSloLine(run1.endpoints.at(-1)),
    thin.length === 0
      ? ''
      : `(n=…): fewer than ${MIN_SAMPLES} timed answers, so that p95 is about the slowest one: ` +
        `indicative only (${thin.map((e) => e.name).join(', ')}).`,
    '',
    `${runLine(`Run 2 (Redis ${stoppedAt(o)})`, run2, rep.run2Result)}; ` +
      `after the stop ${int(o.after.requests)} requests, ${int(o.after.failed)} failed; ` +
      `/ready ${o.outageSeenByShop ? 'answered 503 (Redis down)' : 'never reported Redis down'}, ` +
      `/health ${o.probes.every((p) => p.health === 200) ? 'always 200' : 'missed answers'}.`,
    '',
    `Result: **${rep.ok ? 'pass' : 'FAIL'}**. ${a.drop ? 'The database was dropped' : 'The seeded database is kept (`--reuse` reuses it, `--drop` removes it)'}; ` +
      `reports in \`${shown(a.outDir)}\`.`,
    '<!-- bench:slo-check:end -->',
  ]
    .filter((l, i, all) => l !== '' || all[i - 1] !== '')
    .join('\n')
}

function writeMarkdown(rep: Report): void {
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  writeBenchSection(join(ROOT, 'BENCHMARKS.md'), 'slo-check', section(rep, date), '# Benchmarks\n')
}

// ── the runs ────────────────────────────────────────────────────────────────

/** The scenario file: normal.ts itself, or a module resizing it when --duration is given. */
function scenarioFiles(a: SloCheckArgs, scratch: string): { files: string[]; scale: number } {
  if (!a.customDuration) return { files: [NORMAL_FILE], scale: a.scale }
  const file = join(scratch, 'normal-resized.mjs')
  writeFileSync(
    file,
    `import normal from ${JSON.stringify(pathToFileURL(NORMAL_FILE).href)}\n` +
      `export default { ...normal, vus: ${a.vus}, duration: '${a.durationMs}ms' }\n`,
  )
  return { files: [file], scale: 1 }
}

function progress(label: string): (p: Progress) => void {
  return (p) => {
    if (p.elapsedMs % 10_000 !== 0) return
    log(
      `${label} ${formatDuration(p.elapsedMs)}/${formatDuration(p.totalMs)}: ${p.vus} VUs, ` +
        `${p.reqs} requests, ${p.failed} failed, last second p95 ${ms1(p.p95)} ms`,
    )
  }
}

function startProbes(base: string): () => Promise<{ at: number; health: number; ready: number }[]> {
  const out: { at: number; health: number; ready: number }[] = []
  let on = true
  const loop = (async () => {
    while (on) {
      const at = Date.now()
      const [health, ready] = await Promise.all([status(`${base}/health`), status(`${base}/ready`)])
      out.push({ at, health, ready })
      await sleep(Math.max(0, 1000 - (Date.now() - at)))
    }
  })()
  return async () => {
    on = false
    await loop
    return out
  }
}

/** result.json and report.html (run 1), redis-down.json and .html (run 2); the table on stdout. */
function writeOutputs(rep: Report): void {
  const { args: a, outage: o } = rep
  const meta = {
    command: rep.command,
    database: a.db,
    sizes: { products: a.products, users: a.users, orders: a.orders },
    seed: rep.seed,
    vus: a.vus,
    durationMs: a.durationMs,
    scale: a.scale,
    thinkScale: a.thinkScale,
    cpus: availableParallelism(),
    minSamples: MIN_SAMPLES,
    ok: rep.ok,
  }
  writeFileSync(
    join(a.outDir, 'result.json'),
    `${JSON.stringify({ ...rep.run1Result, sloCheck: { ...meta, run: 1, figures: rep.run1 } })}\n`,
  )
  writeFileSync(
    join(a.outDir, 'redis-down.json'),
    `${JSON.stringify({ ...rep.run2Result, sloCheck: { ...meta, run: 2, figures: rep.run2, outage: o } })}\n`,
  )
  writeFileSync(
    join(a.outDir, 'report.html'),
    renderReport(rep.run1Result, { title: `slo-check run 1: normal, ${a.vus} VUs` }),
  )
  writeFileSync(
    join(a.outDir, 'redis-down.html'),
    renderReport(rep.run2Result, {
      title: `slo-check run 2: normal, ${a.vus} VUs, Redis ${stoppedAt(o)}`,
    }),
  )
  const printed = section(rep, new Date().toISOString().replace(/\.\d+Z$/, 'Z'))
  console.log(printed.split('\n').slice(2, -1).join('\n'))
}

function commandOf(a: SloCheckArgs): string {
  const flags = [
    a.scale === 0.2 ? '' : ` --scale ${a.scale}`,
    a.customDuration ? ` --duration ${formatDuration(a.durationMs)}` : '',
    a.thinkScale === DEFAULT_THINK_SCALE ? '' : ` --think-scale ${a.thinkScale}`,
    a.products === 100_000 && a.users === 10_000 && a.orders === 100_000
      ? ''
      : ` --products ${a.products} --users ${a.users} --orders ${a.orders}`,
  ].join('')
  return `npm run slo-check${flags === '' ? '' : ` --${flags}`}`
}

function interrupted(): number {
  console.error('slo-check: interrupted')
  return 2
}

async function main(argv: readonly string[]): Promise<number> {
  let a: SloCheckArgs
  try {
    a = parseSloArgs(argv)
  } catch (err) {
    if (!(err instanceof HotpathError)) throw err
    console.error(`slo-check: ${err.message}\n${USAGE}`)
    return 2
  }
  if (a.help) {
    console.log(USAGE)
    return 0
  }
  // The journeys read it in each load thread, which copies this environment.
  process.env.LOAD_THINK_SCALE = String(a.thinkScale)
  const ac = new AbortController()
  const interrupt = () => ac.abort()
  process.once('SIGINT', interrupt)
  process.once('SIGTERM', interrupt)
  mkdirSync(a.outDir, { recursive: true })
  const scratch = mkdtempSync(join(tmpdir(), 'slo-check-'))
  let redis: Redis | undefined
  let shop: Shop | undefined
  try {
    log(`database ${a.db}: ${a.products} products, ${a.users} users, ${a.orders} orders`)
    const seed = await prepareDatabase(a)
    log(seed.reused ? 'reused the seeded database' : `seeded in ${(seed.ms / 1000).toFixed(1)} s`)
    redis = await startRedis()
    shop = await startShop(withDb(a.serverUrl, a.db), redis.url, a.outDir)
    log(`shop ready at ${shop.base}, Redis ${redis.url} (pid ${redis.pid})`)
    const { files, scale } = scenarioFiles(a, scratch)
    const common = { files, baseUrl: shop.base, scale, workers: 1, signal: ac.signal }

    log(`run 1: ${a.vus} VUs for ${formatDuration(a.durationMs)}, think × ${a.thinkScale}`)
    const run1Result = await runLoad({ ...common, onProgress: progress('run 1') })
    if (ac.signal.aborted) return interrupted()

    log('run 2: the same, Redis stopped half-way')
    let stopWall: number | null = null
    let redisExit: Promise<string> | undefined
    const stopProbes = startProbes(shop.base)
    const onProgress2 = progress('run 2')
    const r = redis
    const run2Result = await runLoad({
      ...common,
      onProgress: (p) => {
        onProgress2(p)
        if (redisExit === undefined && p.elapsedMs >= a.durationMs / 2) {
          stopWall = Date.now()
          log(`stopping Redis (pid ${r.pid}) at ${formatDuration(p.elapsedMs)}`)
          redisExit = r.stop()
        }
      },
    })
    const probes = await stopProbes()
    const exit = redisExit === undefined ? 'not stopped' : await redisExit
    if (ac.signal.aborted) return interrupted()

    const run1 = runFigures(run1Result)
    const run2 = runFigures(run2Result)
    const o = outage(run2Result, stopWall, exit, probes)
    const ok =
      run1.thresholdsPassed &&
      o.redisStoppedAtMs !== null &&
      run2.failed === 0 &&
      run2.serverErrors === 0 &&
      o.shopKeptAnswering
    const rep: Report = {
      args: a,
      command: commandOf(a),
      seed,
      run1,
      run1Result,
      run2,
      run2Result,
      outage: o,
      ok,
    }
    writeOutputs(rep)
    for (const w of [...run1Result.warnings, ...run2Result.warnings]) log(`warning: ${w}`)
    if (a.write) {
      writeMarkdown(rep)
      log('wrote the slo-check section of BENCHMARKS.md')
    }
    log(`reports in ${a.outDir}: ${ok ? 'pass' : 'FAIL'}`)
    return ok ? 0 : 1
  } catch (err) {
    if (!(err instanceof HotpathError)) throw err
    console.error(`slo-check: ${err.message}`)
    return 2
  } finally {
    process.off('SIGINT', interrupt)
    process.off('SIGTERM', interrupt)
    if (shop !== undefined) log(`shop stopped (${await shop.stop()})`)
    if (redis !== undefined) await redis.stop()
    rmSync(scratch, { recursive: true, force: true })
    if (a.drop) {
      await dropDatabase(a)
      log(`dropped database ${a.db}`)
    }
  }
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      console.error('slo-check: unexpected error:', err)
      process.exitCode = 2
    },
  )
}
