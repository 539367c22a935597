import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createDb, type Db, isHotpathError } from 'hotpath/db'
import { DATABASE_URL, unless } from '../helpers/services.ts'

const skip = await unless('postgres')
const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

/** Values that break naive COPY or VALUES encoders. */
const tricky: string[] = [
  'tab\there',
  'new\nline',
  'carriage\rreturn',
  'back\\slash',
  'ends with backslash\\',
  '\\N',
  'NULL',
  '',
  `quotes ' and "`,
  'unicode 日本語 — é 🎉',
  '\\x41',
  'comma, semicolon; {braces}',
]

function trickyRows(n: number): unknown[][] {
  const rows: unknown[][] = []
  for (let i = 0; i < n; i++) {
    const s = tricky[i % tricky.length]!
    rows.push([
      i,
      i % 13 === 0 ? null : s,
      i % 2 === 0,
      9007199254740993n + BigInt(i),
      new Date(Date.UTC(2024, 0, 1, 12, 30, 45, i % 1000)),
      { s, n: i, nested: { list: [1, 'two', null], flag: true } },
      Buffer.from([0, 9, 10, 13, 92, 255, i % 256]),
      ['a', 'b,c', 'd"e', null, s],
      [1, { x: s }],
      i % 7 === 0 ? null : i / 3,
      new Date(Date.UTC(1999, 11, 31, 23, 59, 59, i % 1000)),
    ])
  }
  return rows
}

const COLUMNS = ['id', 't', 'b', 'big', 'ts', 'j', 'bin', 'arr', 'ja', 'f', 'tsn'] as const

