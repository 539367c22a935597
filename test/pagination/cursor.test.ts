import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type CursorPayload,
  type CursorValue,
  createCursorCodec,
  createKeyset,
  isHotpathError,
  MAX_CURSOR_LENGTH,
} from 'hotpath/pagination'

const SECRET = 'a-test-secret-of-at-least-32-bytes!!'
const codec = createCursorCodec({ secret: SECRET, context: 'products' })
const payload: CursorPayload = {
  direction: 'next',
  sort: 'created_at',
  order: 'desc',
  key: ['2024-05-01 10:00:00.123456+00', 42],
}

function rejects(fn: () => unknown, why?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(isHotpathError(err, 'HP_ERR_PAGINATION_INVALID_CURSOR'), String(err))
    assert.equal(err.statusCode, 400)
    if (why) assert.match(err.message, why)
    return true
  })
}

describe('cursor codec', () => {
  it('round-trips a payload into an opaque base64url string', () => {
    const c = codec.encode(payload)
    assert.match(c, /^[A-Za-z0-9_-]+$/)
    assert.ok(!c.includes('created_at'), 'not readable at a glance')
    assert.deepEqual(codec.decode(c), payload)
  })

  it('keeps the type and exact value of string, number, bigint, Date and null keys', () => {
    const value: fc.Arbitrary<CursorValue> = fc.oneof(
      fc.string({ unit: 'grapheme' }),
      fc.constantFrom('', '\u0000', '"\\', '\ud800', 'null', '2024-05-01 10:00:00.123456+00'),
      fc.double(),
      fc.bigInt(),
      fc.date({ noInvalidDate: true }),
      fc.constant(null),
    )
    fc.assert(
      fc.property(
        fc.array(value, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('next', 'prev'),
        fc.constantFrom('asc', 'desc'),
        (key, direction, order) => {
          const p: CursorPayload = { direction, sort: 's', order, key }
          const back = codec.decode(codec.encode(p))
          assert.deepEqual(back, p)
          back.key.forEach((v, i) => {
            assert.equal(typeof v, typeof key[i])
            if (typeof v === 'number') assert.ok(Object.is(v, key[i]), `${v} vs ${key[i]}`)
          })
        },
      ),
      { numRuns: 100 },
    )
  })

  it('a NULL sort value and the string "null" are different positions', () => {
    const a = codec.decode(codec.encode({ ...payload, key: [null, 1] }))
    const b = codec.decode(codec.encode({ ...payload, key: ['null', 1] }))
    assert.equal(a.key[0], null)
    assert.equal(b.key[0], 'null')
  })

  it('rejects any altered character', () => {
    const c = codec.encode(payload)
    for (let i = 0; i < c.length; i++) {
      const ch = c[i] === 'A' ? 'B' : 'A'
      rejects(() => codec.decode(c.slice(0, i) + ch + c.slice(i + 1)))
    }
  })

  it('rejects truncated and extended cursors', () => {
    const c = codec.encode(payload)
    for (let n = 0; n < c.length; n++) rejects(() => codec.decode(c.slice(0, n)))
    rejects(() => codec.decode(`${c}A`))
    rejects(() => codec.decode(`${c}AAAA`))
  })

  it('rejects a cursor of another listing (context) or another secret', () => {
    const c = codec.encode(payload)
    rejects(
      () => createCursorCodec({ secret: SECRET, context: 'users' }).decode(c),
      /another listing/,
    )
    rejects(() => createCursorCodec({ secret: randomBytes(32), context: 'products' }).decode(c))
  })

  it('rejects garbage: wrong types, other alphabets, padding, oversize', () => {
    for (const g of [
      undefined,
      42,
      {},
      ['x'],
      '',
      'x',
      'not a cursor',
      'abc==',
      'a+b/c',
      '%00',
      'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig',
      Buffer.from('[1,2,3]').toString('base64url'),
      randomBytes(80).toString('base64url'),
      'A'.repeat(MAX_CURSOR_LENGTH + 1),
    ]) {
      rejects(() => codec.decode(g))
    }
  })

  it('rejects a non-canonical spelling of a genuine cursor', () => {
    // The last base64url character may carry unused low bits: another letter
    // can decode to the same bytes. Only our own spelling is accepted.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    let twins = 0
    for (const pad of ['x', 'xx', 'xxx']) {
      const c = codec.encode({ ...payload, key: [pad, 1] })
      for (const ch of alphabet) {
        const twin = c.slice(0, -1) + ch
        if (twin === c || !Buffer.from(twin, 'base64url').equals(Buffer.from(c, 'base64url')))
          continue
        twins++
        rejects(() => codec.decode(twin))
      }
    }
    assert.ok(twins > 0)
  })

  it('a rotated secret still verifies old cursors and signs with the new one', () => {
    const next = 'the-next-secret-also-32-bytes-long!!'
    const old = codec.encode(payload)
    const rotated = createCursorCodec({ secret: [next, SECRET], context: 'products' })
    assert.deepEqual(rotated.decode(old), payload)
    const fresh = rotated.encode(payload)
    rejects(() => codec.decode(fresh))
    assert.deepEqual(
      createCursorCodec({ secret: next, context: 'products' }).decode(fresh),
      payload,
    )
  })

  it('requires a secret of at least 32 bytes', () => {
    for (const secret of [undefined, '', 'short', 'x'.repeat(31), randomBytes(16), 42, [], ['x']]) {
      assert.throws(
        () => createCursorCodec({ secret: secret as string }),
        (err: unknown) => isHotpathError(err, 'HP_ERR_INVALID_OPTION'),
        String(secret),
      )
    }
    createCursorCodec({ secret: randomBytes(32) })
    createCursorCodec({ secret: 'é'.repeat(16) }) // 32 UTF-8 bytes
  })

  it('refuses key values it cannot carry exactly', () => {
    for (const v of [true, {}, Buffer.from('x'), Symbol('s')]) {
      assert.throws(
        () => codec.encode({ ...payload, key: [v as unknown as CursorValue] }),
        (err: unknown) => isHotpathError(err, 'HP_ERR_PAGINATION_INVALID_ROWS'),
      )
    }
  })
})

describe('cursors in a keyset listing', () => {
  const options = {
    table: 'products',
    allowedSorts: ['created_at', 'price'],
    secret: SECRET,
  } as const
  const products = createKeyset(options)
  const rows = [
    { id: 1, __hp_sort: '10' },
    { id: 2, __hp_sort: '20' },
    { id: 3, __hp_sort: '30' },
  ]
  const q = products.build({ sort: 'price', order: 'desc', limit: 2 })
  const next = products.envelope(rows, q).pagination.nextCursor!

  it('a cursor of another listing, or the same table under another name, is foreign', () => {
    rejects(() => createKeyset({ ...options, table: 'orders' }).build({ cursor: next }))
    rejects(() => createKeyset({ ...options, name: 'products-admin' }).build({ cursor: next }))
    rejects(() => createKeyset({ ...options, primaryKeyOrder: 'asc' }).build({ cursor: next }))
    rejects(() => createKeyset({ ...options, secret: randomBytes(32) }).build({ cursor: next }))
    assert.equal(createKeyset(options).build({ cursor: next }).fromCursor, true)
  })

  it('a cursor carries its sort; asking for another one with it is refused', () => {
    const b = products.build({ cursor: next })
    assert.equal(b.sort, 'price')
    assert.equal(b.order, 'desc')
    assert.equal(products.build({ cursor: next, sort: 'price' }).order, 'desc')
    assert.equal(products.build({ cursor: next, sort: ['price', 'desc'] }).sort, 'price')
    rejects(() => products.build({ cursor: next, sort: 'created_at' }), /made for sort price desc/)
    rejects(() => products.build({ cursor: next, order: 'asc' }), /made for sort price desc/)
    rejects(() => products.build({ cursor: next, direction: 'prev' }), /next page/)
  })

  it('a cursor whose sort is no longer allowed is refused', () => {
    rejects(
      () => createKeyset({ ...options, allowedSorts: ['created_at'] }).build({ cursor: next }),
      /no longer allowed/,
    )
  })

  it('an empty or null cursor is the first page', () => {
    assert.equal(products.build({ cursor: '' }).fromCursor, false)
    assert.equal(products.build({ cursor: null }).fromCursor, false)
  })
})
