import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDb, type Db, isHotpathError } from 'hotpath/db'
import { createIndex, type IndexColumn, indexReport } from '../../src/db/indexes.ts'
import { DATABASE_URL, unless } from '../helpers/services.ts'

const skip = await unless('postgres')
const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

describe('createIndex and indexReport against PostgreSQL', { skip }, () => {
  const schema = `hp_idx_${randomUUID().slice(0, 8)}`
  const report = `${schema}_r`
  const items = `${schema}.items`
  let db: Db

  const defs = async (table: string) => {
    const r = await db.query<{ name: string; def: string; valid: boolean }>(
      `SELECT c.relname AS name, pg_get_indexdef(c.oid) AS def, i.indisvalid AS valid
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = $1::regclass ORDER BY 1`,
      [table],
    )
    return new Map(r.rows.map((x) => [x.name, x]))
  }

  before(async () => {
    db = createDb({ primary: DATABASE_URL, pool: { min: 0, max: 4 } })
    await db.query(`CREATE SCHEMA ${schema}`)
    await db.query(
      `CREATE TABLE ${items} (id int PRIMARY KEY, a int, b int, email text, doc jsonb, kind int, ` +
        'a_rather_long_column_name_number_one int, a_rather_long_column_name_number_two int)',
    )
    await db.query(
      `INSERT INTO ${items} (id, a, b, email, doc, kind) SELECT g, g % 10, g % 7, 'U' || g || '@x.io', ` +
        `jsonb_build_object('k', g), g % 3 FROM generate_series(1, 2000) g`,
    )
  })
  after(async () => {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
    await db.query(`DROP SCHEMA IF EXISTS ${report} CASCADE`)
    await db.close()
  })

  it('creates a btree index with a generated name, and does nothing the second time', async () => {
    const first = await db.createIndex(items, ['a', 'b'])
    assert.deepEqual(first, {
      name: 'items_a_b_idx',
      created: true,
      rebuilt: false,
      statement: `CREATE INDEX IF NOT EXISTS "items_a_b_idx" ON "${schema}"."items" USING btree ("a", "b")`,
    })
    const again = await db.createIndex(items, ['a', 'b'])
    assert.equal(again.created, false)
    assert.match((await defs(items)).get('items_a_b_idx')!.def, /USING btree \(a, b\)$/)
  })

  it('renders methods, operator classes, directions, expressions, INCLUDE and WHERE', async () => {
    // Column specs and expressions: through the module until db.createIndex's type takes them.
    const gin = await createIndex(db, items, [{ column: 'doc', opclass: 'jsonb_path_ops' }], {
      method: 'gin',
    })
    const expr = await createIndex(db, items, [{ expression: 'lower(email)' }], {
      unique: true,
      include: ['a'],
      where: 'kind > 0',
    })
    const desc = await createIndex(db, items, [
      'kind',
      { column: 'id', order: 'desc', nulls: 'last' },
    ])
    const hash = await db.createIndex(items, ['email'], { method: 'hash', name: 'items_email_h' })
    const brin = await db.createIndex(items, ['id'], { method: 'brin' })
    const d = await defs(items)
    assert.match(d.get(gin.name)!.def, /USING gin \(doc jsonb_path_ops\)$/)
    assert.equal(expr.name, 'items_lower_email_idx')
    assert.match(
      d.get(expr.name)!.def,
      /CREATE UNIQUE INDEX .* USING btree \(lower\(email\)\) INCLUDE \(a\) WHERE \(kind > 0\)$/,
    )
    assert.equal(desc.name, 'items_kind_id_desc_idx')
    assert.match(d.get(desc.name)!.def, /\(kind, id DESC NULLS LAST\)$/)
    assert.match(d.get(hash.name)!.def, /USING hash \(email\)$/)
    assert.match(d.get(brin.name)!.def, /USING brin \(id\)$/)
  })

  it('cuts a long generated name to 63 bytes, ending with a hash of the full name', async () => {
    const cols = ['a_rather_long_column_name_number_one', 'a_rather_long_column_name_number_two']
    const r = await db.createIndex(items, cols)
    assert.equal(Buffer.byteLength(r.name), 63)
    assert.match(r.name, /^items_a_rather_long_column_name_number_one_a_rather_lo_[0-9a-f]{8}$/)
    assert.ok((await defs(items)).has(r.name))
    const other = await db.createIndex(items, [...cols].reverse())
    assert.notEqual(other.name, r.name) // same prefix, other hash
  })

  it('refuses bad identifiers, SQL in the wrong place and impossible combinations', async () => {
    const bad: [string, IndexColumn[], Parameters<Db['createIndex']>[2], string][] = [
      [items, ['a; DROP TABLE x'], {}, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [`${items}"`, ['a'], {}, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [items, ['other.a'], {}, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [
        items,
        [{ column: 'doc', opclass: 'ops"x' }],
        { method: 'gin' },
        'HP_ERR_DB_INVALID_IDENTIFIER',
      ],
      [items, [], {}, 'HP_ERR_DB_INVALID_INPUT'],
      [items, ['a'], { method: 'spgist' as 'gin' }, 'HP_ERR_DB_INVALID_INPUT'],
      [items, ['a'], { method: 'hash', unique: true }, 'HP_ERR_DB_INVALID_INPUT'],
      [items, ['a', 'b'], { method: 'hash' }, 'HP_ERR_DB_INVALID_INPUT'],
      [items, ['doc'], { method: 'gin', include: ['a'] }, 'HP_ERR_DB_INVALID_INPUT'],
      [items, [{ column: 'doc', order: 'desc' }], { method: 'gin' }, 'HP_ERR_DB_INVALID_INPUT'],
      [items, [{ column: 'a', order: 'up' as 'asc' }], {}, 'HP_ERR_DB_INVALID_INPUT'],
      [items, ['a'], { where: 'a > 1; DROP TABLE x' }, 'HP_ERR_DB_INVALID_INPUT'],
      [items, [{ expression: 'lower(email)); DROP TABLE x; --' }], {}, 'HP_ERR_DB_INVALID_INPUT'],
      [items, ['a'], { name: 'other.name' }, 'HP_ERR_DB_INVALID_INPUT'],
      [`${schema}.missing`, ['a'], {}, 'HP_ERR_DB_INVALID_INPUT'],
      [`${schema}.missing`, ['a'], { concurrently: true }, 'HP_ERR_DB_INVALID_INPUT'],
    ]
    for (const [table, cols, opts, c] of bad) {
      await assert.rejects(
        createIndex(db, table, cols, opts),
        code(c),
        JSON.stringify([cols, opts]),
      )
    }
    assert.equal((await defs(items)).size > 0, true)
  })

  it('builds CONCURRENTLY on its own connection, and refuses to inside a transaction', async () => {
    const r = await db.createIndex(items, ['b'], { concurrently: true })
    assert.match(r.statement, /^CREATE INDEX CONCURRENTLY IF NOT EXISTS "items_b_idx"/)
    assert.equal((await defs(items)).get('items_b_idx')?.valid, true)
    await assert.rejects(
      db.transaction(() => db.createIndex(items, ['kind'], { concurrently: true })),
      code('HP_ERR_DB_UNSUPPORTED'),
    )
    // A plain build joins the transaction and is rolled back with it.
    await assert.rejects(
      db.transaction(async () => {
        assert.equal((await db.createIndex(items, ['kind'])).created, true)
        assert.ok((await defs(items)).has('items_kind_idx'))
        throw new Error('roll back')
      }),
      /roll back/,
    )
    assert.equal((await defs(items)).has('items_kind_idx'), false)
  })

  it('rebuilds an INVALID index left by a failed concurrent build, and cleans up its own', async () => {
    // a has duplicates: a unique concurrent build fails and leaves an INVALID index behind.
    await assert.rejects(
      db.query(`CREATE UNIQUE INDEX CONCURRENTLY items_a_key ON ${items} (a)`),
      (e: Error & { code?: string }) => e.code === '23505',
    )
    assert.equal((await defs(items)).get('items_a_key')?.valid, false)
    // createIndex with the same definition drops the remnant and tries again: still duplicates.
    await assert.rejects(
      db.createIndex(items, ['a'], { unique: true, concurrently: true, name: 'items_a_key' }),
      (e: Error & { code?: string }) => e.code === '23505',
    )
    assert.equal((await defs(items)).has('items_a_key'), false, 'its own failed build is dropped')

    await db.query(`CREATE UNIQUE INDEX CONCURRENTLY items_id_key ON ${items} (a)`).catch(() => {})
    await db.query(`UPDATE ${items} SET a = id`)
    const r = await db.createIndex(items, ['a'], { unique: true, name: 'items_id_key' })
    assert.deepEqual([r.created, r.rebuilt], [true, true])
    assert.equal((await defs(items)).get('items_id_key')?.valid, true)
  })

  it('two processes building the same index concurrently both succeed, with one index', async () => {
    const big = `${schema}.big`
    await db.query(
      `CREATE TABLE ${big} AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 200000) g`,
    )
    const other = createDb({ primary: DATABASE_URL, pool: { min: 0, max: 2 } })
    try {
      const results = await Promise.all([
        db.createIndex(big, ['h'], { concurrently: true }),
        other.createIndex(big, ['h'], { concurrently: true }),
        other.createIndex(big, ['h'], { concurrently: true }),
      ])
      // They take turns: one builds, the others find it built.
      assert.deepEqual(results.map((r) => r.created).sort(), [false, false, true])
      const d = await defs(big)
      assert.deepEqual([...d.keys()], ['big_h_idx'])
      assert.equal(d.get('big_h_idx')!.valid, true)
      const held = await db.query(
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = x'68706978'::int::oid",
      )
      assert.equal(held.rowCount, 0, 'every turn was given back')
    } finally {
      await other.close()
    }
  })

  it('refuses an existing index of that name with another definition', async () => {
    await db.createIndex(items, ['kind'], { name: 'items_by_kind' })
    const others: [IndexColumn[], Parameters<Db['createIndex']>[2]][] = [
      [['kind'], { method: 'hash' }],
      [['kind'], { unique: true }],
      [['kind'], { where: 'kind > 1' }],
      [['kind'], { include: ['a'] }],
      [['kind', 'a'], {}],
      [['a'], {}],
    ]
    for (const [cols, opts] of others) {
      await assert.rejects(
        createIndex(db, items, cols, { ...opts, name: 'items_by_kind' }),
        (e) =>
          code('HP_ERR_DB_INVALID_INPUT')(e) && /another definition/.test((e as Error).message),
        JSON.stringify([cols, opts]),
      )
    }
    await assert.rejects(db.createIndex(items, ['a'], { name: 'items' }), /not an index/)
    assert.equal((await db.createIndex(items, ['kind'], { name: 'items_by_kind' })).created, false)
  })

  it('indexReport lists unused, duplicate and invalid indexes, and seq-scanned tables', async () => {
    const orders = `${report}.orders`
    // One connection writes and scans, then flushes its statistics (PostgreSQL 15 sends them
    // at most once a second, or after 10 s idle, unless told to).
    const { session } = await db.session()
    try {
      await session.query(`CREATE SCHEMA ${report}`)
      await session.query(
        `CREATE TABLE ${orders} (id int PRIMARY KEY, customer_id int, status text, ref int, total int, note text)`,
      )
      await session.query(
        `INSERT INTO ${orders} SELECT g, g % 500, 's' || (g % 4), g, g % 97, 'n' || g FROM generate_series(1, 20000) g`,
      )
      await session.query(`CREATE TABLE ${report}.tiny (id int, v int)`)
      await session.query(`INSERT INTO ${report}.tiny SELECT g, g FROM generate_series(1, 100) g`)
      await db.createIndex(orders, ['customer_id']) // a prefix of the next: a duplicate
      await db.createIndex(orders, ['customer_id', 'status'])
      await db.createIndex(orders, ['total'])
      await db.createIndex(orders, ['ref'], { unique: true }) // enforces: neither unused nor duplicate
      await db.createIndex(orders, ['ref', 'total'])
      await db.createIndex(orders, ['status'], { where: "status = 's1'" })
      // status has duplicates: the build fails and leaves an INVALID index.
      await assert.rejects(
        db.query(`CREATE UNIQUE INDEX CONCURRENTLY orders_status_key ON ${orders} (status)`),
      )
      for (let i = 0; i < 20; i++) {
        await session.query(`SELECT count(*) FROM ${orders} WHERE note = 'n3'`)
        await session.query(`SELECT count(*) FROM ${report}.tiny WHERE v = 3`)
      }
      await session.query('SELECT pg_stat_force_next_flush()')
    } finally {
      session.release()
    }
    let r = await db.indexReport({ schema: report })
    for (let i = 0; i < 100 && r.seqScans.length === 0; i++) {
      await sleep(100)
      r = await db.indexReport({ schema: report })
    }
    const names = (list: { index: string }[]) => list.map((x) => x.index).sort()
    assert.deepEqual(names(r.unused), [
      'orders_customer_id_idx',
      'orders_customer_id_status_idx',
      'orders_ref_total_idx',
      'orders_status_idx',
      'orders_total_idx',
    ])
    for (const u of r.unused) {
      assert.equal(u.scans, 0)
      assert.ok(u.sizeBytes > 0)
      assert.equal(u.drop, `DROP INDEX CONCURRENTLY ${report}.${u.index}`)
    }
    assert.deepEqual(
      r.duplicate.map((d) => [d.index, d.coveredBy]),
      [['orders_customer_id_idx', 'orders_customer_id_status_idx']],
    )
    assert.deepEqual(names(r.invalid), ['orders_status_key'])
    assert.deepEqual(
      r.seqScans.map((x) => x.table),
      ['orders'],
      'tiny is under minRows',
    )
    const seq = r.seqScans[0]!
    assert.ok(
      seq.seqScans >= 20 && seq.rows >= 10_000 && seq.seqScanShare > 0.5,
      JSON.stringify(seq),
    )
    assert.ok(seq.seqRows >= 20 * 20_000)
    const strict = await indexReport(db, { schema: [report], minSeqScans: 1000 })
    assert.deepEqual(strict.seqScans, [])
    await assert.rejects(
      db.indexReport({ schema: [] as unknown as string }),
      code('HP_ERR_INVALID_OPTION'),
    )
  })
})
