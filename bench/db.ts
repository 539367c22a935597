// The `db` suite: hotpath's data layer and keyset pagination against raw
// node-postgres, side by side in one run with the real PostgreSQL
// (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test) and a table
// of 1,000,000 rows.
//
//   keyset-depth-ratio           keyset page 999,980 rows deep vs page 1 (median latency); OFFSET's ratio beside it
//   point-select-vs-pg           db.query point selects at 50 in flight vs a raw pg.Pool with unnamed statements,
//                                and db with preparedStatements: false vs the same pg.Pool (where the gain comes from)
//   cached-query-vs-uncached     db.query(…, { cache }) on L1 hits over 1,000 hot ids vs the same uncached
//   cached-l2-query-vs-uncached  the same on L2 (Redis) hits, when Redis (REDIS_URL) answers
//   batch-insert-vs-copy         db.batchInsert of 100k rows (COPY) vs raw pg-copy-streams COPY building its own text
//
// Everything lives in a schema unique to the run, dropped at the end, and
// every Redis key under a prefix unique to the run, removed at the end.
// BENCH_FILTER=<text> runs only the cases whose name contains it (for profiling).
// Run: npm run bench -- db   (or directly: npx node --conditions=hotpath-source --expose-gc bench/db.ts)
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createCache, type TieredCache } from 'hotpath/cache'
import { createDb, type Db } from 'hotpath/db'
import { createKeyset, createOffset, SORT_KEY_COLUMN } from 'hotpath/pagination'
import { Redis } from 'ioredis'
import pg from 'pg'
import copyStreams from 'pg-copy-streams'
import {
  compare,
  emit,
  fmtOps,
  inFlight,
  machine,
  median,
  pairedRatio,
  progress,
  type Ratio,
  type Result,
  round,
  type SideResult,
  spread,
} from './lib.ts'

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const RUN = `hpbench_${Date.now().toString(36)}_${process.pid}`
/** The run's schema: every table of the suite lives here, dropped at the end. */
const SCHEMA = RUN
const ITEMS = `${SCHEMA}.items`
const ROWS = 1_000_000
const COLUMNS = ['id', 'created_at', 'name', 'price', 'qty', 'category'] as const
const POINT_SQL = `SELECT ${COLUMNS.join(', ')} FROM ${ITEMS} WHERE id = $1`

const results: Result[] = []
const ratios: Ratio[] = []

const gc = (globalThis as { gc?: () => void }).gc

function logSides(label: string, sides: Record<string, SideResult>): void {
  for (const [name, s] of Object.entries(sides)) {
    progress(
      `  ${label} ${name}: ${fmtOps(s.opsPerSec)} (rounds spread ${(spread(s) * 100).toFixed(0)}%)`,
    )
  }
}

/** The hot path's plan, one line: `Limit > Index Scan using … > …`. */
async function planOf(client: pg.Client, text: string, values: unknown[]): Promise<string> {
  const r = await client.query(`EXPLAIN (COSTS OFF) ${text}`, values)
  return r.rows
    .map((row) =>
      String(row['QUERY PLAN'])
        .trim()
        .replace(/^->\s*/, ''),
    )
    .filter((line) => !/^(Index Cond|Filter|Sort Key|Workers|Order By)/.test(line))
    .join(' > ')
}

/** Ids to look up, drawn once so every side reads the same sequence. */
function randomIds(n: number): number[] {
  return Array.from({ length: n }, () => 1 + Math.floor(Math.random() * ROWS))
}

/** Where measured loops store what they read, so nothing is optimized away; checked after each loop. */
let sink: unknown

function checkSink(label: string): void {
  const rows = (sink as { rows?: { id?: unknown }[] } | undefined)?.rows
  if (rows?.length !== 1 || typeof rows[0]?.id !== 'number') {
    throw new Error(`${label}: last read was not one item row`)
  }
  sink = undefined
}

// ---- setup -----------------------------------------------------------------

