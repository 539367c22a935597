import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { unless } from '../helpers/services.ts'
import { login, send, startShop, type TestShop } from './shop.ts'

const skip = (await unless('postgres')) || (await unless('redis'))

/** "12.34" → 1234: money compared in cents, never in floats. */
const cents = (s: string): number => {
  const [whole, frac] = s.split('.')
  return Number(whole) * 100 + Number(frac)
}

describe('shop cart over HTTP (PostgreSQL + Redis)', { skip }, () => {
  let shop: TestShop
  let token: string
  let other: string
  const price = new Map<number, string>()
  const name = new Map<number, string>()

  before(async () => {
    shop = await startShop({ products: 30, users: 4, orders: 5 })
    token = await login(shop.base, 'user1@example.com')
    other = await login(shop.base, 'user2@example.com')
    const { db } = shop.resources
    // Known stock: plenty for 1–5, two of 6, none of 7.
    await db.query('UPDATE inventory SET quantity = 1000 WHERE product_id <= 5')
    await db.query('UPDATE inventory SET quantity = 2 WHERE product_id = 6')
    await db.query('UPDATE inventory SET quantity = 0 WHERE product_id = 7')
    const { rows } = await db.query<{ id: number; name: string; price: string }>(
      'SELECT id, name, price FROM products',
    )
    for (const r of rows) {
      price.set(r.id, r.price)
      name.set(r.id, r.name)
    }
  })
  after(async () => {
    await shop?.stop()
  })

  const cart = (t = token) => send(shop.base, 'GET', '/api/cart', { token: t })
  const add = (productId: unknown, quantity: unknown, t = token) =>
    send(shop.base, 'POST', '/api/cart/items', { token: t, body: { productId, quantity } })

  it('answers 401 on every cart route without a valid session', async () => {
    for (const [method, path, body] of [
      ['GET', '/api/cart', undefined],
      ['POST', '/api/cart/items', { productId: 1, quantity: 1 }],
      ['PATCH', '/api/cart/items/1', { quantity: 1 }],
      ['DELETE', '/api/cart/items/1', undefined],
    ] as const) {
      for (const t of [undefined, 'A'.repeat(43)]) {
        const r = await send(shop.base, method, path, {
          ...(body ? { body } : {}),
          ...(t ? { token: t } : {}),
        })
        assert.equal(r.status, 401, `${method} ${path}`)
        assert.equal(r.body.code, 'SHOP_ERR_UNAUTHORIZED')
      }
    }
    // Even a malformed body: the session is checked before the body is read.
    const r = await send(shop.base, 'POST', '/api/cart/items', { raw: '{"productId":' })
    assert.equal(r.status, 401)
  })

  it('starts empty', async () => {
    const r = await cart()
    assert.equal(r.status, 200)
    assert.deepEqual(r.body, { items: [], count: 0, total: '0.00' })
    assert.equal(r.headers.get('cache-control'), 'no-store')
  })

  it('adds, merges lines, and totals with names and prices from one query', async () => {
    assert.equal((await add(3, 2)).status, 200)
    const merged = await add(3, 1)
    assert.equal(merged.status, 200)
    assert.deepEqual(merged.body.items, [
      {
        productId: 3,
        name: name.get(3),
        price: price.get(3),
        quantity: 3,
        lineTotal: ((cents(price.get(3)!) * 3) / 100).toFixed(2),
      },
    ])
    const r = await add(5, 4)
    assert.deepEqual(
      r.body.items.map((i: { productId: number; quantity: number }) => [i.productId, i.quantity]),
      [
        [3, 3],
        [5, 4],
      ],
    )
    assert.equal(r.body.count, 7)
    assert.equal(cents(r.body.total), cents(price.get(3)!) * 3 + cents(price.get(5)!) * 4)

    // A cold read is one statement, whatever the number of lines; a warm one none.
    const { db, cache } = shop.resources
    await cache.invalidateTags(['cart:1'])
    const statements: string[] = []
    const onQuery = (e: { name?: string; statement: string }) =>
      statements.push(e.name ?? e.statement)
    db.on('query', onQuery)
    try {
      assert.deepEqual((await cart()).body, r.body)
      assert.deepEqual(statements, ['cart.view'])
      await cart()
      assert.deepEqual(statements, ['cart.view'], 'served from the cache')
    } finally {
      db.off('query', onQuery)
    }
  })

  it('keeps each user’s cart their own', async () => {
    assert.deepEqual((await cart(other)).body.items, [])
    await add(4, 1, other)
    assert.deepEqual(
      (await cart(other)).body.items.map((i: { productId: number }) => i.productId),
      [4],
    )
    assert.ok((await cart()).body.items.every((i: { productId: number }) => i.productId !== 4))
  })

  it('changes a quantity and removes a line; writes are seen at once', async () => {
    const patched = await send(shop.base, 'PATCH', '/api/cart/items/3', {
      token,
      body: { quantity: 10 },
    })
    assert.equal(patched.status, 200, JSON.stringify(patched.body))
    assert.equal(patched.body.items[0].quantity, 10)
    assert.equal((await cart()).body.items[0].quantity, 10)

    const removed = await send(shop.base, 'DELETE', '/api/cart/items/3', { token })
    assert.equal(removed.status, 204)
    assert.deepEqual(
      (await cart()).body.items.map((i: { productId: number }) => i.productId),
      [5],
    )
    const again = await send(shop.base, 'DELETE', '/api/cart/items/3', { token })
    assert.equal(again.status, 404)
    const absent = await send(shop.base, 'PATCH', '/api/cart/items/3', {
      token,
      body: { quantity: 1 },
    })
    assert.equal(absent.status, 404)
    // Another user's line is not yours to change.
    const theirs = await send(shop.base, 'PATCH', '/api/cart/items/4', {
      token,
      body: { quantity: 2 },
    })
    assert.equal(theirs.status, 404)
  })

  it('refuses bad items with 400, 404, 413, 415 and 422, never 500', async () => {
    const before = (await cart()).body
    const cases: [unknown, unknown, number][] = [
      [undefined, 1, 400],
      [1, undefined, 400],
      ['abc', 1, 400],
      [1.5, 1, 400],
      [0, 1, 400],
      [-1, 1, 400],
      [99_999_999_999, 1, 400],
      [{ id: 1 }, 1, 400],
      [1, 0, 400],
      [1, 100, 400],
      [1, 'many', 400],
      [1, 2.5, 400],
      [999_999, 1, 404],
      [6, 3, 422], // two in stock
      [7, 1, 422], // none in stock
    ]
    for (const [productId, quantity, status] of cases) {
      const r = await add(productId, quantity)
      assert.equal(r.status, status, `${productId} × ${quantity}: ${JSON.stringify(r.body)}`)
      assert.match(r.body.code, /^(HP|SHOP)_ERR_/)
    }
    assert.equal((await add(6, 3)).body.code, 'SHOP_ERR_OUT_OF_STOCK')
    // The 99 per line counts what is already in the cart; nothing is written on refusal.
    assert.equal((await add(1, 60)).status, 200)
    const over = await add(1, 40)
    assert.equal(over.status, 422)
    assert.equal(over.body.code, 'SHOP_ERR_QUANTITY')
    const line = (await cart()).body.items.find((i: { productId: number }) => i.productId === 1)
    assert.equal(line.quantity, 60)
    await send(shop.base, 'DELETE', '/api/cart/items/1', { token })
    assert.deepEqual((await cart()).body, before)

    for (const [path, quantity] of [
      ['/api/cart/items/5', 0],
      ['/api/cart/items/5', 100],
      ['/api/cart/items/5', 'x'],
      ['/api/cart/items/abc', 1],
      ['/api/cart/items/0', 1],
    ] as const) {
      const r = await send(shop.base, 'PATCH', path, { token, body: { quantity } })
      assert.equal(r.status, 400, `${path} ${quantity}`)
    }
    const empty = await send(shop.base, 'PATCH', '/api/cart/items/5', {
      token,
      body: {},
    })
    assert.equal(empty.status, 400)
    assert.equal((await send(shop.base, 'DELETE', '/api/cart/items/x', { token })).status, 400)

    const raw = (body: string, type?: string) =>
      send(shop.base, 'POST', '/api/cart/items', { token, raw: body, ...(type ? { type } : {}) })
    assert.equal((await raw('{"productId": 1,')).body.code, 'HP_ERR_HTTP_INVALID_JSON')
    assert.equal(
      (await raw(JSON.stringify({ productId: 1, quantity: 1, pad: 'x'.repeat(5000) }))).status,
      413,
    )
    assert.equal((await raw('productId=1', 'application/x-www-form-urlencoded')).status, 415)
    assert.deepEqual((await cart()).body, before)
  })

  it('documents the cart routes in the OpenAPI description', async () => {
    const paths = (await send(shop.base, 'GET', '/docs/openapi.json')).body.paths
    assert.ok(paths['/api/cart'].get)
    assert.ok(paths['/api/cart/items'].post.requestBody)
    assert.ok(paths['/api/cart/items/{productId}'].patch)
    assert.ok(paths['/api/cart/items/{productId}'].delete)
  })
})
