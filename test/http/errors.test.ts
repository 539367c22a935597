import assert from 'node:assert/strict'
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { HotpathError } from 'hotpath/errors'
import { createErrorMapper } from '../../src/http/errors.ts'
import { expressErrorHandler, expressNotFound } from '../../src/http/express/errors.ts'
import { fastifyErrors } from '../../src/http/fastify/errors.ts'

interface Reply {
  status: number
  type: string | null
  headers: Headers
  body: Record<string, unknown>
}

async function call(base: string, path: string, init?: RequestInit): Promise<Reply> {
  const res = await fetch(base + path, init)
  const text = await res.text()
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    headers: res.headers,
    body: JSON.parse(text),
  }
}

const json = (body: string, extra: Record<string, string> = {}): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...extra },
  body,
})

/** Fails the test if anything reaches the console while `f` runs. */
async function quiet<T>(f: () => Promise<T>): Promise<T> {
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info }
  const said: unknown[] = []
  console.log = console.error = console.warn = console.info = (...a: unknown[]) => said.push(a)
  try {
    return await f()
  } finally {
    Object.assign(console, saved)
    assert.deepEqual(said, [], 'nothing written to the console')
  }
}

const SECRET = 'password=hunter2 at db.internal:5432'

function routesFastify(app: FastifyInstance): void {
  app.post(
    '/echo',
    {
      schema: {
        body: {
          type: 'object',
          required: ['name'],
          properties: { name: { type: 'string' }, qty: { type: 'integer' } },
        },
      },
    },
    async (req) => req.body,
  )
  app.get('/boom', async () => {
    throw new Error(SECRET)
  })
  app.get('/hotpath', async () => {
    throw new HotpathError('HP_ERR_DB_POOL_TIMEOUT', ['primary', 100, 20])
  })
  app.get('/teapot', async () => {
    throw Object.assign(new Error('short and stout'), { statusCode: 418, code: 'TEAPOT' })
  })
  app.get('/limited', async () => {
    throw Object.assign(new Error('slow down'), { statusCode: 429, headers: { 'Retry-After': 3 } })
  })
}

function problemShape(r: Reply): void {
  assert.match(r.type ?? '', /^application\/problem\+json(;|$)/)
  assert.equal(r.body.type, 'about:blank')
  assert.equal(typeof r.body.title, 'string')
  assert.equal(r.body.status, r.status)
}

