// The `cache` suite: hotpath's tiered cache against its peers, side by side
// in one run with the real Redis (REDIS_URL, default redis://127.0.0.1:6379).
//
//   l1-hit-vs-lru-cache        await cache.get(k) on an L1 hit vs await of an async wrapper of lru-cache get
//   getorset-l1-vs-bentocache  tiered getOrSet L1 hit vs BentoCache's tiered (memory L1 + redis L2) getOrSet
//   l2-hit-vs-ioredis          L2 hits at 50 in flight (L1 of one entry) vs plain ioredis GET at 50 in flight
//   stampede-factory-calls     1,000 concurrent cold getOrSet in one process; 4 processes × 250 with the lock
//
// Every key lives under a namespace unique to the run and is removed at the end.
// BENCH_FILTER=<text> runs only the cases whose name contains it (for profiling).
// Run: npm run bench -- cache   (or directly: npx node --conditions=hotpath-source --expose-gc bench/cache.ts)
import { type ChildProcess, fork } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { BentoCache, bentostore } from 'bentocache'
import { memoryDriver } from 'bentocache/drivers/memory'
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis'
import { type CacheStats, createCache } from 'hotpath/cache'
import { Redis, type RedisOptions } from 'ioredis'
import { LRUCache } from 'lru-cache'
import type { FromWorker, StampedeConfig, ToWorker } from './cache-stampede-worker.ts'
import {
  compare,
  emit,
  fmtOps,
  inFlight,
  machine,
  pairedRatio,
  progress,
  type Ratio,
  type Result,
  round,
  type SideResult,
  spread,
} from './lib.ts'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
/** Prefix of every Redis key this run creates (hotpath namespaces, BentoCache prefix, raw keys). */
const RUN = `hpbench-${Date.now().toString(36)}-${process.pid}`

const results: Result[] = []
const ratios: Ratio[] = []

interface Product {
  id: number
  sku: string
  name: string
  price: number
  currency: string
  stock: number
  tags: string[]
  rating: number
  updatedAt: string
}

/** A small JSON object, about 210 bytes serialized. */
function product(id: number): Product {
  return {
    id,
    sku: `SKU-${String(id).padStart(7, '0')}`,
    name: 'Stainless steel water bottle, 750 ml',
    price: 1999 + (id % 100),
    currency: 'EUR',
    stock: id % 57,
    tags: ['outdoor', 'kitchen', 'bpa-free'],
    rating: 4.6,
    updatedAt: '2025-06-01T12:00:00.000Z',
  }
}

function keyList(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `product:${i}`)
}

function redisOptions(url: string): RedisOptions {
  const u = new URL(url)
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0
  return {
    host: u.hostname,
    port: Number(u.port || 6379),
    db,
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  }
}

function logSides(label: string, sides: Record<string, SideResult>): void {
  for (const [name, s] of Object.entries(sides)) {
    progress(
      `  ${label} ${name}: ${fmtOps(s.opsPerSec)} (rounds spread ${(spread(s) * 100).toFixed(0)}%)`,
    )
  }
}

function delta(after: CacheStats, before: CacheStats) {
  return {
    l1Hits: after.l1.hits - before.l1.hits,
    l1Misses: after.l1.misses - before.l1.misses,
    l2Hits: after.l2.hits - before.l2.hits,
    l2Misses: after.l2.misses - before.l2.misses,
    misses: after.misses - before.misses,
    factoryCalls: after.factoryCalls - before.factoryCalls,
    l2Errors: after.l2.errors - before.l2.errors,
    l2Skipped: after.l2.skipped - before.l2.skipped,
  }
}

/** Where measured loops store what they read, so nothing is optimized away; checked after each loop. */
let sink: unknown

function checkSink(label: string): void {
  if (typeof (sink as Product | undefined)?.id !== 'number') {
    throw new Error(`${label}: last read was not a product`)
  }
  sink = undefined
}

