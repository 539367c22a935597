// The `shop` suite: the reference shop (app/) under its mixed read workload,
// on real PostgreSQL and Redis, beside bare Fastify's hello world measured
// in the same run with the same load generator:
//
//   shop-read-vs-bare-fastify  the shop's req/s over bare Fastify's (what a real read costs)
//
// Setup: the database hotpath_bench_shop on DATABASE_URL's server, migrated and
// seeded once with BENCH_SHOP_PRODUCTS products (default 100,000; reused while it
// holds exactly that many), a cache namespace of its own in REDIS_URL, emptied at
// the start and the end, and two server processes (bench/shop-server-worker.ts): the shop as
// app/main.ts serves it with WORKERS=1 and NODE_ENV=production (shedding on
// event-loop delay only: with the 98 % utilization limit this closed loop had
// about 70 % of its load answered 503 while p99 stayed under 50 ms), and bare Fastify. On this 2-core machine a server
// gets one core, the load generator (runLoad, one worker thread) the other;
// PostgreSQL and Redis share them.
//
// Workload: 50 VUs, constant-vus, no think time. An iteration is one of
//   40 %  GET /api/products/:id          uniform over the seeded ids (mostly cache misses at first)
//   25 %  GET /api/products?limit=20     every other time followed by its nextCursor page
//   20 %  GET /api/products/search?q=…   the seed's words (scenarios/journeys.ts SEARCH_TERMS)
//   15 %  GET /auth/me                   bearer token of an account registered in setup
// The accounts are registered and logged in by the suite, before any load: the
// shop allows 30 logins a minute per client address, and every VU of every round
// logging in from 127.0.0.1 would be refused (429) from the 31st on. 20 sessions
// are shared by the 50 VUs (VU n uses session n mod 20).
// Bare Fastify: the same 50 VUs, GET /.
//
// Each side is warmed up once, then rounds run interleaved (the order reversing
// every round); the ratio is the median of the per-round ratios, a result a
// side's median. Any failed request (not 2xx/3xx, or no response) fails the
// suite, after printing the first failures. BENCH_ROUNDS (default 3),
// BENCH_ROUND_MS (whole seconds, default 10 s) and BENCH_WARMUP_MS (default 5 s)
// change the plan.
// Run: npm run bench -- shop   (or directly: npx node --conditions=hotpath-source bench/shop.ts)
import { type ChildProcess, spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createDb } from 'hotpath/db'
import { runLoad, SeriesStore } from 'hotpath/load'
import { Redis } from 'ioredis'
import pg from 'pg'
import { migrate } from '../app/resources.ts'
import { isEmpty, resetShop, seedShop } from '../app/seed/seed.ts'
// The seed's words, so every search finds products.
import { SEARCH_TERMS } from '../scenarios/journeys.ts'
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
import type { FromServer, Role, ToServer } from './shop-server-worker.ts'

const VUS = 50
const SESSIONS = 20
const DB_NAME = 'hotpath_bench_shop'
const NAMESPACE = 'hpbench-shop'
const ADMIN_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

const PRODUCTS = envInt('BENCH_SHOP_PRODUCTS', 100_000)
const ROUNDS = envInt('BENCH_ROUNDS', 3)
const ROUND_S = process.env.BENCH_ROUND_MS ? seconds(envInt('BENCH_ROUND_MS', 10_000)) : 10
const WARMUP_S = process.env.BENCH_WARMUP_MS ? seconds(envInt('BENCH_WARMUP_MS', 5000)) : 5

/** Route names (scenarios/journeys.ts ROUTES) and the short names of their results. */
const ROUTES = {
  product: 'GET /api/products/:id',
  listing: 'GET /api/products',
  search: 'GET /api/products/search',
  me: 'GET /auth/me',
} as const

/** The check names under which the scenario counts the response cache's hits per route. */
const HIT_CHECKS = {
  product: 'response-cache-hit:product',
  listing: 'response-cache-hit:listing',
  search: 'response-cache-hit:search',
} as const