describe('errors over Fastify', () => {
  const lines: { level: number; msg: string; err?: { message: string } }[] = []
  const app = Fastify({
    bodyLimit: 1024,
    logger: { level: 'info', stream: { write: (l: string) => void lines.push(JSON.parse(l)) } },
  })
  const dev = Fastify({ logger: false })
  let base = ''
  let devBase = ''
  const published: unknown[] = []
  const onPublish = (m: unknown) => void published.push(m)

  before(async () => {
    subscribe('hotpath:http:error', onPublish)
    await app.register(fastifyErrors, { expose: false })
    routesFastify(app)
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
    await dev.register(fastifyErrors, { expose: true })
    routesFastify(dev)
    await dev.listen({ port: 0, host: '127.0.0.1' })
    devBase = `http://127.0.0.1:${(dev.server.address() as AddressInfo).port}`
  })
  after(async () => {
    unsubscribe('hotpath:http:error', onPublish)
    await app.close()
    await dev.close()
  })

  it('malformed or empty JSON → 400 HP_ERR_HTTP_INVALID_JSON', async () => {
    for (const body of ['{"name": ', '{not json}', '']) {
      const r = await call(base, '/echo', json(body))
      assert.equal(r.status, 400, body)
      problemShape(r)
      assert.equal(r.body.code, 'HP_ERR_HTTP_INVALID_JSON')
      assert.match(String(r.body.detail), /^The request body is not valid JSON: /)
    }
  })

  it('oversized body → 413 naming the limit; unknown content type → 415', async () => {
    const big = await call(base, '/echo', json(JSON.stringify({ name: 'x'.repeat(2000) })))
    assert.equal(big.status, 413)
    problemShape(big)
    assert.equal(big.body.code, 'HP_ERR_HTTP_BODY_TOO_LARGE')
    assert.equal(big.body.detail, 'The request body is larger than 1024 bytes')
    assert.equal(big.body.title, 'Content Too Large')
    const xml = await call(base, '/echo', {
      method: 'POST',
      headers: { 'content-type': 'text/xml' },
      body: '<a/>',
    })
    assert.equal(xml.status, 415)
    problemShape(xml)
    assert.equal(xml.body.code, 'HP_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE')
    assert.equal(xml.body.detail, 'Unsupported media type: text/xml')
  })

  it('schema validation → 400 with each failure', async () => {
    const r = await call(base, '/echo', json(JSON.stringify({ qty: 'many' })))
    assert.equal(r.status, 400)
    problemShape(r)
    assert.equal(r.body.code, 'HP_ERR_HTTP_VALIDATION')
    assert.match(String(r.body.detail), /^Invalid request: body/)
    const errors = r.body.errors as { in: string; path: string; message: string }[]
    assert.ok(
      errors.some((e) => e.in === 'body' && e.path === '/name'),
      JSON.stringify(errors),
    )
    const ok = await call(base, '/echo', json(JSON.stringify({ name: 'a', qty: 2 })))
    assert.deepEqual([ok.status, ok.body], [200, { name: 'a', qty: 2 }])
  })

  it('server errors: 500 with no message, code or stack; logged through request.log, not the console', async () => {
    lines.length = 0
    published.length = 0
    const r = await quiet(() => call(base, '/boom'))
    assert.equal(r.status, 500)
    problemShape(r)
    assert.deepEqual(Object.keys(r.body).sort(), ['status', 'title', 'type'])
    assert.doesNotMatch(JSON.stringify(r.body), /hunter2|stack|at /)
    const logged = lines.find((l) => l.level === 50)
    assert.equal(logged?.err?.message, SECRET, 'the log has what the response hides')
    assert.equal(published.length, 1)

    const hp = await call(base, '/hotpath')
    assert.equal(hp.status, 503)
    assert.equal(hp.body.code, 'HP_ERR_DB_POOL_TIMEOUT')
    assert.equal(hp.body.detail, undefined, 'a 5xx message stays in the log')
  })

  it('client errors keep their status, message, code and headers', async () => {
    const t = await call(base, '/teapot')
    assert.equal(t.status, 418)
    problemShape(t)
    assert.equal(t.body.detail, 'short and stout')
    assert.equal(t.body.code, 'TEAPOT')
    const l = await call(base, '/limited')
    assert.equal(l.status, 429)
    assert.equal(l.headers.get('retry-after'), '3')
    assert.equal(
      lines.filter((x) => x.level === 50 && x.msg === 'request failed').length,
      2,
      'the two 5xx (/boom, /hotpath), not the 4xx',
    )
  })

  it('unknown routes → 404 problem', async () => {
    const r = await call(base, '/nope/x?secret=1')
    assert.equal(r.status, 404)
    problemShape(r)
    assert.equal(r.body.code, 'HP_ERR_HTTP_NOT_FOUND')
    assert.equal(r.body.detail, 'Not found: GET /nope/x')
  })

  it('in development (expose) a 500 carries its message and stack', async () => {
    const r = await call(devBase, '/boom')
    assert.equal(r.status, 500)
    assert.equal(r.body.detail, SECRET)
    assert.match(String(r.body.stack), /Error: password=hunter2/)
  })
})

