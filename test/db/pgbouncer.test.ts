import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDb, type Db, type DbOptions, isHotpathError } from 'hotpath/db'
import { ThrowawayPgbouncer, unlessPgbouncer } from '../helpers/pgbouncer.ts'
import { DATABASE_URL, unless } from '../helpers/services.ts'

const skip = (await unless('postgres')) || unlessPgbouncer()
const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c
const sqlState = (c: string) => (err: unknown) => (err as { code?: string }).code === c

/**
 * Through a real PgBouncer 1.18 in transaction pooling mode, as the guides
 * deploy it: 3 server connections shared by 8 client connections, so
 * consecutive statements of one client land on different server connections.
 */
describe('behind PgBouncer in transaction pooling mode', { skip }, () => {
  const schema = `hp_pgb_${randomUUID().slice(0, 8)}`
  let bouncer: ThrowawayPgbouncer
  let direct: Db
  let db: Db
  const open: Db[] = []
  const make = (o: DbOptions = {}) => {
    // statementTimeoutMs: 0 — PgBouncer refuses it as a start-up parameter (first test).
    const d = createDb({
      primary: bouncer.url,
      pool: { max: 8, min: 0 },
      statementTimeoutMs: 0,
      nPlusOne: false,
      ...o,
    })
    open.push(d)
    return d
  }

  before(async () => {
    bouncer = await ThrowawayPgbouncer.start({ poolSize: 3 })
    direct = createDb({ primary: DATABASE_URL, pool: { min: 0 } })
    await direct.query(`CREATE SCHEMA ${schema}`)
    await direct.query(`CREATE TABLE ${schema}.items (id int PRIMARY KEY, name text, qty int)`)
    await direct.query(
      `INSERT INTO ${schema}.items SELECT g, 'item ' || g, 0 FROM generate_series(1, 10000) g`,
    )
    db = make()
  })
  after(async () => {
    for (const d of open) await d.close()
    await direct.query(`DROP SCHEMA ${schema} CASCADE`)
    await direct.close()
    await bouncer?.stop()
  })

  it('statement_timeout: refused as a start-up parameter; per-statement timeouts work', async () => {
    // The db's default sends statement_timeout (5000 ms) at connection start-up:
    // PgBouncer closes the connection with 08P01 "unsupported startup parameter".
    const defaults = createDb({ primary: bouncer.url, pool: { min: 0 } })
    open.push(defaults)
    await assert.rejects(defaults.query('SELECT 1'), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'HP_ERR_DB_UNAVAILABLE')
      assert.match(e.message, /unsupported startup parameter: statement_timeout/)
      assert.match(e.message, /pgbouncer: true/)
      return true
    })
    // With { pgbouncer: true } the same defaults connect.
    const told = createDb({ primary: bouncer.url, pool: { min: 0 }, pgbouncer: true })
    open.push(told)
    assert.equal((await told.query<{ x: number }>('SELECT 1 AS x')).rows[0]!.x, 1)
    // Told to ignore it, PgBouncer connects — and the timeout is silently gone.
    const lenient = await ThrowawayPgbouncer.start({
      settings: { ignore_startup_parameters: 'statement_timeout' },
    })
    try {
      const d = createDb({ primary: lenient.url, pool: { min: 0 }, statementTimeoutMs: 100 })
      open.push(d)
      const server = await direct.query<{ t: string }>('SHOW statement_timeout')
      const r = await d.query<{ t: string }>('SHOW statement_timeout')
      assert.equal(r.rows[0]!.t, server.rows[0]!.t, 'the server default, not 100ms')
      await d.query('SELECT pg_sleep(0.2)') // not cancelled
    } finally {
      await lenient.stop()
    }
    // A statement's own timeout is SET LOCAL in a short transaction: fine through PgBouncer.
    await assert.rejects(
      db.query('SELECT pg_sleep(2)', [], { timeoutMs: 100 }),
      code('HP_ERR_DB_QUERY_TIMEOUT'),
    )
    // … and it did not leak to the next user of that server connection.
    const after = await Promise.all(
      Array.from({ length: 6 }, () => db.query<{ t: string }>('SHOW statement_timeout')),
    )
    for (const r of after) assert.notEqual(r.rows[0]!.t, '100ms')
  })

  it("preparedStatements 'auto' detects that named statements break and falls back", async () => {
    const texts = Array.from({ length: 10 }, (_, i) => `SELECT $1::int + ${i} AS x`)
    const hammer = async (d: Db) => {
      const errors: string[] = []
      let wrong = 0
      await Promise.all(
        Array.from({ length: 40 }, async (_, w) => {
          for (let k = 0; k < 50; k++) {
            const i = (w + k) % texts.length
            try {
              const r = await d.query<{ x: number }>(texts[i]!, [k])
              if (r.rows[0]!.x !== k + i) wrong++
            } catch (e) {
              errors.push((e as { code?: string }).code ?? String(e))
            }
          }
        }),
      )
      return { errors, wrong }
    }
    // Forced on: a statement prepared on one server connection is missing on
    // (26000) or already exists on (42P05) the next one.
    const forced = await hammer(make({ preparedStatements: true }))
    assert.ok(forced.errors.length > 0, 'named statements fail through PgBouncer 1.18')
    assert.ok(
      forced.errors.every((c) => c === '42P05' || c === '26000'),
      `only 26000/42P05: ${[...new Set(forced.errors)]}`,
    )
    // The default: not one error reaches the caller, every answer is right,
    // and naming has turned itself off.
    const auto = make()
    const r = await hammer(auto)
    assert.deepEqual(r, { errors: [], wrong: 0 })
    assert.equal((auto.router.primary as { preparing?: boolean }).preparing, false)
  })

  it('transactions commit, roll back and retry deadlocks', async () => {
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE ${schema}.items SET qty = 5 WHERE id = 1`)
      await db.query(`UPDATE ${schema}.items SET qty = 6 WHERE id = 2`)
    })
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`UPDATE ${schema}.items SET qty = 0 WHERE id = 1`)
        throw new Error('abort')
      }),
      /abort/,
    )
    const r = await direct.query(
      `SELECT id, qty FROM ${schema}.items WHERE id IN (1, 2) ORDER BY id`,
    )
    assert.deepEqual(r.rows, [
      { id: 1, qty: 5 },
      { id: 2, qty: 6 },
    ])
    let attempts = 0
    const cross = (a: number, b: number) =>
      db.transaction(async (tx) => {
        attempts++
        await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = $1`, [a])
        await sleep(100)
        await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = $1`, [b])
      })
    await Promise.all([cross(20, 21), cross(21, 20)])
    assert.equal(attempts, 3, 'one side deadlocked and was retried')
    const q = await direct.query(
      `SELECT sum(qty)::int AS s FROM ${schema}.items WHERE id IN (20, 21)`,
    )
    assert.equal(q.rows[0]!.s, 4)
  })

  it('batchInsert through VALUES and COPY, with ON CONFLICT, in and out of transactions', async () => {
    const t = `${schema}.batch`
    await direct.query(`CREATE TABLE ${t} (id int PRIMARY KEY, name text, j jsonb)`)
    const rows = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => [from + i, `r\t${from + i}`, { i: from + i }])
    assert.deepEqual(await db.batchInsert(t, ['id', 'name', 'j'], rows(1, 100)), {
      inserted: 100,
      method: 'values',
    })
    assert.deepEqual(await db.batchInsert(t, ['id', 'name', 'j'], rows(101, 5000)), {
      inserted: 5000,
      method: 'copy',
    })
    // Chunked VALUES in one transaction of its own.
    const chunked = await db.batchInsert(t, ['id', 'name', 'j'], rows(10_001, 2500), {
      copyThreshold: 100_000,
    })
    assert.deepEqual(chunked, { inserted: 2500, method: 'values' })
    // COPY + ON CONFLICT: a temporary table dropped at COMMIT, all in one transaction.
    const up = await db.batchInsert(t, ['id', 'name', 'j'], rows(4001, 2000), {
      onConflict: { target: ['id'], update: ['name'] },
    })
    assert.deepEqual(up, { inserted: 2000, method: 'copy' })
    const ign = await db.batchInsert(t, ['id', 'name', 'j'], rows(1, 200), {
      onConflict: 'ignore',
    })
    assert.deepEqual(ign, { inserted: 0, method: 'values' })
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.batchInsert(t, ['id', 'name', 'j'], rows(20_001, 3000), { onConflict: 'ignore' })
        await tx.batchInsert(t, ['id', 'name', 'j'], rows(30_001, 10))
        throw new Error('abort')
      }),
      /abort/,
    )
    const n = await direct.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t}`)
    assert.equal(n.rows[0]!.n, 8500)
  })

  it('cursors run in a transaction: full reads, early exits, loop bodies that query', async () => {
    let n = 0
    for await (const _ of db.cursor(`SELECT * FROM ${schema}.items ORDER BY id`, [], {
      batchSize: 1000,
    }))
      n++
    assert.equal(n, 10_000)
    for await (const _ of db.cursor(`SELECT * FROM ${schema}.items`, [], { batchSize: 10 })) break
    await assert.rejects(
      all(db.cursor('SELECT 1 / (500 - g) FROM generate_series(1, 1000) g')),
      sqlState('22012'),
    )
    // More cursors at once than PgBouncer has server connections: the extra ones
    // wait for a server connection, then run. (Not with queries in their loop
    // bodies: each cursor holds a server connection until it ends, so bodies
    // waiting for one more would wait for each other.)
    const counts = await Promise.all(
      Array.from({ length: 6 }, async (_, k) => {
        let c = 0
        for await (const _ of db.cursor(`SELECT id FROM ${schema}.items WHERE id % 6 = $1`, [k], {
          batchSize: 200,
        }))
          c++
        return c
      }),
    )
    assert.equal(
      counts.reduce((a, b) => a + b),
      10_000,
    )
    // One cursor with queries in its loop body (on other server connections).
    let c = 0
    for await (const _ of db.cursor(`SELECT id FROM ${schema}.items`, [], { batchSize: 500 })) {
      if (++c % 1000 === 0) await db.query('SELECT 1')
    }
    assert.equal(c, 10_000)
    await db.transaction(async (tx) => {
      for await (const row of tx.cursor<{ id: number }>(
        `SELECT id FROM ${schema}.items WHERE id <= 300`,
        [],
        { batchSize: 50 },
      )) {
        if (row.id % 100 === 0)
          await tx.query(`UPDATE ${schema}.items SET name = 'seen' WHERE id = $1`, [row.id])
      }
    })
    const seen = await direct.query(
      `SELECT id FROM ${schema}.items WHERE name = 'seen' ORDER BY id`,
    )
    assert.deepEqual(
      seen.rows.map((r) => r.id),
      [100, 200, 300],
    )
    const pool = db.stats().pools.primary!
    assert.equal(pool.idle, pool.total, 'no connection left checked out')
  })
})

/** Every row of a cursor (Array.fromAsync is past this project's es2023 lib). */
async function all<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const r of rows) out.push(r)
  return out
}
