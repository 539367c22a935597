import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect, type Socket } from 'node:net'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import express from 'express'
import Fastify from 'fastify'
import { isHotpathError } from 'hotpath/errors'
import { Registry } from 'prom-client'
import { expressShedding } from '../../src/http/express/shedding.ts'
import { fastifyShedding } from '../../src/http/fastify/shedding.ts'
import { createShedder, type Shedder, type SheddingOptions } from '../../src/http/shedding.ts'
import { eventually } from '../helpers/services.ts'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

/** Keeps the event loop (the server's, this process's) busy for `ms`. */
function block(ms: number): void {
  const end = performance.now() + ms
  while (performance.now() < end) {}
}

interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
}

/** An open connection: the request is written before the loop blocks, read after. */
async function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1')
  await once(s, 'connect')
  return s
}

function response(s: Socket): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    let raw = ''
    s.setEncoding('utf8')
    s.on('data', (d) => {
      raw += d
    })
    s.on('error', reject)
    s.on('end', () => {
      const [head = '', body = ''] = raw.split('\r\n\r\n')
      const [statusLine = '', ...lines] = head.split('\r\n')
      const headers: Record<string, string> = {}
      for (const l of lines) {
        const i = l.indexOf(':')
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim()
      }
      resolve({ status: Number(statusLine.split(' ')[1]), headers, body })
    })
  })
}

const send = (s: Socket, path: string) =>
  s.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`)

type Adapter = 'fastify' | 'express'

async function serve(
  kind: Adapter,
  options: SheddingOptions & { shedder?: Shedder },
): Promise<{ port: number; worked: () => number; close: () => Promise<void> }> {
  let worked = 0
  if (kind === 'fastify') {
    const app = Fastify()
    await app.register(fastifyShedding, options)
    app.get('/work', async () => {
      worked++
      return { ok: true }
    })
    app.get('/health', async () => ({ status: 'ok' }))
    await app.listen({ port: 0, host: '127.0.0.1' })
    return {
      port: (app.server.address() as AddressInfo).port,
      worked: () => worked,
      close: () => app.close(),
    }
  }
  const app = express()
  const mw = expressShedding(options)
  app.use(mw)
  app.get('/work', (_req, res) => {
    worked++
    res.json({ ok: true })
  })
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })
  const server: Server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as AddressInfo).port,
    worked: () => worked,
    close: () => {
      mw.close()
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

async function status(port: number, path: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${port}${path}`)).status
}

for (const kind of ['fastify', 'express'] as const) {
  describe(`load shedding over ${kind}`, () => {
    it('a blocked event loop sheds the requests queued behind it with 503 + Retry-After, then recovers', async () => {
      const registry = new Registry()
      const shedder = createShedder({
        maxEventLoopDelayMs: 100,
        maxEventLoopUtilization: false,
        sampleIntervalMs: 50,
        retryAfterSeconds: 2,
        registry,
      })
      const s = await serve(kind, { shedder })
      try {
        assert.equal(await status(s.port, '/work'), 200)
        await sleep(120) // two quiet samples
        assert.equal(shedder.overloaded, false)
        const before = s.worked()

        const sockets = await Promise.all([1, 2, 3, 4].map(() => open(s.port)))
        await sleep(20) // the server has accepted them
        const replies = sockets.map(response)
        for (const sock of sockets.slice(0, 3)) send(sock, '/work')
        send(sockets[3]!, '/health?deep=1')
        block(400)
        const [a, b, c, health] = await Promise.all(replies)

        for (const r of [a!, b!, c!]) {
          assert.equal(r.status, 503)
          assert.equal(r.headers['retry-after'], '2')
          assert.match(r.headers['content-type'] ?? '', /^application\/problem\+json/)
          const p = JSON.parse(r.body)
          assert.equal(p.code, 'HP_ERR_HTTP_OVERLOADED')
          assert.equal(p.status, 503)
          assert.equal(p.detail, 'The service is overloaded: retry after 2 s')
        }
        assert.equal(health!.status, 200, 'health is exempt')
        assert.equal(s.worked(), before, 'no handler ran for a shed request')
        const st = shedder.stats()
        assert.equal(st.shed, 3)
        assert.ok(st.eventLoopDelayMs >= 300, `delay ${st.eventLoopDelayMs} ms`)

        await eventually('recovery', async () => (await status(s.port, '/work')) === 200, 2000)
        assert.equal(shedder.overloaded, false)
        const text = await registry.metrics()
        const shed = shedder.stats().shed // the 3, and any refused while waiting for recovery
        assert.ok(shed >= 3)
        assert.match(text, new RegExp(`^hotpath_http_shed_requests_total ${shed}$`, 'm'))
        assert.match(text, /^hotpath_http_overloaded 0$/m)
      } finally {
        await s.close()
        shedder.close()
      }
    })

    it('sheds on event-loop utilization too, from the sample after the busy period', async () => {
      const shedder = createShedder({
        maxEventLoopDelayMs: false,
        maxEventLoopUtilization: 0.5,
        sampleIntervalMs: 400,
      })
      const s = await serve(kind, { shedder })
      try {
        assert.equal(await status(s.port, '/work'), 200)
        block(600)
        await eventually('the sample after the busy period', () => shedder.overloaded, 1000)
        const r = await fetch(`http://127.0.0.1:${s.port}/work`)
        assert.equal(r.status, 503)
        assert.equal(r.headers.get('retry-after'), '10', 'the default Retry-After')
        assert.ok(shedder.stats().eventLoopUtilization > 0.5)
        await eventually('recovery', async () => (await status(s.port, '/work')) === 200, 2000)
      } finally {
        await s.close()
        shedder.close()
      }
    })
  })
}

describe('shedding options', () => {
  it('are validated at creation', () => {
    const bad: SheddingOptions[] = [
      { maxEventLoopDelayMs: 0 },
      { maxEventLoopUtilization: 1.5 },
      { sampleIntervalMs: 1 },
      { retryAfterSeconds: -1 },
      { exempt: ['health'] },
    ]
    for (const o of bad) assert.throws(() => createShedder(o), code('HP_ERR_INVALID_OPTION'))
  })

  it('never sheds when idle; both thresholds off never sheds at all', async () => {
    const a = createShedder({ sampleIntervalMs: 20 })
    const b = createShedder({
      maxEventLoopDelayMs: false,
      maxEventLoopUtilization: false,
      sampleIntervalMs: 20,
    })
    try {
      await sleep(60)
      assert.equal(a.shouldShed('/x'), false)
      block(100)
      await sleep(30)
      assert.equal(b.shouldShed('/x'), false)
      assert.equal(b.stats().shed, 0)
      a.close()
      await sleep(250)
      assert.equal(a.shouldShed('/x'), false, 'a closed shedder never sheds')
    } finally {
      a.close()
      b.close()
    }
  })
})
