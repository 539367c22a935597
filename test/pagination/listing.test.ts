import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { ErrorCode } from 'hotpath/errors'
import {
  createKeyset,
  createOffset,
  isHotpathError,
  type KeysetOptions,
  keysetPage,
  offsetPage,
  paginationDefaults,
  parsePaginationParams,
} from 'hotpath/pagination'

const secret = 'a-test-secret-of-at-least-32-bytes!!'
const base: KeysetOptions = {
  table: 'products',
  allowedSorts: ['created_at', 'name', { column: 'price', nullable: false }],
  secret,
}

function fails(fn: () => unknown, code: ErrorCode, status: number, why?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isHotpathError(err, code), `expected ${code}, got ${String(err)}`)
    assert.equal(err.statusCode, status)
    if (why) assert.match(err.message, why)
    return true
  })
}

describe('identifiers', () => {
  const bad = [
    '',
    'a b',
    'a"b',
    "a'b",
    'a;drop table x',
    '1abc',
    'prod-ucts',
    'ünï',
    'a.',
    '.a',
    'x'.repeat(64),
    '"quoted"',
    'a\u0000b',
  ]

  it('accepts letters, digits, underscore, and a schema prefix for the table', () => {
    for (const table of ['products', 'shop.products', '_x1', 'Mixed_Case', 'x'.repeat(63)]) {
      createKeyset({ ...base, table })
    }
  })

  it('refuses anything else as a programming error (500) at creation', () => {
    for (const name of bad) {
      fails(
        () => createKeyset({ ...base, table: name }),
        'HP_ERR_PAGINATION_INVALID_IDENTIFIER',
        500,
      )
      fails(
        () => createKeyset({ ...base, allowedSorts: [name] }),
        'HP_ERR_PAGINATION_INVALID_IDENTIFIER',
        500,
      )
      fails(
        () => createKeyset({ ...base, primaryKey: name }),
        'HP_ERR_PAGINATION_INVALID_IDENTIFIER',
        500,
      )
      fails(
        () => createKeyset({ ...base, columns: ['id', name] }),
        'HP_ERR_PAGINATION_INVALID_IDENTIFIER',
        500,
      )
      fails(
        () => createOffset({ table: 'products', allowedSorts: [name] }),
        'HP_ERR_PAGINATION_INVALID_IDENTIFIER',
        500,
      )
    }
    fails(
      () => createKeyset({ ...base, table: 'a.b.c' }),
      'HP_ERR_PAGINATION_INVALID_IDENTIFIER',
      500,
    )
    fails(
      () => createKeyset({ ...base, table: 42 as unknown as string }),
      'HP_ERR_PAGINATION_INVALID_IDENTIFIER',
      500,
    )
  })

  it('quotes every name, so reserved words and case survive', () => {
    const k = createKeyset({
      ...base,
      table: 'shop.Order',
      columns: ['id', 'user', 'order'],
      allowedSorts: ['order'],
    })
    const q = k.build({ sort: 'order' })
    assert.equal(
      q.text,
      'SELECT "id", "user", "order", "order"::text AS "__hp_sort" FROM "shop"."Order" ORDER BY "order" ASC NULLS LAST, "id" ASC LIMIT 21',
    )
  })

  it('requires the primary key among the selected columns', () => {
    fails(() => createKeyset({ ...base, columns: ['name'] }), 'HP_ERR_INVALID_OPTION', 500)
    fails(
      () => createKeyset({ ...base, primaryKey: 'sku', columns: ['id'] }),
      'HP_ERR_INVALID_OPTION',
      500,
    )
  })
})

