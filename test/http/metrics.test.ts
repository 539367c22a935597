import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import type { Server } from 'node:http'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, describe, it } from 'node:test'
import express from 'express'
import Fastify from 'fastify'
import { createCache, registerCacheMetrics } from 'hotpath/cache'
import { createDb, registerDbMetrics } from 'hotpath/db'
import { createMetrics, isHotpathError, type Metrics } from 'hotpath/metrics'
import { register as globalRegistry } from 'prom-client'
import { expressHealth } from '../../src/http/express/health.ts'
import { expressMetrics } from '../../src/http/express/metrics.ts'
import { fastifyHealth } from '../../src/http/fastify/health.ts'
import { fastifyMetrics } from '../../src/http/fastify/metrics.ts'
import { DATABASE_URL, eventually, unless } from '../helpers/services.ts'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

/** Pipes a scrape through `promtool check metrics` (parse and lint). */
async function promtool(text: string): Promise<{ code: number; output: string }> {
  const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  p.stdout.on('data', (d) => {
    output += d
  })
  p.stderr.on('data', (d) => {
    output += d
  })
  p.stdin.end(text)
  const [exit] = await once(p, 'exit')
  return { code: exit as number, output }
}

async function get(base: string, path: string) {
  const res = await fetch(base + path)
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() }
}

/** The value of one sample line of a scrape, or undefined. */
function sample(text: string, line: string): number | undefined {
  for (const l of text.split('\n'))
    if (l.startsWith(`${line} `)) return Number(l.slice(line.length + 1))
  return undefined
}

const count = (route: string, status: number, method = 'GET') =>
  `http_request_duration_seconds_count{method="${method}",route="${route}",status_code="${status}"}`