// ---- l1-hit-vs-lru-cache ---------------------------------------------------

async function l1HitVsLruCache(): Promise<void> {
  progress(
    'l1-hit-vs-lru-cache: await cache.get(k) on L1 hits vs await async(lru.get(k)), 1,024 hot keys',
  )
  const keys = keyList(1024)
  const mask = keys.length - 1
  const cache = createCache({ namespace: `${RUN}.l1`, defaultTtl: '1h', l1: { maxTtl: '1h' } })
  const lru = new LRUCache<string, Product>({ max: 10_000 })
  for (let i = 0; i < keys.length; i++) {
    await cache.set(keys[i]!, product(i))
    lru.set(keys[i]!, product(i))
  }
  const lruGet = async (key: string): Promise<Product | undefined> => lru.get(key)

  const before = cache.stats()
  const m = await compare({
    hotpath: async (n) => {
      for (let i = 0; i < n; i++) sink = await cache.get(keys[i & mask]!)
    },
    lruCache: async (n) => {
      for (let i = 0; i < n; i++) sink = await lruGet(keys[i & mask]!)
    },
  })
  checkSink('l1-hit')
  const d = delta(cache.stats(), before)
  if (d.l1Misses !== 0) throw new Error(`l1-hit: ${d.l1Misses} L1 misses while measuring hits`)
  await cache.close()

  logSides('l1-hit', m)
  results.push(
    { name: 'l1-hit-hotpath', value: round(m.hotpath.opsPerSec), unit: 'ops/s' },
    { name: 'l1-hit-lru-cache', value: round(m.lruCache.opsPerSec), unit: 'ops/s' },
  )
  ratios.push({
    name: 'l1-hit-vs-lru-cache',
    value: round(pairedRatio(m.hotpath, m.lruCache), 3),
    better: 'higher',
    goal: 0.5,
  })
}

// ---- getorset-l1-vs-bentocache ---------------------------------------------

/** Redis's count of commands processed since it started. */
async function redisCommands(admin: Redis): Promise<number> {
  const m = /total_commands_processed:(\d+)/.exec(await admin.info('stats'))
  return Number(m?.[1] ?? Number.NaN)
}

