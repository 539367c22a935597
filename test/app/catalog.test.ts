import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { unless } from '../helpers/services.ts'
import { get, type Row, startShop, type TestShop } from './shop.ts'

const skip = (await unless('postgres')) || (await unless('redis'))

describe('shop catalog over HTTP (PostgreSQL + Redis)', { skip }, () => {
  let shop: TestShop
  before(async () => {
    shop = await startShop()
  })
  after(async () => {
    await shop?.stop()
  })

  /** Every page of a listing, following nextCursor. */
  async function walk(query: string, limit: number): Promise<Row[]> {
    const rows: Row[] = []
    let cursor: string | null | undefined
    for (let i = 0; i < 100; i++) {
      const c = cursor ? `&cursor=${cursor}` : ''
      const r = await get(shop.base, `/api/products?limit=${limit}${query}${c}`)
      assert.equal(r.status, 200, JSON.stringify(r.body))
      rows.push(...r.body.data)
      cursor = r.body.pagination.nextCursor
      if (!cursor) return rows
    }
    throw new Error('too many pages')
  }

  it('lists the categories', async () => {
    const r = await get(shop.base, '/api/categories')
    assert.equal(r.status, 200)
    assert.equal(r.body.data.length, 12)
    assert.deepEqual(Object.keys(r.body.data[0]!).sort(), ['id', 'name', 'slug'])
  })

  it('pages through every product, newest first, with no repeats', async () => {
    const rows = await walk('', 70)
    assert.equal(rows.length, 300)
    assert.equal(new Set(rows.map((r) => r.id)).size, 300)
    for (let i = 1; i < rows.length; i++) {
      assert.ok(rows[i - 1]!.createdAt >= rows[i]!.createdAt, 'created_at descending')
    }
  })

  it('sorts by price and by name, and filters by category and price range', async () => {
    const byPrice = await walk('&sort=price&order=asc', 100)
    assert.equal(byPrice.length, 300)
    for (let i = 1; i < byPrice.length; i++)
      assert.ok(Number(byPrice[i - 1]!.price) <= Number(byPrice[i]!.price))
    const byName = await walk('&sort=name&order=desc', 100)
    assert.equal(byName.length, 300)

    const filtered = await walk('&category=3&minPrice=50&maxPrice=250.5&sort=price', 10)
    const expected = byPrice.filter(
      (r) => r.categoryId === 3 && Number(r.price) >= 50 && Number(r.price) <= 250.5,
    )
    assert.ok(expected.length > 0, 'the seed has products in that range')
    assert.deepEqual(
      filtered.map((r) => r.id),
      expected.map((r) => r.id),
    )
  })

  it('refuses bad listing parameters with 400', async () => {
    const first = await get(shop.base, '/api/products?sort=price&limit=5')
    const cursor = first.body.pagination.nextCursor
    for (const q of [
      'limit=0',
      'limit=101',
      'limit=abc',
      'sort=description',
      'order=up',
      'category=abc',
      'category=0',
      'minPrice=abc',
      'minPrice=-1',
      'minPrice=10&maxPrice=5',
      'cursor=not*a*cursor',
      'cursor=AVsibiIsInByaWNlIi',
      `cursor=${cursor}&sort=name`,
    ]) {
      const r = await get(shop.base, `/api/products?${q}`)
      assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`)
      assert.match(r.body.code ?? '', /^HP_ERR_/)
    }
  })

  it('serves a product, caches it, and sees a change once its tag is invalidated', async () => {
    const r = await get(shop.base, '/api/products/7')
    assert.equal(r.status, 200)
    assert.equal(r.body.id, 7)
    assert.equal(typeof r.body.stock, 'number')
    assert.equal(typeof r.body.category, 'string')
    const again = await get(shop.base, '/api/products/7')
    assert.equal(again.headers.get('x-cache'), 'HIT')

    const { db, cache } = shop.resources
    await db.query("UPDATE products SET name = 'Renamed kettle' WHERE id = 7")
    assert.equal((await get(shop.base, '/api/products/7')).body.name, r.body.name, 'still cached')
    await cache.invalidateTags(['product:7'])
    assert.equal((await get(shop.base, '/api/products/7')).body.name, 'Renamed kettle')
  })

  it('answers 404 for a missing product and 400 for a malformed id', async () => {
    const missing = await get(shop.base, '/api/products/999999')
    assert.equal(missing.status, 404)
    assert.equal(missing.body.code, 'HP_ERR_HTTP_NOT_FOUND')
    for (const id of ['abc', '0', '1.5', '-3', '99999999999']) {
      const r = await get(shop.base, `/api/products/${id}`)
      assert.equal(r.status, 400, `id ${id}`)
    }
  })

  it('searches name and description, ranked and paginated', async () => {
    const r = await get(shop.base, '/api/products/search?q=kitchen&limit=5')
    assert.equal(r.status, 200)
    assert.equal(r.body.data.length, 5)
    assert.equal(r.body.pagination.hasMore, true)
    for (let i = 1; i < r.body.data.length; i++)
      assert.ok(r.body.data[i - 1]!.rank! >= r.body.data[i]!.rank!)
    const next = await get(shop.base, '/api/products/search?q=kitchen&limit=5&offset=5')
    assert.equal(next.status, 200)
    const ids = new Set(r.body.data.map((x) => x.id))
    assert.ok(next.body.data.every((x) => !ids.has(x.id)))

    const none = await get(shop.base, '/api/products/search?q=zzzzqqq')
    assert.deepEqual(none.body.data, [])
    // websearch syntax never errors, whatever the user types.
    const odd = await get(shop.base, `/api/products/search?q=${encodeURIComponent('"a & !b | (c')}`)
    assert.equal(odd.status, 200)
  })

  it('refuses bad search parameters with 400', async () => {
    for (const q of [
      '',
      'q=',
      'q=%20%20',
      'q=a&limit=51',
      'q=a&limit=0',
      'q=a&offset=1001',
      'q=a&offset=-1',
    ]) {
      const r = await get(shop.base, `/api/products/search?${q}`)
      assert.equal(r.status, 400, `${q}: ${JSON.stringify(r.body)}`)
    }
  })

  it('serves OpenAPI at /docs, health and metrics', async () => {
    const doc = await get(shop.base, '/docs/openapi.json')
    assert.equal(doc.status, 200)
    const paths = doc.body.paths as Record<string, unknown>
    for (const p of [
      '/api/products',
      '/api/products/{id}',
      '/api/products/search',
      '/api/categories',
    ])
      assert.ok(p in paths, p)
    const page = await get(shop.base, '/docs')
    assert.equal(page.status, 200)
    assert.match(page.body.text ?? '', /\/api\/products\/search/)
    assert.equal((await get(shop.base, '/health')).status, 200)
    assert.equal((await get(shop.base, '/ready')).status, 200)
    const metrics = await get(shop.base, '/metrics')
    assert.match(metrics.body.text ?? '', /http_request/)
  })
})
