import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { loadConfig } from '../../app/config.ts'
import { createPaymentSimulator } from '../../app/services/payments.ts'
import { unless } from '../helpers/services.ts'
import { login, type Reply, send, startInstance, startShop, type TestShop } from './shop.ts'

const skip = (await unless('postgres')) || (await unless('redis'))

const BUYERS = 50
const STOCK = 10
/** Products with known stock: plenty of 1–5, STOCK of 6 (the contested one), none of 7. */
const CONTESTED = 6

describe('shop orders and payments over HTTP (PostgreSQL + Redis)', { skip }, () => {
  let shop: TestShop
  let token: string
  let other: string
  const tokens: string[] = []

  before(async () => {
    shop = await startShop(
      { products: 30, users: BUYERS + 2, orders: 5 },
      {
        loginLimits: {
          perIp: { limit: 1000, window: '1m' },
          perAccount: { limit: 100, window: '1m' },
        },
      },
    )
    const { db } = shop.resources
    await db.query('UPDATE inventory SET quantity = 1000 WHERE product_id <= 5')
    await db.query('UPDATE inventory SET quantity = $1 WHERE product_id = $2', [STOCK, CONTESTED])
    await db.query('UPDATE inventory SET quantity = 0 WHERE product_id = 7')
    token = await login(shop.base, 'user1@example.com')
    other = await login(shop.base, 'user2@example.com')
    for (let i = 3; i < BUYERS + 3; i++) tokens.push(await login(shop.base, `user${i}@example.com`))
  })
  after(async () => {
    await shop?.stop()
  })

  const add = (productId: number, quantity: number, t = token) =>
    send(shop.base, 'POST', '/api/cart/items', { token: t, body: { productId, quantity } })
  const place = (t = token, key?: string, body?: unknown): Promise<Reply> =>
    fetch(`${shop.base}/api/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${t}`,
        ...(key === undefined ? {} : { 'idempotency-key': key }),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    }).then(async (res) => ({ status: res.status, headers: res.headers, body: await res.json() }))
  const stock = async (id: number): Promise<number> => {
    const { rows } = await shop.resources.db.query<{ quantity: number }>(
      'SELECT quantity FROM inventory WHERE product_id = $1',
      [id],
      { primary: true },
    )
    return rows[0]!.quantity
  }
  const count = async (sql: string, values: unknown[] = []): Promise<number> => {
    const { rows } = await shop.resources.db.query<{ n: string }>(sql, values, { primary: true })
    return Number(rows[0]!.n)
  }

  it('answers 401 on every order route without a valid session', async () => {
    for (const [method, path] of [
      ['POST', '/api/orders'],
      ['GET', '/api/orders'],
      ['GET', '/api/orders/1'],
      ['POST', '/api/orders/1/pay'],
    ] as const) {
      const r = await send(shop.base, method, path)
      assert.equal(r.status, 401, `${method} ${path}`)
      assert.equal(r.body.code, 'SHOP_ERR_UNAUTHORIZED')
    }
  })

  it('orders the cart, pays, and shows the paid order with its items', async () => {
    const before = await stock(2)
    const product = await send(shop.base, 'GET', '/api/products/2') // warms its cache entry
    assert.equal(product.body.stock, before)
    await add(2, 3)
    await add(4, 1)
    const cart = (await send(shop.base, 'GET', '/api/cart', { token })).body
    const placed = await place(token, undefined, { expectedTotal: cart.total })
    assert.equal(placed.status, 201, JSON.stringify(placed.body))
    const order = placed.body
    assert.equal(order.status, 'pending')
    assert.equal(order.paymentStatus, 'unpaid')
    assert.equal(order.total, cart.total)
    assert.deepEqual(
      order.items.map((i: { productId: number; quantity: number }) => [i.productId, i.quantity]),
      [
        [2, 3],
        [4, 1],
      ],
    )
    // The stock is taken, the product page sees it at once, the cart is empty.
    assert.equal(await stock(2), before - 3)
    assert.equal((await send(shop.base, 'GET', '/api/products/2')).body.stock, before - 3)
    assert.deepEqual((await send(shop.base, 'GET', '/api/cart', { token })).body.items, [])
    // The confirmation is queued in the same transaction (the outbox).
    assert.equal(
      await count(
        `SELECT count(*) AS n FROM jobs WHERE kind = 'order-confirmation' AND (payload->>'orderId')::int = $1`,
        [order.id],
      ),
      1,
    )

    const paid = await send(shop.base, 'POST', `/api/orders/${order.id}/pay`, { token })
    assert.equal(paid.status, 200, JSON.stringify(paid.body))
    assert.equal(paid.body.status, 'paid')
    assert.equal(paid.body.paymentStatus, 'succeeded')

    const got = await send(shop.base, 'GET', `/api/orders/${order.id}`, { token })
    assert.equal(got.status, 200)
    assert.equal(got.body.status, 'paid')
    assert.deepEqual(got.body.items, order.items)
    assert.equal(got.headers.get('cache-control'), 'no-store')

    // Paying a paid order is a 409; still one successful payment.
    const again = await send(shop.base, 'POST', `/api/orders/${order.id}/pay`, { token })
    assert.equal(again.status, 409)
    assert.equal(again.body.code, 'SHOP_ERR_ORDER_STATE')
    assert.equal(
      await count('SELECT count(*) AS n FROM payments WHERE order_id = $1', [order.id]),
      1,
    )
  })

  it('reads one order in one statement', async () => {
    await add(3, 2)
    const order = (await place()).body
    const { db } = shop.resources
    const statements: string[] = []
    const onQuery = (e: { name?: string; statement: string }) =>
      statements.push(e.name ?? e.statement)
    db.on('query', onQuery)
    try {
      const r = await send(shop.base, 'GET', `/api/orders/${order.id}`, { token })
      assert.equal(r.body.items.length, 1)
    } finally {
      db.off('query', onQuery)
    }
    assert.ok(statements.filter((s) => s.startsWith('orders.')).length === 1, String(statements))
  })

  it('lists only the user’s orders, newest first, in keyset pages', async () => {
    for (let i = 0; i < 3; i++) {
      await add(1, 1)
      assert.equal((await place()).status, 201)
    }
    const mine = await count('SELECT count(*) AS n FROM orders WHERE customer_id = 1')
    const seen: { id: number; createdAt: string }[] = []
    let cursor: string | null = null
    do {
      const q: string = cursor === null ? '' : `&cursor=${cursor}`
      const r = await send(shop.base, 'GET', `/api/orders?limit=2${q}`, { token })
      assert.equal(r.status, 200, JSON.stringify(r.body))
      seen.push(...r.body.data)
      cursor = r.body.pagination.nextCursor
    } while (cursor !== null)
    assert.equal(seen.length, mine)
    assert.equal(new Set(seen.map((o) => o.id)).size, mine)
    for (let i = 1; i < seen.length; i++) {
      const [a, b] = [seen[i - 1]!, seen[i]!]
      assert.ok(a.createdAt > b.createdAt || (a.createdAt === b.createdAt && a.id > b.id))
    }
    const theirs = await send(shop.base, 'GET', '/api/orders', { token: other })
    const ids = new Set(seen.map((o) => o.id))
    assert.ok(theirs.body.data.every((o: { id: number }) => !ids.has(o.id)))
  })

  it(`sells ${STOCK} to ${BUYERS} concurrent buyers: exactly ${STOCK} orders, never oversold`, async () => {
    for (const t of tokens) assert.equal((await add(CONTESTED, 1, t)).status, 200)
    const results = await Promise.all(tokens.map((t) => place(t)))
    const won = results.filter((r) => r.status === 201)
    const lost = results.filter((r) => r.status !== 201)
    assert.equal(won.length, STOCK)
    assert.equal(lost.length, BUYERS - STOCK)
    for (const r of lost) {
      assert.ok([409, 422].includes(r.status), JSON.stringify(r.body))
      assert.equal(r.body.code, 'SHOP_ERR_OUT_OF_STOCK')
    }
    assert.equal(await stock(CONTESTED), 0)
    assert.equal(
      await count('SELECT count(*) AS n FROM order_items WHERE product_id = $1', [CONTESTED]),
      STOCK,
    )
    // The losers keep their cart; the product page shows none left.
    assert.equal((await send(shop.base, 'GET', `/api/products/${CONTESTED}`)).body.stock, 0)
  })

  it('honours an Idempotency-Key: sequential and concurrent retries get the first order', async () => {
    await add(1, 2)
    const first = await place(token, 'key-seq-1')
    assert.equal(first.status, 201, JSON.stringify(first.body))
    const again = await place(token, 'key-seq-1')
    assert.equal(again.status, 201)
    assert.equal(again.headers.get('idempotent-replayed'), 'true')
    assert.deepEqual(again.body, first.body)
    // The same key with a different body is refused; another user's same key is theirs.
    const changed = await place(token, 'key-seq-1', { expectedTotal: '1.00' })
    assert.equal(changed.status, 422)
    assert.equal(changed.body.code, 'SHOP_ERR_IDEMPOTENCY_KEY_REUSED')
    assert.equal((await place(other, 'key-seq-1')).body.code, 'SHOP_ERR_EMPTY_CART')

    const orders = await count('SELECT count(*) AS n FROM orders')
    await add(1, 1)
    const burst = await Promise.all(Array.from({ length: 10 }, () => place(token, 'key-conc-1')))
    assert.ok(
      burst.every((r) => r.status === 201),
      JSON.stringify(burst.map((r) => r.status)),
    )
    assert.equal(new Set(burst.map((r) => r.body.id)).size, 1)
    assert.equal(await count('SELECT count(*) AS n FROM orders'), orders + 1)
  })

  it('refuses bad orders with 400, 404, 409 and 422, never 500', async () => {
    const empty = await place()
    assert.equal(empty.status, 422)
    assert.equal(empty.body.code, 'SHOP_ERR_EMPTY_CART')

    await add(1, 1)
    const priced = await place(token, undefined, { expectedTotal: '0.01' })
    assert.equal(priced.status, 409)
    assert.equal(priced.body.code, 'SHOP_ERR_PRICE_CHANGED')
    assert.equal((await place(token, undefined, { expectedTotal: 12 })).status, 400)
    assert.equal((await place(token, 'bad key with spaces')).status, 400)
    assert.equal((await place(token, 'k'.repeat(256))).status, 400)
    // Stock gone between adding and ordering.
    await shop.resources.db.query('UPDATE inventory SET quantity = 0 WHERE product_id = 1')
    const gone = await place()
    assert.equal(gone.status, 422)
    assert.equal(gone.body.code, 'SHOP_ERR_OUT_OF_STOCK')
    await shop.resources.db.query('UPDATE inventory SET quantity = 1000 WHERE product_id = 1')
    await send(shop.base, 'DELETE', '/api/cart/items/1', { token })

    await add(3, 1, other)
    const theirs = (await place(other)).body
    for (const path of [`/api/orders/${theirs.id}`, '/api/orders/999999']) {
      assert.equal((await send(shop.base, 'GET', path, { token })).status, 404, path)
      assert.equal((await send(shop.base, 'POST', `${path}/pay`, { token })).status, 404, path)
    }
    for (const path of ['/api/orders/abc', '/api/orders/0', '/api/orders/99999999999']) {
      assert.equal((await send(shop.base, 'GET', path, { token })).status, 400, path)
      assert.equal((await send(shop.base, 'POST', `${path}/pay`, { token })).status, 400, path)
    }
    for (const q of ['limit=0', 'limit=101', 'cursor=***', 'cursor=abc']) {
      const r = await send(shop.base, 'GET', `/api/orders?${q}`, { token })
      assert.equal(r.status, 400, q)
    }
  })

  it('serializes concurrent pay requests: one charge, one successful payment', async () => {
    await add(4, 1)
    const order = (await place()).body
    const results = await Promise.all(
      Array.from({ length: 8 }, () =>
        send(shop.base, 'POST', `/api/orders/${order.id}/pay`, { token }),
      ),
    )
    assert.equal(results.filter((r) => r.status === 200).length, 1)
    assert.ok(results.every((r) => r.status === 200 || r.status === 409))
    assert.equal(
      await count('SELECT count(*) AS n FROM payments WHERE order_id = $1', [order.id]),
      1,
    )
    assert.equal(
      await count(
        `SELECT count(*) AS n FROM payments WHERE order_id = $1 AND status = 'succeeded'`,
        [order.id],
      ),
      1,
    )
  })

  it('fails a declined order for good and puts its stock back', async () => {
    // A second instance whose provider declines every charge.
    const declining = await startInstance(shop, {
      payments: createPaymentSimulator({ latencyMs: 1, failureRate: 1 }),
    })
    try {
      const before = await stock(5)
      await add(5, 2)
      const order = (await place()).body
      assert.equal(await stock(5), before - 2)
      const paid = await send(declining.base, 'POST', `/api/orders/${order.id}/pay`, { token })
      assert.equal(paid.status, 402)
      assert.equal(paid.body.code, 'SHOP_ERR_PAYMENT_DECLINED')
      const got = (await send(shop.base, 'GET', `/api/orders/${order.id}`, { token })).body
      assert.equal(got.status, 'failed')
      assert.equal(got.paymentStatus, 'failed')
      assert.equal(await stock(5), before)
      assert.equal((await send(shop.base, 'GET', '/api/products/5')).body.stock, before)
      // Failed is final: paying again, on any provider, is a 409 and charges nothing.
      const retry = await send(shop.base, 'POST', `/api/orders/${order.id}/pay`, { token })
      assert.equal(retry.status, 409)
      assert.equal(
        await count(
          `SELECT count(*) AS n FROM payments WHERE order_id = $1 AND status = 'failed'`,
          [order.id],
        ),
        1,
      )
    } finally {
      await declining.stop()
    }
  })

  it('reads the payment simulator’s settings from the environment', () => {
    const c = loadConfig({
      SHOP_PAYMENT_LATENCY_MS: '0',
      SHOP_PAYMENT_FAILURE_RATE: '0.25',
      SHOP_CURSOR_SECRET: 'x'.repeat(32),
    })
    assert.equal(c.paymentLatencyMs, 0)
    assert.equal(c.paymentFailureRate, 0.25)
    assert.throws(() => loadConfig({ SHOP_PAYMENT_FAILURE_RATE: '2' }), /SHOP_PAYMENT_FAILURE_RATE/)
    assert.throws(() => loadConfig({ SHOP_PAYMENT_LATENCY_MS: '-1' }), /SHOP_PAYMENT_LATENCY_MS/)
  })

  it('documents the order routes in the OpenAPI description', async () => {
    const paths = (await send(shop.base, 'GET', '/docs/openapi.json')).body.paths
    assert.ok(paths['/api/orders'].post)
    assert.ok(paths['/api/orders'].get)
    assert.ok(paths['/api/orders/{id}'].get)
    assert.ok(paths['/api/orders/{id}/pay'].post)
  })
})
