import assert from 'node:assert/strict'
import type { IncomingMessage, Server } from 'node:http'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import express, { type Request } from 'express'
import Fastify, { type FastifyRequest } from 'fastify'
import { Redis } from 'ioredis'
import {
  type ExpressRateLimitOptions,
  expressRateLimit,
} from '../../src/http/express/rate-limit.ts'
import {
  type FastifyRateLimitOptions,
  fastifyRateLimit,
} from '../../src/http/fastify/rate-limit.ts'
import {
  createRateLimiter,
  type FallbackEvent,
  type RateLimitPolicyOptions,
  type RateLimitStats,
  rateLimitDefaults,
} from '../../src/http/rate-limit.ts'
import { clientAddress, ipv6Prefix } from '../../src/http/rate-limit-key.ts'
import {
  eventually,
  freePort,
  REDIS_URL,
  ThrowawayCluster,
  ThrowawayRedis,
  unless,
} from '../helpers/services.ts'

const skip = await unless('redis')
const RUN = `hp:rl:test:${process.pid}:${Date.now()}`
let seq = 0
/** A fresh key prefix per app, so tests never share buckets (and are cleaned up at the end). */
const prefix = () => `${RUN}:${++seq}`

/** Options every adapter understands: the same for both, typed per adapter below. */
type Common = Omit<RateLimitPolicyOptions, 'keyBy'> & {
  redis?: string | Redis
  prefix?: string
  onRedisError?: 'local' | 'allow' | 'deny'
  trustProxy?: boolean | number
  legacyHeaders?: boolean
  commandTimeout?: number
  breakerThreshold?: number
  breakerDuration?: number
  /** keyBy on the `x-user` request header. */
  byUser?: boolean
  /** Wait for Redis before answering (not for a Redis that is never there). Default: true. */
  wait?: boolean
}

interface RouteSpec {
  method: 'GET' | 'POST'
  path: string
  /** A route-level policy; `false` exempts the route. */
  rateLimit?: Omit<RateLimitPolicyOptions, 'keyBy'> | false
}

interface App {
  url: string
  limiter: {
    stats(): RateLimitStats
    ready(ms?: number): Promise<boolean>
    on(event: 'fallback', fn: (e: FallbackEvent) => void): unknown
  }
  close(): Promise<void>
}

const ROUTES: RouteSpec[] = [
  { method: 'GET', path: '/a' },
  { method: 'GET', path: '/b' },
  { method: 'GET', path: '/items/:id' },
  { method: 'GET', path: '/free', rateLimit: false },
  { method: 'POST', path: '/login', rateLimit: { name: 'login', limit: 3, window: '1m' } },
  { method: 'POST', path: '/signup', rateLimit: { name: 'login', limit: 3, window: '1m' } },
]

const userHeader = (raw: IncomingMessage) => {
  const u = raw.headers['x-user']
  return typeof u === 'string' ? u : undefined
}

async function fastifyApp(o: Common, routes = ROUTES): Promise<App> {
  const app = Fastify()
  const { byUser, wait = true, ...rest } = o
  const options: FastifyRateLimitOptions = {
    redis: REDIS_URL,
    prefix: prefix(),
    ...rest,
    ...(byUser ? { keyBy: (req: FastifyRequest) => userHeader(req.raw) } : {}),
  }
  await app.register(fastifyRateLimit, options)
  for (const r of routes)
    app.route({
      method: r.method,
      url: r.path,
      config: r.rateLimit === undefined ? {} : { rateLimit: r.rateLimit },
      handler: async () => ({ ok: true }),
    })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  if (wait) assert.ok(await app.rateLimiter.ready())
  return { url: `http://127.0.0.1:${port}`, limiter: app.rateLimiter, close: () => app.close() }
}