const gc = (globalThis as { gc?: () => void }).gc

// ---- the database and the cache ---------------------------------------------

function benchDatabaseUrl(): string {
  const u = new URL(ADMIN_URL)
  u.pathname = `/${DB_NAME}`
  return u.toString()
}

/** Creates, migrates and seeds the bench database, unless it already holds PRODUCTS products. */
async function prepareDatabase(url: string): Promise<void> {
  const admin = new pg.Client({ connectionString: ADMIN_URL })
  await admin.connect()
  try {
    const { rowCount } = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [
      DB_NAME,
    ])
    if (rowCount === 0) await admin.query(`CREATE DATABASE ${DB_NAME}`)
  } finally {
    await admin.end()
  }
  // Bulk loads and ANALYZE outlast a request-sized statement timeout (as app/seed/cli.ts).
  const db = createDb({
    primary: url,
    statementTimeoutMs: 0,
    pool: { min: 0, max: 2 },
    nPlusOne: false,
  })
  try {
    await migrate(db)
    const { rows } = await db.query<{ n: number; max: number }>(
      'SELECT count(*)::int AS n, coalesce(max(id), 0)::int AS max FROM products',
      [],
      { primary: true },
    )
    const have = rows[0]!
    if (have.n === PRODUCTS && have.max === PRODUCTS) {
      progress(`database ${DB_NAME}: ${PRODUCTS} products already seeded`)
      return
    }
    if (!(await isEmpty(db))) await resetShop(db)
    progress(`database ${DB_NAME}: seeding ${PRODUCTS} products…`)
    const r = await seedShop(db, { products: PRODUCTS, users: 1000, orders: 5000 })
    progress(`  seeded in ${(r.ms / 1000).toFixed(1)} s: ${JSON.stringify(r.rows)}`)
  } finally {
    await db.close()
  }
}

/** Empties the suite's namespace: cached entries, tags, locks and the login limiter's buckets. */
async function clearNamespace(): Promise<void> {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await redis.connect()
  try {
    let n = 0
    for (const match of [`${NAMESPACE}:*`, `${NAMESPACE}#*`]) {
      let cursor = '0'
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', match, 'COUNT', 1000)
        cursor = next
        if (keys.length > 0) n += await redis.unlink(...keys)
      } while (cursor !== '0')
    }
    progress(`redis: ${n} keys of namespace ${NAMESPACE} removed`)
  } finally {
    redis.disconnect()
  }
}

// ---- the servers ---------------------------------------------------------------

const children = new Set<ChildProcess>()
/** Temp folders, removed on any exit (a signal skips the finally blocks). */
const temps = new Set<string>()

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  temps.add(dir)
  return dir
}

function alive(c: ChildProcess): boolean {
  return c.exitCode === null && c.signalCode === null
}

/** A server process (bench/shop-server-worker.ts) in one role. */
class Server extends ServerProcess<FromServer, ToServer> {
  url = ''

  constructor(role: Role, env: NodeJS.ProcessEnv = process.env) {
    super({
      name: role,
      file: fileURLToPath(new URL('./shop-server-worker.ts', import.meta.url)),
      args: [role],
      env,
    })
    children.add(this.child)
  }

  async ready(): Promise<void> {
    const m = await this.next('ready', 60_000)
    this.url = `http://127.0.0.1:${m.port}`
  }
}

/** The shop's environment: app/config.ts reads it as `npm start` would. */
function shopEnv(databaseUrl: string, dataDir: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    REDIS_URL,
    SHOP_CACHE_NAMESPACE: NAMESPACE,
    SHOP_DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    WORKERS: '1',
    LOG_LEVEL: 'warn',
    NODE_ENV: 'production',
  }
  delete env.DATABASE_REPLICA_URLS
  return env
}