async function getOrSetVsBentoCache(admin: Redis): Promise<void> {
  progress(
    'getorset-l1-vs-bentocache: tiered getOrSet L1 hits, hotpath vs BentoCache (memory L1 + redis L2 + bus)',
  )
  const keys = keyList(1024)
  const mask = keys.length - 1
  const cache = createCache({
    namespace: `${RUN}.tiered`,
    l2: { redis: REDIS_URL },
    defaultTtl: '1h',
    l1: { maxTtl: '1h' },
  })
  if (!(await cache.ready(5000))) throw new Error(`Redis not ready at ${REDIS_URL}`)
  const connection = redisOptions(REDIS_URL)
  // The multi-tier setup of https://bentocache.dev/docs/multi-tier, with a TTL long enough for
  // the run and room for every key (the memory driver keeps 1,000 items by default: 1,024 keys
  // read in rotation would thrash its LRU and turn every call into an L2 read).
  const bento = new BentoCache({
    default: 'multitier',
    prefix: `${RUN}.bento`,
    ttl: '1h',
    stores: {
      multitier: bentostore()
        .useL1Layer(memoryDriver({ maxSize: '10mb', maxItems: 10_000 }))
        .useL2Layer(redisDriver({ connection }))
        .useBus(redisBusDriver({ connection })),
    },
  })

  for (let i = 0; i < keys.length; i++) {
    const value = product(i)
    await cache.getOrSet(keys[i]!, () => value)
    await bento.getOrSet({ key: keys[i]!, factory: () => value })
  }
  // The measured loops must only hit: a factory call there is an error.
  let calls = 0
  const hotpathFactory = () => {
    calls++
    return product(-1)
  }
  const bentoFactory = () => {
    calls++
    return product(-1)
  }
  const check = (await cache.getOrSet(keys[7]!, hotpathFactory)) as Product
  const checkBento = await bento.getOrSet({ key: keys[7]!, factory: bentoFactory })
  if (check.id !== 7 || checkBento.id !== 7 || calls !== 0) {
    throw new Error('getorset: prefill failed')
  }

  const before = cache.stats()
  const commandsBefore = await redisCommands(admin)
  const m = await compare({
    hotpath: async (n) => {
      for (let i = 0; i < n; i++) sink = await cache.getOrSet(keys[i & mask]!, hotpathFactory)
    },
    bentocache: async (n) => {
      for (let i = 0; i < n; i++) {
        sink = await bento.getOrSet({ key: keys[i & mask]!, factory: bentoFactory })
      }
    },
  })
  checkSink('getorset')
  // L1 hits send nothing to Redis; a few commands may come from elsewhere (INFO itself, other clients).
  const commands = (await redisCommands(admin)) - commandsBefore
  progress(`  Redis commands processed while measuring: ${commands}`)
  if (commands > 1000) {
    throw new Error(`getorset: ${commands} Redis commands while measuring L1 hits`)
  }
  const d = delta(cache.stats(), before)
  if (calls !== 0 || d.l1Misses !== 0) {
    throw new Error(
      `getorset: ${calls} factory calls, ${d.l1Misses} hotpath L1 misses while measuring hits`,
    )
  }
  await cache.close()
  await bento.disconnectAll()

  logSides('getorset-l1-hit', m)
  results.push(
    { name: 'getorset-l1-hit-hotpath', value: round(m.hotpath.opsPerSec), unit: 'ops/s' },
    { name: 'getorset-l1-hit-bentocache', value: round(m.bentocache.opsPerSec), unit: 'ops/s' },
  )
  ratios.push({
    name: 'getorset-l1-vs-bentocache',
    value: round(pairedRatio(m.hotpath, m.bentocache), 3),
    better: 'higher',
    goal: 10,
  })
}

// ---- l2-hit-vs-ioredis -----------------------------------------------------

async function l2HitVsIoredis(): Promise<void> {
  const inflight = 50
  progress(
    `l2-hit-vs-ioredis: ${inflight} in flight, 4,096 keys in rotation, hotpath L1 of 1 entry vs ioredis GET`,
  )
  const keys = keyList(4096)
  const cache = createCache({
    namespace: `${RUN}.l2`,
    l2: { redis: REDIS_URL },
    l1: { maxItems: 1 },
    defaultTtl: '1h',
  })
  if (!(await cache.ready(5000))) throw new Error(`Redis not ready at ${REDIS_URL}`)
  const raw = new Redis(REDIS_URL) // default options: the plain client most apps start with
  const rawKeys = keys.map((k) => `${RUN}.raw:${k}`)

  await Promise.all(keys.map((k, i) => cache.set(k, product(i))))
  const p = raw.pipeline()
  for (let i = 0; i < keys.length; i++) p.set(rawKeys[i]!, JSON.stringify(product(i)), 'EX', 3600)
  await p.exec()
  const sample = (await cache.get(keys[99]!)) as Product | undefined
  const rawSample = await raw.get(rawKeys[99]!)
  if (sample?.id !== 99 || rawSample === null) throw new Error('l2-hit: prefill failed')
  const stored = await raw.strlen(`${RUN}.l2:${keys[99]}`)
  progress(`  value ${rawSample.length} bytes as JSON, ${stored} bytes as a hotpath L2 entry`)

  const n = keys.length
  const before = cache.stats()
  const m = await compare({
    hotpath: inFlight(inflight, (i) => cache.get(keys[i % n]!)),
    ioredis: inFlight(inflight, (i) => raw.get(rawKeys[i % n]!)),
  })
  const d = delta(cache.stats(), before)
  const reads = d.l1Hits + d.l2Hits + d.misses
  const l2Fraction = reads === 0 ? 0 : d.l2Hits / reads
  progress(
    `  hotpath reads: ${reads}, L1 hits ${d.l1Hits}, L2 hits ${d.l2Hits}, misses ${d.misses}, ` +
      `L2 errors ${d.l2Errors}, skipped ${d.l2Skipped}`,
  )
  if (l2Fraction < 0.99) {
    throw new Error(`l2-hit: only ${(l2Fraction * 100).toFixed(1)}% of reads were L2 hits`)
  }
  await cache.close()
  await raw.quit()

  logSides('l2-hit', m)
  results.push(
    { name: 'l2-hit-hotpath-50-in-flight', value: round(m.hotpath.opsPerSec), unit: 'ops/s' },
    { name: 'l2-get-ioredis-50-in-flight', value: round(m.ioredis.opsPerSec), unit: 'ops/s' },
    { name: 'l2-hit-fraction', value: round(l2Fraction, 6), unit: 'fraction' },
  )
  ratios.push({
    name: 'l2-hit-vs-ioredis',
    value: round(pairedRatio(m.hotpath, m.ioredis), 3),
    better: 'higher',
    goal: 0.9,
  })
}