async function expressApp(o: Common, routes = ROUTES): Promise<App> {
  const app = express()
  const { byUser, wait = true, ...rest } = o
  const options: ExpressRateLimitOptions = {
    redis: REDIS_URL,
    prefix: prefix(),
    ...rest,
    ...(byUser ? { keyBy: (req: Request) => userHeader(req) } : {}),
  }
  const rl = expressRateLimit(options)
  const handler = (_req: Request, res: express.Response) => {
    res.json({ ok: true })
  }
  const add = (r: RouteSpec, ...mw: express.RequestHandler[]) =>
    r.method === 'GET' ? app.get(r.path, ...mw, handler) : app.post(r.path, ...mw, handler)
  // Exempt routes are mounted before the limiter; route limits on their route.
  for (const r of routes) if (r.rateLimit === false) add(r)
  app.use(rl)
  for (const r of routes)
    if (r.rateLimit !== false) add(r, ...(r.rateLimit ? [rl.route(r.rateLimit)] : []))
  const server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as { port: number }
  if (wait) assert.ok(await rl.limiter.ready())
  return {
    url: `http://127.0.0.1:${port}`,
    limiter: rl.limiter,
    close: async () => {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await rl.close()
    },
  }
}

interface Reply {
  status: number
  headers: Headers
  body: string
}

