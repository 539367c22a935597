import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { createDb, type Db, isHotpathError, type Suggestion } from 'hotpath/db'
import { analyze } from '../../src/db/analyze.ts'
import { columnEquality, conjuncts, predicate, sortKey } from '../../src/db/plan.ts'
import { DATABASE_URL, unless } from '../helpers/services.ts'

const skip = await unless('postgres')
const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c
const indexes = (s: readonly Suggestion[]) => s.filter((x) => x.kind === 'index')

describe('analyze against PostgreSQL', { skip }, () => {
  const schema = `hp_an_${randomUUID().slice(0, 8)}`
  const t = `${schema}.orders`
  let db: Db

  const indexNames = async (table: string) =>
    (
      await db.query<{ name: string }>(
        'SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = $1::regclass ORDER BY 1',
        [table],
      )
    ).rows.map((r) => r.name)

  before(async () => {
    db = createDb({ primary: DATABASE_URL, pool: { min: 0, max: 4 } })
    await db.query(`CREATE SCHEMA ${schema}`)
    await db.query(
      `CREATE TABLE ${t} (id serial PRIMARY KEY, customer_id int NOT NULL, active boolean NOT NULL, ` +
        'created_at timestamptz NOT NULL, amount int NOT NULL)',
    )
    // 100k rows, no index but the primary key: 100 rows per customer, active 50/50.
    await db.query(
      `INSERT INTO ${t} (customer_id, active, created_at, amount) SELECT g % 1000, g % 2 = 0, ` +
        `timestamptz '2024-01-01' + g * interval '1 minute', g % 100 FROM generate_series(1, 100000) g`,
    )
    await db.query(`ANALYZE ${t}`)
  })
  after(async () => {
    await db.query(`DROP SCHEMA ${schema} CASCADE`)
    await db.close()
  })

  it('suggests a verified index for a selective filter and leaves no index behind', async () => {
    const a = await db.analyze(`SELECT * FROM ${t} WHERE customer_id = $1`, [42])
    assert.ok(a.executionMs > 0 && a.planningMs >= 0)
    assert.equal(a.rows, 100)
    assert.ok(a.buffers.sharedHit + a.buffers.sharedRead > 0)
    assert.match(JSON.stringify(a.plan), /"Relation Name":"orders"/)
    const [s, ...rest] = indexes(a.suggestions)
    assert.ok(s, JSON.stringify(a.suggestions))
    assert.equal(rest.length, 0)
    assert.equal(
      s.statement,
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS "orders_customer_id_idx" ON "${schema}"."orders" ("customer_id")`,
    )
    assert.ok(s.costAfter! * 3 < s.costBefore!, `${s.costBefore} → ${s.costAfter}`)
    assert.equal(s.costBefore, a.totalCost)
    assert.deepEqual(s.index, {
      table: t,
      columns: [{ column: 'customer_id' }],
      name: 'orders_customer_id_idx',
    })
    assert.deepEqual(await indexNames(t), ['orders_pkey'], 'the candidate was rolled back')

    // Once the suggested index exists, the query is well indexed: nothing more to suggest.
    await db.query(s.statement!)
    try {
      const again = await db.analyze(`SELECT * FROM ${t} WHERE customer_id = $1`, [42])
      assert.deepEqual(indexes(again.suggestions), [])
      assert.match(JSON.stringify(again.plan), /orders_customer_id_idx/)
    } finally {
      await db.query(`DROP INDEX ${schema}.orders_customer_id_idx`)
    }
  })

  it('a primary-key lookup gets no suggestion', async () => {
    const a = await db.analyze(`SELECT * FROM ${t} WHERE id = $1`, [42])
    assert.deepEqual(a.suggestions, [])
  })

  it('an analysed UPDATE leaves the data unchanged', async () => {
    const sum = async () =>
      (await db.query<{ s: number }>(`SELECT sum(amount)::int AS s FROM ${t}`)).rows[0]!.s
    const before = await sum()
    const a = await db.analyze(`UPDATE ${t} SET amount = amount + 1 WHERE customer_id = $1`, [7])
    assert.equal(a.plan['Node Type'], 'ModifyTable')
    assert.equal(await sum(), before)
    assert.match(indexes(a.suggestions)[0]?.statement ?? '', /\("customer_id"\)$/)
    assert.deepEqual(await indexNames(t), ['orders_pkey'])
  })

  it('ORDER BY … LIMIT gets an index on the sort key', async () => {
    const a = await db.analyze(`SELECT * FROM ${t} ORDER BY created_at DESC LIMIT 10`)
    const [s] = indexes(a.suggestions)
    assert.ok(s, JSON.stringify(a.suggestions))
    // An ascending index read backwards serves DESC: the plain key is suggested.
    assert.match(s.statement!, /"orders_created_at_idx" ON .* \("created_at"\)$/)
    assert.ok(s.costAfter! * 10 < s.costBefore!)
    const both = await db.analyze(
      `SELECT * FROM ${t} WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 10`,
      [3],
    )
    assert.match(indexes(both.suggestions)[0]?.statement ?? '', /\("customer_id", "created_at"\)$/)
    assert.deepEqual(await indexNames(t), ['orders_pkey'])
  })

  it('a low-selectivity filter gets no index: the re-plan does not confirm it', async () => {
    const a = await db.analyze(`SELECT * FROM ${t} WHERE active = $1`, [true])
    assert.deepEqual(indexes(a.suggestions), [])
    const range = await db.analyze(`SELECT * FROM ${t} WHERE amount < $1`, [90])
    assert.deepEqual(indexes(range.suggestions), [])
  })

  it('refuses what is not one explainable statement', async () => {
    const bad = [
      [42, []],
      ['', []],
      [`SELECT 1; DELETE FROM ${t}`, []],
      [`DROP TABLE ${t}`, []],
      [`CREATE INDEX x ON ${t} (amount)`, []],
      ['EXPLAIN SELECT 1', []],
      ['COMMIT', []],
      ['SELECT 1', 'x'],
    ] as const
    for (const [text, values] of bad) {
      await assert.rejects(
        db.analyze(text as string, values as unknown as unknown[]),
        code('HP_ERR_DB_INVALID_INPUT'),
        String(text),
      )
    }
    assert.equal((await db.query(`SELECT count(*)::int AS n FROM ${t}`)).rows[0]!.n, 100_000)
    // A trailing semicolon and comments are fine; a SQL error is the server's.
    const ok = await db.analyze('-- one row\nSELECT 1 AS x; /* done */')
    assert.equal(ok.rows, 1)
    await assert.rejects(
      db.analyze(`SELECT nope FROM ${t}`),
      (e: Error & { code?: string }) => e.code === '42703',
    )
  })

  it('inside a transaction: a savepoint, the transaction goes on; notes read the plan', async () => {
    await db.transaction(async () => {
      await db.query(
        `INSERT INTO ${t} (customer_id, active, created_at, amount) VALUES (-1, true, now(), 5)`,
      )
      // A tiny work_mem makes the sort spill to disk.
      await db.query(`SET LOCAL work_mem = '64kB'`)
      const a = await db.analyze(`SELECT * FROM ${t} ORDER BY amount, id`)
      assert.ok(
        a.suggestions.some((s) => s.kind === 'note' && /spilled to disk/.test(s.message)),
        JSON.stringify(a.suggestions),
      )
      const u = await db.analyze(`DELETE FROM ${t} WHERE customer_id = $1`, [-1])
      assert.equal(u.plan['Node Type'], 'ModifyTable')
      const r = await db.query(`SELECT 1 FROM ${t} WHERE customer_id = -1`)
      assert.equal(r.rowCount, 1, 'the transaction’s own row survives')
      await db.query(`DELETE FROM ${t} WHERE customer_id = -1`)
    })
  })

  it('a misjudged table gets an ANALYZE note and no index advice', async () => {
    const skew = `${schema}.skew`
    await db.query(`CREATE TABLE ${skew} (id int, k int) WITH (autovacuum_enabled = false)`)
    await db.query(`INSERT INTO ${skew} SELECT g, 0 FROM generate_series(1, 50000) g`)
    await db.query(`ANALYZE ${skew}`)
    await db.query(`UPDATE ${skew} SET k = 1`) // the statistics still say k is always 0
    const a = await db.analyze(`SELECT count(*) FROM ${skew} WHERE k = $1`, [1])
    assert.deepEqual(indexes(a.suggestions), [])
    const note = a.suggestions.find((s) => /Row estimate/.test(s.message))
    assert.ok(note, JSON.stringify(a.suggestions))
    assert.match(note.message, new RegExp(`run ANALYZE ${skew}`))
    assert.equal(note.relation, skew)
  })

  it('options: a verification that cannot lock the table becomes a note; verify: false skips it', async () => {
    const other = createDb({ primary: DATABASE_URL, pool: { min: 0, max: 1 } })
    const { session } = await other.session()
    try {
      // Writers hold ROW EXCLUSIVE: the candidate's CREATE INDEX (SHARE) has to wait for them.
      await session.query('BEGIN')
      await session.query(`LOCK TABLE ${t} IN ROW EXCLUSIVE MODE`)
      const a = await analyze(db, `SELECT * FROM ${t} WHERE customer_id = $1`, [42], {
        lockTimeoutMs: 50,
      })
      assert.deepEqual(indexes(a.suggestions), [])
      assert.match(a.suggestions[0]?.message ?? '', /Could not verify .*lock timeout/)
    } finally {
      await session.query('ROLLBACK')
      session.release()
      await other.close()
    }
    const plain = await analyze(db, `SELECT * FROM ${t} WHERE customer_id = $1`, [42], {
      verify: false,
    })
    assert.deepEqual(indexes(plain.suggestions), [])
    assert.match(plain.suggestions[0]?.message ?? '', /discarded 99,900 .* not verified/)
    await assert.rejects(
      analyze(db, 'SELECT 1', [], { minImprovement: 2 }),
      code('HP_ERR_INVALID_OPTION'),
    )
  })
})

describe('reading plan expressions', () => {
  it('finds columns compared with constants, and nothing it cannot read for sure', () => {
    const filter =
      "((t.created_at > '2024-01-01 00:00:00+00'::timestamp with time zone) AND (t.id = ANY ('{1,2}'::integer[])) " +
      "AND (t.customer_id = 42) AND ((t.status)::text = 'x'::text) AND (t.a IS NULL) AND (NOT t.flag) " +
      "AND (t.b <> 3) AND (t.c ~~ 'x%'::text) AND (t.d = t.e) AND ((t.f + 1) = 2) AND ('-5'::integer < t.g))"
    const read = conjuncts(filter).map(predicate)
    assert.deepEqual(read, [
      { alias: 't', column: 'created_at', kind: 'range' },
      { alias: 't', column: 'id', kind: 'eq' },
      { alias: 't', column: 'customer_id', kind: 'eq' },
      { alias: 't', column: 'status', kind: 'eq' },
      { alias: 't', column: 'a', kind: 'eq' },
      { alias: 't', column: 'flag', kind: 'eq' },
      null,
      null,
      null,
      null,
      { alias: 't', column: 'g', kind: 'range' },
    ])
    assert.deepEqual(columnEquality('(o.customer_id = "C".id)'), [
      { alias: 'o', column: 'customer_id' },
      { alias: 'C', column: 'id' },
    ])
    assert.equal(columnEquality("(o.a = 'x'::text)"), null)
    assert.deepEqual(conjuncts("((a = 'x AND y') OR (b = 1))"), ["(a = 'x AND y') OR (b = 1)"])
    assert.equal(predicate("(a = 'x AND y') OR (b = 1)"), null)
  })

  it('reads sort keys, leaving the default null ordering implicit', () => {
    assert.deepEqual(sortKey('t.created_at DESC'), {
      alias: 't',
      column: 'created_at',
      order: 'desc',
    })
    assert.deepEqual(sortKey('t.created_at DESC NULLS LAST'), {
      alias: 't',
      column: 'created_at',
      order: 'desc',
      nulls: 'last',
    })
    assert.deepEqual(sortKey('name NULLS LAST'), { alias: null, column: 'name', order: 'asc' })
    assert.equal(sortKey('(t.a + t.b)'), null)
    assert.equal(sortKey('lower(t.email)'), null)
  })
})
