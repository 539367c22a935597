import assert from 'node:assert/strict'
import { once } from 'node:events'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import express from 'express'
import Fastify, { type FastifyReply } from 'fastify'
import { isHotpathError } from 'hotpath/errors'
import { expressFieldsets } from '../../src/http/express/fieldsets.ts'
import { fastifyFieldsets } from '../../src/http/fastify/fieldsets.ts'
import { createFieldsets } from '../../src/http/fieldsets.ts'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

async function get(base: string, path: string) {
  const res = await fetch(base + path)
  // biome-ignore lint/suspicious/noExplicitAny: response bodies of several shapes
  const body: any = await res.json()
  return { status: res.status, type: res.headers.get('content-type'), body }
}

const product = (id: number) => ({
  id,
  name: `product ${id}`,
  price: id * 10,
  internal: 'never sent',
  owner: { id: 7, name: 'ann', passwordHash: 'x' },
})

const productSchema = {
  type: 'object',
  required: ['id', 'name', 'price'],
  properties: {
    id: { type: 'integer' },
    name: { type: 'string' },
    price: { type: 'number' },
    owner: { type: 'object', properties: { id: { type: 'integer' }, name: { type: 'string' } } },
  },
}

describe('sparse fieldsets over Fastify', () => {
  const app = Fastify()
  let base = ''
  let calls = 0

  before(async () => {
    await app.register(fastifyFieldsets)
    app.addSchema({ $id: 'product', ...productSchema })
    app.get('/products/:id', { schema: { response: { 200: productSchema } } }, async (req) => {
      calls++
      return product(Number((req.params as { id: string }).id))
    })
    app.get(
      '/products',
      {
        schema: {
          response: {
            200: {
              type: 'object',
              properties: {
                data: { type: 'array', items: productSchema },
                pagination: { type: 'object', properties: { next: { type: 'string' } } },
              },
            },
          },
        },
      },
      async () => ({ data: [product(1), product(2)], pagination: { next: 'abc' } }),
    )
    app.get(
      '/array',
      { schema: { response: { 200: { type: 'array', items: { $ref: 'product#' } } } } },
      async () => [product(1), product(2)],
    )
    app.get('/ref/:id', { schema: { response: { '2xx': { $ref: 'product#' } } } }, async () =>
      product(3),
    )
    app.get(
      '/off',
      { schema: { response: { 200: productSchema } }, config: { fieldsets: false } },
      async () => product(4),
    )
    app.get('/listed', { config: { fieldsets: ['id', 'name'] } }, async () => product(5))
    app.get('/plain', async () => product(6))
    app.get('/missing', { schema: { response: { 200: productSchema } } }, async (_req, reply) =>
      (reply as FastifyReply).code(404).send({ id: 0, name: 'none', price: 0 }),
    )
    await app.listen({ port: 0, host: '127.0.0.1' })
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  })
  after(() => app.close())

  it('without ?fields the response schema serializes as usual', async () => {
    const r = await get(base, '/products/1')
    assert.deepEqual(r.body, {
      id: 1,
      name: 'product 1',
      price: 10,
      owner: { id: 7, name: 'ann' },
    })
  })

  it('?fields keeps the named fields and the id, whatever the schema requires', async () => {
    assert.deepEqual((await get(base, '/products/1?fields=name')).body, {
      id: 1,
      name: 'product 1',
    })
    assert.deepEqual((await get(base, '/products/2?fields=price,name')).body, {
      id: 2,
      name: 'product 2',
      price: 20,
    })
    assert.deepEqual((await get(base, '/products/2?fields=price&fields=name')).body, {
      id: 2,
      name: 'product 2',
      price: 20,
    })
    assert.deepEqual(
      (await get(base, '/products/3?fields=owner')).body,
      { id: 3, owner: { id: 7, name: 'ann' } },
      'a nested object is still serialized by its schema (no passwordHash)',
    )
    assert.deepEqual(
      (await get(base, '/products/4?fields=')).body.price,
      40,
      'blank: no projection',
    )
  })

  it('unknown fields → 400 problem naming them, before the handler runs', async () => {
    const before = calls
    const r = await get(base, '/products/1?fields=name,internal,bogus')
    assert.equal(r.status, 400)
    assert.match(r.type ?? '', /^application\/problem\+json/)
    assert.equal(r.body.code, 'HP_ERR_HTTP_UNKNOWN_FIELD')
    assert.equal(
      r.body.detail,
      'Unknown field(s) in fields: internal, bogus (known: id, name, price, owner)',
    )
    assert.equal(calls, before)
  })

  it('envelopes project the items of data and keep the rest', async () => {
    assert.deepEqual((await get(base, '/products?fields=name')).body, {
      data: [
        { id: 1, name: 'product 1' },
        { id: 2, name: 'product 2' },
      ],
      pagination: { next: 'abc' },
    })
    assert.equal((await get(base, '/products?fields=pagination')).status, 400)
  })

  it('arrays project their items; shared schemas are followed through $ref', async () => {
    assert.deepEqual((await get(base, '/array?fields=price')).body, [
      { id: 1, price: 10 },
      { id: 2, price: 20 },
    ])
    assert.deepEqual((await get(base, '/ref/3?fields=name')).body, { id: 3, name: 'product 3' })
    assert.equal((await get(base, '/ref/3?fields=nope')).status, 400)
  })

  it('routes can turn fieldsets off or list their fields; routes with neither ignore ?fields', async () => {
    assert.equal((await get(base, '/off?fields=name')).body.price, 40)
    assert.deepEqual((await get(base, '/listed?fields=name')).body, { id: 5, name: 'product 5' })
    assert.equal((await get(base, '/listed?fields=price')).status, 400)
    assert.equal((await get(base, '/plain?fields=name')).body.price, 60)
  })

  it('only 2xx responses are projected', async () => {
    const r = await get(base, '/missing?fields=name')
    assert.equal(r.status, 404)
    assert.equal(r.body.price, 0)
  })
})

