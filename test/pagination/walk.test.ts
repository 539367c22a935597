import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import fc from 'fast-check'
import {
  createKeyset,
  createOffset,
  type KeysetListing,
  type KeysetPage,
  type KeysetRequest,
  type Order,
} from 'hotpath/pagination'
import type pg from 'pg'
import { unless } from '../helpers/services.ts'
import { scratch } from './schema.ts'

const skip = await unless('postgres')
const secret = 'a-test-secret-of-at-least-32-bytes!!'
const SORTS = ['id', 'n', 't', 'ts', 'f', 'num', 'cat'] as const
type Sort = (typeof SORTS)[number]

interface Item {
  n: number | null
  t: string | null
  ts: number | null
  f: number | null
  num: string | null
  cat: number
}

// Microsecond steps of 333: several values share one millisecond, which a JS
// Date (what pg returns for timestamptz) could not tell apart.
const ts = (k: number) => `2024-01-01 00:00:00.${String(k * 333).padStart(6, '0')}+00`

const item: fc.Arbitrary<Item> = fc.record({
  n: fc.option(fc.integer({ min: -3, max: 3 }), { nil: null, freq: 4 }),
  t: fc.option(fc.constantFrom('a', 'A', 'b', '', 'ä', 'a b', "o'q", 'z$1'), {
    nil: null,
    freq: 4,
  }),
  ts: fc.option(fc.integer({ min: 0, max: 12 }), { nil: null, freq: 4 }),
  f: fc.option(
    fc.oneof(
      fc.constantFrom(
        0.1 + 0.2,
        0.3,
        0,
        Number.POSITIVE_INFINITY,
        Number.NEGATIVE_INFINITY,
        Number.NaN,
        1e-300,
      ),
      fc.double({ min: -1, max: 1, noNaN: true }),
    ),
    { nil: null, freq: 4 },
  ),
  num: fc.option(fc.constantFrom('1.1', '1.10', '1.100000000000000000001', '-5', '0'), {
    nil: null,
    freq: 4,
  }),
  cat: fc.integer({ min: 0, max: 2 }),
})

const tableArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 1_000_000 }), { minLength: 20, maxLength: 300 })
  .chain((ids) =>
    fc.record({
      ids: fc.constant(ids),
      items: fc.array(item, { minLength: ids.length, maxLength: ids.length }),
      limit: fc.integer({ min: 1, max: 25 }),
      pkOrder: fc.constantFrom('same', 'asc', 'desc') as fc.Arbitrary<'same' | Order>,
      cat: fc.option(fc.integer({ min: 0, max: 2 }), { nil: null }),
    }),
  )