async function listenExpress(app: express.Express): Promise<{ server: Server; base: string }> {
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` }
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections()
  return new Promise((resolve) => server.close(() => resolve()))
}

describe('metrics core', () => {
  it('merges SLO thresholds into the buckets, validates options, never touches the global registry', async () => {
    const before = (await globalRegistry.getMetricsAsJSON()).length
    const m = createMetrics({ buckets: [0.1, 7], sloThresholdsMs: [100, 250, 50] })
    assert.deepEqual(m.buckets, [0.05, 0.1, 0.25, 7])
    assert.deepEqual(m.sloThresholdsMs, [50, 100, 250])
    const d = createMetrics()
    for (const s of [0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3]) assert.ok(d.buckets.includes(s), `${s} s`)
    assert.notEqual(m.registry, d.registry)
    assert.equal((await globalRegistry.getMetricsAsJSON()).length, before)
    assert.throws(() => createMetrics({ prefix: 'a b' }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createMetrics({ buckets: [0, 1] }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createMetrics({ sloThresholdsMs: [-1] }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(
      () => createMetrics({ stats: { timestamp: () => 1 } }),
      code('HP_ERR_INVALID_OPTION'),
    )
    // Two Metrics on one registry clash on the histogram name: a typed error.
    assert.throws(() => createMetrics({ registry: m.registry }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(
      () => expressMetrics({ metrics: {} as Metrics }),
      code('HP_ERR_INVALID_OPTION'),
      'metrics must come from createMetrics()',
    )
    const p = createMetrics({ prefix: 'shop_', defaultMetrics: false })
    p.observe('GET', '/x', 200, 0.01)
    const text = await p.text()
    assert.match(text, /^shop_http_request_duration_seconds_count\{.*\} 1$/m)
    assert.doesNotMatch(text, /process_cpu/)
  })

  it('snapshot() reads every provider in parallel; a failing or hung one is reported, not fatal', async () => {
    const m = createMetrics({
      defaultMetrics: false,
      statsTimeoutMs: 50,
      stats: { cache: () => ({ hits: 1 }), database: async () => ({ queries: 2 }) },
    })
    m.addStats('pool', () => {
      throw new Error('pool gone')
    })
    m.addStats('compression', () => new Promise(() => {}))
    const t0 = Date.now()
    const s = await m.snapshot()
    assert.ok(Date.now() - t0 < 1000)
    assert.deepEqual(Object.keys(s), ['cache', 'database', 'pool', 'compression', 'timestamp'])
    assert.deepEqual(s.cache, { hits: 1 })
    assert.deepEqual(s.database, { queries: 2 })
    assert.deepEqual(s.pool, { error: 'pool gone' })
    assert.deepEqual(s.compression, { error: 'no answer within 50 ms' })
    assert.ok(Math.abs(s.timestamp - Date.now()) < 1000)
  })
})

describe('metrics over Fastify', () => {
  const metrics = createMetrics()
  const app = Fastify()
  let base = ''
  let release: () => void = () => {}
  const cache = createCache({ namespace: 'metrics_test' })
  registerCacheMetrics(cache, { registry: metrics.registry })
  metrics.addStats('cache', () => cache.stats())
  after(async () => {
    await app.close()
    await cache.close()
  })

  it('labels by route template, status and method; unmatched routes share one label', async () => {
    await app.register(fastifyMetrics, { metrics })
    await app.register(fastifyHealth)
    app.get('/api/products/:id', async (req) => ({ id: (req.params as { id: string }).id }))
    app.post('/api/products', async (_req, reply) => reply.code(201).send({ ok: true }))
    app.get('/api/fail', async () => {
      throw new Error('boom')
    })
    app.get('/api/slow', () => new Promise((resolve) => (release = () => resolve({ ok: true }))))
    await app.register(
      async (child) => {
        child.get('/items/:sku', async () => ({}))
      },
      { prefix: '/v2' },
    )
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`

    for (const id of ['1', '2', '3'])
      assert.equal((await get(base, `/api/products/${id}`)).status, 200)
    assert.equal((await fetch(`${base}/api/products`, { method: 'POST' })).status, 201)
    assert.equal((await get(base, '/api/fail')).status, 500)
    assert.equal((await get(base, '/v2/items/abc')).status, 200)
    for (let i = 0; i < 20; i++) assert.equal((await get(base, `/scan/${i}?x=${i}`)).status, 404)
    await cache.getOrSet('k', () => 1)
    assert.equal((await get(base, '/health')).status, 200)

    const r = await get(base, '/metrics')
    assert.equal(r.status, 200)
    assert.equal(r.type, metrics.contentType)
    assert.equal(sample(r.body, count('/api/products/:id', 200)), 3)
    assert.equal(sample(r.body, count('/api/products', 201, 'POST')), 1)
    assert.equal(sample(r.body, count('/api/fail', 500)), 1)
    assert.equal(sample(r.body, count('/v2/items/:sku', 200)), 1)
    assert.equal(sample(r.body, count('unmatched', 404)), 20)
    assert.equal(sample(r.body, count('/health', 200)), 1, 'probes are labelled by their path')
    assert.doesNotMatch(r.body, /route="\/api\/products\/1"/)
    assert.doesNotMatch(r.body, /\/scan\//)
    for (const le of ['0.05', '0.1', '0.2', '0.3', '0.5', '1', '2', '3', '+Inf'])
      assert.equal(
        sample(
          r.body,
          `${count('/api/products/:id', 200).replace('_count{', '_bucket{').slice(0, -1)},le="${le}"}`,
        ),
        3,
        `bucket le=${le}`,
      )
    assert.match(r.body, /^hotpath_cache_misses_total\{namespace="metrics_test",tier="all"\} 1$/m)
    assert.match(r.body, /^process_cpu_seconds_total /m)
  })

  it('counts requests in flight until their response closes', async () => {
    const slow = fetch(`${base}/api/slow`)
    await eventually('the slow request to arrive', () => metrics.inFlight === 1)
    const during = await get(base, '/metrics')
    assert.equal(
      sample(during.body, 'http_requests_in_flight'),
      2,
      'the slow request and the scrape',
    )
    release()
    assert.equal((await slow).status, 200)
    const afterwards = await get(base, '/metrics')
    assert.equal(sample(afterwards.body, 'http_requests_in_flight'), 1, 'the scrape itself')

    // A client that gives up is in flight no more.
    await new Promise<void>((resolve) => {
      const req = request(`${base}/api/slow`)
      req.on('error', () => resolve())
      req.end()
      setTimeout(() => req.destroy(), 50)
    })
    await eventually('the aborted request to leave', () => metrics.inFlight === 0)
    release()
  })

  it('passes promtool check metrics, with cache metrics in the same registry', async () => {
    const r = await get(base, '/metrics')
    const check = await promtool(r.body)
    assert.equal(check.output, '', check.output)
    assert.equal(check.code, 0)
  })

  it('serves /metrics.json from the stats providers', async () => {
    const r = await get(base, '/metrics.json')
    assert.equal(r.status, 200)
    assert.match(r.type ?? '', /^application\/json/)
    const body = JSON.parse(r.body)
    assert.deepEqual(Object.keys(body), ['cache', 'timestamp'])
    assert.equal(body.cache.misses, 1)
    assert.equal(typeof body.timestamp, 'number')
  })
})