describe('limits', () => {
  const k = createKeyset(base)

  it('default 20, max 100, fetching one more for hasMore', () => {
    assert.equal(paginationDefaults.defaultLimit, 20)
    assert.equal(paginationDefaults.maxLimit, 100)
    const q = k.build()
    assert.equal(q.limit, 20)
    assert.equal(q.fetchLimit, 21)
    assert.match(q.text, / LIMIT 21$/)
    assert.equal(k.build({ limit: 1 }).fetchLimit, 2)
    assert.equal(k.build({ limit: 100 }).fetchLimit, 101)
  })

  it('out of range or not an integer: a 400', () => {
    for (const limit of [0, -1, 101, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '20', 20n, {}]) {
      fails(
        () => k.build({ limit: limit as number }),
        'HP_ERR_PAGINATION_INVALID_LIMIT',
        400,
        /from 1 to 100/,
      )
    }
  })

  it('defaultLimit and maxLimit are options, checked at creation', () => {
    const small = createKeyset({ ...base, defaultLimit: 5, maxLimit: 10 })
    assert.equal(small.build().limit, 5)
    fails(() => small.build({ limit: 11 }), 'HP_ERR_PAGINATION_INVALID_LIMIT', 400, /1 to 10/)
    fails(
      () => createKeyset({ ...base, defaultLimit: 50, maxLimit: 10 }),
      'HP_ERR_INVALID_OPTION',
      500,
    )
    fails(() => createKeyset({ ...base, maxLimit: 0 }), 'HP_ERR_INVALID_OPTION', 500)
  })
})

describe('sorts', () => {
  const k = createKeyset(base)

  it('the primary key is the default sort and always allowed', () => {
    const q = k.build()
    assert.equal(q.sort, 'id')
    assert.equal(q.order, 'asc')
    assert.equal(q.text, 'SELECT * FROM "products" ORDER BY "id" ASC LIMIT 21')
    assert.equal(
      k.build({ sort: 'id', order: 'desc' }).text,
      'SELECT * FROM "products" ORDER BY "id" DESC LIMIT 21',
    )
  })

  it('a default sort is an option', () => {
    const q = createKeyset({ ...base, defaultSort: ['created_at', 'desc'] }).build()
    assert.equal(q.sort, 'created_at')
    assert.equal(q.order, 'desc')
    fails(() => createKeyset({ ...base, defaultSort: 'nope' }), 'HP_ERR_INVALID_OPTION', 500)
  })

  it('accepts a name with an order, or a [name, order] pair', () => {
    assert.equal(k.build({ sort: 'name' }).order, 'asc')
    assert.equal(k.build({ sort: 'name', order: 'desc' }).order, 'desc')
    assert.equal(k.build({ sort: ['name', 'desc'] }).order, 'desc')
  })

  it('unknown fields, odd names and bad orders: a 400 naming the allowed ones', () => {
    for (const sort of ['nope', 'name; drop table x', 'name"', 'NAME', '', 42]) {
      fails(
        () => k.build({ sort: sort as string }),
        'HP_ERR_PAGINATION_INVALID_SORT',
        400,
        /allowed: id, created_at, name, price/,
      )
    }
    fails(
      () => k.build({ sort: 'name', order: 'up' as 'asc' }),
      'HP_ERR_PAGINATION_INVALID_SORT',
      400,
    )
    fails(
      () => k.build({ sort: ['name', 'desc'], order: 'asc' }),
      'HP_ERR_PAGINATION_INVALID_SORT',
      400,
    )
    fails(
      () => k.build({ sort: ['name'] as unknown as [string, 'asc'] }),
      'HP_ERR_PAGINATION_INVALID_SORT',
      400,
    )
  })
})

// A page of rows as PostgreSQL would return them for `q`, with the sort key column.
function fake(ids: number[], sort: (id: number) => string | null = (id) => String(id * 10)) {
  return ids.map((id) => ({ id, name: `n${id}`, __hp_sort: sort(id) }))
}

