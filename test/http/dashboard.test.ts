import assert from 'node:assert/strict'
import { once } from 'node:events'
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { get, type IncomingHttpHeaders } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { createDb } from 'hotpath/db'
import {
  createDashboard,
  type Dashboard,
  type DashboardFrame,
  fastify as hotpath,
  express as hx,
} from 'hotpath/http'
import { createMetrics, type Metrics } from 'hotpath/metrics'
import { DATABASE_URL, eventually, unless } from '../helpers/services.ts'

const DIR = join(import.meta.dirname, '../../dashboard')

interface Stream {
  status: number
  headers: IncomingHttpHeaders
  events: string[]
  frames: DashboardFrame[]
  close(): void
}

/** An SSE client on its own connection (closing it closes the socket): raw events and parsed frames. */
function openEvents(url: string, headers: Record<string, string> = {}): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = get(url, { headers, agent: false }, (res) => {
      const s: Stream = {
        status: res.statusCode ?? 0,
        headers: res.headers,
        events: [],
        frames: [],
        close: () => req.destroy(),
      }
      let buf = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buf += chunk
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const ev = buf.slice(0, i)
          buf = buf.slice(i + 2)
          s.events.push(ev)
          for (const line of ev.split('\n'))
            if (line.startsWith('data: ')) s.frames.push(JSON.parse(line.slice(6)))
        }
      })
      res.on('error', () => {})
      resolve(s)
    })
    req.on('error', reject)
  })
}

