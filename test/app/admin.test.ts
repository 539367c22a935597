import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { unless } from '../helpers/services.ts'
import { get, login, send, startInstance, startShop, type TestShop } from './shop.ts'

const skip = (await unless('postgres')) || (await unless('redis'))

describe('shop product updates by administrators, across instances (PostgreSQL + Redis)', {
  skip,
}, () => {
  let shop: TestShop
  let b: Awaited<ReturnType<typeof startInstance>>
  let admin: string
  let customer: string
  before(async () => {
    shop = await startShop({ products: 30, users: 3, orders: 0 })
    b = await startInstance(shop)
    await shop.resources.db.query('UPDATE users SET is_admin = true WHERE id = 1')
    admin = await login(shop.base, 'user1@example.com')
    customer = await login(shop.base, 'user2@example.com')
  })
  after(async () => {
    await b?.stop()
    await shop?.stop()
  })

  it('refuses anonymous (401) and non-admin (403) updates and bad ones (400/404/413/415)', async () => {
    const body = { name: 'Nope' }
    const anon = await send(shop.base, 'PUT', '/api/products/3', { body })
    assert.equal(anon.status, 401)
    const forbidden = await send(shop.base, 'PUT', '/api/products/3', { body, token: customer })
    assert.equal(forbidden.status, 403)
    assert.equal(forbidden.body.code, 'SHOP_ERR_FORBIDDEN')
    for (const bad of [
      {},
      { name: '' },
      { name: '  ' },
      { price: '1.5' },
      { price: -1 },
      { x: 1 },
    ]) {
      const r = await send(shop.base, 'PUT', '/api/products/3', { body: bad, token: admin })
      assert.equal(r.status, 400, JSON.stringify(bad))
    }
    const missing = await send(shop.base, 'PUT', '/api/products/999999', { body, token: admin })
    assert.equal(missing.status, 404)
    const bad = await send(shop.base, 'PUT', '/api/products/abc', { body, token: admin })
    assert.equal(bad.status, 400)
    const big = await send(shop.base, 'PUT', '/api/products/3', {
      body: { description: 'x'.repeat(20_000) },
      token: admin,
    })
    assert.equal(big.status, 413)
    const text = await send(shop.base, 'PUT', '/api/products/3', {
      raw: 'name=x',
      type: 'application/x-www-form-urlencoded',
      token: admin,
    })
    assert.equal(text.status, 415)
    assert.equal((await get(shop.base, '/api/products/3')).body.name === 'Nope', false)
  })

  it('updates a product; the other instance serves the change at once', async () => {
    const first = await get(b.base, '/api/products/5')
    assert.equal(first.status, 200)
    assert.equal((await get(b.base, '/api/products/5')).headers.get('x-cache'), 'HIT')
    const list = await get(b.base, '/api/products?sort=price&order=desc&limit=1')
    assert.equal(
      (await get(b.base, '/api/products?sort=price&order=desc&limit=1')).headers.get('x-cache'),
      'HIT',
    )

    const r = await send(shop.base, 'PUT', '/api/products/5', {
      body: { name: 'Brass kettle', price: '99999.99', description: null },
      token: admin,
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.name, 'Brass kettle')
    assert.equal(r.body.price, '99999.99')
    assert.equal(r.body.description, null)
    assert.equal(r.body.category, first.body.category)
    assert.ok(Date.parse(r.body.updatedAt) >= Date.parse(String(first.body.updatedAt)))

    // No wait: the tags were invalidated on every instance before the PUT answered.
    const seen = await get(b.base, '/api/products/5')
    assert.equal(seen.body.name, 'Brass kettle')
    assert.equal(seen.body.price, '99999.99')
    const top = await get(b.base, '/api/products?sort=price&order=desc&limit=1')
    assert.notDeepEqual(top.body.data, list.body.data)
    assert.equal(top.body.data[0]!.id, 5)

    // A partial update keeps the other fields.
    const p = await send(b.base, 'PUT', '/api/products/5', {
      body: { price: '1.00' },
      token: admin,
    })
    assert.equal(p.status, 200)
    assert.equal(p.body.name, 'Brass kettle')
    assert.equal((await get(shop.base, '/api/products/5')).body.price, '1.00')
  })
})