describe('keyset SQL', () => {
  const k = createKeyset(base)

  function after(sort: string, order: 'asc' | 'desc', value: string | null, id = 7, o = base) {
    const listing = createKeyset(o)
    const first = listing.build({ sort, order, limit: 1 })
    const page = listing.envelope(
      fake([id, id + 1], () => value),
      first,
    )
    return listing.build({ cursor: page.pagination.nextCursor! })
  }

  it('uses one row-value comparison when the key columns go the same way', () => {
    const q = after('price', 'asc', '9.99')
    assert.equal(
      q.text,
      'SELECT *, "price"::text AS "__hp_sort" FROM "products" WHERE ("price", "id") > ($1, $2) ORDER BY "price" ASC NULLS LAST, "id" ASC LIMIT 21',
    )
    assert.deepEqual(q.values, ['9.99', 7])
    assert.match(
      after('price', 'desc', '9.99').text,
      /WHERE \("price", "id"\) < \(\$1, \$2\) ORDER BY "price" DESC NULLS FIRST, "id" DESC/,
    )
  })

  it('expands the predicate when the tie-breaker has its own order', () => {
    const q = after('price', 'desc', '9.99', 7, { ...base, primaryKeyOrder: 'asc' })
    assert.match(
      q.text,
      /WHERE "price" <= \$1 AND \("price" < \$1 OR "id" > \$2\) ORDER BY "price" DESC NULLS FIRST, "id" ASC LIMIT 21$/,
    )
  })

  it('adds the NULL zone as a second index range only where the scan crosses into it', () => {
    // Ascending from a value: the NULLs (sorted last) are still ahead.
    const asc = after('created_at', 'asc', '2024-01-01 00:00:00.000001+00')
    assert.equal(
      asc.text,
      'SELECT *, "created_at"::text AS "__hp_sort" FROM ((SELECT * FROM "products" WHERE ("created_at", "id") > ($1, $2) ORDER BY "created_at" ASC NULLS LAST, "id" ASC LIMIT 21) UNION ALL (SELECT * FROM "products" WHERE "created_at" IS NULL ORDER BY "created_at" ASC NULLS LAST, "id" ASC LIMIT 21)) AS "__hp_page" ORDER BY "created_at" ASC NULLS LAST, "id" ASC LIMIT 21',
    )
    // Ascending from a NULL: only NULLs with a greater id remain.
    assert.match(
      after('created_at', 'asc', null).text,
      /FROM "products" WHERE "created_at" IS NULL AND "id" > \$1 ORDER BY/,
    )
    // Descending from a NULL (sorted first): the rest of the NULLs, then every value.
    const desc = after('created_at', 'desc', null)
    assert.match(
      desc.text,
      /"created_at" IS NULL AND "id" < \$1 ORDER BY .* UNION ALL .*"created_at" IS NOT NULL ORDER BY/,
    )
    assert.deepEqual(desc.values, [7])
    // Descending from a value: the NULLs are behind.
    assert.doesNotMatch(after('created_at', 'desc', 'x').text, /UNION|IS NULL/)
    // A NOT NULL column declared so never needs the second range.
    assert.doesNotMatch(after('price', 'asc', '1').text, /UNION|IS NULL/)
  })

  it('a previous page scans the reversed order from the cursor', () => {
    const first = k.build({ sort: 'name', limit: 2 })
    const p1 = k.envelope(fake([1, 2, 3]), first)
    const second = k.build({ cursor: p1.pagination.nextCursor!, limit: 2 })
    const p2 = k.envelope(fake([3, 4]), second)
    assert.equal(p2.pagination.hasMore, false)
    const back = k.build({ cursor: p2.pagination.prevCursor!, limit: 2 })
    assert.equal(back.direction, 'prev')
    assert.equal(back.order, 'asc', 'the listing order is kept')
    assert.match(
      back.text,
      /\("name", "id"\) < \(\$1, \$2\) .*ORDER BY "name" DESC NULLS FIRST, "id" DESC LIMIT 3$/,
    )
  })

  it('composes with the listing filter and the request filter, renumbering placeholders', () => {
    const listing = createKeyset({ ...base, where: { text: 'tenant_id = $1', values: ['t1'] } })
    const first = listing.build({ sort: 'price', limit: 1 })
    const page = listing.envelope(fake([1, 2]), first)
    const q = listing.build({
      cursor: page.pagination.nextCursor!,
      where: [
        { text: 'category_id = $1 AND label <> \'$1\' AND "odd$2" = $2', values: [5, 'x'] },
        { text: 'stock > $1', values: [0] },
      ],
    })
    assert.match(
      q.text,
      /WHERE \(tenant_id = \$1\) AND \(category_id = \$2 AND label <> '\$1' AND "odd\$2" = \$3\) AND \(stock > \$4\) AND \("price", "id"\) > \(\$5, \$6\)/,
    )
    assert.deepEqual(q.values, ['t1', 5, 'x', 0, '10', 1])
  })
})