describe('db.batchInsert against PostgreSQL', { skip }, () => {
  const schema = `hp_batch_${randomUUID().slice(0, 8)}`
  let db: Db
  const open: Db[] = []
  const make = (o: Parameters<typeof createDb>[0] = {}) => {
    const d = createDb({ primary: DATABASE_URL, pool: { min: 0 }, nPlusOne: false, ...o })
    open.push(d)
    return d
  }
  const table = async (name: string) => {
    await db.query(`CREATE TABLE ${schema}.${name} (
      id int PRIMARY KEY, t text, b boolean, big bigint, ts timestamptz, j jsonb,
      bin bytea, arr text[], ja jsonb, f float8, tsn timestamp)`)
    return `${schema}.${name}`
  }
  const count = async (t: string) =>
    (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n

  before(async () => {
    db = make()
    await db.query(`CREATE SCHEMA ${schema}`)
    await db.query(`CREATE TABLE ${schema}.kv (id int PRIMARY KEY, name text, n int DEFAULT 0)`)
  })
  after(async () => {
    await db.query(`DROP SCHEMA ${schema} CASCADE`)
    for (const d of open) await d.close()
  })

  it('a small set goes through multi-row INSERT, a large one through COPY', async () => {
    const t = await table('sizes')
    const small = await db.batchInsert(t, COLUMNS, trickyRows(10))
    assert.deepEqual(small, { inserted: 10, method: 'values' })
    const large = await db.batchInsert(
      t,
      COLUMNS,
      trickyRows(5010).slice(10), // ids 10 … 5009
    )
    assert.deepEqual(large, { inserted: 5000, method: 'copy' })
    assert.equal(await count(t), 5010)
    const stmts = db.stats(1000).statements.map((s) => s.statement)
    assert.ok(
      stmts.some((s) => s.startsWith(`COPY "${schema}"."sizes"`) && s.endsWith('FROM STDIN')),
      'COPY is recorded as its own statement',
    )
    assert.ok(stmts.some((s) => s.startsWith(`INSERT INTO "${schema}"."sizes"`)))
    const pool = db.stats().pools.primary!
    assert.equal(pool.idle, pool.total, 'no connection left checked out')
  })

  it('round-trips tricky values exactly, the same through VALUES and COPY', async () => {
    const rows = trickyRows(60)
    const tv = await table('rt_values')
    const tc = await table('rt_copy')
    assert.equal((await db.batchInsert(tv, COLUMNS, rows)).method, 'values')
    assert.equal((await db.batchInsert(tc, COLUMNS, rows, { copyThreshold: 1 })).method, 'copy')
    const read = (t: string) =>
      db.query<Record<string, unknown>>(`SELECT * FROM ${t} ORDER BY id`).then((r) => r.rows)
    const [a, b] = [await read(tv), await read(tc)]
    assert.deepEqual(b, a, 'COPY and VALUES store the same')
    for (const [i, row] of a.entries()) {
      const src = rows[i]!
      assert.equal(row.id, src[0])
      assert.equal(row.t, src[1], `text ${JSON.stringify(src[1])}`)
      assert.equal(row.b, src[2])
      assert.equal(row.big, String(src[3]), 'bigint (read back as a string by pg)')
      assert.equal((row.ts as Date).getTime(), (src[4] as Date).getTime())
      assert.deepEqual(row.j, src[5])
      assert.deepEqual(row.bin, src[6])
      assert.deepEqual(row.arr, src[7])
      assert.deepEqual(row.ja, src[8], 'a JS array in a jsonb column is a JSON array')
      assert.equal(row.f, src[9])
      // timestamp without time zone: node-postgres's local-time convention, both ways.
      assert.equal((row.tsn as Date).getTime(), (src[10] as Date).getTime())
    }
    // The empty string and the text "\N" stay distinct from NULL.
    const nulls = await db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${tc} WHERE t IS NULL`,
    )
    assert.equal(nulls.rows[0]!.n, rows.filter((r) => r[1] === null).length)
  })

  it('accepts rows as objects keyed by column; missing keys are NULL', async () => {
    const t = `${schema}.kv`
    // db.batchInsert's signature says arrays; batch.ts takes objects too (BatchRow).
    const objects = (rows: Record<string, unknown>[]) => rows as unknown as unknown[][]
    const r = await db.batchInsert(
      t,
      ['id', 'name'],
      objects([{ id: 1001, name: 'a' }, { id: 1002 }]),
    )
    assert.equal(r.inserted, 2)
    const c = await db.batchInsert(t, ['id', 'name'], objects([{ id: 1003, name: 'c' }]), {
      copyThreshold: 1,
    })
    assert.equal(c.method, 'copy')
    const rows = await db.query(`SELECT id, name FROM ${t} WHERE id > 1000 ORDER BY id`)
    assert.deepEqual(rows.rows, [
      { id: 1001, name: 'a' },
      { id: 1002, name: null },
      { id: 1003, name: 'c' },
    ])
  })

  it('chunks multi-row INSERTs under 65,535 parameters, all or nothing', async () => {
    await db.query(`CREATE TABLE ${schema}.wide (${COLS10.map((c) => `${c} int`).join(', ')},
      PRIMARY KEY (c0))`)
    const t = `${schema}.wide`
    const rows = Array.from({ length: 7000 }, (_, i) => COLS10.map((_, j) => i * 10 + j))
    const inserts: string[] = []
    const listen = (e: { statement: string }) => {
      if (e.statement.startsWith('INSERT')) inserts.push(e.statement)
    }
    db.on('query', listen)
    try {
      // 70,000 parameters in one statement would be refused: the parameter limit splits it.
      const r = await db.batchInsert(t, COLS10, rows, {
        copyThreshold: 1_000_000,
        maxRowsPerStatement: 1_000_000,
      })
      assert.deepEqual(r, { inserted: 7000, method: 'values' })
      assert.equal(inserts.length, 2, '6,553 + 447 rows')
      inserts.length = 0
      await db.query(`TRUNCATE ${t}`)
      // The default also bounds rows per statement (1000).
      await db.batchInsert(t, COLS10, rows, { copyThreshold: 1_000_000 })
      assert.equal(inserts.length, 7)
      assert.equal(await count(t), 7000)
      // A duplicate key in the last chunk rolls back the chunks before it.
      await db.query(`TRUNCATE ${t}`)
      const bad = [...rows, rows[0]!]
      await assert.rejects(
        db.batchInsert(t, COLS10, bad, { copyThreshold: 1_000_000 }),
        (e: Error & { code?: string }) => e.code === '23505',
      )
      assert.equal(await count(t), 0)
      // … and the same set through COPY is one statement, atomic too.
      await assert.rejects(
        db.batchInsert(t, COLS10, bad),
        (e: Error & { code?: string }) => e.code === '23505',
      )
      assert.equal(await count(t), 0)
      assert.deepEqual(await db.batchInsert(t, COLS10, rows), { inserted: 7000, method: 'copy' })
    } finally {
      db.off('query', listen)
    }
    const pool = db.stats().pools.primary!
    assert.equal(pool.idle, pool.total, 'no connection left checked out')
  })

  for (const method of ['values', 'copy'] as const) {
    const copyThreshold = method === 'copy' ? 1 : 1_000_000
    it(`onConflict 'ignore' and upserts through ${method}`, async () => {
      const t = `${schema}.up_${method}`
      await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text, n int NOT NULL DEFAULT 0)`)
      const first = Array.from({ length: 10 }, (_, i) => [i + 1, `first ${i + 1}`, 1])
      await db.batchInsert(t, ['id', 'name', 'n'], first)
      const second = Array.from({ length: 20 }, (_, i) => [i + 1, `second ${i + 1}`, 2])
      const ignored = await db.batchInsert(t, ['id', 'name', 'n'], second, {
        onConflict: 'ignore',
        copyThreshold,
      })
      assert.deepEqual(ignored, { inserted: 10, method })
      assert.equal(await count(t), 20)
      const r1 = await db.query(`SELECT name, n FROM ${t} WHERE id IN (1, 15) ORDER BY id`)
      assert.deepEqual(r1.rows, [
        { name: 'first 1', n: 1 },
        { name: 'second 15', n: 2 },
      ])
      // Upsert: update only `name`; `n` keeps its value.
      const third = Array.from({ length: 25 }, (_, i) => [i + 1, `third ${i + 1}`, 3])
      const up = await db.batchInsert(t, ['id', 'name', 'n'], third, {
        onConflict: { target: ['id'], update: ['name'] },
        copyThreshold,
      })
      assert.deepEqual(up, { inserted: 25, method }, 'inserted or updated')
      const r2 = await db.query(`SELECT id, name, n FROM ${t} WHERE id IN (1, 15, 25) ORDER BY id`)
      assert.deepEqual(r2.rows, [
        { id: 1, name: 'third 1', n: 1 },
        { id: 15, name: 'third 15', n: 2 },
        { id: 25, name: 'third 25', n: 3 },
      ])
      // Default update list: every inserted column outside the target.
      await db.batchInsert(t, ['id', 'name', 'n'], [[1, 'fourth', 4]], {
        onConflict: { target: ['id'] },
        copyThreshold,
      })
      const r3 = await db.query(`SELECT name, n FROM ${t} WHERE id = 1`)
      assert.deepEqual(r3.rows, [{ name: 'fourth', n: 4 }])
      // An empty update list: do nothing on that target.
      const none = await db.batchInsert(t, ['id', 'name', 'n'], [[1, 'fifth', 5]], {
        onConflict: { target: ['id'], update: [] },
        copyThreshold,
      })
      assert.equal(none.inserted, 0)
    })
  }

  it('inside db.transaction it joins the transaction: a rollback undoes it', async () => {
    const t = `${schema}.txn`
    await db.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text)`)
    const rows = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => [from + i, `row ${from + i}`])
    const one = make({ pool: { max: 1, min: 0 } })
    await assert.rejects(
      one.transaction(async (tx) => {
        assert.equal((await tx.batchInsert(t, ['id', 'name'], rows(1, 5000))).method, 'copy')
        assert.equal((await tx.batchInsert(t, ['id', 'name'], rows(5001, 10))).method, 'values')
        // COPY with ON CONFLICT twice in one transaction: the temp tables do not collide.
        await tx.batchInsert(t, ['id', 'name'], rows(1, 2000), { onConflict: 'ignore' })
        await tx.batchInsert(t, ['id', 'name'], rows(1, 2000), { onConflict: 'ignore' })
        const seen = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)
        assert.equal(seen.rows[0]!.n, 5010)
        throw new Error('roll back')
      }),
      /roll back/,
    )
    assert.equal(await count(t), 0)
    await one.transaction(async (tx) => {
      await tx.batchInsert(t, ['id', 'name'], rows(1, 3000), { onConflict: 'ignore' })
    })
    assert.equal(await count(t), 3000)
    const pool = one.stats().pools.primary!
    assert.deepEqual([pool.total, pool.idle], [1, 1])
  })

  it('rejects bad input with typed errors before anything is sent', async () => {
    const t = `${schema}.kv`
    const before = db.stats().queries
    const bad: [unknown, unknown, unknown, unknown, string][] = [
      [t, [], [[1]], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, 'id', [[1]], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'name'], [[1]], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'name'], [[1, 'a'], 'x'], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'name'], [[1, 'a'], null], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'name'], { length: 1 }, undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'id'], [[1, 2]], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'name'], [{ id: 1, nmae: 'typo' }], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'name'], [[1, Symbol('x')]], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, ['id', 'name'], [[1, new Date('nope')]], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      ['kv; DROP TABLE kv', ['id'], [[1]], undefined, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [`${schema}."kv"`, ['id'], [[1]], undefined, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [t, ['id', 'na me'], [[1, 'a']], undefined, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [t, ['id', 'x.name'], [[1, 'a']], undefined, 'HP_ERR_DB_INVALID_INPUT'],
      [t, [1], [[1]], undefined, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [t, ['id'], [[1]], { copyThreshold: 0 }, 'HP_ERR_INVALID_OPTION'],
      [t, ['id'], [[1]], { maxRowsPerStatement: 1.5 }, 'HP_ERR_INVALID_OPTION'],
      [t, ['id'], [[1]], { onConflict: 'update' }, 'HP_ERR_INVALID_OPTION'],
      [t, ['id'], [[1]], { onConflict: { target: [] } }, 'HP_ERR_INVALID_OPTION'],
      [t, ['id'], [[1]], { onConflict: { target: ['id;'] } }, 'HP_ERR_DB_INVALID_IDENTIFIER'],
      [
        t,
        ['id'],
        [[1]],
        { onConflict: { target: ['id'], update: ['n'] } },
        'HP_ERR_DB_INVALID_INPUT',
      ],
    ]
    for (const [i, [table, columns, rows, options, expected]] of bad.entries()) {
      await assert.rejects(
        db.batchInsert(
          table as string,
          columns as string[],
          rows as unknown[][],
          options as Parameters<Db['batchInsert']>[3],
        ),
        code(expected),
        `case ${i} → ${expected}`,
      )
    }
    assert.equal(db.stats().queries, before, 'nothing reached the server')
    assert.deepEqual(await db.batchInsert(t, ['id'], []), { inserted: 0, method: 'values' })
    assert.equal(db.stats().queries, before)
  })

  it('a failed COPY leaves its connection usable', async () => {
    const one = make({ pool: { max: 1, min: 0 } })
    const t = `${schema}.kv`
    const rows = Array.from({ length: 2000 }, (_, i) => [5000 + i, 'x'])
    rows.push([5000, 'duplicate'])
    await assert.rejects(
      one.batchInsert(t, ['id', 'name'], rows),
      (e: Error & { code?: string }) => e.code === '23505',
    )
    // A value the column cannot take fails on the server, typed by SQLSTATE.
    await assert.rejects(
      one.batchInsert(t, ['id', 'n'], [[9000, 'not a number']], { copyThreshold: 1 }),
      (e: Error & { code?: string }) => e.code === '22P02',
    )
    assert.equal((await one.query<{ x: number }>('SELECT 1 AS x')).rows[0]!.x, 1)
    assert.equal((await one.batchInsert(t, ['id', 'name'], rows.slice(0, -1))).method, 'copy')
    const pool = one.stats().pools.primary!
    assert.deepEqual([pool.total, pool.idle], [1, 1])
  })
})

const COLS10 = Array.from({ length: 10 }, (_, i) => `c${i}`)