describe('errors over Express', () => {
  let server: Server
  let base = ''
  const reported: { err: unknown; status: number }[] = []

  before(async () => {
    const app = express()
    app.use(express.json({ limit: 1024 }))
    app.post('/echo', (req, res) => {
      res.json(req.body)
    })
    app.get('/boom', () => {
      throw new Error(SECRET)
    })
    app.get('/async-boom', async () => {
      throw new Error(SECRET)
    })
    app.get('/hotpath', () => {
      throw new HotpathError('HP_ERR_DB_POOL_TIMEOUT', ['primary', 100, 20])
    })
    app.get('/teapot', () => {
      throw Object.assign(new Error('short and stout'), { status: 418, code: 'TEAPOT' })
    })
    app.use(expressNotFound())
    app.use(
      expressErrorHandler({
        expose: false,
        onError: (err, _req, p) => void reported.push({ err, status: p.status }),
      }),
    )
    server = app.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('malformed JSON → 400 HP_ERR_HTTP_INVALID_JSON', async () => {
    for (const body of ['{"name": ', '{not json}']) {
      const r = await call(base, '/echo', json(body))
      assert.equal(r.status, 400, body)
      problemShape(r)
      assert.equal(r.body.code, 'HP_ERR_HTTP_INVALID_JSON')
      assert.match(String(r.body.detail), /^The request body is not valid JSON: /)
    }
  })

  it('oversized body → 413; unsupported charset or encoding → 415', async () => {
    const big = await call(base, '/echo', json(JSON.stringify({ name: 'x'.repeat(2000) })))
    assert.equal(big.status, 413)
    problemShape(big)
    assert.equal(big.body.code, 'HP_ERR_HTTP_BODY_TOO_LARGE')
    assert.equal(big.body.detail, 'The request body is larger than 1024 bytes')
    const charset = await call(base, '/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=klingon' },
      body: '{}',
    })
    assert.equal(charset.status, 415)
    assert.equal(charset.body.code, 'HP_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE')
    const enc = await call(base, '/echo', json('{}', { 'content-encoding': 'bogus' }))
    assert.equal(enc.status, 415)
    assert.equal(enc.body.detail, 'Unsupported media type: content-encoding bogus')
  })

  it('server errors: 500 with no message or stack, reported to onError only', async () => {
    reported.length = 0
    for (const path of ['/boom', '/async-boom']) {
      const r = await quiet(() => call(base, path))
      assert.equal(r.status, 500)
      problemShape(r)
      assert.deepEqual(Object.keys(r.body).sort(), ['status', 'title', 'type'])
    }
    assert.equal(reported.length, 2)
    assert.equal((reported[0]!.err as Error).message, SECRET)
    const hp = await call(base, '/hotpath')
    assert.equal(hp.status, 503)
    assert.equal(hp.body.code, 'HP_ERR_DB_POOL_TIMEOUT')
    const t = await call(base, '/teapot')
    assert.deepEqual([t.status, t.body.detail, t.body.code], [418, 'short and stout', 'TEAPOT'])
  })

  it('unknown routes → 404 problem, the same as Fastify', async () => {
    const r = await call(base, '/nope/x?secret=1')
    assert.equal(r.status, 404)
    problemShape(r)
    assert.deepEqual(r.body, {
      type: 'about:blank',
      title: 'Not Found',
      status: 404,
      detail: 'Not found: GET /nope/x',
      code: 'HP_ERR_HTTP_NOT_FOUND',
    })
  })
})

describe('ErrorMapper', () => {
  it('exposes by NODE_ENV at creation unless told', () => {
    const saved = process.env.NODE_ENV
    try {
      process.env.NODE_ENV = 'development'
      assert.equal(createErrorMapper().expose, true)
      process.env.NODE_ENV = 'production'
      assert.equal(createErrorMapper().expose, false)
      assert.equal(createErrorMapper({ expose: true }).expose, true)
    } finally {
      process.env.NODE_ENV = saved
    }
  })

  it('maps non-errors to a plain 500', () => {
    const m = createErrorMapper({ expose: false })
    for (const v of [undefined, null, 'oops', 42, { statusCode: 200 }]) {
      const r = m.map(v)
      assert.equal(r.problem.status, 500)
      assert.equal(r.serverError, true)
      assert.equal(r.problem.detail, undefined)
    }
  })
})
