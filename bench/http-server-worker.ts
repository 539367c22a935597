// The server process of the `http` suite (forked by bench/http.ts): several
// Fastify instances in this one process, each on its own port with only the
// plugin its comparison is about, so two sides differ by that plugin and
// nothing else (same process, same JIT state, same event loop). The load
// generator (wrk) runs in its own process. No load shedding anywhere: the
// benchmark saturates the loop on purpose. Nothing goes to stdout.
//
//   bare              no plugin: GET /products/:id (small JSON), GET /bytes (the cached br response, prebuilt)
//   hotpath           fastifyCompression (createCompressor() defaults): GET /products (~20 KB JSON)
//   fastify-compress  @fastify/compress with its defaults: GET /products
//   cached            fastifyResponseCache (L1-only createCache) + fastifyCompression: GET /products, config.cache
//   metrics           fastifyMetrics (createMetrics()): GET /products/:id
//
// It answers 'stats' (handler calls per instance, compressor, response cache
// and metrics counters) so the suite can check each side did what it claims.
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import fastifyCompress from '@fastify/compress'
import Fastify, { type FastifyInstance } from 'fastify'
import { createCache } from 'hotpath/cache'
import {
  type CompressionStats,
  createCompressor,
  createResponseCache,
  fastifyCompression,
  fastifyMetrics,
  fastifyResponseCache,
  type ResponseCacheStats,
} from 'hotpath/http'
import { createMetrics } from 'hotpath/metrics'
import { type ProcessTimes, processTimes } from './server-process.ts'

export type Instance = 'bare' | 'hotpath' | 'fastify-compress' | 'cached' | 'metrics'

export interface ServerStats extends ProcessTimes {
  /** Handler calls per instance (a cache hit calls none). */
  handlerCalls: Record<Instance, number>
  /** The hotpath instance's compressor. */
  hotpath: CompressionStats
  /** The cached instance's compressor (stored variants are compressed once, on the miss). */
  cachedCompressor: CompressionStats
  responseCache: ResponseCacheStats
  /** Requests observed by the metrics instance's histogram. */
  metricsRequests: number
}

export type ToServer = { type: 'stats' } | { type: 'close' }
export type FromServer =
  | { type: 'ready'; ports: Record<Instance, number>; jsonBytes: number; smallBytes: number }
  | { type: 'stats'; stats: ServerStats }
  | { type: 'error'; message: string }

function send(message: FromServer): void {
  process.send?.(message)
}

// ---- the payloads ------------------------------------------------------------

/** A deterministic PRNG (mulberry32): the same catalogue in every run. */
function prng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const ADJECTIVES = 'compact durable lightweight insulated foldable classic premium rugged'.split(
  ' ',
)
const MATERIALS = 'stainless steel,bamboo,recycled plastic,cotton,oak,aluminium,glass,wool'.split(
  ',',
)
const NOUNS = 'water bottle,lunch box,backpack,desk lamp,chair,kettle,blanket,notebook'.split(',')
const WORDS = (
  'made for everyday use easy to clean keeps drinks cold for hours fits in most bags ' +
  'dishwasher safe lid tested for durability ships in plastic free packaging two year ' +
  'warranty designed in Lisbon assembled by hand soft touch finish available in four colours'
).split(' ')
const TAGS = 'outdoor kitchen office travel home kids eco bestseller new sale'.split(' ')

export interface CatalogueItem {
  id: number
  sku: string
  name: string
  description: string
  price: number
  currency: string
  stock: number
  tags: string[]
  rating: number
  reviews: number
  updatedAt: string
}

/** A product list of about `bytes` bytes as JSON: names, descriptions, prices, as a catalogue page. */
export function catalogue(bytes: number): CatalogueItem[] {
  const r = prng(42)
  const pick = <T>(list: readonly T[]): T => list[Math.floor(r() * list.length)]!
  const items: CatalogueItem[] = []
  let size = 2
  for (let id = 1; size < bytes; id++) {
    const words = Array.from({ length: 12 + Math.floor(r() * 10) }, () => pick(WORDS))
    const item: CatalogueItem = {
      id,
      sku: `SKU-${String(Math.floor(r() * 1e7)).padStart(7, '0')}`,
      name: `${pick(ADJECTIVES)} ${pick(MATERIALS)} ${pick(NOUNS)}`,
      description: `${words.join(' ')}.`,
      price: Math.round(500 + r() * 20_000) / 100,
      currency: 'EUR',
      stock: Math.floor(r() * 500),
      tags: [pick(TAGS), pick(TAGS)],
      rating: Math.round(30 + r() * 20) / 10,
      reviews: Math.floor(r() * 2000),
      updatedAt: new Date(Date.UTC(2025, 0, 1) + Math.floor(r() * 3e10)).toISOString(),
    }
    size += JSON.stringify(item).length + 1
    items.push(item)
  }
  return items
}

