import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { folderMailer } from '../../app/services/mailer.ts'
import { createOutbox, type Outbox } from '../../app/services/outbox.ts'
import { unless } from '../helpers/services.ts'
import { type Reply, send, startShop, type TestShop } from './shop.ts'

const skip = (await unless('postgres')) || (await unless('redis'))

const DATE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/
const PRICE = /^\d+\.\d{2}$/
const EMAIL = 'journey@example.org'
const PASSWORD = 'a walk of a thousand miles'

/** The mail to `to` whose subject starts with `subject`, from the shop's mail folder. */
function mailTo(dir: string, to: string, subject: string): string {
  const found = readdirSync(dir)
    .filter((f) => f.endsWith('.eml'))
    .map((f) => readFileSync(join(dir, f), 'utf8'))
    .filter((m) => m.includes(`\r\nTo: ${to}\r\n`) && m.includes(`\r\nSubject: ${subject}`))
  assert.equal(found.length, 1, `one mail "${subject}" to ${to}`)
  return found[0]!
}

// One customer's whole visit, in order, over real HTTP; each step checks
// its status and the shape of its answer, and feeds the next.
describe('shop journey: register → verify → login → browse → search → cart → order → pay → me → logout', {
  skip,
}, () => {
  let shop: TestShop
  let outbox: Outbox
  let token: string
  let userId: number
  let product: { id: number; name: string; price: string; stock: number }
  let orderId: number
  before(async () => {
    shop = await startShop({ products: 60, users: 3, orders: 0 })
    outbox = createOutbox({
      db: shop.resources.db,
      mailer: folderMailer(shop.config.mailDir),
      publicUrl: shop.config.publicUrl,
    })
  })
  after(async () => {
    await shop?.stop()
  })

  it('registers, and the verification mail goes out through the outbox', async () => {
    const r = await send(shop.base, 'POST', '/auth/register', {
      body: { email: EMAIL, password: PASSWORD, name: 'Jo Urney' },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    assert.deepEqual(Object.keys(r.body).sort(), ['createdAt', 'email', 'id', 'name', 'verified'])
    assert.equal(r.body.verified, false)
    userId = r.body.id
    const run = await outbox.runOnce()
    assert.equal(run.sent, 1)
  })

  it('verifies the e-mail with the token from the mail', async () => {
    const mail = mailTo(shop.config.mailDir, EMAIL, 'Confirm your e-mail address')
    const link = /\/verify-email\?token=([A-Za-z0-9_-]{43})\b/.exec(mail)
    assert.ok(link, mail)
    const r = await send(shop.base, 'POST', '/auth/verify-email', { body: { token: link[1] } })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.id, userId)
    assert.equal(r.body.verified, true)
  })

  it('logs in', async () => {
    const r = await send(shop.base, 'POST', '/auth/login', {
      body: { email: EMAIL, password: PASSWORD },
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.match(r.body.token, /^[A-Za-z0-9_-]{43}$/)
    assert.match(r.body.expiresAt, DATE)
    assert.equal(r.body.user.id, userId)
    assert.equal(r.body.user.verified, true)
    token = r.body.token
  })

  it('browses the categories, a filtered listing, its next page and one product', async () => {
    const cats = await send(shop.base, 'GET', '/api/categories')
    assert.equal(cats.status, 200)
    assert.ok(cats.body.data.length > 0)
    const category = cats.body.data[0].id as number

    const page = await send(shop.base, 'GET', '/api/products?sort=price&order=asc&limit=5')
    assert.equal(page.status, 200)
    assert.equal(page.body.data.length, 5)
    assert.equal(page.body.pagination.hasMore, true)
    for (const p of page.body.data) {
      assert.deepEqual(Object.keys(p).sort(), ['categoryId', 'createdAt', 'id', 'name', 'price'])
      assert.match(p.price, PRICE)
    }
    const next = await send(
      shop.base,
      'GET',
      `/api/products?sort=price&order=asc&limit=5&cursor=${page.body.pagination.nextCursor}`,
    )
    assert.equal(next.status, 200)
    assert.ok(Number(next.body.data[0].price) >= Number(page.body.data[4].price))
    const inCategory = await send(shop.base, 'GET', `/api/products?category=${category}`)
    assert.equal(inCategory.status, 200)
    assert.ok(inCategory.body.data.every((p: { categoryId: number }) => p.categoryId === category))

    // The first product with stock to spare.
    for (const p of [...page.body.data, ...next.body.data]) {
      const one = await send(shop.base, 'GET', `/api/products/${p.id}`)
      assert.equal(one.status, 200)
      assert.equal(one.body.id, p.id)
      assert.equal(typeof one.body.category, 'string')
      if (one.body.stock >= 2) {
        product = one.body
        break
      }
    }
    assert.ok(product, 'a product in stock')
  })

  it('searches, and finds the product by its name', async () => {
    const q = encodeURIComponent(product.name)
    const r = await send(shop.base, 'GET', `/api/products/search?q=${q}&limit=50`)
    assert.equal(r.status, 200)
    assert.ok(r.body.data.length > 0)
    assert.ok(r.body.data.every((p: { rank: number }) => typeof p.rank === 'number'))
    assert.ok(r.body.data.some((p: { id: number }) => p.id === product.id))
    assert.deepEqual(Object.keys(r.body.pagination).sort(), ['hasMore', 'limit', 'offset'])
  })

  it('fills the cart', async () => {
    const empty = await send(shop.base, 'GET', '/api/cart', { token })
    assert.equal(empty.status, 200)
    assert.deepEqual(empty.body, { items: [], count: 0, total: '0.00' })
    const r = await send(shop.base, 'POST', '/api/cart/items', {
      body: { productId: product.id, quantity: 2 },
      token,
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.count, 2)
    assert.equal(r.body.items[0].productId, product.id)
    assert.match(r.body.total, PRICE)
    assert.equal(Number(r.body.total), Number(product.price) * 2)
  })

  it('orders the cart, and the confirmation mail goes out', async () => {
    const cart = await send(shop.base, 'GET', '/api/cart', { token })
    const r = await fetch(`${shop.base}/api/orders`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        'idempotency-key': 'journey-order-1',
      },
      body: JSON.stringify({ expectedTotal: cart.body.total }),
    })
    const order = (await r.json()) as Reply['body']
    assert.equal(r.status, 201, JSON.stringify(order))
    assert.equal(order.status, 'pending')
    assert.equal(order.paymentStatus, 'unpaid')
    assert.equal(order.total, cart.body.total)
    assert.deepEqual(
      order.items.map((i: { productId: number; quantity: number }) => [i.productId, i.quantity]),
      [[product.id, 2]],
    )
    orderId = order.id
    const after = await send(shop.base, 'GET', `/api/products/${product.id}`)
    assert.equal(after.body.stock, product.stock - 2)
    assert.equal((await send(shop.base, 'GET', '/api/cart', { token })).body.count, 0)

    assert.equal((await outbox.runOnce()).sent, 1)
    const mail = mailTo(shop.config.mailDir, EMAIL, `Your order ${orderId}`)
    assert.ok(mail.includes(`total ${order.total}`))
  })

  it('pays the order', async () => {
    const r = await send(shop.base, 'POST', `/api/orders/${orderId}/pay`, { token })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.status, 'paid')
    assert.equal(r.body.paymentStatus, 'succeeded')
    const list = await send(shop.base, 'GET', '/api/orders', { token })
    assert.equal(list.status, 200)
    assert.deepEqual(
      list.body.data.map((o: { id: number; status: string }) => [o.id, o.status]),
      [[orderId, 'paid']],
    )
  })

  it('reads the profile', async () => {
    const r = await send(shop.base, 'GET', '/auth/me', { token })
    assert.equal(r.status, 200)
    assert.deepEqual(
      { id: r.body.id, email: r.body.email, name: r.body.name, verified: r.body.verified },
      { id: userId, email: EMAIL, name: 'Jo Urney', verified: true },
    )
    assert.match(r.body.createdAt, DATE)
  })

  it('logs out: the token no longer works', async () => {
    const r = await send(shop.base, 'POST', '/auth/logout', { token })
    assert.equal(r.status, 204)
    assert.equal((await send(shop.base, 'GET', '/auth/me', { token })).status, 401)
    assert.equal((await send(shop.base, 'GET', '/api/cart', { token })).status, 401)
  })
})