// Whatever ends this process, no server or temp folder outlives it.
process.on('exit', () => {
  for (const c of children) if (alive(c)) c.kill('SIGKILL')
  for (const dir of temps) rmSync(dir, { recursive: true, force: true })
})
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`shop suite: ${signal}, stopping the servers`)
    for (const c of children) if (alive(c)) c.kill('SIGTERM')
    process.exit(130)
  })
}

// ---- setup over HTTP -------------------------------------------------------------

async function call(
  url: string,
  init: { method?: string; json?: unknown; token?: string } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = {}
  if (init.json !== undefined) headers['content-type'] = 'application/json'
  if (init.token !== undefined) headers.authorization = `Bearer ${init.token}`
  const res = await fetch(url, {
    method: init.method ?? 'GET',
    headers,
    ...(init.json === undefined ? {} : { body: JSON.stringify(init.json) }),
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, headers: res.headers }
}

/** Registers and logs in SESSIONS fresh accounts; returns their bearer tokens. */
async function sessions(shop: Server): Promise<string[]> {
  const one = async (i: number): Promise<string> => {
    const email = `bench-${randomUUID()}@example.org`
    const password = `Hp-${randomUUID()}`
    const reg = await call(`${shop.url}/auth/register`, {
      method: 'POST',
      json: { email, password, name: `Bench VU ${i}` },
    })
    if (reg.status !== 201) throw new Error(`register: ${reg.status} ${JSON.stringify(reg.body)}`)
    const login = await call(`${shop.url}/auth/login`, {
      method: 'POST',
      json: { email, password },
    })
    const token = (login.body as { token?: unknown }).token
    if (login.status !== 200 || typeof token !== 'string') {
      throw new Error(`login: ${login.status} ${JSON.stringify(login.body)}`)
    }
    return token
  }
  const tokens: string[] = []
  // A few at a time: registration and login hash passwords (argon2), the slow part.
  for (let i = 0; i < SESSIONS; i += 4) {
    const batch = Array.from({ length: Math.min(4, SESSIONS - i) }, (_, j) => one(i + j))
    tokens.push(...(await Promise.all(batch)))
  }
  return tokens
}

/** Every route once, answering what the load will count as success. */
async function preflight(shop: Server, bare: Server, token: string): Promise<void> {
  const expect200 = async (label: string, url: string, token?: string) => {
    const r = await call(url, token === undefined ? {} : { token })
    if (r.status !== 200) throw new Error(`${label}: ${r.status} ${JSON.stringify(r.body)}`)
    return r
  }
  const p = await expect200('product', `${shop.url}/api/products/${PRODUCTS}`)
  if ((p.body as { id?: unknown }).id !== PRODUCTS) throw new Error('product: another id answered')
  const l = await expect200('listing', `${shop.url}/api/products?limit=20`)
  const cursor = (l.body as { pagination?: { nextCursor?: string } }).pagination?.nextCursor
  if (typeof cursor !== 'string') throw new Error('listing: no nextCursor')
  await expect200('listing page 2', `${shop.url}/api/products?limit=20&cursor=${cursor}`)
  const s = await expect200('search', `${shop.url}/api/products/search?q=kettle`)
  if (((s.body as { data?: unknown[] }).data?.length ?? 0) === 0) {
    throw new Error('search: "kettle" found nothing')
  }
  await expect200('me', `${shop.url}/auth/me`, token)
  const b = await expect200('bare', `${bare.url}/`)
  if (JSON.stringify(b.body) !== '{"hello":"world"}') throw new Error('bare: unexpected body')
}

// ---- scenarios -----------------------------------------------------------------

/**
 * Scenario files with the values written in, one per side and duration: the
 * coordinator imports a file once per process (its ESM cache), so a file read
 * at import time could not change between the warmup and the rounds. No
 * imports: a temp file could not resolve 'hotpath/load' outside the repo.
 */
class Scenarios {
  readonly #dir = tempDir('hotpath-bench-shop-')
  readonly #files = new Map<string, string>()
  tokens: string[] = []

  file(side: 'shop' | 'bare', seconds: number): string {
    const key = `${side}-${seconds}s`
    let file = this.#files.get(key)
    if (file === undefined) {
      file = join(this.#dir, `${key}.mjs`)
      writeFileSync(file, side === 'shop' ? this.#shop(seconds) : this.#bare(seconds))
      this.#files.set(key, file)
    }
    return file
  }

  #bare(seconds: number): string {
    return `// Written by bench/shop.ts: bare Fastify's hello world in a loop.
export default {
  name: 'bare-fastify',
  executor: 'constant-vus',
  vus: ${VUS},
  duration: '${seconds}s',
  async journey(vu) {
    const r = await vu.get('/', { name: 'GET /' })
    if (!r.ok && failures++ < 5) console.error(\`  failed: GET / → \${r.status} \${r.error ?? r.body.slice(0, 200)}\`)
  },
}
let failures = 0
`
  }

  #shop(seconds: number): string {
    return `// Written by bench/shop.ts: the shop's mixed reads, no think time.
const PRODUCTS = ${PRODUCTS}
const TOKENS = ${JSON.stringify(this.tokens)}
const TERMS = ${JSON.stringify(SEARCH_TERMS)}
const ROUTES = ${JSON.stringify(ROUTES)}
let failures = 0
const HIT = ${JSON.stringify(HIT_CHECKS)}

/** Prints the first failures; counts the response cache's hits as a check (a rate, not a failure). */
function answered(vu, route, r) {
  if (!r.ok && failures++ < 5) {
    console.error(\`  failed: \${ROUTES[route]} → \${r.status} \${r.error ?? r.body.slice(0, 300)}\`)
  }
  const hit = HIT[route]
  if (hit !== undefined && r.ok) vu.check(r, { [hit]: (x) => x.headers['x-cache'] === 'HIT' })
}

export default {
  name: 'shop-read',
  executor: 'constant-vus',
  vus: ${VUS},
  duration: '${seconds}s',
  init(vu) {
    // Only /auth/me carries the session: credentials would bypass the response cache.
    vu.state.auth = { authorization: \`Bearer \${TOKENS[(vu.id - 1) % TOKENS.length]}\` }
  },
  async journey(vu) {
    const x = Math.random()
    if (x < 0.4) {
      const id = 1 + Math.floor(Math.random() * PRODUCTS)
      answered(vu, 'product', await vu.get(\`/api/products/\${id}\`, { name: ROUTES.product }))
    } else if (x < 0.65) {
      const r = await vu.get('/api/products?limit=20', { name: ROUTES.listing })
      answered(vu, 'listing', r)
      if (!r.ok || Math.random() < 0.5) return
      const cursor = r.json().pagination?.nextCursor
      if (typeof cursor !== 'string') return
      const next = await vu.get('/api/products', { name: ROUTES.listing, query: { limit: 20, cursor } })
      answered(vu, 'listing', next)
    } else if (x < 0.85) {
      const q = vu.pick(TERMS)
      answered(vu, 'search', await vu.get('/api/products/search', { name: ROUTES.search, query: { q } }))
    } else {
      answered(vu, 'me', await vu.get('/auth/me', { name: ROUTES.me, headers: vu.state.auth }))
    }
  },
}
`
  }

  remove(): void {
    rmSync(this.#dir, { recursive: true, force: true })
  }
}

// ---- CPU accounting (Linux /proc; skipped elsewhere) ---------------------------

const TICK_US = (() => {
  const r = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' })
  const hz = Number(r.stdout?.trim())
  return 1e6 / (Number.isFinite(hz) && hz > 0 ? hz : 100)
})()

/** Busy and total CPU time of the whole machine, µs. */
function machineCpuUs(): { busy: number; total: number } | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0]!
    const v = line.trim().split(/\s+/).slice(1, 9).map(Number)
    const total = v.reduce((a, x) => a + x, 0)
    return { busy: (total - v[3]! - v[4]!) * TICK_US, total: total * TICK_US }
  } catch {
    return undefined
  }
}