// ---- stampede --------------------------------------------------------------

async function stampedeOneProcess(): Promise<void> {
  const concurrency = 1000
  progress(
    `stampede-factory-calls: ${concurrency} concurrent cold getOrSet on one key, one process, 50 ms factory`,
  )
  const cache = createCache({ namespace: `${RUN}.stampede1`, l2: { redis: REDIS_URL } })
  if (!(await cache.ready(5000))) throw new Error(`Redis not ready at ${REDIS_URL}`)
  let calls = 0
  const factory = async () => {
    calls++
    await sleep(50)
    return { key: 'hot', computedBy: 'factory' }
  }
  const t0 = performance.now()
  const values = await Promise.all(
    Array.from({ length: concurrency }, () => cache.getOrSet('hot', factory)),
  )
  const ms = performance.now() - t0
  if (!values.every((v) => v.computedBy === 'factory')) {
    throw new Error('stampede: wrong value returned')
  }
  const s = cache.stats()
  progress(
    `  factory calls ${calls} (stats: ${s.factoryCalls}), collapsed ${s.collapsed}, ${ms.toFixed(1)} ms`,
  )
  await cache.close()
  results.push({ name: 'stampede-1-process-ms', value: round(ms), unit: 'ms' })
  ratios.push({ name: 'stampede-factory-calls', value: calls, better: 'lower', goal: 1 })
}

function nextMessage<T extends FromWorker['type']>(
  child: ChildProcess,
  type: T,
  timeoutMs: number,
): Promise<Extract<FromWorker, { type: T }>> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer)
      child.off('message', onMessage)
      child.off('exit', onExit)
    }
    const onMessage = (m: FromWorker) => {
      if (m.type === 'error') {
        cleanup()
        reject(new Error(`stampede worker ${child.pid}: ${m.message}`))
      } else if (m.type === type) {
        cleanup()
        resolve(m as Extract<FromWorker, { type: T }>)
      }
    }
    const onExit = (code: number | null) => {
      cleanup()
      reject(new Error(`stampede worker ${child.pid} exited (${code}) before '${type}'`))
    }
    const timer = setTimeout(() => {
      cleanup()
      reject(new Error(`stampede worker ${child.pid}: no '${type}' within ${timeoutMs} ms`))
    }, timeoutMs)
    child.on('message', onMessage)
    child.on('exit', onExit)
  })
}