describe('sparse fieldsets over Express', () => {
  let server: Server
  let base = ''
  let calls = 0

  before(async () => {
    const app = express()
    const fields = ['id', 'name', 'price', 'owner'] as const
    app.get('/products/:id', expressFieldsets({ fields }), (req, res) => {
      calls++
      res.json(product(Number(req.params.id)))
    })
    app.get('/products', expressFieldsets({ fields }), (_req, res) => {
      res.json({ data: [product(1), product(2)], pagination: { next: 'abc' } })
    })
    app.get('/array', expressFieldsets({ fields, always: [] }), (_req, res) => {
      res.json([product(1), product(2)])
    })
    app.get('/missing', expressFieldsets({ fields }), (_req, res) => {
      res.status(404).json({ id: 0, name: 'none', price: 0 })
    })
    server = app.listen(0, '127.0.0.1')
    await once(server, 'listening')
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  after(() => {
    server.closeAllConnections()
    return new Promise<void>((resolve) => server.close(() => resolve()))
  })

  it('keeps the named fields and the id', async () => {
    assert.deepEqual((await get(base, '/products/1?fields=name')).body, {
      id: 1,
      name: 'product 1',
    })
    assert.deepEqual((await get(base, '/products/1?fields=owner,price')).body, {
      id: 1,
      price: 10,
      owner: { id: 7, name: 'ann', passwordHash: 'x' },
    })
    assert.equal(
      (await get(base, '/products/1')).body.internal,
      'never sent',
      'no schema in Express',
    )
  })

  it('unknown fields → 400 problem before the handler', async () => {
    const before = calls
    const r = await get(base, '/products/1?fields=name,bogus')
    assert.equal(r.status, 400)
    assert.match(r.type ?? '', /^application\/problem\+json/)
    assert.equal(r.body.code, 'HP_ERR_HTTP_UNKNOWN_FIELD')
    assert.match(r.body.detail, /bogus/)
    assert.equal(calls, before)
  })

  it('envelopes, arrays, and only 2xx', async () => {
    assert.deepEqual((await get(base, '/products?fields=price')).body, {
      data: [
        { id: 1, price: 10 },
        { id: 2, price: 20 },
      ],
      pagination: { next: 'abc' },
    })
    assert.deepEqual((await get(base, '/array?fields=name')).body, [
      { name: 'product 1' },
      { name: 'product 2' },
    ])
    assert.equal((await get(base, '/missing?fields=name')).body.price, 0)
  })
})

describe('fieldsets core', () => {
  it('validates options and specs at creation', () => {
    assert.throws(() => createFieldsets({ param: 'a b' }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createFieldsets({ always: [''] }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createFieldsets().specFromFields([]), code('HP_ERR_INVALID_OPTION'))
    assert.throws(
      () => expressFieldsets({ fields: undefined as unknown as string[] }),
      code('HP_ERR_INVALID_OPTION'),
    )
  })

  it('remembers a bounded number of projections', () => {
    const f = createFieldsets({ maxCached: 2 })
    const spec = f.specFromFields(['id', 'a', 'b', 'c'])
    const cache = f.cache()
    const p1 = f.select('a', spec, cache)
    assert.equal(f.select('a', spec, cache), p1)
    f.select('b', spec, cache)
    f.select('c', spec, cache)
    assert.ok(cache.size <= 2)
    assert.deepEqual(f.select(' c , a ', spec).fields, ['id', 'a', 'c'])
  })
})