/** 1M rows in one INSERT … SELECT, then the indexes (faster built after the load), then statistics. */
async function buildItems(admin: pg.Client): Promise<void> {
  const t0 = performance.now()
  await admin.query(`CREATE SCHEMA ${SCHEMA}`)
  await admin.query(
    `CREATE TABLE ${ITEMS} (
       id integer NOT NULL,
       created_at timestamptz NOT NULL,
       name text NOT NULL,
       price numeric(10, 2) NOT NULL,
       qty integer NOT NULL,
       category integer NOT NULL
     )`,
  )
  // Two rows per second: ties on created_at, broken by id as in any real listing.
  await admin.query(
    `INSERT INTO ${ITEMS}
     SELECT i, timestamptz '2024-01-01 00:00:00+00' + (i / 2) * interval '1 second',
            'item ' || i, (i % 100000) / 100.0, i % 100, i % 50
       FROM generate_series(1, ${ROWS}) AS i`,
  )
  await admin.query(`SET maintenance_work_mem = '256MB'`)
  await admin.query(`ALTER TABLE ${ITEMS} ADD PRIMARY KEY (id)`)
  await admin.query(`CREATE INDEX items_created_at_id ON ${ITEMS} (created_at, id)`)
  // VACUUM sets hint bits and the visibility map, as on a table that has lived a while.
  await admin.query(`VACUUM ANALYZE ${ITEMS}`)
  progress(
    `  ${ROWS.toLocaleString('en-US')} rows built in ${(performance.now() - t0).toFixed(0)} ms`,
  )
}

// ---- keyset-depth-ratio ----------------------------------------------------

const PAGE = 20
/** Rows before the deep page: the page holds the last 20 of the 1M rows. */
const DEPTH = ROWS - PAGE