async function call(
  app: App,
  path = '/a',
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Reply> {
  const res = await fetch(app.url + path, { method, headers })
  return { status: res.status, headers: res.headers, body: await res.text() }
}

/** `n` requests one after the other; the statuses in order. */
async function burst(app: App, n: number, path = '/a', headers = {}, method = 'GET') {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push((await call(app, path, headers, method)).status)
  return out
}

const ip = (n: number) => ({ 'x-forwarded-for': `203.0.113.${n}` })
const times = (n: number, status: number) => Array.from({ length: n }, () => status)

/** A structured-field List of Items with parameters, parsed just enough to check the syntax. */
function sfList(value: string | null): Map<string, Record<string, number | string>> {
  assert.ok(value !== null, 'header present')
  const out = new Map<string, Record<string, number | string>>()
  for (const member of value.split(/\s*,\s*/)) {
    const m =
      /^"([\x20-\x21\x23-\x5b\x5d-\x7e]*)"((?:;[a-z*][a-z0-9_.*-]*=(?:\d+|"[^"]*"))*)$/.exec(member)
    assert.ok(m, `a valid sf-item with a string value: ${member}`)
    const params: Record<string, number | string> = {}
    for (const p of m[2]!.split(';').slice(1)) {
      const [k, v] = p.split('=') as [string, string]
      params[k] = v.startsWith('"') ? v.slice(1, -1) : Number(v)
    }
    out.set(m[1]!, params)
  }
  return out
}

const adapters = { fastify: fastifyApp, express: expressApp } as const

for (const [kind, make] of Object.entries(adapters)) {
  describe(`rate limiting with ${kind} over real HTTP and Redis`, { skip }, () => {
    const apps: App[] = []
    const open = async (o: Common, routes?: RouteSpec[]) => {
      // A generous timeout: these tests are about Redis' answers, and a loaded machine
      // must not turn a slow answer into a (correct, but different) local decision.
      const app = await make({ trustProxy: true, commandTimeout: 1000, ...o }, routes)
      apps.push(app)
      return app
    }
    after(async () => {
      for (const a of apps) await a.close()
    })

    it('lets exactly `limit` requests through in a burst, then 429 with Retry-After', async () => {
      const app = await open({ limit: 5, window: '1m' })
      assert.deepEqual(await burst(app, 7, '/a', ip(1)), [...times(5, 200), 429, 429])
      const r = await call(app, '/a', ip(1))
      assert.equal(r.status, 429)
      // T = 60 s / 5 = 12 s: the next request passes in at most 12 s.
      const retry = Number(r.headers.get('retry-after'))
      assert.ok(Number.isInteger(retry) && retry >= 11 && retry <= 12, `Retry-After ${retry}`)
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json(;|$)/)
      const body = JSON.parse(r.body)
      assert.equal(body.status, 429)
      assert.equal(body.title, 'Too Many Requests')
      assert.equal(body.code, 'HP_ERR_HTTP_RATE_LIMITED')
      assert.deepEqual(body['violated-policies'], ['default'])
      assert.match(body.detail, new RegExp(`retry after ${retry} s`))
      // A denied response carries the same headers: nothing left until Retry-After.
      assert.deepEqual(sfList(r.headers.get('ratelimit-policy')).get('default'), { q: 5, w: 60 })
      assert.deepEqual(sfList(r.headers.get('ratelimit')).get('default'), { r: 0, t: retry })
      // Another client is untouched.
      assert.equal((await call(app, '/a', ip(2))).status, 200)
      const s = app.limiter.stats()
      assert.ok(s.allowed >= 6 && s.limited === 3 && s.localDecisions === 0, JSON.stringify(s))
    })

    it('sends the draft RateLimit-Policy / RateLimit headers (and legacy ones only on request)', async () => {
      const app = await open({})
      const r = await call(app, '/a', ip(3))
      assert.equal(r.status, 200)
      assert.equal(r.headers.get('ratelimit-policy'), '"default";q=100;w=60')
      const item = sfList(r.headers.get('ratelimit')).get('default')
      // One request of 100 per minute used; the bucket is full again in T = 0.6 s → t = 1.
      assert.deepEqual(item, { r: 99, t: 1 })
      assert.equal(r.headers.get('retry-after'), null)
      assert.equal(r.headers.get('x-ratelimit-limit'), null)

      const legacy = await open({ legacyHeaders: true, limit: 10, window: '10s' })
      const l = await call(legacy, '/a', ip(3))
      assert.equal(l.headers.get('x-ratelimit-limit'), '10')
      assert.equal(l.headers.get('x-ratelimit-remaining'), '9')
      const reset = Number(l.headers.get('x-ratelimit-reset'))
      assert.ok(Math.abs(reset - Date.now() / 1000) <= 2, `reset is epoch seconds: ${reset}`)
      assert.equal(l.headers.get('ratelimit'), '"default";r=9;t=1')
    })

    it('replenishes at the rate (limit 5 per 1 s: one request every 200 ms)', async () => {
      const app = await open({ limit: 5, window: '1s' })
      // Concurrent batches: a slow machine cannot stretch a batch over a refill.
      const batch = async (n: number) =>
        (await Promise.all(Array.from({ length: n }, () => call(app, '/a', ip(4))))).filter(
          (r) => r.status === 200,
        ).length
      assert.equal(await batch(8), 5)
      const denied = await call(app, '/a', ip(4))
      assert.equal(denied.status, 429)
      assert.equal(denied.headers.get('retry-after'), '1')
      await sleep(450) // two intervals and a bit: two requests more, far from five
      const passed = await batch(5)
      assert.ok(passed >= 2 && passed <= 4, `after 450 ms: ${passed} passed`)
      await sleep(1100) // a whole window: the full burst is back
      assert.equal(await batch(8), 5)
    })

    it('gives routes their own limits and buckets; exempt routes are never limited', async () => {
      const app = await open({ limit: 100 })
      const login = await burst(app, 4, '/login', ip(5), 'POST')
      assert.deepEqual(login, [200, 200, 200, 429])
      const r = await call(app, '/login', ip(5), 'POST')
      assert.equal(r.status, 429)
      assert.deepEqual(JSON.parse(r.body)['violated-policies'], ['login'])
      assert.deepEqual(sfList(r.headers.get('ratelimit-policy')).get('login'), { q: 3, w: 60 })
      // The same policy on another route is another bucket (per route by default)…
      assert.deepEqual(await burst(app, 4, '/signup', ip(5), 'POST'), [200, 200, 200, 429])
      // …and the global limit of other routes is not used up.
      assert.equal((await call(app, '/a', ip(5))).status, 200)
      assert.equal(
        sfList((await call(app, '/a', ip(5))).headers.get('ratelimit')).get('default')?.r,
        kind === 'express' ? 100 - 11 : 100 - 2,
      )
      const free = await burst(app, 120, '/free', ip(5))
      assert.deepEqual(free, times(120, 200))
      assert.equal((await call(app, '/free', ip(5))).headers.get('ratelimit'), null)
    })

    it('keys by user with keyBy, falling back to the address for anonymous requests', async () => {
      const app = await open({ limit: 3, byUser: true })
      const alice = { ...ip(6), 'x-user': 'alice' }
      const bob = { ...ip(6), 'x-user': 'bob' }
      assert.deepEqual(await burst(app, 4, '/a', alice), [200, 200, 200, 429])
      assert.deepEqual(await burst(app, 3, '/a', bob), [200, 200, 200], 'same address, other user')
      assert.deepEqual(
        await burst(app, 4, '/a', ip(6)),
        [200, 200, 200, 429],
        'anonymous: by address',
      )
    })

    it('ignores X-Forwarded-For unless trustProxy is set', async () => {
      const app = await open({ limit: 2, trustProxy: false })
      assert.deepEqual(await burst(app, 2, '/a', ip(7)), [200, 200])
      assert.equal(
        (await call(app, '/a', ip(8))).status,
        429,
        'a forged header is not a new client',
      )
    })

    it('is atomic: 200 concurrent requests against limit 50 → exactly 50 pass', async () => {
      const app = await open({ limit: 50, window: '1h' })
      const statuses = await Promise.all(
        Array.from({ length: 200 }, () => call(app, '/items/1', ip(9)).then((r) => r.status)),
      )
      assert.equal(statuses.filter((s) => s === 200).length, 50)
      assert.equal(statuses.filter((s) => s === 429).length, 150)
      assert.equal(app.limiter.stats().localDecisions, 0)
    })

    it('shares the limit between two app instances on one Redis', async () => {
      const shared = prefix()
      const a = await open({ limit: 5, prefix: shared })
      const b = await open({ limit: 5, prefix: shared })
      assert.deepEqual(await burst(a, 3, '/a', ip(10)), [200, 200, 200])
      assert.deepEqual(await burst(b, 3, '/b', ip(10)), [200, 200, 429])
      assert.equal((await call(a, '/a', ip(10))).status, 429)
    })
  })
}

describe('rate limiting shared by a Fastify and an Express instance', { skip }, () => {
  it('counts both against one bucket (same Redis keys)', async () => {
    const shared = prefix()
    const f = await fastifyApp({ limit: 4, prefix: shared, trustProxy: true, commandTimeout: 1000 })
    const e = await expressApp({ limit: 4, prefix: shared, trustProxy: true, commandTimeout: 1000 })
    try {
      assert.deepEqual(await burst(f, 2, '/a', ip(11)), [200, 200])
      assert.deepEqual(await burst(e, 3, '/a', ip(11)), [200, 200, 429])
      assert.equal((await call(f, '/a', ip(11))).status, 429)
    } finally {
      await f.close()
      await e.close()
    }
  })

  it("Fastify: hook 'preHandler' counts after auth, so keyBy sees the user", async () => {
    const app = Fastify()
    app.decorateRequest('user', '')
    app.addHook('preValidation', async (req) => {
      ;(req as FastifyRequest & { user: string }).user = String(req.headers['x-user'] ?? '')
    })
    await app.register(fastifyRateLimit, {
      redis: REDIS_URL,
      prefix: prefix(),
      limit: 2,
      hook: 'preHandler',
      keyBy: (req) => (req as FastifyRequest & { user: string }).user || undefined,
    })
    app.post('/x', async () => ({ ok: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    await app.rateLimiter.ready()
    const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/x`
    const post = async (user: string) =>
      (await fetch(url, { method: 'POST', headers: { 'x-user': user } })).status
    try {
      assert.deepEqual([await post('u1'), await post('u1'), await post('u1')], [200, 200, 429])
      assert.equal(await post('u2'), 200)
    } finally {
      await app.close()
    }
  })

  it('Fastify: perRoute keys the global limit by route template', async () => {
    const f = await fastifyApp({ limit: 2, perRoute: true, trustProxy: true, commandTimeout: 1000 })
    try {
      assert.deepEqual(await burst(f, 3, '/items/1', ip(12)), [200, 200, 429])
      assert.equal((await call(f, '/items/2', ip(12))).status, 429, 'one template, one bucket')
      assert.deepEqual(await burst(f, 3, '/a', ip(12)), [200, 200, 429], 'another route')
      assert.deepEqual(
        await burst(f, 3, '/nope', ip(12)),
        [404, 404, 429],
        'unmatched requests count',
      )
    } finally {
      await f.close()
    }
  })
})

describe('rate limiting through a Redis outage', { skip }, () => {
  let redis: ThrowawayRedis
  before(async () => {
    redis = await ThrowawayRedis.start()
  })
  after(async () => {
    await redis.stop()
  })

  for (const [kind, make] of Object.entries(adapters)) {
    it(`${kind}: the local limiter takes over, counted, and Redis resumes when back`, async () => {
      const app = await make({
        redis: redis.url,
        limit: 5,
        window: '1m',
        trustProxy: true,
        commandTimeout: 500,
        breakerThreshold: 2,
        breakerDuration: 200,
      })
      const events: FallbackEvent[] = []
      app.limiter.on('fallback', (e) => events.push(e))
      try {
        assert.deepEqual(await burst(app, 2, '/a', ip(20)), [200, 200])
        assert.equal(app.limiter.stats().redisDecisions, 2)
        await redis.kill()
        // Redis forgot nothing yet, but this process never saw the client: a fresh local bucket.
        const down = await burst(app, 8, '/a', ip(21))
        assert.deepEqual(
          down,
          [...times(5, 200), 429, 429, 429],
          'limited, not all allowed or denied',
        )
        const s = app.limiter.stats()
        assert.equal(s.localDecisions, 8)
        assert.ok(s.redisErrors >= 1, 'errors counted')
        assert.equal(s.circuitOpen, true)
        assert.equal(events.length, 8)
        assert.ok(events.every((e) => e.source === 'local' && e.policy === 'default'))

        await redis.start()
        await eventually(
          'the limiter to reconnect',
          () => app.limiter.stats().connected && !app.limiter.stats().circuitOpen,
          10_000,
        )
        const before = app.limiter.stats()
        assert.deepEqual(await burst(app, 6, '/a', ip(22)), [...times(5, 200), 429])
        const back = app.limiter.stats()
        assert.equal(back.redisDecisions - before.redisDecisions, 6, 'Redis decides again')
        assert.equal(back.localDecisions, before.localDecisions)
      } finally {
        await app.close()
      }
    })
  }

  it('fails fast when Redis stalls (commandTimeout), then resumes', async () => {
    const app = await fastifyApp({
      redis: redis.url,
      limit: 3,
      trustProxy: true,
      commandTimeout: 50,
      breakerThreshold: 2,
      breakerDuration: 200,
    })
    const pid = redis.pid!
    try {
      assert.equal((await call(app, '/a', ip(30))).status, 200)
      process.kill(pid, 'SIGSTOP') // Redis is there but answers nothing
      const started = performance.now()
      assert.deepEqual(await burst(app, 5, '/a', ip(31)), [200, 200, 200, 429, 429])
      // Loose bound: the watchdog gives up after ~50 ms, then the open circuit skips Redis.
      assert.ok(performance.now() - started < 1000, 'no request waited on the stalled Redis')
      const s = app.limiter.stats()
      assert.ok(s.redisErrors >= 1 && s.localDecisions >= 5, JSON.stringify(s))
      process.kill(pid, 'SIGCONT')
      await eventually(
        'Redis decisions again',
        async () => {
          const before = app.limiter.stats().redisDecisions
          await call(app, '/a', ip(32))
          return app.limiter.stats().redisDecisions > before
        },
        10_000,
      )
    } finally {
      process.kill(pid, 'SIGCONT')
      await app.close()
    }
  })

  it("onRedisError 'allow' and 'deny' behave as named (Redis never reachable)", async () => {
    const dead = `redis://127.0.0.1:${await freePort()}`
    const allow = await fastifyApp({ redis: dead, onRedisError: 'allow', limit: 1, wait: false })
    const deny = await expressApp({ redis: dead, onRedisError: 'deny', limit: 1, wait: false })
    try {
      assert.deepEqual(await burst(allow, 5), times(5, 200))
      const a = await call(allow)
      assert.equal(a.headers.get('ratelimit-policy'), '"default";q=1;w=60')
      assert.equal(a.headers.get('ratelimit'), null, 'no made-up remaining count')
      assert.equal(allow.limiter.stats().failOpen, 6)

      const d = await call(deny)
      assert.equal(d.status, 429)
      assert.equal(d.headers.get('retry-after'), '1')
      assert.equal(JSON.parse(d.body).code, 'HP_ERR_HTTP_RATE_LIMITED')
      assert.deepEqual(await burst(deny, 4), times(4, 429))
      const s = deny.limiter.stats()
      assert.deepEqual([s.failClosed, s.limited, s.allowed, s.localKeys], [5, 5, 0, 0])
    } finally {
      await allow.close()
      await deny.close()
    }
  })
})

describe('rate limiter core', () => {
  it('validates options once, with typed errors', () => {
    for (const bad of [
      { limit: 0 },
      { limit: 1.5 },
      { window: 'soon' },
      { burst: -1 },
      { onRedisError: 'maybe' },
      { trustProxy: -1 },
      { ipv6Subnet: 129 },
      { name: 'naïve' },
      { prefix: '' },
      { commandTimeout: 0 },
    ]) {
      assert.throws(
        () => createRateLimiter(bad as never),
        (err: Error & { code?: string }) => err.code === 'HP_ERR_INVALID_OPTION',
        JSON.stringify(bad),
      )
    }
    assert.equal(Object.isFrozen(rateLimitDefaults), true)
  })

  it('resolves route policies over the global one', () => {
    const l = createRateLimiter({ limit: 10, window: '10s', burst: 20 })
    assert.equal(l.defaultPolicy.policyHeader, '"default";q=10;w=10;hp-burst=20')
    assert.equal(l.defaultPolicy.interval, 1_000_000)
    const p = l.policy({ limit: 2 })
    assert.deepEqual(
      [p.name, p.limit, p.windowMs, p.burst, p.perRoute],
      ['route', 2, 10_000, 2, true],
    )
  })

  it('runs in process without Redis, synchronously', () => {
    const l = createRateLimiter({ limit: 3, window: '1m' })
    const p = l.defaultPolicy
    const d = [1, 2, 3, 4].map(() => l.hit(p, `${p.keyPrefix}x`))
    assert.deepEqual(
      d.map((x) => ('allowed' in x ? [x.allowed, x.remaining, x.source] : 'promise')),
      [
        [true, 2, 'local'],
        [true, 1, 'local'],
        [true, 0, 'local'],
        [false, 0, 'local'],
      ],
    )
  })

  it('keys clients by address: X-Forwarded-For per trustProxy, IPv6 by /64', () => {
    const req = (remote: string, xff?: string) =>
      ({
        socket: { remoteAddress: remote },
        headers: xff === undefined ? {} : { 'x-forwarded-for': xff },
      }) as unknown as IncomingMessage
    assert.equal(clientAddress(req('10.0.0.1', '1.1.1.1'), false, 64), '10.0.0.1')
    assert.equal(clientAddress(req('10.0.0.1', '1.1.1.1, 2.2.2.2'), true, 64), '1.1.1.1')
    assert.equal(clientAddress(req('10.0.0.1', '1.1.1.1, 2.2.2.2'), 1, 64), '2.2.2.2')
    assert.equal(clientAddress(req('10.0.0.1', '1.1.1.1, 2.2.2.2'), 2, 64), '1.1.1.1')
    assert.equal(clientAddress(req('10.0.0.1', '1.1.1.1, 2.2.2.2'), 5, 64), '1.1.1.1')
    assert.equal(clientAddress(req('10.0.0.1', 'garbage'), true, 64), '10.0.0.1')
    assert.equal(clientAddress(req('::ffff:10.0.0.2'), false, 64), '10.0.0.2')
    assert.equal(clientAddress(req('2001:db8:aa:bb:1:2:3:4'), false, 64), '2001:db8:aa:bb::/64')
    assert.equal(clientAddress(req('2001:db8::1'), false, 128), '2001:db8::1')
    assert.equal(ipv6Prefix('2001:db8:aa:bb:1:2:3:4', 56), '2001:db8:aa:0::/56')
    assert.equal(ipv6Prefix('2001:db8:aa:ff12::9', 56), '2001:db8:aa:ff00::/56')
    assert.equal(ipv6Prefix('::1', 64), '0:0:0:0::/64')
    assert.equal(ipv6Prefix('64:ff9b::1.2.3.4', 128), '64:ff9b:0:0:0:0:102:304/128')
    assert.equal(ipv6Prefix('fe80::1%eth0', 64), 'fe80:0:0:0::/64')
  })

  it('uses a given ioredis client through its own fail-fast duplicate', { skip }, async () => {
    const mine = new Redis(REDIS_URL)
    const l = createRateLimiter({ redis: mine, limit: 2, prefix: prefix() })
    assert.ok(await l.ready())
    const p = l.defaultPolicy
    const d = [
      await l.hit(p, `${p.keyPrefix}k`),
      await l.hit(p, `${p.keyPrefix}k`),
      await l.hit(p, `${p.keyPrefix}k`),
    ]
    assert.deepEqual(
      d.map((x) => [x.allowed, x.source]),
      [
        [true, 'redis'],
        [true, 'redis'],
        [false, 'redis'],
      ],
    )
    await l.close()
    assert.equal(await mine.ping(), 'PONG', 'the caller’s client stays open')
    await mine.quit()
  })
})

describe('rate limiting on a Redis Cluster', { skip }, () => {
  let cluster: ThrowawayCluster
  before(async () => {
    cluster = await ThrowawayCluster.start()
  })
  after(async () => {
    await cluster?.stop()
  })

  it('limits keys spread over every master', async () => {
    const l = createRateLimiter({ redis: { cluster: cluster.startupNodes }, limit: 3 })
    assert.ok(await l.ready(10_000))
    const p = l.defaultPolicy
    for (let c = 0; c < 30; c++) {
      const got: boolean[] = []
      for (let i = 0; i < 4; i++) got.push((await l.hit(p, `${p.keyPrefix}client${c}`)).allowed)
      assert.deepEqual(got, [true, true, true, false], `client${c}`)
    }
    const s = l.stats()
    assert.deepEqual([s.redisDecisions, s.localDecisions], [120, 0])
    const raw = cluster.nodes.map((n) => new Redis(n.port))
    const sizes = await Promise.all(raw.map((r) => r.dbsize()))
    assert.ok(
      sizes.every((n) => n > 0),
      `buckets on every master: ${sizes}`,
    )
    await Promise.all(raw.map((r) => r.quit()))
    await l.close()
  })
})

after(async () => {
  if (skip) return
  // Buckets expire on their own within their window; drop this run's now.
  const r = new Redis(REDIS_URL)
  let cursor = '0'
  do {
    const [next, keys] = await r.scan(cursor, 'MATCH', `${RUN}:*`, 'COUNT', 500)
    cursor = next
    if (keys.length > 0) await r.unlink(...keys)
  } while (cursor !== '0')
  await r.quit()
})