function ownCpuUs(): number {
  const c = process.cpuUsage()
  return c.user + c.system
}

// ---- rounds --------------------------------------------------------------------

interface Run {
  rps: number
  requests: number
  p50Ms: number
  p99Ms: number
  /** p99 per route name, ms. */
  routeP99Ms: Record<string, number>
  /** Share of requests per route name. */
  routeShare: Record<string, number>
  /** Response-cache hits per route (short name), as a share of its 2xx answers. */
  hits: Record<string, number>
  /** The server's CPU per request, µs. */
  serverCpuUs: number
  /** The server's event-loop utilization. */
  serverLoop: number
  /** This process's CPU (the load generator) per request, µs. */
  clientCpuUs: number
  /** The rest of the machine's busy CPU (PostgreSQL, Redis, anything else) per request, µs. */
  otherCpuUs?: number
  /** Busy share of the whole machine during the run. */
  machineBusy?: number
}

async function measure(server: Server, file: string, durationS: number): Promise<Run> {
  gc?.()
  const s0 = await server.stats()
  const m0 = machineCpuUs()
  const c0 = ownCpuUs()
  const result = await runLoad({ files: [file], baseUrl: server.url, workers: 1 })
  const m1 = machineCpuUs()
  const client = ownCpuUs() - c0
  const s1 = await server.stats()
  if (result.aborted !== null)
    throw new Error(`${server.name}: the run was aborted: ${result.aborted}`)
  if (result.warnings.length > 0) {
    throw new Error(`${server.name}: warnings:\n${result.warnings.join('\n')}`)
  }
  const store = new SeriesStore()
  for (const s of result.series) store.add(s)
  const d = result.durationMs
  const requests = store.values('http_reqs', {}, d)?.count ?? 0
  const failed = store.values('http_req_failed', {}, d)?.value ?? 0
  if (requests === 0) throw new Error(`${server.name}: no request was recorded`)
  if (failed > 0) {
    const statuses = store
      .tagValues('http_reqs', 'status')
      .filter((s) => !/^[23]\d\d$/.test(s))
      .map(
        (s) =>
          `${s === '0' ? 'no response' : s} ×${store.values('http_reqs', { status: s }, d)?.count}`,
      )
    throw new Error(
      `${server.name}: ${failed} of ${requests} requests failed (${statuses.join(', ')}); ` +
        'the first failures are printed above',
    )
  }
  const duration = store.values('http_req_duration', {}, d)
  const active = s1.loopActiveMs - s0.loopActiveMs
  const routeP99Ms: Record<string, number> = {}
  const routeShare: Record<string, number> = {}
  for (const name of store.tagValues('http_reqs', 'name')) {
    routeP99Ms[name] =
      store.values('http_req_duration', { name }, d)?.percentile?.(99) ?? Number.NaN
    routeShare[name] = (store.values('http_reqs', { name }, d)?.count ?? 0) / requests
  }
  const hits: Record<string, number> = {}
  for (const [short, check] of Object.entries(HIT_CHECKS)) {
    const rate = store.values('checks', { check }, d)?.rate
    if (rate !== undefined) hits[short] = rate
  }
  const run: Run = {
    rps: requests / durationS,
    requests,
    p50Ms: duration?.percentile?.(50) ?? Number.NaN,
    p99Ms: duration?.percentile?.(99) ?? Number.NaN,
    routeP99Ms,
    routeShare,
    hits,
    serverCpuUs: (s1.cpuMicros - s0.cpuMicros) / requests,
    serverLoop: active / (active + s1.loopIdleMs - s0.loopIdleMs),
    clientCpuUs: client / requests,
  }
  if (m0 !== undefined && m1 !== undefined) {
    const busy = m1.busy - m0.busy
    run.machineBusy = busy / (m1.total - m0.total)
    run.otherCpuUs = Math.max(0, busy - (s1.cpuMicros - s0.cpuMicros) - client) / requests
  }
  return run
}