describe('filter fragments', () => {
  const k = createKeyset(base)
  const where = (text: string, values: unknown[] = []) =>
    k
      .build({ where: { text, values }, limit: 1 })
      .text.replace(/^.* WHERE \((.*)\) ORDER BY .*$/, '$1')

  it('leaves placeholders in literals, quoted names, dollar quotes and comments alone', () => {
    const prefix = { text: 'a = $1', values: [0] }
    const listing = createKeyset({ ...base, where: prefix })
    const text = (t: string, values: unknown[]) =>
      listing
        .build({ where: { text: t, values } })
        .text.split(' AND (')[1]!
        .replace(/\) ORDER BY .*$/, '')
    assert.equal(text("x = $1 AND y = 'it''s $1'", [1]), "x = $2 AND y = 'it''s $1'")
    assert.equal(text("x = E'\\'$1' AND y = $1", [1]), "x = E'\\'$1' AND y = $2")
    assert.equal(
      text('x = $1 -- $1\n AND z /* $1 /* $1 */ */ = $1', [1]),
      'x = $2 -- $1\n AND z /* $1 /* $1 */ */ = $2',
    )
    assert.equal(
      text('x = $q$ $1 $q$ AND y = $$ $1 $$ AND z = $1', [1]),
      'x = $q$ $1 $q$ AND y = $$ $1 $$ AND z = $2',
    )
    assert.equal(text('col$1 = $1', [1]), 'col$1 = $2')
    const many = Array.from({ length: 12 }, (_, i) => `c${i} = $${i + 1}`).join(' AND ')
    assert.match(
      text(
        many,
        Array.from({ length: 12 }, (_, i) => i),
      ),
      /^c0 = \$2 AND .* c9 = \$11 AND c10 = \$12 AND c11 = \$13$/,
    )
  })

  it('refuses placeholders without values, unused values and unterminated quotes', () => {
    for (const [text, values] of [
      ['x = $2', [1]],
      ['x = $0', []],
      ['x = 1', [1]],
      ['x = $1', [1, 2]],
      ["x = 'open", []],
      ['x = "open', []],
      ['x = 1 /* open', []],
      ['x = $q$ open', []],
      ['   ', []],
    ] as const) {
      fails(() => where(text, [...values]), 'HP_ERR_PAGINATION_INVALID_FILTER', 500)
    }
    fails(
      () => createKeyset({ ...base, where: { text: 'x = $1' } }),
      'HP_ERR_PAGINATION_INVALID_FILTER',
      500,
    )
  })
})

