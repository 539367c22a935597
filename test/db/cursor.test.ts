import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDb, type Db, isHotpathError } from 'hotpath/db'
import { DATABASE_URL, freePort, unless } from '../helpers/services.ts'

const skip = await unless('postgres')
const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c
const sqlState = (c: string) => (err: unknown) => (err as { code?: string }).code === c

describe('db.cursor against PostgreSQL', { skip }, () => {
  const schema = `hp_cursor_${randomUUID().slice(0, 8)}`
  let db: Db
  const open: Db[] = []
  const make = (o: Parameters<typeof createDb>[0] = {}) => {
    const d = createDb({ primary: DATABASE_URL, pool: { min: 0 }, nPlusOne: false, ...o })
    open.push(d)
    return d
  }
  /** A pool of one: a connection left checked out would make the next query time out. */
  const single = () => make({ pool: { max: 1, min: 0, connectTimeoutMs: 500 } })
  const assertReleased = async (d: Db) => {
    const p = d.stats().pools.primary!
    assert.equal(p.idle, p.total, `checked out: ${p.total - p.idle}`)
    assert.equal((await d.query<{ x: number }>('SELECT 1 AS x')).rows[0]!.x, 1)
  }

  before(async () => {
    db = make()
    await db.query(`CREATE SCHEMA ${schema}`)
    await db.query(`CREATE TABLE ${schema}.big (id int PRIMARY KEY, name text, seen boolean)`)
    await db.query(
      `INSERT INTO ${schema}.big SELECT g, 'row ' || g, false FROM generate_series(1, 10000) g`,
    )
  })
  after(async () => {
    await db.query(`DROP SCHEMA ${schema} CASCADE`)
    for (const d of open) await d.close()
  })

  it('iterates 10,000 rows in batches and records the statement once', async () => {
    const d = single()
    const text = `SELECT id, name FROM ${schema}.big WHERE id > $1 ORDER BY id`
    let n = 0
    let last = 0
    for await (const row of d.cursor<{ id: number; name: string }>(text, [0], {
      batchSize: 1000,
    })) {
      assert.equal(row.id, last + 1)
      assert.equal(row.name, `row ${row.id}`)
      last = row.id
      n++
    }
    assert.equal(n, 10_000)
    const stat = d.stats().statements.find((s) => s.statement.startsWith('SELECT id, name'))
    assert.equal(stat?.calls, 1)
    await assertReleased(d)
    // Fewer rows than one batch, none at all, and the default batch size.
    const few = await all(d.cursor(`SELECT g FROM generate_series(1, 3) g;`))
    assert.deepEqual(few, [{ g: 1 }, { g: 2 }, { g: 3 }])
    assert.deepEqual(await all(d.cursor('SELECT 1 WHERE false')), [])
    assert.equal((await all(d.cursor(`SELECT * FROM ${schema}.big`))).length, 10_000)
    await assertReleased(d)
  })

  it('takes no connection until iterated, and rejects bad input at the call', () => {
    const d = single()
    const it = d.cursor('SELECT 1')
    assert.equal(d.stats().pools.primary!.total, 0)
    void it.return()
    assert.throws(() => d.cursor(''), code('HP_ERR_DB_INVALID_INPUT'))
    assert.throws(() => d.cursor('SELECT 1', [], { batchSize: 0 }), code('HP_ERR_DB_INVALID_INPUT'))
    assert.throws(
      () => d.cursor('SELECT 1', 'x' as unknown as unknown[]),
      code('HP_ERR_DB_INVALID_INPUT'),
    )
  })

  it('releases its connection after a break', async () => {
    const d = single()
    let n = 0
    for await (const _ of d.cursor(`SELECT * FROM ${schema}.big`, [], { batchSize: 100 })) {
      if (++n === 150) break
    }
    assert.equal(n, 150)
    await assertReleased(d)
  })

  it('releases its connection after a throw in the loop body', async () => {
    const d = single()
    await assert.rejects(async () => {
      for await (const row of d.cursor<{ id: number }>(`SELECT id FROM ${schema}.big`, [], {
        batchSize: 100,
      })) {
        if (row.id === 250) throw new Error('body failed')
      }
    }, /body failed/)
    await assertReleased(d)
  })

  it('a server error mid-iteration rejects the loop and releases the connection', async () => {
    const d = single()
    let n = 0
    await assert.rejects(async () => {
      // Division by zero at row 5000: the first batches arrive, then the error.
      for await (const _ of d.cursor(
        'SELECT 10 / (5000 - g) AS x FROM generate_series(1, 10000) g',
        [],
        { batchSize: 1000 },
      ))
        n++
    }, sqlState('22012'))
    assert.equal(n, 4000)
    assert.equal(d.stats().errors, 1)
    await assertReleased(d)
    // A statement the server refuses at DECLARE.
    await assert.rejects(all(d.cursor('SELEC nonsense')), sqlState('42601'))
    await assertReleased(d)
  })

  it('each FETCH is its own statement: a slow loop body does not hit statement_timeout', async () => {
    const d = make({ statementTimeoutMs: 200, pool: { max: 1, min: 0 } })
    let n = 0
    for await (const _ of d.cursor('SELECT g FROM generate_series(1, 1000) g', [], {
      batchSize: 100,
    })) {
      if (++n % 100 === 0) await sleep(40) // 400 ms in all
    }
    assert.equal(n, 1000)
    // The timeout still applies to each FETCH.
    await assert.rejects(
      all(d.cursor('SELECT pg_sleep(0.5) FROM generate_series(1, 2)', [], {})),
      code('HP_ERR_DB_QUERY_TIMEOUT'),
    )
    await assertReleased(d)
  })

  it('inside db.transaction it runs in the transaction, and the loop body may query', async () => {
    const d = single()
    await d.transaction(async (tx) => {
      let n = 0
      for await (const row of tx.cursor<{ id: number }>(
        `SELECT id FROM ${schema}.big WHERE id <= 500 ORDER BY id`,
        [],
        { batchSize: 100 },
      )) {
        // Same connection as the cursor: it is free between FETCHes.
        if (row.id % 100 === 0)
          await d.query(`UPDATE ${schema}.big SET seen = true WHERE id = $1`, [row.id])
        n++
      }
      assert.equal(n, 500)
      // Two cursors open at once in one transaction.
      const a = tx.cursor<{ g: number }>('SELECT g FROM generate_series(1, 5) g', [], {
        batchSize: 2,
      })
      const b = tx.cursor<{ g: number }>('SELECT g * 10 AS g FROM generate_series(1, 5) g')
      const pairs: number[] = []
      for await (const x of a) {
        const y = await b.next()
        pairs.push(x.g + (y.done ? 0 : y.value.g))
      }
      await b.return()
      assert.deepEqual(pairs, [11, 22, 33, 44, 55])
      // A cursor broken off early leaves the transaction usable.
      for await (const _ of tx.cursor(`SELECT id FROM ${schema}.big`)) break
      assert.equal((await tx.query<{ x: number }>('SELECT 2 AS x')).rows[0]!.x, 2)
    })
    const seen = await d.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM ${schema}.big WHERE seen`,
    )
    assert.equal(seen.rows[0]!.n, 5)
    // A cursor on uncommitted rows sees them, and a rollback still undoes the loop's writes.
    await assert.rejects(
      d.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${schema}.big VALUES (20001, 'new', false)`)
        const rows = await all(tx.cursor(`SELECT id FROM ${schema}.big WHERE id > 20000`))
        assert.deepEqual(rows, [{ id: 20001 }])
        throw new Error('roll back')
      }),
      /roll back/,
    )
    assert.equal((await d.query(`SELECT 1 FROM ${schema}.big WHERE id = 20001`)).rowCount, 0)
    await assertReleased(d)
  })

  it('reads fall back to the primary when the replica cannot be reached', async () => {
    const port = await freePort()
    const d = make({
      replicas: [`postgres://postgres@127.0.0.1:${port}/test`],
      pool: { max: 1, min: 0, connectTimeoutMs: 500 },
    })
    const rows = await all(d.cursor('SELECT g FROM generate_series(1, 3) g'))
    assert.equal(rows.length, 3)
    await assertReleased(d)
  })
})

/** Every row of a cursor (Array.fromAsync is past this project's es2023 lib). */
async function all<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const r of rows) out.push(r)
  return out
}