/** The small JSON of the metrics comparison, about 220 bytes. */
export function product(id: number) {
  return {
    id,
    sku: `SKU-${String(id).padStart(7, '0')}`,
    name: 'Stainless steel water bottle, 750 ml',
    price: 19.99,
    currency: 'EUR',
    stock: id % 57,
    tags: ['outdoor', 'kitchen', 'bpa-free'],
    rating: 4.6,
    updatedAt: '2025-06-01T12:00:00.000Z',
  }
}

// ---- the servers -------------------------------------------------------------

const items = catalogue(20 * 1024)
const handlerCalls: Record<Instance, number> = {
  bare: 0,
  hotpath: 0,
  'fastify-compress': 0,
  cached: 0,
  metrics: 0,
}
/** The list route, as each instance has it: the same objects, serialized by Fastify per request. */
function listRoute(app: FastifyInstance, name: Instance, config?: object): void {
  app.get('/products', config === undefined ? {} : { config }, async () => {
    handlerCalls[name]++
    return items
  })
}

function productRoute(app: FastifyInstance, name: Instance): void {
  app.get<{ Params: { id: string } }>('/products/:id', async (req) => {
    handlerCalls[name]++
    return product(Number(req.params.id))
  })
}

/** GET on this process's own server, for priming the cache and building the bare route. */
function get(port: number, path: string, headers: Record<string, string>) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }>(
    (resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path, headers }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks),
          }),
        )
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end()
    },
  )
}

/** Headers Fastify or Node set per response: the bare route must not set them itself. */
const PER_RESPONSE = new Set(['date', 'connection', 'keep-alive', 'content-length'])

async function main(): Promise<void> {
  const bare = Fastify()
  productRoute(bare, 'bare')
  let bytes: Buffer = Buffer.alloc(0)
  let bytesHeaders: Record<string, string> = {}
  bare.get('/bytes', async (_req, reply) => {
    handlerCalls.bare++
    return reply.headers(bytesHeaders).send(bytes)
  })

  const hotpath = Fastify()
  const compressor = createCompressor()
  await hotpath.register(fastifyCompression, { compressor })
  listRoute(hotpath, 'hotpath')

  const fc = Fastify()
  await fc.register(fastifyCompress) // its defaults
  listRoute(fc, 'fastify-compress')

  // L1 only (no Redis): a hit is an L1 lookup. maxTtl covers the run, so no entry expires mid-way.
  const cache = createCache({ namespace: 'hpbench-http', defaultTtl: '1h', l1: { maxTtl: '1h' } })
  const cachedCompressor = createCompressor()
  const responseCache = createResponseCache({ cache, compressor: cachedCompressor })
  const cached = Fastify()
  // The order of the umbrella plugin: the response cache, then compression.
  await cached.register(fastifyResponseCache, { responseCache })
  await cached.register(fastifyCompression, { compressor: cachedCompressor })
  listRoute(cached, 'cached', { cache: { ttl: '1h' } })

  const metrics = createMetrics()
  const withMetrics = Fastify()
  await withMetrics.register(fastifyMetrics, { metrics })
  productRoute(withMetrics, 'metrics')

  const apps: Record<Instance, FastifyInstance> = {
    bare,
    hotpath,
    'fastify-compress': fc,
    cached,
    metrics: withMetrics,
  }
  const ports = {} as Record<Instance, number>
  for (const [name, app] of Object.entries(apps) as [Instance, FastifyInstance][]) {
    await app.listen({ port: 0, host: '127.0.0.1' })
    ports[name] = (app.server.address() as AddressInfo).port
  }

  // Fill the cache (the miss stores identity, br and gzip), then take the br hit as the bare
  // route's response: the same bytes and the same headers, sent from a handler.
  await get(ports.cached, '/products', { 'accept-encoding': 'br' })
  const hit = await get(ports.cached, '/products', { 'accept-encoding': 'br' })
  if (hit.status !== 200 || hit.headers['x-cache'] !== 'HIT') {
    throw new Error(`cached route: expected a 200 HIT, got ${hit.status} ${hit.headers['x-cache']}`)
  }
  bytes = hit.body
  bytesHeaders = {}
  for (const [k, v] of Object.entries(hit.headers)) {
    if (!PER_RESPONSE.has(k) && typeof v === 'string') bytesHeaders[k] = v
  }

  process.on('message', async (m: ToServer) => {
    if (m.type === 'stats') {
      send({
        type: 'stats',
        stats: {
          handlerCalls: { ...handlerCalls },
          hotpath: compressor.stats(),
          cachedCompressor: cachedCompressor.stats(),
          responseCache: responseCache.stats(),
          metricsRequests: metrics.requests,
          ...processTimes(),
        },
      })
    } else if (m.type === 'close') {
      await Promise.all(Object.values(apps).map((app) => app.close()))
      await cache.close()
      // Exiting (rather than waiting for handles) lets --cpu-prof write its profile at once.
      process.exit(0)
    }
  })
  send({
    type: 'ready',
    ports,
    jsonBytes: Buffer.byteLength(JSON.stringify(items)),
    smallBytes: Buffer.byteLength(JSON.stringify(product(42))),
  })
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  process.exitCode = 1
  process.disconnect?.()
})