function fmtRps(rps: number): string {
  return `${(rps / 1000).toFixed(2)}k req/s`
}

function describe(r: Run): string {
  const rest =
    r.otherCpuUs === undefined ? '' : `, rest (PostgreSQL, Redis, …) ${r.otherCpuUs.toFixed(0)} µs`
  const busy =
    r.machineBusy === undefined ? '' : `; machine ${(r.machineBusy * 100).toFixed(0)}% busy`
  const hits = Object.entries(r.hits).map(([k, v]) => `${k} ${(v * 100).toFixed(0)}%`)
  return (
    `${fmtRps(r.rps)}, p50 ${r.p50Ms.toFixed(2)} ms, p99 ${r.p99Ms.toFixed(2)} ms; ` +
    `server loop ${(r.serverLoop * 100).toFixed(0)}% busy; CPU/req: server ${r.serverCpuUs.toFixed(0)} µs, ` +
    `load generator ${r.clientCpuUs.toFixed(0)} µs${rest}${busy}` +
    (hits.length === 0 ? '' : `; response-cache hits: ${hits.join(', ')}`)
  )
}

/** Server-side mean duration of the shop's routes, from its own /metrics (whole run). */
async function serverRouteMeans(shop: Server): Promise<string[]> {
  const text = await (await fetch(`${shop.url}/metrics`)).text()
  const sums = new Map<string, number>()
  const counts = new Map<string, number>()
  const line =
    /^http_request_duration_seconds_(sum|count)\{method="GET",route="([^"]+)",status_code="200"\} (\S+)$/gm
  for (const m of text.matchAll(line)) (m[1] === 'sum' ? sums : counts).set(m[2]!, Number(m[3]))
  return Object.values(ROUTES).flatMap((route) => {
    const path = route.slice(4)
    const n = counts.get(path)
    return n ? [`${route} ${((sums.get(path)! / n) * 1000).toFixed(2)} ms over ${n} requests`] : []
  })
}