async function stampedeProcesses(admin: Redis): Promise<void> {
  const processes = 4
  const perProcess = 250
  progress(
    `stampede-factory-calls-4-processes: ${processes} processes × ${perProcess} concurrent cold getOrSet, lock on, 50 ms factory`,
  )
  const config: StampedeConfig = {
    redisUrl: REDIS_URL,
    namespace: `${RUN}.stampede4`,
    key: 'hot',
    counterKey: `${RUN}.stampede4-factory-calls`,
    concurrency: perProcess,
    factoryMs: 50,
  }
  const worker = fileURLToPath(new URL('./cache-stampede-worker.ts', import.meta.url))
  const children = Array.from({ length: processes }, () => {
    const child = fork(worker, [JSON.stringify(config)], {
      execArgv: ['--conditions=hotpath-source'],
      // stdout is this suite's JSON channel: a worker's output goes to stderr.
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    })
    child.stdout?.pipe(process.stderr)
    return child
  })
  try {
    await Promise.all(children.map((c) => nextMessage(c, 'ready', 15_000)))
    const done = children.map((c) => nextMessage(c, 'done', 30_000))
    const t0 = performance.now()
    for (const c of children) c.send({ type: 'go' } satisfies ToWorker)
    const reports = await Promise.all(done)
    const ms = performance.now() - t0
    const total = Number((await admin.get(config.counterKey)) ?? 0)
    const local = reports.reduce((a, r) => a + r.localFactoryCalls, 0)
    if (!reports.every((r) => r.ok)) throw new Error('stampede: a worker got a wrong value')
    progress(
      `  factory calls ${total} (INCR counter; workers' stats say ${local}: ${reports.map((r) => r.localFactoryCalls).join(', ')}), ` +
        `${ms.toFixed(1)} ms for all; factory started at ${reports.map((r) => `[${r.factoryStarts.join(', ')}]`).join(' ')} ms after go`,
    )
    results.push({ name: 'stampede-4-processes-ms', value: round(ms), unit: 'ms' })
    ratios.push({
      name: 'stampede-factory-calls-4-processes',
      value: total,
      better: 'lower',
      goal: 1,
    })
  } finally {
    // The workers stay up until every one is done, as the instances of a service would.
    await Promise.all(
      children.map(async (c) => {
        if (c.exitCode !== null || c.signalCode !== null) return
        const exited = new Promise((r) => c.once('exit', r))
        if (c.connected) c.send({ type: 'close' } satisfies ToWorker)
        const timer = setTimeout(() => c.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(timer)
      }),
    )
  }
}

// ---- main ------------------------------------------------------------------

async function cleanup(admin: Redis): Promise<number> {
  let removed = 0
  let cursor = '0'
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${RUN}*`, 'COUNT', 1000)
    cursor = next
    if (keys.length > 0) removed += await admin.unlink(...keys)
  } while (cursor !== '0')
  return removed
}

async function main(): Promise<void> {
  const admin = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, lazyConnect: true })
  try {
    await admin.connect()
    await admin.ping()
  } catch (err) {
    throw new Error(`cache suite needs Redis at ${REDIS_URL}: ${(err as Error).message}`)
  }
  progress(`cache suite, run ${RUN}, Redis ${REDIS_URL.replace(/\/\/[^@]*@/, '//')}`)
  try {
    const cases: [string, () => Promise<void>][] = [
      ['l1-hit-vs-lru-cache', l1HitVsLruCache],
      ['getorset-l1-vs-bentocache', () => getOrSetVsBentoCache(admin)],
      ['l2-hit-vs-ioredis', l2HitVsIoredis],
      ['stampede-factory-calls', stampedeOneProcess],
      ['stampede-factory-calls-4-processes', () => stampedeProcesses(admin)],
    ]
    const only = process.env.BENCH_FILTER
    for (const [name, run] of cases) if (!only || name.includes(only)) await run()
  } finally {
    const removed = await cleanup(admin)
    progress(`cleanup: removed ${removed} keys under ${RUN}*`)
    await admin.quit()
  }
  emit({ suite: 'cache', machine: machine(), results, ratios })
}

main().catch((err: unknown) => {
  progress(`cache suite failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`)
  process.exitCode = 1
})
