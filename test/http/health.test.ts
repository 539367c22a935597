import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import express from 'express'
import Fastify from 'fastify'
import { createCache } from 'hotpath/cache'
import { createDb } from 'hotpath/db'
import { isHotpathError } from 'hotpath/errors'
import { expressHealth } from '../../src/http/express/health.ts'
import { fastifyHealth } from '../../src/http/fastify/health.ts'
import { createHealth, type HealthCheck, type Readiness } from '../../src/http/health.ts'
import { DATABASE_URL, REDIS_URL, ThrowawayRedis, unless } from '../helpers/services.ts'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

async function get(base: string, path: string) {
  const res = await fetch(base + path)
  const text = await res.text()
  return {
    status: res.status,
    headers: res.headers,
    body: res.headers.get('content-type')?.startsWith('application/json')
      ? (JSON.parse(text) as Record<string, unknown>)
      : undefined,
  }
}

type Adapter = 'fastify' | 'express'

/** An app of either kind with the health endpoints; returns its base URL and a closer. */
async function serve(
  kind: Adapter,
  options: Parameters<typeof createHealth>[0] & { health?: ReturnType<typeof createHealth> },
): Promise<{ base: string; close: () => Promise<void> }> {
  if (kind === 'fastify') {
    const app = Fastify()
    await app.register(fastifyHealth, options)
    app.get('/other', async () => ({ other: true }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    return {
      base: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`,
      close: () => app.close(),
    }
  }
  const app = express()
  app.use(expressHealth(options))
  app.get('/other', (_req, res) => {
    res.json({ other: true })
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

for (const kind of ['fastify', 'express'] as const) {
  describe(`health over ${kind}`, () => {
    it('liveness: 200 { status, uptime }, never cached', async () => {
      const s = await serve(kind, { checks: { never: () => new Promise(() => {}) } })
      try {
        const r = await get(s.base, '/health')
        assert.equal(r.status, 200)
        assert.equal(r.body?.status, 'ok')
        assert.ok(typeof r.body?.uptime === 'number' && r.body.uptime > 0)
        assert.equal(r.headers.get('cache-control'), 'no-store')
        assert.match(r.headers.get('content-type') ?? '', /^application\/json/)
        assert.equal((await get(s.base, '/health?probe=1')).status, 200)
        assert.deepEqual((await get(s.base, '/other')).body, { other: true })
      } finally {
        await s.close()
      }
    })

    it('readiness: 200 when every check passes, 503 with each failure, never hangs', async () => {
      let ok = true
      const checks: Record<string, HealthCheck> = {
        fine: () => 'pong',
        flaky: () => ok,
        thrower: async () => {
          if (!ok) throw new Error('connection refused')
        },
        hangs: () => (ok ? true : new Promise(() => {})),
        endpoints: () => [
          { name: 'primary', ok: true },
          { name: 'replica1', ok },
        ],
      }
      const s = await serve(kind, { checks, timeoutMs: 150 })
      try {
        const good = await get(s.base, '/ready')
        assert.equal(good.status, 200)
        const rg = good.body as unknown as Readiness
        assert.equal(rg.status, 'ok')
        assert.deepEqual(Object.keys(rg.checks), ['fine', 'flaky', 'thrower', 'hangs', 'endpoints'])
        for (const c of Object.values(rg.checks)) {
          assert.equal(c.status, 'ok')
          assert.equal(typeof c.latencyMs, 'number')
        }
        ok = false
        const t0 = performance.now()
        const bad = await get(s.base, '/ready')
        const took = performance.now() - t0
        assert.ok(took < 1000, `answered in ${took} ms despite a hung check`)
        assert.equal(bad.status, 503)
        assert.equal(bad.headers.get('cache-control'), 'no-store')
        const rb = bad.body as unknown as Readiness
        assert.equal(rb.status, 'fail')
        assert.deepEqual(rb.checks.fine, { status: 'ok', latencyMs: rb.checks.fine!.latencyMs })
        assert.deepEqual(
          Object.fromEntries(Object.entries(rb.checks).map(([k, v]) => [k, v.error])),
          {
            fine: undefined,
            flaky: 'returned false',
            thrower: 'connection refused',
            hangs: 'no answer within 150 ms',
            endpoints: 'replica1: not ok',
          },
        )
        assert.ok(rb.checks.hangs!.latencyMs >= 140)
      } finally {
        await s.close()
      }
    })

    it('concurrent probes share one run; drain() fails readiness, not liveness', async () => {
      let calls = 0
      const health = createHealth({
        checks: {
          slow: async () => {
            calls++
            await sleep(100)
          },
        },
      })
      const s = await serve(kind, { health })
      try {
        const all = await Promise.all([1, 2, 3, 4, 5].map(() => get(s.base, '/ready')))
        assert.deepEqual(
          all.map((r) => r.status),
          [200, 200, 200, 200, 200],
        )
        assert.equal(calls, 1)
        health.drain()
        const r = await get(s.base, '/ready')
        assert.equal(r.status, 503)
        assert.deepEqual(r.body, { status: 'draining', checks: {} })
        assert.equal((await get(s.base, '/health')).status, 200)
      } finally {
        await s.close()
      }
    })

    it('paths are configurable or can be turned off', async () => {
      const s = await serve(kind, { livenessPath: '/livez', readinessPath: false })
      try {
        assert.equal((await get(s.base, '/livez')).status, 200)
        assert.equal((await get(s.base, '/health')).status, 404)
        assert.equal((await get(s.base, '/ready')).status, 404)
      } finally {
        await s.close()
      }
    })
  })
}

describe('health options', () => {
  it('are validated at creation', () => {
    assert.throws(() => createHealth({ timeoutMs: 0 }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createHealth({ livenessPath: 'health' }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(
      () => createHealth({ checks: { x: 1 as unknown as HealthCheck } }),
      code('HP_ERR_INVALID_OPTION'),
    )
  })

  it('Fastify drains on close', async () => {
    const health = createHealth()
    const app = Fastify()
    await app.register(fastifyHealth, { health })
    await app.ready()
    assert.equal((await health.readiness()).status, 'ok')
    await app.close()
    assert.equal((await health.readiness()).status, 'draining')
  })
})

const noServices = (await unless('redis')) || (await unless('postgres'))

describe('readiness against real PostgreSQL and Redis', { skip: noServices }, () => {
  const cache = createCache({ namespace: 'health_test', l2: { redis: REDIS_URL } })
  const db = createDb({ primary: DATABASE_URL, pool: { min: 0 } })
  let doomed: ThrowawayRedis
  let doomedCache: ReturnType<typeof createCache>
  before(async () => {
    doomed = await ThrowawayRedis.start()
    doomedCache = createCache({ namespace: 'health_doomed', l2: { redis: doomed.url } })
    assert.equal(await doomedCache.ready(2000), true)
  })
  after(async () => {
    await doomedCache.close()
    await doomed.stop()
    await cache.close()
    await db.close()
  })

  for (const kind of ['fastify', 'express'] as const)
    it(`pings the database and Redis, and reports the one that is down (${kind})`, async () => {
      const s = await serve(kind, {
        timeoutMs: 500,
        checks: {
          db: () => db.health(200),
          redis: () => cache.ready(200),
          sessions: () => doomedCache.ready(200),
        },
      })
      try {
        const up = await get(s.base, '/ready')
        assert.equal(up.status, 200, JSON.stringify(up.body))
        await doomed.kill()
        const down = await get(s.base, '/ready')
        assert.equal(down.status, 503)
        const r = down.body as unknown as Readiness
        assert.equal(r.checks.db!.status, 'ok')
        assert.equal(r.checks.redis!.status, 'ok')
        assert.equal(r.checks.sessions!.status, 'fail')
        await doomed.start()
        assert.equal(await doomedCache.ready(3000), true)
        assert.equal((await get(s.base, '/ready')).status, 200)
      } finally {
        await s.close()
      }
    })
})