async function shop(
  options: Record<string, unknown> = {},
): Promise<{ app: FastifyInstance; base: string; metrics: Metrics }> {
  const metrics = createMetrics()
  const app = Fastify()
  await app.register(hotpath, { metrics, shedding: false, ...options })
  app.get('/hello', async () => ({ hello: 'world' }))
  app.get('/fail', async (_req, reply) => reply.code(500).send({ nope: true }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { app, base: `http://127.0.0.1:${port}`, metrics }
}

const assetUrls = (html: string) =>
  [...html.matchAll(/(?:src|href)="(\/dashboard\/assets\/[^"]+)"/g)].map((m) => m[1] as string)

describe('dashboard assets', () => {
  it('names each asset by its content and rewrites the page', () => {
    const metrics = createMetrics()
    const tmp = mkdtempSync(join(tmpdir(), 'hp-dash-'))
    try {
      cpSync(DIR, tmp, { recursive: true })
      const a = createDashboard({ metrics, dir: tmp })
      writeFileSync(join(tmp, 'dashboard.js'), '/* changed */')
      const b = createDashboard({ metrics, dir: tmp })
      const js = (d: Dashboard) => d.urls.find((u) => /\/dashboard\.[0-9a-f]{10}\.js$/.test(u))
      const css = (d: Dashboard) => d.urls.find((u) => /\/dashboard\.[0-9a-f]{10}\.css$/.test(u))
      assert.ok(js(a) && js(b))
      assert.notEqual(js(a), js(b), 'new content, new name')
      assert.equal(css(a), css(b), 'same content, same name')
      for (const d of [a, b]) {
        const html = d.html.toString()
        assert.deepEqual(
          assetUrls(html).sort(),
          d.urls.filter((u) => u.includes('/assets/')).sort(),
        )
        assert.match(html, /data-events="\/dashboard\/events"/)
        assert.doesNotMatch(html, /"dashboard\.js"|"uPlot\.js"/)
      }
      assert.equal(b.asset(js(a)!.split('/').pop()!), undefined, 'the old hash is gone')
    } finally {
      rmSync(tmp, { recursive: true, force: true })
    }
  })

  it('rejects a bad path or interval', () => {
    const metrics = createMetrics()
    assert.throws(() => createDashboard({ metrics, path: 'dash' }), /path/)
    assert.throws(() => createDashboard({ metrics, path: '/dash/' }), /path/)
    assert.throws(() => createDashboard({ metrics, intervalMs: 0 }), /intervalMs/)
  })
})

describe('dashboard over HTTP (umbrella plugin)', () => {
  let s: Awaited<ReturnType<typeof shop>>
  before(async () => {
    s = await shop({ dashboard: { intervalMs: 100, maxClients: 2 } })
  })
  after(() => s.app.close())

  it('serves the page no-cache, and hashed assets immutable with ETags', async () => {
    const page = await fetch(`${s.base}/dashboard`)
    assert.equal(page.status, 200)
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/)
    assert.equal(page.headers.get('cache-control'), 'no-cache')
    assert.match(page.headers.get('content-security-policy') ?? '', /connect-src 'self'/)
    const html = await page.text()
    const again = await fetch(`${s.base}/dashboard`, {
      headers: { 'if-none-match': page.headers.get('etag') ?? '' },
    })
    assert.equal(again.status, 304)
    const urls = assetUrls(html)
    assert.equal(urls.length, 4)
    for (const u of urls) {
      assert.match(u, /\/(uPlot|dashboard)\.[0-9a-f]{10}\.(js|css)$/)
      const r = await fetch(s.base + u)
      assert.equal(r.status, 200, u)
      assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable')
      const type = u.endsWith('.js') ? /^text\/javascript/ : /^text\/css/
      assert.match(r.headers.get('content-type') ?? '', type)
      const etag = r.headers.get('etag') ?? ''
      assert.match(etag, /^(W\/)?"[0-9a-f]{10}"$/)
      assert.ok((await r.text()).length > 100)
      const cached = await fetch(s.base + u, { headers: { 'if-none-match': etag } })
      assert.equal(cached.status, 304)
    }
    const js = urls.find((u) => u.includes('/dashboard.') && u.endsWith('.js')) as string
    const stale = js.replace(/\.[0-9a-f]{10}\.js$/, '.0000000000.js')
    assert.equal((await fetch(s.base + stale)).status, 404)
    assert.equal((await fetch(`${s.base}/dashboard/assets/nothing.js`)).status, 404)
  })

  it('streams frames whose rates reflect the requests made meanwhile', async () => {
    const ev = await openEvents(`${s.base}/dashboard/events`, { 'accept-encoding': 'gzip, br' })
    try {
      assert.equal(ev.status, 200)
      assert.match(ev.headers['content-type'] ?? '', /^text\/event-stream/)
      assert.equal(ev.headers['content-encoding'], undefined)
      assert.match(ev.headers['cache-control'] ?? '', /no-store/)
      await eventually('the retry hint', () => ev.events.some((e) => /^retry: \d+/.test(e)))
      const until = Date.now() + 600
      while (Date.now() < until) {
        await Promise.all([
          fetch(`${s.base}/hello`).then((r) => r.text()),
          fetch(`${s.base}/fail`).then((r) => r.text()),
        ])
      }
      await eventually('a frame with /hello traffic', () =>
        ev.frames.some((f) => f.routes.some((r) => r.route === '/hello' && r.rps > 0)),
      )
      const f = ev.frames.find((x) => x.routes.some((r) => r.route === '/hello')) as DashboardFrame
      const hello = f.routes.find((r) => r.route === '/hello')!
      const fail = f.routes.find((r) => r.route === '/fail')!
      assert.ok(hello.p50! >= 0 && hello.p99! >= hello.p50!)
      assert.equal(hello.errorRate, 0)
      assert.equal(fail.errorRate, 1)
      assert.ok(f.totals.rps >= hello.rps + fail.rps - 0.01)
      assert.ok(f.totals.errorRate! > 0 && f.totals.errorRate! < 1)
      assert.ok(Array.isArray(f.slos) && Array.isArray(f.slowQueries))
      assert.ok(
        !f.routes.some((r) => r.route.startsWith('/dashboard')),
        'the dashboard hides itself',
      )
      // Once the requests stop, so does the rate.
      await eventually('a quiet frame', () => ev.frames.at(-1)?.totals.rps === 0, 3000)
    } finally {
      ev.close()
    }
  })

  it('refuses clients beyond maxClients with 503', async () => {
    const a = await openEvents(`${s.base}/dashboard/events`)
    const b = await openEvents(`${s.base}/dashboard/events`)
    try {
      const c = await openEvents(`${s.base}/dashboard/events`)
      assert.equal(c.status, 503)
      assert.equal(c.headers['retry-after'], '5')
      b.close()
      await eventually('a free slot', async () => {
        const d = await openEvents(`${s.base}/dashboard/events`)
        d.close()
        return d.status === 200
      })
    } finally {
      a.close()
      b.close()
    }
  })
})

describe('dashboard sampler', () => {
  it('runs only while a client listens', async () => {
    const metrics = createMetrics()
    const dashboard = createDashboard({ metrics, intervalMs: 50 })
    const app = Fastify()
    await app.register(hotpath, { metrics, shedding: false, dashboard: { dashboard } })
    await app.listen({ port: 0, host: '127.0.0.1' })
    const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
    try {
      assert.equal(dashboard.running, false)
      const a = await openEvents(`${base}/dashboard/events`)
      const b = await openEvents(`${base}/dashboard/events`)
      assert.equal(dashboard.running, true)
      await eventually('frames', () => a.frames.length >= 2 && b.frames.length >= 2)
      a.close()
      await eventually('one client left', () => dashboard.clients === 1)
      assert.equal(dashboard.running, true)
      b.close()
      await eventually('the sampler stopped', () => !dashboard.running && dashboard.clients === 0)
    } finally {
      await app.close()
    }
  })

  it('is never shed, unlike the routes', async () => {
    // Every sample is over these thresholds: every request not exempt is shed.
    const s = await shop({ shedding: { maxEventLoopUtilization: 1e-9, maxEventLoopDelayMs: 1e-9 } })
    try {
      await eventually('shedding', async () => (await fetch(`${s.base}/hello`)).status === 503)
      assert.equal((await fetch(`${s.base}/dashboard`)).status, 200)
      const html = await (await fetch(`${s.base}/dashboard`)).text()
      for (const u of assetUrls(html)) assert.equal((await fetch(s.base + u)).status, 200)
      const ev = await openEvents(`${s.base}/dashboard/events`)
      ev.close()
      assert.equal(ev.status, 200)
    } finally {
      await s.app.close()
    }
  })

  it('closes open streams when the app closes', async () => {
    const s = await shop()
    const ev = await openEvents(`${s.base}/dashboard/events`)
    assert.equal(ev.status, 200)
    await s.app.close()
    ev.close()
  })
})

describe('dashboard slow queries', { skip: await unless('postgres') }, () => {
  it('keeps the recent slow statements, fingerprinted', async () => {
    const db = createDb({ primary: DATABASE_URL, pool: { min: 0, max: 2 }, slowQueryMs: 5 })
    const s = await shop({ db, dashboard: { intervalMs: 100 } })
    const ev = await openEvents(`${s.base}/dashboard/events`)
    try {
      await db.query("SELECT pg_sleep(0.02), 'secret-literal'")
      await eventually('a slow query in a frame', () =>
        ev.frames.some((f) => f.slowQueries.some((q) => q.statement.includes('pg_sleep'))),
      )
      const f = ev.frames.findLast((x) => x.slowQueries.length > 0) as DashboardFrame
      const q = f.slowQueries[0]!
      assert.ok(q.ms >= 5)
      assert.ok(!q.statement.includes('secret-literal'), 'literals never leave the process')
      assert.ok(f.pool !== null && f.pool.max === 2)
    } finally {
      ev.close()
      await s.app.close()
      await db.close()
    }
  })
})

describe('dashboard for Express', () => {
  it('serves the page, the assets and the stream', async () => {
    const metrics = createMetrics()
    const app = express()
    app.use(hx.metrics({ metrics }))
    const mw = hx.dashboard({ metrics, intervalMs: 100, maxClients: 1 })
    app.use(mw)
    app.get('/hello', (_req, res) => {
      res.json({ hello: 'world' })
    })
    const server = app.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    try {
      const page = await fetch(`${base}/dashboard`)
      assert.equal(page.headers.get('cache-control'), 'no-cache')
      const urls = assetUrls(await page.text())
      assert.equal(urls.length, 4)
      const r = await fetch(base + urls[0])
      assert.equal(r.headers.get('cache-control'), 'public, max-age=31536000, immutable')
      assert.equal((await fetch(`${base}/dashboard/assets/x.0000000000.js`)).status, 404)
      const ev = await openEvents(`${base}/dashboard/events`)
      assert.match(ev.headers['content-type'] ?? '', /^text\/event-stream/)
      assert.equal((await openEvents(`${base}/dashboard/events`)).status, 503)
      for (let i = 0; i < 20; i++) await (await fetch(`${base}/hello`)).text()
      await eventually('a frame with /hello traffic', () =>
        ev.frames.some((f) => f.routes.some((x) => x.route === '/hello' && x.rps > 0)),
      )
      ev.close()
      await eventually('the sampler stopped', () => !mw.dashboard.running)
    } finally {
      mw.dashboard.close()
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
    }
  })
})