/** Runs `a` and `b` alternately `runs` times after `warmup` of each; returns each one's latencies in ms. */
async function latencies(
  runs: number,
  warmup: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<[number[], number[]]> {
  for (let i = 0; i < warmup; i++) {
    await a()
    await b()
  }
  const ta: number[] = []
  const tb: number[] = []
  const time = async (fn: () => Promise<unknown>, out: number[]) => {
    const t0 = performance.now()
    await fn()
    out.push(performance.now() - t0)
  }
  for (let i = 0; i < runs; i++) {
    // The order alternates, so neither side always runs right after the other.
    if (i % 2 === 0) {
      await time(a, ta)
      await time(b, tb)
    } else {
      await time(b, tb)
      await time(a, ta)
    }
  }
  return [ta, tb]
}

async function keysetDepthRatio(admin: pg.Client): Promise<void> {
  progress(
    `keyset-depth-ratio: build + db.query + envelope of a ${PAGE}-row page, ${DEPTH.toLocaleString('en-US')} rows deep vs page 1; OFFSET beside it`,
  )
  const db = createDb({ primary: DATABASE_URL, pool: { max: 2, min: 1 }, statementTimeoutMs: 0 })
  const listing = {
    table: ITEMS,
    columns: COLUMNS,
    allowedSorts: [{ column: 'created_at', nullable: false }],
    defaultSort: ['created_at', 'asc'] as const,
  }
  const keyset = createKeyset({ ...listing, secret: randomBytes(32) })
  const offset = createOffset({ ...listing, maxDepth: ROWS })
  try {
    // The cursor a client would hold after paging that far: envelope of a one-row
    // page whose row is the one just before the deep page (it and the next row,
    // read here with OFFSET, are what that query would have returned).
    const probe = keyset.build({ limit: 1 })
    const at = await admin.query(
      `SELECT ${COLUMNS.join(', ')}, created_at::text AS "${SORT_KEY_COLUMN}"
         FROM ${ITEMS} ORDER BY created_at, id OFFSET ${DEPTH - 1} LIMIT ${probe.fetchLimit}`,
    )
    const cursor = keyset.envelope(at.rows, probe).pagination.nextCursor
    if (cursor === null) throw new Error('keyset: no cursor at the deep position')

    const first = async () => {
      const q = keyset.build({ limit: PAGE })
      return keyset.envelope((await db.query(q.text, q.values)).rows, q)
    }
    const deep = async () => {
      const q = keyset.build({ cursor, limit: PAGE })
      return keyset.envelope((await db.query(q.text, q.values)).rows, q)
    }
    const deepPage = 1 + DEPTH / PAGE
    const offsetFirst = async () => {
      const q = offset.build({ page: 1, limit: PAGE })
      return offset.envelope((await db.query(q.text, q.values)).rows, q)
    }
    const offsetDeep = async () => {
      const q = offset.build({ page: deepPage, limit: PAGE })
      return offset.envelope((await db.query(q.text, q.values)).rows, q)
    }

    // Both ways must return the same last page.
    const k = await deep()
    const o = await offsetDeep()
    const ids = (rows: readonly Record<string, unknown>[]) => rows.map((r) => r.id).join(',')
    if (k.data.length !== PAGE || k.pagination.hasMore || ids(k.data) !== ids(o.data)) {
      throw new Error(`keyset: the deep page is not OFFSET's: [${ids(k.data)}] vs [${ids(o.data)}]`)
    }
    const deepQuery = keyset.build({ cursor, limit: PAGE })
    const offsetQuery = offset.build({ page: deepPage, limit: PAGE })
    progress(`  keyset deep plan: ${await planOf(admin, deepQuery.text, deepQuery.values)}`)
    progress(`  OFFSET deep plan: ${await planOf(admin, offsetQuery.text, offsetQuery.values)}`)

    const [kFirst, kDeep] = await latencies(300, 30, first, deep)
    // OFFSET reads every skipped row: far fewer runs keep the suite short.
    const [oFirst, oDeep] = await latencies(15, 2, offsetFirst, offsetDeep)
    const m = {
      kFirst: median(kFirst),
      kDeep: median(kDeep),
      oFirst: median(oFirst),
      oDeep: median(oDeep),
    }
    progress(
      `  keyset: page 1 ${m.kFirst.toFixed(3)} ms, deep ${m.kDeep.toFixed(3)} ms (medians of ${kFirst.length}); ` +
        `OFFSET: page 1 ${m.oFirst.toFixed(3)} ms, deep ${m.oDeep.toFixed(1)} ms (medians of ${oFirst.length})`,
    )
    results.push(
      { name: 'keyset-page-1-ms', value: round(m.kFirst), unit: 'ms' },
      { name: 'keyset-page-deep-ms', value: round(m.kDeep), unit: 'ms' },
      { name: 'offset-page-1-ms', value: round(m.oFirst), unit: 'ms' },
      { name: 'offset-page-deep-ms', value: round(m.oDeep), unit: 'ms' },
    )
    ratios.push(
      {
        name: 'keyset-depth-ratio',
        value: round(m.kDeep / m.kFirst, 3),
        better: 'lower',
        goal: 1.5,
      },
      { name: 'offset-depth-ratio', value: round(m.oDeep / m.oFirst, 3), better: 'lower' },
    )
  } finally {
    await db.close()
  }
}

// ---- batch-insert-vs-copy --------------------------------------------------

const BATCH_ROWS = 100_000
const BATCH_COLUMNS = ['id', 'qty', 'name', 'note', 'created_at', 'price'] as const
type BatchItem = [number, number, string, string | null, Date, number]

function batchRows(): BatchItem[] {
  const base = Date.UTC(2024, 0, 1)
  return Array.from({ length: BATCH_ROWS }, (_, i): BatchItem => {
    // Mostly plain text, some NULLs, and a few values COPY must escape.
    const note =
      i % 10 === 0 ? null : i % 50 === 1 ? `line one\nline two\twith \\ ${i}` : `note ${i}`
    return [i + 1, i % 100, `item name ${i}`, note, new Date(base + i * 1000), (i % 100_000) / 100]
  })
}

const COPY_CHUNK = 64 * 1024
const COPY_SPECIAL = /[\\\n\r\t]/
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' }

function escapeCopy(s: string): string {
  return COPY_SPECIAL.test(s) ? s.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!) : s
}

/** The COPY text a developer writes by hand for this table: one template per row, in 64 KiB pieces. */
function* rawCopyText(rows: readonly BatchItem[]): Generator<string> {
  let buf = ''
  for (const [id, qty, name, note, createdAt, price] of rows) {
    buf += `${id}\t${qty}\t${escapeCopy(name)}\t${note === null ? '\\N' : escapeCopy(note)}\t${createdAt.toISOString()}\t${price}\n`
    if (buf.length >= COPY_CHUNK) {
      yield buf
      buf = ''
    }
  }
  if (buf !== '') yield buf
}

