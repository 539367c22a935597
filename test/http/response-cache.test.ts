import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import type { IncomingHttpHeaders, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import express, { type Request } from 'express'
import Fastify, { type FastifyRequest } from 'fastify'
import { createCache, type TieredCache } from 'hotpath/cache'
import { isHotpathError } from 'hotpath/errors'
import { Redis } from 'ioredis'
import { createCompressor, decompressSync } from '../../src/http/compression.ts'
import { expressCompression } from '../../src/http/express/compression.ts'
import { expressResponseCache } from '../../src/http/express/response-cache.ts'
import { fastifyCompression } from '../../src/http/fastify/compression.ts'
import { fastifyResponseCache } from '../../src/http/fastify/response-cache.ts'
import {
  createResponseCache,
  type RouteCacheOptions,
  responseCacheDefaults,
} from '../../src/http/response-cache.ts'
import { eventually, REDIS_URL, unless } from '../helpers/services.ts'

const skip = await unless('redis')

import { type Raw, raw } from '../helpers/http.ts'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

function text(r: Raw): string {
  const e = r.headers['content-encoding']
  return (e === undefined ? r.body : decompressSync(r.body, e as 'br')).toString()
}

/** A product body of ~6 KB: compressible and over the threshold. */
function product(id: string, n: number) {
  return {
    id,
    n,
    items: Array.from({ length: 60 }, (_, i) => ({ i, label: `item ${i} of product ${id}` })),
  }
}

type Calls = Map<string, number>
function bump(calls: Calls, name: string): number {
  const n = (calls.get(name) ?? 0) + 1
  calls.set(name, n)
  return n
}

function bearer(req: { headers: IncomingHttpHeaders }): string | undefined {
  const a = req.headers.authorization
  return a?.startsWith('Bearer ') ? a.slice(7) : undefined
}

/** The routes, shared by both apps: each records its handler calls in `calls`. */
function routes<R extends { headers: IncomingHttpHeaders; params: unknown }>() {
  const id = (r: R) => (r.params as { id: string }).id
  const defs: Record<string, RouteCacheOptions<R>> = {
    '/products/:id': { ttl: '1m', tags: (r) => [`product:${id(r)}`] },
    '/list': { ttl: '1m' },
    '/small': {},
    '/cookie': {},
    '/status/:id': {},
    '/me': { private: true, keyBy: (r) => bearer(r) },
    '/slow': { ttl: '1m' },
    '/cc': { cacheControl: { maxAge: '1m', sMaxAge: '5m', staleWhileRevalidate: '30s' } },
    '/lang': { vary: ['Accept-Language'] },
    '/stream': {},
    '/handler-private': {},
  }
  return defs
}

type Reply = { status: number; type: string; body: unknown; headers?: Record<string, string> }

/** What each route answers (the same for Fastify and Express). */
async function handle(
  path: string,
  req: { headers: IncomingHttpHeaders; params: unknown; query: unknown },
  calls: Calls,
): Promise<Reply> {
  const params = req.params as { id?: string }
  const n = bump(calls, path === '/products/:id' ? `product:${params.id}` : path)
  const json = 'application/json; charset=utf-8'
  switch (path) {
    case '/products/:id':
      return { status: 200, type: json, body: product(params.id!, n) }
    case '/list':
      return { status: 200, type: json, body: { query: req.query, n, pad: 'x'.repeat(2000) } }
    case '/small':
      return { status: 200, type: json, body: { n } }
    case '/cookie':
      return { status: 200, type: json, body: product('c', n), headers: { 'set-cookie': 'sid=1' } }
    case '/status/:id':
      return { status: Number(params.id), type: json, body: { n } }
    case '/me':
      return {
        status: 200,
        type: json,
        body: { user: bearer(req) ?? null, n, pad: 'y'.repeat(2000) },
      }
    case '/slow':
      await sleep(100)
      return { status: 200, type: json, body: product('slow', n) }
    case '/cc':
      return { status: 200, type: json, body: product('cc', n) }
    case '/lang':
      return { status: 200, type: json, body: { lang: req.headers['accept-language'] ?? null, n } }
    case '/handler-private':
      return {
        status: 200,
        type: json,
        body: { n },
        headers: { 'cache-control': 'private, max-age=5' },
      }
    default:
      return { status: 200, type: 'text/plain', body: 'stream '.repeat(1000) }
  }
}

interface App {
  port: number
  calls: Calls
  close(): Promise<void>
}

async function fastifyApp(cache: TieredCache, compression: boolean): Promise<App> {
  const calls: Calls = new Map()
  const app = Fastify()
  const compressor = createCompressor()
  if (compression) await app.register(fastifyCompression, { compressor })
  await app.register(fastifyResponseCache, { cache, compressor })
  for (const [path, config] of Object.entries(routes<FastifyRequest>())) {
    app.get(path, { config: { cache: config } }, async (req, reply) => {
      const r = await handle(path, req, calls)
      if (path === '/stream')
        return reply.type('text/plain').send(Readable.from([r.body as string]))
      reply.code(r.status).type(r.type)
      if (r.headers) reply.headers(r.headers)
      return reply.send(r.body)
    })
  }
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { port: (app.server.address() as AddressInfo).port, calls, close: () => app.close() }
}

async function expressApp(cache: TieredCache, compression: boolean): Promise<App> {
  const calls: Calls = new Map()
  const app = express()
  const compressor = createCompressor()
  if (compression) app.use(expressCompression({ compressor }))
  const cached = expressResponseCache({ cache, compressor })
  for (const [path, config] of Object.entries(routes<Request>())) {
    app.get(path, cached(config), async (req, res) => {
      const r = await handle(path, req, calls)
      if (path === '/stream') {
        res.type('text/plain')
        Readable.from([r.body as string]).pipe(res)
        return
      }
      res.status(r.status).type(r.type)
      if (r.headers) res.set(r.headers)
      res.send(JSON.stringify(r.body))
    })
  }
  const server: Server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    calls,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

const makers = { fastify: fastifyApp, express: expressApp }

/** The first column after the option name in the README table under `heading`. */
function readmeDefaults(heading: string): Map<string, string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const start = readme.indexOf(heading)
  assert.ok(start >= 0, `README has ${heading}`)
  const out = new Map<string, string>()
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#')) break
    const m = /^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|/.exec(line)
    if (m) out.set(m[1]!, m[2]!)
  }
  return out
}

