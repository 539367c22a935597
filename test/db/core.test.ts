import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from 'hotpath/cache'
import { createDb, type Db, isHotpathError, registerDbMetrics } from 'hotpath/db'
import { Registry } from 'prom-client'
import { DATABASE_URL, freePort, unless } from '../helpers/services.ts'

const skip = await unless('postgres')
const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

describe('db core against PostgreSQL', { skip }, () => {
  const schema = `hp_core_${randomUUID().slice(0, 8)}`
  let db: Db
  const open: Db[] = []
  const make = (o: Parameters<typeof createDb>[0] = {}) => {
    const d = createDb({ primary: DATABASE_URL, pool: { min: 0 }, ...o })
    open.push(d)
    return d
  }

  before(async () => {
    db = make()
    await db.query(`CREATE SCHEMA ${schema}`)
    await db.query(
      `CREATE TABLE ${schema}.items (id int PRIMARY KEY, name text, qty int NOT NULL DEFAULT 0)`,
    )
    await db.query(
      `INSERT INTO ${schema}.items SELECT g, 'item ' || g, 10 FROM generate_series(1, 100) g`,
    )
  })
  after(async () => {
    await db.query(`DROP SCHEMA ${schema} CASCADE`)
    for (const d of open) await d.close()
  })

  it('queries with parameters and rejects bad input with typed errors', async () => {
    const r = await db.query<{ name: string }>(
      `SELECT name FROM ${schema}.items WHERE id = $1`,
      [7],
    )
    assert.deepEqual(r.rows, [{ name: 'item 7' }])
    await assert.rejects(db.query(''), code('HP_ERR_DB_INVALID_INPUT'))
    await assert.rejects(
      db.query('SELECT 1', 'x' as unknown as unknown[]),
      code('HP_ERR_DB_INVALID_INPUT'),
    )
    await assert.rejects(
      db.query('SELEC nonsense'),
      (e: Error & { code?: string }) => e.code === '42601',
    )
  })

  it('prepares repeated statements once per connection', async () => {
    const one = make({ pool: { max: 1, min: 0 } })
    const text = `SELECT name FROM ${schema}.items WHERE id = $1`
    await one.query(text, [1])
    await one.query(text, [2])
    const r = await one.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_prepared_statements WHERE name LIKE $1',
      ['hp_%'],
    )
    assert.ok(r.rows[0]!.n >= 1)
  })

  it('a statement over the pool’s statement timeout fails with a typed error', async () => {
    const quick = make({ statementTimeoutMs: 100 })
    await assert.rejects(quick.query('SELECT pg_sleep(2)'), code('HP_ERR_DB_QUERY_TIMEOUT'))
    await assert.rejects(
      db.query('SELECT pg_sleep(2)', [], { timeoutMs: 100 }),
      code('HP_ERR_DB_QUERY_TIMEOUT'),
    )
    assert.deepEqual((await db.query('SELECT 1 AS x', [], { timeoutMs: 1000 })).rows, [{ x: 1 }])
  })

  it('an exhausted pool waits a bounded time, then fails with a typed error', async () => {
    const small = make({ pool: { max: 2, min: 0, connectTimeoutMs: 200 } })
    const held = [await small.session(), await small.session()]
    const t0 = Date.now()
    await assert.rejects(small.query('SELECT 1'), code('HP_ERR_DB_POOL_TIMEOUT'))
    assert.ok(Date.now() - t0 < 1000)
    for (const h of held) h.session.release()
    assert.equal((await small.query('SELECT 1 AS x')).rows[0]!.x, 1)
  })

  it('a down server fails fast with HP_ERR_DB_UNAVAILABLE, never a hang', async () => {
    const port = await freePort()
    const down = make({ primary: `postgres://postgres@127.0.0.1:${port}/test` })
    const t0 = Date.now()
    await assert.rejects(down.query('SELECT 1'), code('HP_ERR_DB_UNAVAILABLE'))
    await assert.rejects(
      down.transaction(async () => 1),
      code('HP_ERR_DB_UNAVAILABLE'),
    )
    assert.ok(Date.now() - t0 < 2000, `failed in ${Date.now() - t0} ms`)
  })

  it('transactions commit, roll back on error, and route every query in the callback', async () => {
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE ${schema}.items SET qty = 5 WHERE id = 1`)
      await db.query(`UPDATE ${schema}.items SET qty = 6 WHERE id = 2`) // same transaction through the context
    })
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query(`UPDATE ${schema}.items SET qty = 0 WHERE id = 1`)
        throw new Error('abort')
      }),
      /abort/,
    )
    const r = await db.query<{ id: number; qty: number }>(
      `SELECT id, qty FROM ${schema}.items WHERE id IN (1, 2) ORDER BY id`,
    )
    assert.deepEqual(r.rows, [
      { id: 1, qty: 5 },
      { id: 2, qty: 6 },
    ])
  })

  it('another Db inside a transaction does not join it', async () => {
    const other = make()
    await db.transaction(async (tx) => {
      await tx.query(`UPDATE ${schema}.items SET name = 'uncommitted' WHERE id = 90`)
      const inside = await tx.query<{ name: string }>(
        `SELECT name FROM ${schema}.items WHERE id = 90`,
      )
      const outside = await other.query<{ name: string }>(
        `SELECT name FROM ${schema}.items WHERE id = 90`,
      )
      assert.equal(inside.rows[0]!.name, 'uncommitted')
      assert.equal(
        outside.rows[0]!.name,
        'item 90',
        'the other Db reads committed data on its own pool',
      )
    })
  })

  it('retries serialization failures and deadlocks a bounded number of times', async () => {
    // Two serializable transactions that read then write the same rows conflict.
    let attempts = 0
    const bump = (id: number, other: number) =>
      db.transaction(
        async (tx) => {
          attempts++
          const r = await tx.query<{ qty: number }>(
            `SELECT sum(qty)::int AS qty FROM ${schema}.items WHERE id IN ($1, $2)`,
            [id, other],
          )
          await sleep(50)
          await tx.query(`UPDATE ${schema}.items SET qty = $1 WHERE id = $2`, [r.rows[0]!.qty, id])
        },
        { isolation: 'serializable', retries: 5 },
      )
    await Promise.all([bump(10, 11), bump(11, 10)])
    assert.ok(attempts >= 3, `a conflict was retried (${attempts} attempts)`)

    // A deadlock: each locks one row, then wants the other's.
    let deadlockAttempts = 0
    const cross = (a: number, b: number) =>
      db.transaction(async (tx) => {
        deadlockAttempts++
        await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = $1`, [a])
        await sleep(100)
        await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = $1`, [b])
      })
    await Promise.all([cross(20, 21), cross(21, 20)])
    assert.equal(deadlockAttempts, 3, 'one side deadlocked and was retried')

    // With retries exhausted the error is typed.
    await assert.rejects(
      Promise.all([
        db.transaction(
          async (tx) => {
            await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = 30`)
            await sleep(100)
            await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = 31`)
          },
          { retries: 1 },
        ),
        db.transaction(
          async (tx) => {
            await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = 31`)
            await sleep(100)
            await tx.query(`UPDATE ${schema}.items SET qty = qty + 1 WHERE id = 30`)
          },
          { retries: 1 },
        ),
      ]),
      code('HP_ERR_DB_SERIALIZATION'),
    )
  })

  it('caches query results through hotpath/cache and invalidates them by tag on write', async () => {
    const cache = createCache({ namespace: `db${randomUUID().slice(0, 6)}` })
    const cdb = make({ cache })
    const read = () =>
      cdb.query<{ name: string }>(`SELECT name FROM ${schema}.items WHERE id = $1`, [50], {
        cache: { tier: 'warm', tags: ['item:50'] },
      })
    assert.equal((await read()).rows[0]!.name, 'item 50')
    const before = cdb.stats().queries
    assert.equal((await read()).rows[0]!.name, 'item 50')
    assert.equal(cdb.stats().queries, before, 'the second read came from the cache')
    await cdb.query(`UPDATE ${schema}.items SET name = 'renamed' WHERE id = 50`, [], {
      invalidates: ['item:50'],
    })
    assert.equal((await read()).rows[0]!.name, 'renamed')
    await cdb.transaction(async (tx) => {
      await tx.query(`UPDATE ${schema}.items SET name = 'in tx' WHERE id = 50`, [], {
        invalidates: ['item:50'],
      })
    })
    assert.equal((await read()).rows[0]!.name, 'in tx')
    assert.equal(cdb.stats().cacheHits, 1)
    assert.equal(cdb.stats().cacheMisses, 3)
    await cache.close()
  })

  it('detects N+1 within a scope and the loader batches it away', async () => {
    const events: { statement: string; count: number }[] = []
    db.on('nPlusOne', (e) => events.push(e))
    await db.scope(async () => {
      for (let id = 1; id <= 12; id++)
        await db.query(`SELECT name FROM ${schema}.items WHERE id = $1`, [id])
    })
    assert.equal(events.length, 1)
    assert.equal(events[0]!.count, 11)
    assert.match(events[0]!.statement, /WHERE id = \?/)
    events.length = 0
    let batches = 0
    await db.scope(async () => {
      const items = db.loader<number, string>(async (ids) => {
        batches++
        const r = await db.query<{ id: number; name: string }>(
          `SELECT id, name FROM ${schema}.items WHERE id = ANY($1)`,
          [ids],
        )
        return new Map(r.rows.map((x) => [x.id, x.name]))
      })
      const names = await Promise.all(Array.from({ length: 12 }, (_, i) => items.load(i + 60)))
      assert.equal(names[0], 'item 60')
    })
    assert.equal(batches, 1)
    assert.equal(events.length, 0)
  })

  it('emits slow-query events with the normalized statement', async () => {
    const slow = make({ slowQueryMs: 30 })
    const seen: { statement: string; durationMs: number }[] = []
    slow.on('slowQuery', (e) => seen.push(e))
    await slow.query('SELECT pg_sleep(0.05), $1::int AS x', [42])
    await slow.query('SELECT 1')
    assert.equal(seen.length, 1)
    assert.equal(seen[0]!.statement, 'SELECT pg_sleep(?), ?::int AS x')
    assert.ok(seen[0]!.durationMs >= 30)
    const s = slow.stats()
    assert.equal(s.slowQueries, 1)
    assert.ok(s.pools.primary!.max === 20)
  })

  it('exposes query durations, pool use and cache lookups as Prometheus metrics', async () => {
    const m = make()
    const registry = new Registry()
    registerDbMetrics(m, { registry })
    await m.query(`SELECT name FROM ${schema}.items WHERE id = $1`, [3], { name: 'item_by_id' })
    await m.query(`SELECT count(*) FROM ${schema}.items`)
    const text = await registry.metrics()
    assert.match(
      text,
      /hotpath_db_query_duration_seconds_count\{statement="item_by_id",endpoint="primary",ok="true"\} 1/,
    )
    assert.match(
      text,
      /hotpath_db_query_duration_seconds_count\{statement="SELECT count\(\*\) FROM [^"]+",endpoint="primary",ok="true"\} 1/,
    )
    assert.match(text, /hotpath_db_pool_connections\{endpoint="primary",state="max"\} 20/)
  })
})