async function batchInsertVsCopy(admin: pg.Client): Promise<void> {
  const rounds = 11
  progress(
    `batch-insert-vs-copy: ${BATCH_ROWS.toLocaleString('en-US')} rows × ${BATCH_COLUMNS.length} columns, ` +
      `db.batchInsert vs raw COPY through pg-copy-streams, ${rounds} rounds + 1 warmup, truncated between`,
  )
  const ddl = (t: string) =>
    `CREATE TABLE ${SCHEMA}.${t} (id integer PRIMARY KEY, qty integer NOT NULL, name text NOT NULL,
       note text, created_at timestamptz NOT NULL, price numeric(12, 2) NOT NULL)`
  await admin.query(ddl('copy_hotpath'))
  await admin.query(ddl('copy_raw'))
  const rows = batchRows()
  const db = createDb({ primary: DATABASE_URL, pool: { max: 2, min: 1 }, statementTimeoutMs: 0 })
  const raw = new pg.Client({ connectionString: DATABASE_URL })
  await raw.connect()
  const copyText = `COPY ${SCHEMA}.copy_raw (${BATCH_COLUMNS.join(', ')}) FROM STDIN`
  try {
    const hotpath = async () => {
      const r = await db.batchInsert(`${SCHEMA}.copy_hotpath`, BATCH_COLUMNS, rows)
      if (r.method !== 'copy' || r.inserted !== BATCH_ROWS) {
        throw new Error(`batchInsert: ${r.inserted} rows by ${r.method}`)
      }
    }
    const rawCopy = async () => {
      const stream = raw.query(copyStreams.from(copyText))
      await pipeline(Readable.from(rawCopyText(rows)), stream)
      if (stream.rowCount !== BATCH_ROWS) throw new Error(`raw COPY: ${stream.rowCount} rows`)
    }
    const timedRun = async (fn: () => Promise<void>) => {
      await admin.query(`TRUNCATE ${SCHEMA}.copy_hotpath, ${SCHEMA}.copy_raw`)
      gc?.()
      const t0 = performance.now()
      await fn()
      return performance.now() - t0
    }
    await timedRun(hotpath)
    await timedRun(rawCopy)
    const hp: number[] = []
    const rw: number[] = []
    for (let r = 0; r < rounds; r++) {
      if (r % 2 === 0) {
        hp.push(await timedRun(hotpath))
        rw.push(await timedRun(rawCopy))
      } else {
        rw.push(await timedRun(rawCopy))
        hp.push(await timedRun(hotpath))
      }
    }
    // Fill both once more and check they hold the same data: the comparison is fair only then.
    await admin.query(`TRUNCATE ${SCHEMA}.copy_hotpath, ${SCHEMA}.copy_raw`)
    await hotpath()
    await rawCopy()
    const diff = await admin.query(
      `SELECT count(*)::int AS n FROM ((TABLE ${SCHEMA}.copy_hotpath EXCEPT TABLE ${SCHEMA}.copy_raw)
         UNION ALL (TABLE ${SCHEMA}.copy_raw EXCEPT TABLE ${SCHEMA}.copy_hotpath)) AS d`,
    )
    if (diff.rows[0].n !== 0) throw new Error(`batch: the tables differ in ${diff.rows[0].n} rows`)

    const perRound = hp.map((ms, i) => rw[i]! / ms)
    progress(
      `  batchInsert ${hp.map((x) => x.toFixed(0)).join(', ')} ms; raw COPY ${rw.map((x) => x.toFixed(0)).join(', ')} ms`,
    )
    results.push(
      { name: 'batch-insert-100k-ms', value: round(median(hp)), unit: 'ms' },
      { name: 'raw-copy-100k-ms', value: round(median(rw)), unit: 'ms' },
      {
        name: 'batch-insert-rows-per-sec',
        value: round((BATCH_ROWS * 1000) / median(hp)),
        unit: 'rows/s',
      },
    )
    ratios.push({
      name: 'batch-insert-vs-copy',
      value: round(median(perRound), 3),
      better: 'higher',
      goal: 0.8,
    })
  } finally {
    await raw.end()
    await db.close()
  }
}

// ---- point-select-vs-pg ----------------------------------------------------

const INFLIGHT = 50
const POOL = { max: 20, min: 20 }

/** A pg.Pool with all its connections open, as a warmed hotpath pool has. */
async function warmPool(pool: pg.Pool, n: number): Promise<void> {
  const clients = await Promise.all(Array.from({ length: n }, () => pool.connect()))
  for (const c of clients) c.release()
}

/** Opens every connection of a db's pool and runs the statement once on each. */
async function warmDb(db: Db, text: string, n: number): Promise<void> {
  await Promise.all(Array.from({ length: n * 2 }, (_, i) => db.query(text, [i + 1])))
}