describe('response cache options', () => {
  it('the README gives every option its default', () => {
    const rows = readmeDefaults('### Response cache')
    const d = responseCacheDefaults
    assert.equal(rows.get('variants'), `\`[${d.variants.map((x) => `'${x}'`).join(', ')}]\``)
    assert.equal(rows.get('statuses'), `\`[${d.statuses.join(', ')}]\``)
    assert.equal(rows.get('maxBytes'), `\`${d.maxBytes / 1024 / 1024} MiB\``)
    assert.equal(rows.get('header'), `\`'${d.header}'\``)
    assert.equal(rows.get('keyPrefix'), `\`'${d.keyPrefix}'\``)
    assert.equal(rows.get('wait'), `\`${d.wait / 1000}s\``)
    assert.equal(rows.get('cache'), 'required')
  })

  it('validates at creation with typed errors', () => {
    const cache = createCache()
    assert.throws(() => createResponseCache({} as never), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createResponseCache({ cache, maxBytes: 0 }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(
      () => createResponseCache({ cache, header: 'x y' }),
      code('HP_ERR_INVALID_OPTION'),
    )
    const rc = createResponseCache({ cache })
    assert.throws(() => rc.policy({ private: true }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => rc.policy({ ttl: '1m', tier: 'hot' }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(
      () => rc.policy({ cacheControl: { maxAge: 'soon' as '1m' } }),
      code('HP_ERR_INVALID_OPTION'),
    )
  })

  it('keys: sorted query, HEAD = GET, credentials bypass public routes', () => {
    const rc = createResponseCache({ cache: createCache() })
    const p = rc.policy({})
    assert.equal(rc.key(p, '/a?b=2&a=1', {}, null), rc.key(p, '/a?a=1&b=2', {}, null))
    assert.notEqual(rc.key(p, '/a?a=1', {}, null), rc.key(p, '/a?a=2', {}, null))
    assert.equal(rc.key(p, '/a', { authorization: 'Bearer x' }, null), null)
    assert.equal(rc.key(p, '/a', { cookie: 'sid=1' }, null), null)
    const v = rc.policy({ vary: ['Accept-Language'] })
    assert.notEqual(
      rc.key(v, '/a', { 'accept-language': 'en' }, null),
      rc.key(v, '/a', { 'accept-language': 'fr' }, null),
    )
  })
})

for (const kind of ['fastify', 'express'] as const) {
  for (const compression of [false, true]) {
    describe(`response cache over HTTP (${kind}${compression ? ' + compression' : ''})`, {
      skip,
    }, () => {
      const ns = `rc${randomUUID().slice(0, 8)}`
      let cache: TieredCache
      let app: App
      before(async () => {
        cache = createCache({ namespace: ns, l2: { redis: REDIS_URL } })
        assert.equal(await cache.ready(), true)
        app = await makers[kind](cache, compression)
      })
      after(async () => {
        await app.close()
        await cache.clear()
        await cache.close()
      })
      const get = (path: string, headers: Record<string, string> = {}, method = 'GET') =>
        raw(app.port, path, headers, method)

      it('MISS then HIT with identical bytes; every coding served without running the handler again', async () => {
        const first = await get('/products/1', { 'accept-encoding': 'br' })
        assert.equal(first.status, 200)
        assert.equal(first.headers['x-cache'], 'MISS')
        assert.equal(first.headers['content-encoding'], 'br')
        const second = await get('/products/1', { 'accept-encoding': 'br' })
        assert.equal(second.headers['x-cache'], 'HIT')
        assert.deepEqual(second.body, first.body)
        assert.equal(Number(second.headers['content-length']), second.body.length)
        assert.equal(second.headers['content-type'], 'application/json; charset=utf-8')
        const expected = JSON.stringify(product('1', 1))
        assert.equal(text(second), expected)
        for (const ae of ['gzip', 'deflate', 'identity', 'gzip;q=0.5, br;q=0.9']) {
          const r = await get('/products/1', { 'accept-encoding': ae })
          assert.equal(r.headers['x-cache'], 'HIT', ae)
          assert.equal(text(r), expected, ae)
          assert.equal(Number(r.headers['content-length']), r.body.length, ae)
        }
        assert.equal((await get('/products/1')).headers['content-encoding'], undefined)
        assert.equal(app.calls.get('product:1'), 1)
      })

      it('a strong ETag per variant; If-None-Match → 304 with ETag, Vary, Cache-Control', async () => {
        const tags = new Map<string, string>()
        for (const ae of ['br', 'gzip', 'identity']) {
          const r = await get('/products/2', { 'accept-encoding': ae })
          const etag = String(r.headers.etag)
          assert.match(etag, /^"[\w-]+"$/, 'strong')
          tags.set(ae, etag)
        }
        assert.equal(new Set(tags.values()).size, 3, 'each coding has its own ETag')
        const nm = await get('/products/2', {
          'accept-encoding': 'br',
          'if-none-match': tags.get('br')!,
        })
        assert.equal(nm.status, 304)
        assert.equal(nm.body.length, 0)
        assert.equal(nm.headers.etag, tags.get('br'))
        assert.match(String(nm.headers.vary), /accept-encoding/i)
        assert.equal(nm.headers['cache-control'], 'no-cache')
        const weak = await get('/products/2', {
          'accept-encoding': 'gzip',
          'if-none-match': `"other", W/${tags.get('gzip')}`,
        })
        assert.equal(weak.status, 304, 'weak comparison, list of tags')
        const other = await get('/products/2', {
          'accept-encoding': 'gzip',
          'if-none-match': tags.get('br')!,
        })
        assert.equal(other.status, 200, 'the br ETag does not match the gzip variant')
        const miss = await get('/products/22', { 'accept-encoding': 'br' })
        const leader = await get('/products/22', {
          'accept-encoding': 'br',
          'if-none-match': String(miss.headers.etag),
        })
        assert.equal(leader.status, 304)
        assert.equal(app.calls.get('product:2'), 1)
      })

      it('HEAD is served from the GET entry, and never fills it', async () => {
        const h0 = await get('/products/3', { 'accept-encoding': 'br' }, 'HEAD')
        assert.equal(h0.status, 200)
        assert.equal(h0.headers['x-cache'], undefined)
        const g = await get('/products/3', { 'accept-encoding': 'br' })
        assert.equal(g.headers['x-cache'], 'MISS', 'the HEAD did not store anything')
        // The response goes out before the entry is written; HEAD does not join a fill under way.
        await eventually('stored', () => cache.has('res:api:/products/3'))
        const h = await get('/products/3', { 'accept-encoding': 'br' }, 'HEAD')
        assert.equal(h.status, 200)
        assert.equal(h.headers['x-cache'], 'HIT')
        assert.equal(h.body.length, 0)
        assert.equal(h.headers['content-length'], g.headers['content-length'])
        assert.equal(h.headers.etag, g.headers.etag)
      })

      it('Cache-Control from the route options; the default is no-cache', async () => {
        const cc = await get('/cc')
        assert.equal(
          cc.headers['cache-control'],
          'public, max-age=60, s-maxage=300, stale-while-revalidate=30',
        )
        assert.equal((await get('/cc')).headers['cache-control'], cc.headers['cache-control'])
        assert.equal((await get('/small')).headers['cache-control'], 'no-cache')
      })

      it('a small body is stored once, identity only, with Vary', async () => {
        await get('/small', { 'accept-encoding': 'br' })
        const r = await get('/small', { 'accept-encoding': 'br' })
        assert.equal(r.headers['x-cache'], 'HIT')
        assert.equal(r.headers['content-encoding'], undefined)
        assert.match(String(r.headers.vary), /accept-encoding/i)
      })

      it('the query is normalized: the same parameters in another order are a hit', async () => {
        assert.equal((await get('/list?b=2&a=1')).headers['x-cache'], 'MISS')
        assert.equal((await get('/list?a=1&b=2')).headers['x-cache'], 'HIT')
        assert.equal((await get('/list?a=1&b=3')).headers['x-cache'], 'MISS')
      })

      it('declared Vary headers select separate entries', async () => {
        const en = await get('/lang', { 'accept-language': 'en' })
        const fr = await get('/lang', { 'accept-language': 'fr' })
        assert.equal(en.headers['x-cache'], 'MISS')
        assert.equal(fr.headers['x-cache'], 'MISS')
        const en2 = await get('/lang', { 'accept-language': 'en' })
        assert.equal(en2.headers['x-cache'], 'HIT')
        assert.equal(JSON.parse(text(en2)).lang, 'en')
        assert.equal(en2.headers.vary, 'accept-language, accept-encoding')
      })

      it('invalidateTags on the data cache drops the response', async () => {
        await get('/products/4')
        assert.equal((await get('/products/4')).headers['x-cache'], 'HIT')
        await cache.invalidateTags(['product:4'])
        const r = await get('/products/4')
        assert.equal(r.headers['x-cache'], 'MISS')
        assert.equal(JSON.parse(text(r)).n, 2)
        assert.equal((await get('/products/5')).headers['x-cache'], 'MISS')
        await cache.invalidateTags(['product:4'])
        assert.equal((await get('/products/5')).headers['x-cache'], 'HIT', 'other tags stay')
      })

      it('single-flight: 100 concurrent misses run the handler once', async () => {
        const all = await Promise.all(
          Array.from({ length: 100 }, () => get('/slow', { 'accept-encoding': 'gzip' })),
        )
        assert.equal(app.calls.get('/slow'), 1)
        const bodies = new Set(all.map((r) => r.body.toString('base64')))
        assert.equal(bodies.size, 1, 'everyone got the same bytes')
        assert.equal(all.filter((r) => r.headers['x-cache'] === 'MISS').length, 1)
        assert.equal(all.filter((r) => r.headers['x-cache'] === 'HIT').length, 99)
      })

      it('never stores a response that sets a cookie', async () => {
        const a = await get('/cookie')
        const b = await get('/cookie')
        assert.equal(a.headers['set-cookie']?.[0], 'sid=1')
        assert.equal(b.headers['set-cookie']?.[0], 'sid=1')
        assert.equal(b.headers['x-cache'], undefined)
        assert.equal(app.calls.get('/cookie'), 2)
      })

      it('never stores a response marked private by its handler on a public route', async () => {
        await get('/handler-private')
        await get('/handler-private')
        assert.equal(app.calls.get('/handler-private'), 2)
      })

      it('requests with Authorization or Cookie bypass a public route', async () => {
        await get('/products/6', { authorization: 'Bearer alice' })
        await get('/products/6', { cookie: 'sid=2' })
        assert.equal(app.calls.get('product:6'), 2)
        const anon = await get('/products/6')
        assert.equal(anon.headers['x-cache'], 'MISS', 'nothing was stored for them')
      })

      it('private routes: keyed by user, Cache-Control private, never shared', async () => {
        const alice = { authorization: 'Bearer alice', 'accept-encoding': 'br' }
        const bob = { authorization: 'Bearer bob', 'accept-encoding': 'br' }
        const a1 = await get('/me', alice)
        const b1 = await get('/me', bob)
        assert.equal(a1.headers['x-cache'], 'MISS')
        assert.equal(b1.headers['x-cache'], 'MISS')
        const a2 = await get('/me', alice)
        const b2 = await get('/me', bob)
        assert.equal(a2.headers['x-cache'], 'HIT')
        assert.equal(b2.headers['x-cache'], 'HIT')
        assert.equal(JSON.parse(text(a2)).user, 'alice')
        assert.equal(JSON.parse(text(b2)).user, 'bob')
        assert.equal(a2.headers['cache-control'], 'private, no-cache')
        // Concurrent requests of two users never cross either.
        const mixed = await Promise.all(
          Array.from({ length: 40 }, (_, i) =>
            get('/me', { authorization: `Bearer u${i % 4}` }).then((r) => [i % 4, r] as const),
          ),
        )
        for (const [u, r] of mixed) assert.equal(JSON.parse(text(r)).user, `u${u}`)
        const anon = await get('/me')
        assert.equal(JSON.parse(text(anon)).user, null)
        assert.equal(anon.headers['x-cache'], undefined, 'no user key: not cached')
      })

      it('only 200s are stored', async () => {
        assert.equal((await get('/status/404')).status, 404)
        assert.equal((await get('/status/404')).status, 404)
        assert.equal(app.calls.get('/status/:id'), 2)
      })

      it('a stream: Fastify passes it through compressed, Express records what is piped', async () => {
        const r = await get('/stream', { 'accept-encoding': 'gzip' })
        const r2 = await get('/stream', { 'accept-encoding': 'gzip' })
        assert.equal(text(r), 'stream '.repeat(1000))
        assert.equal(text(r2), 'stream '.repeat(1000))
        assert.equal(r.headers['content-encoding'], 'gzip')
        // Fastify hands onSend the stream itself; Express's writes are buffered up to maxBytes.
        assert.equal(app.calls.get('/stream'), kind === 'fastify' ? 2 : 1)
      })
    })
  }
}

describe('response cache across instances (Redis L2 + bus)', { skip }, () => {
  const redis = skip ? null : new Redis(REDIS_URL)
  after(() => redis?.quit())
  for (const kind of ['fastify', 'express'] as const) {
    it(`${kind}: a second instance hits the first one's entry; invalidation reaches both`, async () => {
      const ns = `rc${randomUUID().slice(0, 8)}`
      const ca = createCache({ namespace: ns, l2: { redis: REDIS_URL } })
      const cb = createCache({ namespace: ns, l2: { redis: REDIS_URL } })
      assert.equal(await ca.ready(), true)
      assert.equal(await cb.ready(), true)
      const a = await makers[kind](ca, true)
      const b = await makers[kind](cb, true)
      try {
        const ae = { 'accept-encoding': 'br' }
        const first = await raw(a.port, '/products/9', ae)
        assert.equal(first.headers['x-cache'], 'MISS')
        await eventually(
          'written to L2',
          async () => (await redis!.exists(`${ns}:res:api:/products/9`)) === 1,
        )
        const fromB = await raw(b.port, '/products/9', ae)
        assert.equal(fromB.headers['x-cache'], 'HIT', 'served from L2 on instance B')
        assert.deepEqual(fromB.body, first.body)
        assert.equal(fromB.headers.etag, first.headers.etag)
        assert.equal(b.calls.get('product:9'), undefined)
        // B now holds it in L1 too; a write on A invalidates the tag for everyone.
        const busDone = once(cb, 'invalidate')
        await ca.invalidateTags(['product:9'])
        await busDone
        const after = await raw(b.port, '/products/9', ae)
        assert.equal(after.headers['x-cache'], 'MISS')
        assert.equal(b.calls.get('product:9'), 1)
      } finally {
        await a.close()
        await b.close()
        await ca.clear()
        await ca.close()
        await cb.close()
      }
    })
  }
})

describe('response cache on an L1-only cache', () => {
  it('express: app-level match() picks options per request', async () => {
    const cache = createCache({ namespace: 'm' })
    const cached = expressResponseCache({ cache })
    const options = { ttl: '1m' } as const
    const app = express()
    app.use(cached.match((req) => (req.path.startsWith('/m/') ? options : undefined)))
    let calls = 0
    app.get('/m/:id', (req, res) => {
      calls++
      res.json({ id: req.params.id, pad: 'z'.repeat(3000) })
    })
    app.get('/other', (_req, res) => {
      res.json({ ok: true })
    })
    const server = app.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const port = (server.address() as AddressInfo).port
    try {
      assert.equal(
        (await raw(port, '/m/1', { 'accept-encoding': 'br' })).headers['x-cache'],
        'MISS',
      )
      const hit = await raw(port, '/m/1', { 'accept-encoding': 'br' })
      assert.equal(hit.headers['x-cache'], 'HIT')
      assert.equal(JSON.parse(text(hit)).id, '1')
      assert.equal((await raw(port, '/other')).headers['x-cache'], undefined)
      assert.equal(calls, 1)
      assert.equal(cached.core.stats().hits, 1)
      assert.equal(cached.core.stats().stored, 1)
    } finally {
      server.closeAllConnections()
      server.close()
      await cache.close()
    }
  })

  it('fastify: waiters give up after `wait` and run their own handler; the first still stores', async () => {
    const cache = createCache({ namespace: 'w' })
    const app = Fastify()
    await app.register(fastifyResponseCache, { cache, wait: '50ms' })
    let calls = 0
    app.get('/slow', { config: { cache: { ttl: '1m' } } }, async () => {
      const n = ++calls
      await sleep(250)
      return { calls: n, pad: 'w'.repeat(2000) }
    })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port
    try {
      const all = await Promise.all(Array.from({ length: 5 }, () => raw(port, '/slow')))
      assert.equal(calls, 5, 'the four waiters ran their own handler')
      assert.equal(all.filter((r) => r.headers['x-cache'] === 'MISS').length, 1)
      const later = await raw(port, '/slow')
      assert.equal(later.headers['x-cache'], 'HIT')
      assert.equal(JSON.parse(text(later)).calls, 1, "the first request's response was stored")
    } finally {
      await app.close()
      await cache.close()
    }
  })
})