interface Side {
  server: Server
  side: 'shop' | 'bare'
  runs: Run[]
}

// ---- main ----------------------------------------------------------------------

async function main(): Promise<void> {
  const t0 = performance.now()
  const results: Result[] = []
  const ratios: Ratio[] = []
  const scenarios = new Scenarios()
  const dataDir = tempDir('hotpath-bench-shop-data-')
  const servers: Server[] = []
  try {
    const databaseUrl = benchDatabaseUrl()
    await prepareDatabase(databaseUrl)
    await clearNamespace()
    const shop = new Server('shop', shopEnv(databaseUrl, dataDir))
    servers.push(shop)
    const bare = new Server('bare')
    servers.push(bare)
    await Promise.all([shop.ready(), bare.ready()])
    scenarios.tokens = await sessions(shop)
    await preflight(shop, bare, scenarios.tokens[0]!)
    progress(
      `shop suite: ${VUS} VUs, one load worker thread, no think time; shop ${shop.url} ` +
        `(${PRODUCTS} products, ${SESSIONS} sessions), bare Fastify ${bare.url}`,
    )

    const sides: Side[] = [
      { server: bare, side: 'bare', runs: [] },
      { server: shop, side: 'shop', runs: [] },
    ]
    progress(`warmup: each side once for ${WARMUP_S} s`)
    for (const s of sides) {
      const r = await measure(s.server, scenarios.file(s.side, WARMUP_S), WARMUP_S)
      progress(`  warmup ${s.server.name}: ${describe(r)}`)
    }
    progress(`${ROUNDS} rounds of ${ROUND_S} s per side, the order reversing every round`)
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? sides : [...sides].reverse()
      for (const s of order) {
        const run = await measure(s.server, scenarios.file(s.side, ROUND_S), ROUND_S)
        s.runs.push(run)
        progress(`  round ${r + 1} ${s.server.name}: ${describe(run)}`)
      }
      const ratio = sides[1]!.runs[r]!.rps / sides[0]!.runs[r]!.rps
      progress(`  round ${r + 1}: shop over bare ${ratio.toFixed(3)}`)
    }

    const [bareRuns, shopRuns] = [sides[0]!.runs, sides[1]!.runs]
    const med = (runs: Run[], f: (r: Run) => number | undefined) => {
      const v = runs.map(f).filter((x): x is number => x !== undefined && Number.isFinite(x))
      return v.length === 0 ? undefined : median(v)
    }
    const push = (name: string, value: number | undefined, unit: string, digits = 4) => {
      if (value !== undefined) results.push({ name, value: round(value, digits), unit })
    }
    push(
      'shop-read',
      med(shopRuns, (r) => r.rps),
      'req/s',
    )
    push(
      'shop-read-p50',
      med(shopRuns, (r) => r.p50Ms),
      'ms',
      3,
    )
    push(
      'shop-read-p99',
      med(shopRuns, (r) => r.p99Ms),
      'ms',
      3,
    )
    for (const [short, route] of Object.entries(ROUTES)) {
      push(
        `shop-read-p99-${short}`,
        med(shopRuns, (r) => r.routeP99Ms[route]),
        'ms',
        3,
      )
    }
    push(
      'bare-fastify',
      med(bareRuns, (r) => r.rps),
      'req/s',
    )
    push(
      'bare-fastify-p99',
      med(bareRuns, (r) => r.p99Ms),
      'ms',
      3,
    )
    push(
      'shop-server-cpu',
      med(shopRuns, (r) => r.serverCpuUs),
      'µs/req',
      3,
    )
    push(
      'bare-server-cpu',
      med(bareRuns, (r) => r.serverCpuUs),
      'µs/req',
      3,
    )
    results.push(
      { name: 'products', value: PRODUCTS, unit: 'products' },
      { name: 'vus', value: VUS, unit: 'VUs' },
    )
    for (const [short, route] of Object.entries(ROUTES)) {
      const share = med(shopRuns, (r) => r.routeShare[route]) ?? 0
      progress(
        `  ${route}: ${(share * 100).toFixed(0)}% of the shop's requests, ` +
          `p99 ${med(shopRuns, (r) => r.routeP99Ms[route])?.toFixed(2)} ms (${short})`,
      )
    }
    for (const m of await serverRouteMeans(shop)) progress(`  shop's own mean (its /metrics): ${m}`)
    const perRound = shopRuns.map((r, i) => r.rps / bareRuns[i]!.rps)
    // The issue names no goal. Measured: medians 0.15-0.20 over four runs, single 10 s
    // rounds 0.11-0.25 (lowest while the product cache is cold; bare Fastify swings with
    // the machine). 0.1 is about half the median: it trips when the shop's reads lose half
    // their throughput against the same baseline (say, every product read reaching
    // PostgreSQL again), not on the spread between runs.
    ratios.push({
      name: 'shop-read-vs-bare-fastify',
      value: round(median(perRound), 3),
      better: 'higher',
      goal: 0.1,
    })
  } finally {
    scenarios.remove()
    await Promise.all(servers.map((s) => s.close()))
    rmSync(dataDir, { recursive: true, force: true })
    // ~100k cached responses and rows would otherwise sit in a Redis other suites share.
    await clearNamespace().catch((err: unknown) => progress(`redis: not emptied: ${err}`))
  }
  progress(`shop suite: ${((performance.now() - t0) / 1000).toFixed(0)} s`)
  emit({ suite: 'shop', machine: machine(), results, ratios })
}

main().catch((err: unknown) => {
  progress(`shop suite failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