describe('keyset envelope', () => {
  const k = createKeyset(base)

  it('{ data, pagination: { limit, nextCursor, prevCursor, hasMore } }, sort key removed', () => {
    const q = k.build({ sort: 'name', limit: 2 })
    const page = k.envelope(fake([1, 2, 3]), q)
    assert.deepEqual(page.data, [
      { id: 1, name: 'n1' },
      { id: 2, name: 'n2' },
    ])
    assert.deepEqual(Object.keys(page.pagination), ['limit', 'nextCursor', 'prevCursor', 'hasMore'])
    assert.equal(page.pagination.limit, 2)
    assert.equal(page.pagination.hasMore, true)
    assert.equal(typeof page.pagination.nextCursor, 'string')
    assert.equal(page.pagination.prevCursor, null, 'the first page has nothing before it')
  })

  it('the last page has no next cursor; an empty page has no cursors', () => {
    const q = k.build({ sort: 'name', limit: 5 })
    const page = k.envelope(fake([1, 2]), q)
    assert.equal(page.pagination.hasMore, false)
    assert.equal(page.pagination.nextCursor, null)
    assert.deepEqual(k.envelope([], q), {
      data: [],
      pagination: { limit: 5, nextCursor: null, prevCursor: null, hasMore: false },
    })
  })

  it('a previous page comes back in listing order', () => {
    const q = k.build({ sort: 'name', limit: 2, direction: 'prev' })
    assert.match(q.text, /ORDER BY "name" DESC NULLS FIRST, "id" DESC LIMIT 3$/)
    const page = k.envelope(fake([9, 8, 7]), q)
    assert.deepEqual(
      page.data.map((r) => r.id),
      [8, 9],
    )
    assert.equal(page.pagination.nextCursor, null, 'the last page: nothing after it')
    assert.equal(typeof page.pagination.prevCursor, 'string')
    const before = k.build({ cursor: page.pagination.prevCursor! })
    assert.equal(before.direction, 'prev')
    assert.equal(before.values[1], 8, 'continues before the first row shown')
  })

  it('sorting by the primary key needs no sort key column', () => {
    const q = k.build({ limit: 1 })
    assert.doesNotMatch(q.text, /__hp_sort/)
    const page = k.envelope([{ id: '9007199254740993' }, { id: '9007199254740994' }], q)
    assert.deepEqual(k.build({ cursor: page.pagination.nextCursor! }).values, ['9007199254740993'])
  })

  it('rows that do not come from the query are a 500', () => {
    const q = k.build({ sort: 'name', limit: 1 })
    fails(() => k.envelope(fake([1, 2, 3]), q), 'HP_ERR_PAGINATION_INVALID_ROWS', 500, /at most 2/)
    fails(
      () => k.envelope([{ id: 1 }, { id: 2 }], q),
      'HP_ERR_PAGINATION_INVALID_ROWS',
      500,
      /__hp_sort/,
    )
    fails(
      () => k.envelope([{ name: 'x', __hp_sort: 'x' }, { id: 2 }], q),
      'HP_ERR_PAGINATION_INVALID_ROWS',
      500,
      /primary key/,
    )
    fails(() => k.envelope([], { ...q, sort: 'elsewhere' }), 'HP_ERR_PAGINATION_INVALID_ROWS', 500)
  })

  it('keysetPage builds and wraps in one call', () => {
    const page = keysetPage({ ...base, sort: ['created_at', 'desc'], limit: 2 })
    assert.match(page.text, /ORDER BY "created_at" DESC NULLS FIRST, "id" DESC LIMIT 3$/)
    const env = page.envelope(fake([3, 2, 1]))
    assert.deepEqual(
      env.data.map((r) => r.id),
      [3, 2],
    )
    const next = keysetPage({ ...base, cursor: env.pagination.nextCursor! })
    assert.equal(next.order, 'desc')
    const filtered = keysetPage({ ...base, where: { text: 'cat = $1', values: [1] } })
    assert.deepEqual(filtered.values, [1], 'the filter applies once')
  })
})

describe('offset pagination', () => {
  const o = createOffset({ table: 'products', allowedSorts: ['price'] })

  it('builds LIMIT limit+1 OFFSET (page-1)*limit, with a count query under the same filters', () => {
    const q = o.build({
      page: 3,
      limit: 10,
      sort: 'price',
      where: { text: 'cat = $1', values: [2] },
    })
    assert.equal(
      q.text,
      'SELECT * FROM "products" WHERE (cat = $1) ORDER BY "price" ASC NULLS LAST, "id" ASC LIMIT 11 OFFSET 20',
    )
    assert.deepEqual(q.values, [2])
    assert.equal(q.count.text, 'SELECT count(*) AS "total" FROM "products" WHERE (cat = $1)')
    assert.deepEqual(q.count.values, [2])
  })

  it('refuses pages past the maximum depth (default page × limit ≤ 10,000)', () => {
    assert.equal(paginationDefaults.maxDepth, 10_000)
    o.build({ page: 500, limit: 20 })
    o.build({ page: 100, limit: 100 })
    fails(
      () => o.build({ page: 501, limit: 20 }),
      'HP_ERR_PAGINATION_TOO_DEEP',
      400,
      /maximum depth of 10000/,
    )
    fails(() => o.build({ page: Number.MAX_SAFE_INTEGER }), 'HP_ERR_PAGINATION_TOO_DEEP', 400)
    const shallow = createOffset({ table: 'products', maxDepth: 200 })
    fails(() => shallow.build({ page: 11 }), 'HP_ERR_PAGINATION_TOO_DEEP', 400)
    fails(() => createOffset({ table: 'products', maxDepth: 10 }), 'HP_ERR_INVALID_OPTION', 500)
    assert.equal(
      createKeyset({ ...base, maxLimit: 10 }).build().limit,
      10,
      'the default limit fits maxLimit',
    )
  })

  it('pages are integers from 1', () => {
    for (const page of [0, -1, 1.5, '2', Number.NaN]) {
      fails(() => o.build({ page: page as number }), 'HP_ERR_PAGINATION_INVALID_PAGE', 400)
    }
  })

  it('the envelope knows the total when given the count', () => {
    const q = o.build({ page: 2, limit: 2 })
    const rows = [{ id: 3 }, { id: 4 }, { id: 5 }]
    assert.deepEqual(o.envelope(rows, q, '5'), {
      data: [{ id: 3 }, { id: 4 }],
      pagination: { page: 2, limit: 2, hasMore: true, total: 5, totalPages: 3, maxPage: 5000 },
    })
    assert.deepEqual(o.envelope(rows.slice(0, 1), q).pagination, {
      page: 2,
      limit: 2,
      hasMore: false,
      total: null,
      totalPages: null,
      maxPage: 5000,
    })
    fails(() => o.envelope(rows, q, 'many'), 'HP_ERR_PAGINATION_INVALID_ROWS', 500)
  })

  it('offsetPage builds and wraps in one call', () => {
    const q = offsetPage({ table: 'products', page: 2, limit: 1 })
    assert.match(q.text, /LIMIT 2 OFFSET 1$/)
    assert.equal(q.envelope([{ id: 2 }], 2).pagination.totalPages, 2)
    const filtered = offsetPage({ table: 'products', where: { text: 'cat = $1', values: [1] } })
    assert.deepEqual(filtered.values, [1], 'the filter applies once')
  })
})