describe('keyset pagination against PostgreSQL', { skip }, () => {
  let db: Awaited<ReturnType<typeof scratch>>
  let pool: pg.Pool
  let table: string
  const listings = new Map<string, KeysetListing>()

  before(async () => {
    db = await scratch('walk')
    pool = db.pool
    table = `${db.schema}.items`
    await pool.query(`CREATE TABLE ${table} (
      id int PRIMARY KEY, n int, t text, ts timestamptz, f float8, num numeric, cat int NOT NULL)`)
    for (const pkOrder of ['same', 'asc', 'desc'] as const) {
      listings.set(
        pkOrder,
        createKeyset({
          table,
          columns: ['id', 'cat'],
          allowedSorts: ['n', 't', 'ts', 'f', 'num', { column: 'cat', nullable: false }],
          primaryKeyOrder: pkOrder,
          // Always true: it only checks that both filters share one numbering.
          where: { text: 'cat <> $1', values: [-1] },
          secret,
        }),
      )
    }
  })
  after(async () => {
    await db?.drop()
  })

  async function fill(ids: number[], items: Item[]) {
    await pool.query(`TRUNCATE ${table}`)
    await pool.query(
      `INSERT INTO ${table} (id, n, t, ts, f, num, cat)
       SELECT * FROM unnest($1::int[], $2::int[], $3::text[], $4::timestamptz[], $5::float8[], $6::numeric[], $7::int[])`,
      [
        ids,
        items.map((r) => r.n),
        items.map((r) => r.t),
        items.map((r) => (r.ts === null ? null : ts(r.ts))),
        items.map((r) => r.f),
        items.map((r) => r.num),
        items.map((r) => r.cat),
      ],
    )
  }

  // The whole table in the listing's order, written out independently of the builder.
  async function expected(sort: Sort, order: Order, pkOrder: 'same' | Order, cat: number | null) {
    const pkDir = sort === 'id' ? order : pkOrder === 'same' ? order : pkOrder
    const by =
      sort === 'id'
        ? `id ${order}`
        : `"${sort}" ${order === 'asc' ? 'ASC NULLS LAST' : 'DESC NULLS FIRST'}, id ${pkDir}`
    const { rows } = await pool.query<{ id: number }>(
      `SELECT id FROM ${table} ${cat === null ? '' : 'WHERE cat = $1'} ORDER BY ${by}`,
      cat === null ? [] : [cat],
    )
    return rows.map((r) => r.id)
  }

  async function fetch(listing: KeysetListing, request: KeysetRequest) {
    const q = listing.build(request)
    const { rows } = await pool.query<{ id: number; cat: number }>(q) // the query is a pg QueryConfig
    const page = listing.envelope(rows, q)
    for (const row of page.data) assert.deepEqual(Object.keys(row), ['id', 'cat'])
    return page
  }

  const ids = (page: KeysetPage<{ id: number }>) => page.data.map((r) => r.id)

  async function walk(
    listing: KeysetListing,
    request: KeysetRequest,
    want: number[],
    what: string,
  ): Promise<void> {
    const limit = request.limit!
    const guard = want.length + 3

    // Forwards from the first page to the last.
    const forward: KeysetPage<{ id: number }>[] = []
    let cursor: string | null = null
    do {
      const page: KeysetPage<{ id: number }> = await fetch(listing, { ...request, cursor })
      assert.equal(page.pagination.prevCursor === null, forward.length === 0, `${what}: prevCursor`)
      assert.equal(page.pagination.hasMore, page.pagination.nextCursor !== null)
      if (page.pagination.hasMore) assert.equal(page.data.length, limit, `${what}: full page`)
      forward.push(page)
      cursor = page.pagination.nextCursor
      assert.ok(forward.length <= guard, `${what}: runaway`)
    } while (cursor !== null)
    assert.deepEqual(forward.flatMap(ids), want, `${what}: forwards`)

    // Backwards from the last page, following prevCursor.
    const last = forward.at(-1)!
    const backward: number[][] = [ids(last)]
    cursor = last.pagination.prevCursor
    let hops = 0
    while (cursor !== null) {
      // With the cursor alone; the sort comes from the cursor.
      const page: KeysetPage<{ id: number }> = await fetch(listing, {
        cursor,
        limit,
        where: request.where,
      })
      assert.equal(page.data.length, limit, `${what}: backward pages are full`)
      assert.notEqual(page.pagination.nextCursor, null, `${what}: a page before has one after`)
      if (hops === 0) {
        // Its next cursor leads back to where we came from.
        const again = await fetch(listing, {
          cursor: page.pagination.nextCursor,
          limit,
          where: request.where,
        })
        assert.deepEqual(ids(again), backward[0], `${what}: next of previous`)
      }
      backward.unshift(ids(page))
      cursor = page.pagination.prevCursor
      assert.ok(++hops <= guard, `${what}: runaway`)
    }
    assert.deepEqual(backward.flat(), want, `${what}: backwards`)

    // From the end without ever going forwards: the last page, then back.
    const fromEnd: number[][] = []
    cursor = null
    do {
      const page: KeysetPage<{ id: number }> = await fetch(listing, {
        ...request,
        cursor,
        direction: cursor === null ? 'prev' : undefined,
      })
      if (fromEnd.length === 0) assert.equal(page.pagination.nextCursor, null, `${what}: end`)
      fromEnd.unshift(ids(page))
      cursor = page.pagination.prevCursor
      assert.ok(fromEnd.length <= guard, `${what}: runaway`)
    } while (cursor !== null)
    assert.deepEqual(fromEnd.flat(), want, `${what}: from the end`)
  }

  it('walks every sort both ways without losing or repeating a row (property)', async () => {
    await fc.assert(
      fc.asyncProperty(tableArb, async ({ ids: keys, items, limit: l, pkOrder, cat }) => {
        await fill(keys, items)
        // At most ~20 pages a walk keeps each run short; small limits still come up.
        const limit = Math.max(l, Math.ceil(keys.length / 20))
        const listing = listings.get(pkOrder)!
        const where = cat === null ? undefined : { text: 'cat = $1', values: [cat] }
        for (const sort of SORTS) {
          for (const order of ['asc', 'desc'] as const) {
            const want = await expected(sort, order, pkOrder, cat)
            await walk(
              listing,
              { sort, order, limit, where },
              want,
              `${sort} ${order} pk ${pkOrder}`,
            )
          }
        }
      }),
      { numRuns: 30 },
    )
  })

  it('tells apart timestamps within one millisecond, one row per page', async () => {
    const keys = Array.from({ length: 12 }, (_, i) => i + 1)
    // Two rows per microsecond value, one NULL, all inside the same two milliseconds.
    await fill(
      keys,
      keys.map((i) => ({
        n: null,
        t: null,
        ts: i === 12 ? null : i >> 1,
        f: null,
        num: null,
        cat: 0,
      })),
    )
    const listing = listings.get('same')!
    for (const order of ['asc', 'desc'] as const) {
      await walk(
        listing,
        { sort: 'ts', order, limit: 1 },
        await expected('ts', order, 'same', null),
        `ts ${order}`,
      )
    }
  })

  it('pages through a column that is NULL in every row', async () => {
    const keys = Array.from({ length: 25 }, (_, i) => 100 - i)
    await fill(
      keys,
      keys.map(() => ({ n: null, t: null, ts: null, f: null, num: null, cat: 1 })),
    )
    for (const order of ['asc', 'desc'] as const) {
      await walk(
        listings.get('desc')!,
        { sort: 'n', order, limit: 4 },
        await expected('n', order, 'desc', null),
        `n ${order}`,
      )
    }
  })

  it('offset pages match the full ORDER BY, with a total from the count query', async () => {
    const keys = Array.from({ length: 47 }, (_, i) => i * 3 + 1)
    await fill(
      keys,
      keys.map((i) => ({
        n: i % 5 === 0 ? null : i % 7,
        t: null,
        ts: null,
        f: null,
        num: null,
        cat: i % 2,
      })),
    )
    const offset = createOffset({ table, columns: ['id'], allowedSorts: ['n'], maxDepth: 40 })
    const where = { text: 'cat = $1', values: [1] }
    const want = await expected('n', 'desc', 'same', 1)
    const got: number[] = []
    for (let page = 1; page * 10 <= 40; page++) {
      const q = offset.build({ sort: 'n', order: 'desc', page, limit: 10, where })
      const [{ rows }, count] = await Promise.all([
        pool.query<{ id: number }>(q.text, q.values),
        pool.query<{ total: string }>(q.count.text, q.count.values),
      ])
      const env = offset.envelope(rows, q, count.rows[0]!.total)
      assert.equal(env.pagination.total, want.length)
      assert.equal(env.pagination.totalPages, Math.ceil(want.length / 10))
      assert.equal(env.pagination.hasMore, want.length > page * 10)
      got.push(...env.data.map((r) => r.id))
    }
    assert.deepEqual(got, want.slice(0, got.length))
  })
})