describe('metrics over Express', () => {
  const metrics = createMetrics()
  let base = ''
  let server: Server
  after(() => closeServer(server))

  it('labels by mount path + route path; unmatched and middleware-served requests share one label', async () => {
    const app = express()
    const mw = expressMetrics({ metrics })
    assert.equal(mw.metrics, metrics)
    app.use(mw)
    app.use(expressHealth())
    app.use(express.json())
    const api = express.Router()
    api.get('/products/:id', (req, res) => {
      res.json({ id: req.params.id })
    })
    api.post('/products', (_req, res) => {
      res.status(201).json({ ok: true })
    })
    api.get('/fail', () => {
      throw new Error('boom')
    })
    app.use('/api', api)
    app.get('/top/:a/:b', (_req, res) => {
      res.send('ok')
    })
    app.use(
      (
        _err: unknown,
        _req: express.Request,
        res: express.Response,
        _next: express.NextFunction,
      ) => {
        res.status(500).end()
      },
    )
    ;({ server, base } = await listenExpress(app))

    for (const id of ['1', '2']) assert.equal((await get(base, `/api/products/${id}`)).status, 200)
    assert.equal((await fetch(`${base}/api/products`, { method: 'POST' })).status, 201)
    assert.equal((await get(base, '/api/fail')).status, 500)
    assert.equal((await get(base, '/top/x/y')).status, 200)
    for (let i = 0; i < 5; i++) assert.equal((await get(base, `/nope/${i}`)).status, 404)
    assert.equal((await get(base, '/health')).status, 200)

    const r = await get(base, '/metrics')
    assert.equal(r.status, 200)
    assert.equal(r.type, metrics.contentType)
    assert.equal(sample(r.body, count('/api/products/:id', 200)), 2)
    assert.equal(sample(r.body, count('/api/products', 201, 'POST')), 1)
    assert.equal(sample(r.body, count('/api/fail', 500)), 1)
    assert.equal(sample(r.body, count('/top/:a/:b', 200)), 1)
    assert.equal(sample(r.body, count('unmatched', 404)), 5)
    assert.doesNotMatch(r.body, /\/nope\//)
    assert.equal(sample(r.body, count('/health', 200)), 1, 'probes are labelled by their path')
    assert.equal(sample(r.body, 'http_requests_in_flight'), 1)
    const again = await get(base, '/metrics')
    assert.equal(
      sample(again.body, count('/metrics', 200)),
      1,
      'the endpoint labels itself by its path',
    )
  })

  it('passes promtool check metrics', async () => {
    const check = await promtool((await get(base, '/metrics')).body)
    assert.equal(check.output, '', check.output)
    assert.equal(check.code, 0)
  })

  it('serves /metrics.json', async () => {
    metrics.addStats('compression', () => ({ bytesIn: 10, bytesOut: 4 }))
    const body = JSON.parse((await get(base, '/metrics.json')).body)
    assert.deepEqual(body.compression, { bytesIn: 10, bytesOut: 4 })
    assert.equal(typeof body.timestamp, 'number')
  })
})

describe('metrics with the database layer', { skip: await unless('postgres') }, () => {
  it('registerDbMetrics and registerCacheMetrics in one registry pass promtool', async () => {
    const metrics: Metrics = createMetrics()
    const cache = createCache({ namespace: 'metrics_db_test' })
    const db = createDb({ primary: DATABASE_URL, pool: { min: 0 }, cache })
    try {
      registerCacheMetrics(cache, { registry: metrics.registry })
      registerDbMetrics(db, { registry: metrics.registry })
      metrics.addStats('database', () => db.stats())
      metrics.addStats('pool', () => db.stats().pools)
      await db.query('SELECT 1 AS one', [], { name: 'one' })
      await db.query('SELECT $1::int AS n', [2], { cache: { ttl: 60 } })
      await db.query('SELECT $1::int AS n', [2], { cache: { ttl: 60 } })
      metrics.observe('GET', '/x', 200, 0.01)
      const text = await metrics.text()
      assert.match(text, /^hotpath_db_query_duration_seconds_count\{.*statement="one".*\} 1$/m)
      assert.match(text, /^hotpath_db_pool_connections\{/m)
      const check = await promtool(text)
      assert.equal(check.output, '', check.output)
      assert.equal(check.code, 0)
      const snap = await metrics.snapshot()
      assert.ok((snap.database as { queries: number }).queries >= 2)
      assert.ok('primary' in (snap.pool as object))
    } finally {
      await db.close()
      await cache.close()
    }
  })
})
