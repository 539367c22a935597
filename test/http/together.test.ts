import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { request } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { brotliDecompressSync } from 'node:zlib'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { createCache, type TieredCache } from 'hotpath/cache'
import { createDb, type Db } from 'hotpath/db'
import { fastify as hotpath, express as hx } from 'hotpath/http'
import { createMetrics } from 'hotpath/metrics'
import { DATABASE_URL, REDIS_URL, unless } from '../helpers/services.ts'

const skip = (await unless('redis')) || (await unless('postgres'))

const decode = (r: { headers: Record<string, string | string[] | undefined>; body: Buffer }) =>
  JSON.parse(
    (r.headers['content-encoding'] === 'br' ? brotliDecompressSync(r.body) : r.body).toString(),
  )

function raw(port: number, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{
    status: number
    headers: Record<string, string | string[] | undefined>
    body: Buffer
  }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      )
    })
    req.on('error', reject)
    req.end()
  })
}

async function promtool(text: string): Promise<number> {
  const p = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'ignore', 'ignore'] })
  p.stdin.end(text)
  const [code] = await once(p, 'exit')
  return code as number
}

describe('hotpath/http: the umbrella Fastify plugin and the Express set, with real services', {
  skip,
}, () => {
  const schema = `hp_http_${randomUUID().slice(0, 8)}`
  let cache: TieredCache
  let db: Db
  let app: FastifyInstance
  let port: number
  let handlerRuns = 0
  let scoped = 0

  before(async () => {
    cache = createCache({ namespace: `h${randomUUID().slice(0, 6)}`, l2: { redis: REDIS_URL } })
    await cache.ready()
    db = createDb({ primary: DATABASE_URL, pool: { min: 0 }, cache })
    await db.query(`CREATE SCHEMA ${schema}`)
    await db.query(`CREATE TABLE ${schema}.items (id int PRIMARY KEY, name text)`)
    await db.batchInsert(
      `${schema}.items`,
      ['id', 'name'],
      Array.from({ length: 50 }, (_, i) => [i + 1, `item ${i + 1} `.repeat(300)]),
    )
    app = Fastify()
    await app.register(hotpath, { cache, db, shedding: { maxEventLoopUtilization: false } })
    app.get<{ Params: { id: string } }>(
      '/items/:id',
      {
        config: {
          cache: { ttl: '1m', tags: (req) => [`item:${(req.params as { id: string }).id}`] },
        },
      },
      async (req) => {
        handlerRuns++
        if (db.inScope) scoped++
        const r = await db.query(`SELECT id, name FROM ${schema}.items WHERE id = $1`, [
          Number(req.params.id),
        ])
        return r.rows[0] ?? { missing: true }
      },
    )
    app.put<{ Params: { id: string } }>('/items/:id', async (req) => {
      await db.query(
        `UPDATE ${schema}.items SET name = 'renamed' WHERE id = $1`,
        [Number(req.params.id)],
        {
          invalidates: [`item:${req.params.id}`],
        },
      )
      return { ok: true }
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    port = (app.server.address() as AddressInfo).port
  })
  after(async () => {
    await app?.close()
    await db?.query(`DROP SCHEMA ${schema} CASCADE`)
    await db?.close()
    await cache?.close()
  })

  it('serves a compressed MISS, then a stored brotli HIT, and a write drops it by tag', async () => {
    const first = await raw(port, '/items/3', { 'accept-encoding': 'br' })
    assert.equal(first.status, 200)
    assert.equal(first.headers['content-encoding'], 'br')
    assert.equal(first.headers['x-cache'], 'MISS')
    const hit = await raw(port, '/items/3', { 'accept-encoding': 'br' })
    assert.equal(hit.headers['x-cache'], 'HIT')
    assert.deepEqual(JSON.parse(brotliDecompressSync(hit.body).toString()).id, 3)
    assert.equal(handlerRuns, 1)
    assert.equal(scoped, 1, 'the handler ran inside a db scope')
    await fetch(`http://127.0.0.1:${port}/items/3`, { method: 'PUT' })
    const after = await raw(port, '/items/3', { 'accept-encoding': 'br' })
    assert.equal(after.headers['x-cache'], 'MISS')
    assert.equal(decode(after).name, 'renamed')
  })

  it('exposes request, cache and db metrics that promtool accepts, and the guides’ JSON', async () => {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    assert.match(text, /http_request_duration_seconds_count\{[^}]*route="\/items\/:id"/)
    assert.match(text, /hotpath_cache_hits_total/)
    assert.match(text, /hotpath_db_query_duration_seconds/)
    assert.equal(await promtool(text), 0)
    const json = (await (await fetch(`http://127.0.0.1:${port}/metrics.json`)).json()) as Record<
      string,
      unknown
    >
    for (const k of ['cache', 'database', 'pool', 'compression', 'timestamp'])
      assert.ok(k in json, `metrics.json has ${k}`)
  })

  it('answers /health and /ready with the database and Redis checked', async () => {
    assert.equal((await fetch(`http://127.0.0.1:${port}/health`)).status, 200)
    const ready = await fetch(`http://127.0.0.1:${port}/ready`)
    assert.equal(ready.status, 200)
    const body = JSON.stringify(await ready.json())
    assert.match(body, /database/)
    assert.match(body, /redis/)
  })

  it('unknown routes and bad JSON are problem+json 404 and 400', async () => {
    const nf = await fetch(`http://127.0.0.1:${port}/nope`)
    assert.equal(nf.status, 404)
    assert.match(nf.headers.get('content-type') ?? '', /application\/problem\+json/)
    const bad = await fetch(`http://127.0.0.1:${port}/items/1`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: '{"broken',
    })
    assert.equal(bad.status, 400)
  })

  it('the Express set works the same way from hotpath/http', async () => {
    const metrics = createMetrics()
    hx.wire({ metrics, cache, db })
    const cached = hx.responseCache({ cache })
    const e = express()
    e.use(hx.metrics({ metrics }))
    e.use(hx.health({}))
    e.use(hx.compression())
    e.use(express.json())
    e.use(hx.dbScope(db))
    let runs = 0
    e.get(
      '/items/:id',
      cached({ ttl: '1m', tags: (req) => [`item:${req.params.id}`] }),
      async (req, res) => {
        runs++
        const r = await db.query(`SELECT id, name FROM ${schema}.items WHERE id = $1`, [
          Number(req.params.id),
        ])
        res.json({ ...r.rows[0], scoped: db.inScope })
      },
    )
    e.use(hx.notFound())
    e.use(hx.errorHandler())
    const server = e.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const p = (server.address() as AddressInfo).port
    try {
      const a = await raw(p, '/items/5', { 'accept-encoding': 'gzip' })
      const b = await raw(p, '/items/5', { 'accept-encoding': 'br' })
      assert.equal(a.headers['x-cache'], 'MISS')
      assert.equal(b.headers['x-cache'], 'HIT')
      assert.equal(b.headers['content-encoding'], 'br')
      assert.equal(JSON.parse(brotliDecompressSync(b.body).toString()).scoped, true)
      assert.equal(runs, 1)
      assert.equal((await raw(p, '/nowhere')).status, 404)
      const text = await (await fetch(`http://127.0.0.1:${p}/metrics`)).text()
      assert.equal(await promtool(text), 0)
    } finally {
      server.close()
    }
  })
})