async function pointSelectVsPg(): Promise<void> {
  progress(
    `point-select-vs-pg: db.query point selects, ${INFLIGHT} in flight, pool of ${POOL.max}, vs pg.Pool unnamed; ` +
      `also db with preparedStatements: false`,
  )
  const hotpath = createDb({ primary: DATABASE_URL, pool: POOL })
  const unprepared = createDb({ primary: DATABASE_URL, pool: POOL, preparedStatements: false })
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: POOL.max })
  pool.on('error', () => {})
  try {
    await warmPool(pool, POOL.max)
    await warmDb(hotpath, POINT_SQL, POOL.max)
    await warmDb(unprepared, POINT_SQL, POOL.max)
    const ids = randomIds(1 << 16)
    const mask = ids.length - 1
    // pg sits between the two hotpath sides: whichever way a round is ordered, it runs right
    // next to each of them, so the paired ratios compare neighbours in time.
    const m = await compare(
      {
        hotpath: inFlight(INFLIGHT, async (i) => {
          sink = await hotpath.query(POINT_SQL, [ids[i & mask]])
        }),
        pg: inFlight(INFLIGHT, async (i) => {
          sink = await pool.query(POINT_SQL, [ids[i & mask]])
        }),
        hotpathUnprepared: inFlight(INFLIGHT, async (i) => {
          sink = await unprepared.query(POINT_SQL, [ids[i & mask]])
        }),
      },
      // Per-round ratios swing from 1.1 to 1.8 on a shared 2-core machine: 21 rounds
      // (unless BENCH_ROUNDS says otherwise) keep the median of this goal's ratio steady.
      { rounds: process.env.BENCH_ROUNDS ? undefined : 21 },
    )
    checkSink('point-select')
    const preparing = (hotpath.router.primary as { preparing?: boolean }).preparing
    progress(`  hotpath prepares statements: ${preparing}`)
    if (preparing !== true) throw new Error('point-select: hotpath stopped preparing statements')
    logSides('point-select', m)
    results.push(
      { name: 'point-select-hotpath', value: round(m.hotpath.opsPerSec), unit: 'ops/s' },
      {
        name: 'point-select-hotpath-unprepared',
        value: round(m.hotpathUnprepared.opsPerSec),
        unit: 'ops/s',
      },
      { name: 'point-select-pg', value: round(m.pg.opsPerSec), unit: 'ops/s' },
    )
    ratios.push(
      {
        name: 'point-select-vs-pg',
        value: round(pairedRatio(m.hotpath, m.pg), 3),
        better: 'higher',
        goal: 1.2,
      },
      {
        name: 'point-select-unprepared-vs-pg',
        value: round(pairedRatio(m.hotpathUnprepared, m.pg), 3),
        better: 'higher',
      },
    )
  } finally {
    await Promise.all([hotpath.close(), unprepared.close(), pool.end()])
  }
}

// ---- cached-query-vs-uncached ----------------------------------------------

const HOT_IDS = 1000

async function cachedVsUncached(
  label: string,
  ratioName: string,
  cache: TieredCache,
): Promise<void> {
  const db = createDb({ primary: DATABASE_URL, pool: POOL, cache })
  try {
    await warmDb(db, POINT_SQL, POOL.max)
    const ids = Array.from({ length: HOT_IDS }, (_, i) => 1 + i * Math.floor(ROWS / HOT_IDS))
    const opts = { cache: { ttl: '5m' } } as const
    for (const id of ids) await db.query(POINT_SQL, [id], opts)
    const before = db.stats()
    const m = await compare({
      cached: inFlight(INFLIGHT, async (i) => {
        sink = await db.query(POINT_SQL, [ids[i % HOT_IDS]], opts)
      }),
      uncached: inFlight(INFLIGHT, async (i) => {
        sink = await db.query(POINT_SQL, [ids[i % HOT_IDS]])
      }),
    })
    checkSink(ratioName)
    const after = db.stats()
    const hits = after.cacheHits - before.cacheHits
    const misses = after.cacheMisses - before.cacheMisses
    progress(`  ${label}: cache hits ${hits}, misses ${misses}`)
    if (misses > 0) throw new Error(`${ratioName}: ${misses} cache misses while measuring hits`)
    logSides(label, m)
    results.push(
      { name: `${label}-cached`, value: round(m.cached.opsPerSec), unit: 'ops/s' },
      { name: `${label}-uncached`, value: round(m.uncached.opsPerSec), unit: 'ops/s' },
    )
    ratios.push({
      name: ratioName,
      value: round(pairedRatio(m.cached, m.uncached), 3),
      better: 'higher',
    })
  } finally {
    await db.close()
    await cache.close()
  }
}