describe('parsePaginationParams', () => {
  it('turns URL query strings into typed values', () => {
    assert.deepEqual(
      parsePaginationParams({
        cursor: 'AbC-_1',
        limit: '50',
        sort: 'price',
        order: 'DESC',
        page: '2',
      }),
      { cursor: 'AbC-_1', limit: 50, sort: 'price', order: 'desc', page: 2 },
    )
    assert.deepEqual(parsePaginationParams(new URLSearchParams('limit=5&order=asc&x=1')), {
      cursor: undefined,
      limit: 5,
      sort: undefined,
      order: 'asc',
      page: undefined,
    })
    assert.deepEqual(parsePaginationParams({ cursor: '', limit: '', sort: '' }), {
      cursor: undefined,
      limit: undefined,
      sort: undefined,
      order: undefined,
      page: undefined,
    })
    assert.equal(parsePaginationParams({ limit: 30 }).limit, 30, 'numbers from a coercing schema')
    assert.equal(parsePaginationParams({ limit: ['7'] }).limit, 7)
  })

  it('refuses malformed values with the 400 of each field', () => {
    for (const limit of [
      '0',
      '101',
      '-1',
      '1e2',
      ' 5',
      '5abc',
      '2.5',
      '0x10',
      'NaN',
      ['1', '2'],
      1.5,
      {},
    ]) {
      fails(() => parsePaginationParams({ limit }), 'HP_ERR_PAGINATION_INVALID_LIMIT', 400)
    }
    fails(
      () => parsePaginationParams({ limit: '30' }, { maxLimit: 25 }),
      'HP_ERR_PAGINATION_INVALID_LIMIT',
      400,
      /1 to 25/,
    )
    for (const sort of ['a b', 'a"b', 'price;', ['a', 'b'], '1x']) {
      fails(() => parsePaginationParams({ sort }), 'HP_ERR_PAGINATION_INVALID_SORT', 400)
    }
    for (const order of ['up', 'ascending', ['asc', 'desc']]) {
      fails(() => parsePaginationParams({ order }), 'HP_ERR_PAGINATION_INVALID_SORT', 400)
    }
    for (const cursor of ['a+b', 'a/b', 'abc=', 'x'.repeat(5000), ['a', 'b'], 42]) {
      fails(() => parsePaginationParams({ cursor }), 'HP_ERR_PAGINATION_INVALID_CURSOR', 400)
    }
    for (const page of ['0', '-2', 'x', '1.0']) {
      fails(() => parsePaginationParams({ page }), 'HP_ERR_PAGINATION_INVALID_PAGE', 400)
    }
    fails(
      () => parsePaginationParams(new URLSearchParams('limit=1&limit=2')),
      'HP_ERR_PAGINATION_INVALID_LIMIT',
      400,
      /repeated/,
    )
  })
})