async function cachedQueryL1(): Promise<void> {
  progress(
    `cached-query-vs-uncached: db.query(…, { cache: { ttl: '5m' } }) on L1 hits vs uncached, ` +
      `${HOT_IDS.toLocaleString('en-US')} hot ids, ${INFLIGHT} in flight`,
  )
  // L1 caps every entry at maxTtl (default 60 s): longer than the run, so nothing expires while measuring.
  const cache = createCache({ namespace: `${RUN}.l1`, l1: { maxTtl: '10m' } })
  await cachedVsUncached('point-select-l1', 'cached-query-vs-uncached', cache)
}

async function cachedQueryL2(redis: Redis | null): Promise<void> {
  if (redis === null) {
    progress(`cached-l2-query-vs-uncached: skipped, no Redis at ${REDIS_URL}`)
    return
  }
  progress(
    `cached-l2-query-vs-uncached: the same on L2 (Redis) hits, L1 of one entry, ` +
      `${HOT_IDS.toLocaleString('en-US')} hot ids, ${INFLIGHT} in flight`,
  )
  // An L1 of one entry sends nearly every read to Redis: the figure of a result cached
  // by another instance, or evicted from this one's L1.
  const cache = createCache({
    namespace: `${RUN}.l2`,
    l1: { maxItems: 1, maxTtl: '10m' },
    l2: { redis: REDIS_URL },
  })
  if (!(await cache.ready(5000))) throw new Error(`Redis not ready at ${REDIS_URL}`)
  await cachedVsUncached('point-select-l2', 'cached-l2-query-vs-uncached', cache)
}

// ---- main ------------------------------------------------------------------

async function connectRedis(): Promise<Redis | null> {
  const redis = new Redis(REDIS_URL, {
    maxRetriesPerRequest: 1,
    lazyConnect: true,
    retryStrategy: () => null,
  })
  redis.on('error', () => {})
  try {
    await redis.connect()
    await redis.ping()
    return redis
  } catch {
    redis.disconnect()
    return null
  }
}

async function cleanupRedis(redis: Redis): Promise<number> {
  let removed = 0
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${RUN}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) removed += await redis.unlink(...keys)
  } while (cursor !== '0')
  return removed
}

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: DATABASE_URL })
  try {
    await admin.connect()
  } catch (err) {
    throw new Error(`db suite needs PostgreSQL at ${DATABASE_URL}: ${(err as Error).message}`)
  }
  admin.on('error', () => {})
  const redis = await connectRedis()
  const server = await admin.query('SHOW server_version')
  progress(
    `db suite, schema ${SCHEMA}, PostgreSQL ${server.rows[0].server_version} at ${DATABASE_URL.replace(/\/\/[^@]*@/, '//')}, ` +
      `Redis ${redis === null ? 'unreachable' : 'up'}`,
  )
  const t0 = performance.now()
  try {
    await buildItems(admin)
    const cases: [string, () => Promise<void>][] = [
      ['keyset-depth-ratio', () => keysetDepthRatio(admin)],
      ['point-select-vs-pg', pointSelectVsPg],
      ['cached-query-vs-uncached', cachedQueryL1],
      ['cached-l2-query-vs-uncached', () => cachedQueryL2(redis)],
      // Last: its writes (WAL, dirty pages to flush) would weigh on the read cases after it.
      ['batch-insert-vs-copy', () => batchInsertVsCopy(admin)],
    ]
    const only = process.env.BENCH_FILTER
    for (const [name, run] of cases) if (!only || name.includes(only)) await run()
  } finally {
    await admin.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`)
    await admin.end()
    if (redis !== null) {
      const removed = await cleanupRedis(redis)
      progress(`cleanup: dropped schema ${SCHEMA}, removed ${removed} Redis keys under ${RUN}*`)
      await redis.quit()
    } else progress(`cleanup: dropped schema ${SCHEMA}`)
    progress(`db suite took ${((performance.now() - t0) / 1000).toFixed(1)} s`)
  }
  emit({ suite: 'db', machine: machine(), results, ratios })
}

main().catch((err: unknown) => {
  progress(`db suite failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
