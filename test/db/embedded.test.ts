import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createDb, type Db, isHotpathError } from 'hotpath/db'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

/** Fails the test instead of hanging it when the single connection deadlocks. */
function within<T>(ms: number, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms (deadlock?)`)), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

// PGlite needs no service: this suite always runs.
describe('the embedded database (PGlite)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hp-embedded-'))
  let db: Db

  before(async () => {
    db = createDb({ embedded: true, embeddedDir: dir, nPlusOne: false })
    assert.equal(db.embedded, true)
    await db.query('CREATE TABLE items (id int PRIMARY KEY, name text, qty int NOT NULL DEFAULT 0)')
  })
  after(async () => {
    await db.close()
    rmSync(dir, { recursive: true, force: true })
  })

  it('queries and transactions', async () => {
    await db.query('INSERT INTO items (id, name) VALUES ($1, $2)', [1, 'one'])
    await db.transaction(async (tx) => {
      await tx.query('UPDATE items SET qty = 5 WHERE id = 1')
      await db.query('INSERT INTO items (id, name) VALUES (2, $1)', ['two'])
    })
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.query('UPDATE items SET qty = 0 WHERE id = 1')
        throw new Error('abort')
      }),
      /abort/,
    )
    const r = await db.query('SELECT id, name, qty FROM items ORDER BY id')
    assert.deepEqual(r.rows, [
      { id: 1, name: 'one', qty: 5 },
      { id: 2, name: 'two', qty: 0 },
    ])
  })

  it('batchInsert degrades to multi-row INSERT, chunked, with every kind of value', async () => {
    await db.query(`CREATE TABLE odd (id int PRIMARY KEY, t text, b boolean, big bigint,
      ts timestamptz, j jsonb, bin bytea, arr text[], ja jsonb)`)
    const rows = Array.from({ length: 5000 }, (_, i) => [
      i,
      i % 5 === 0 ? null : `tab\t newline\n backslash\\ quote' ${i} 日本`,
      i % 2 === 0,
      9007199254740993n,
      new Date(Date.UTC(2024, 0, 1, 0, 0, 0, i % 1000)),
      { i, s: 'a\tb' },
      Buffer.from([0, 10, 92, 255]),
      ['x', 'y,z', null],
      [i, 'two'],
    ])
    const cols = ['id', 't', 'b', 'big', 'ts', 'j', 'bin', 'arr', 'ja']
    // 5000 rows would be COPY on a server; PGlite has no COPY FROM STDIN.
    assert.deepEqual(await db.batchInsert('odd', cols, rows), { inserted: 5000, method: 'values' })
    const back = await db.query<Record<string, unknown>>('SELECT * FROM odd WHERE id IN (1, 5)')
    for (const row of back.rows) {
      const src = rows[row.id as number]!
      assert.equal(row.t, src[1])
      assert.equal(row.b, src[2])
      assert.equal(BigInt(row.big as bigint), src[3])
      assert.equal((row.ts as Date).getTime(), (src[4] as Date).getTime())
      assert.deepEqual(row.j, src[5])
      assert.deepEqual(Buffer.from(row.bin as Uint8Array), src[6])
      assert.deepEqual(row.arr, src[7])
      assert.deepEqual(row.ja, src[8])
    }
    const up = await db.batchInsert(
      'items',
      ['id', 'name'],
      [
        [1, 'uno'],
        [3, 'three'],
      ],
      {
        onConflict: { target: ['id'] },
        copyThreshold: 1,
      },
    )
    assert.deepEqual(up, { inserted: 2, method: 'values' })
    // All or nothing across chunks (5 statements of 1000 rows here).
    await assert.rejects(
      db.batchInsert('odd', ['id'], [...Array.from({ length: 4999 }, (_, i) => [10_000 + i]), [0]]),
      (e: Error & { code?: string }) => e.code === '23505',
    )
    // (rows.length: PGlite reports rowCount 0 for every SELECT)
    assert.equal((await db.query('SELECT 1 FROM odd WHERE id >= 10000')).rows.length, 0)
    // Inside a transaction, rolled back with it.
    await assert.rejects(
      db.transaction(async (tx) => {
        await tx.batchInsert('items', ['id', 'name'], [[100, 'tx']])
        throw new Error('abort')
      }),
      /abort/,
    )
    assert.equal((await db.query('SELECT 1 FROM items WHERE id = 100')).rows.length, 0)
  })

  it('cursor degrades to a held cursor: the loop body may query, and nothing stays locked', async () => {
    let n = 0
    await within(
      10_000,
      (async () => {
        for await (const row of db.cursor<{ id: number }>('SELECT id FROM odd ORDER BY id', [], {
          batchSize: 500,
        })) {
          // Outside a transaction: PGlite's one connection is free between batches.
          if (row.id % 1000 === 0) await db.query('SELECT 1')
          n++
        }
      })(),
    )
    assert.equal(n, 5000)
    for await (const _ of db.cursor('SELECT id FROM odd')) break
    await assert.rejects(async () => {
      for await (const _ of db.cursor('SELECT id FROM odd')) throw new Error('body failed')
    }, /body failed/)
    await assert.rejects(
      all(db.cursor('SELECT 1 / (id - 7) FROM odd')),
      (e: Error & { code?: string }) => e.code === '22012',
    )
    const open = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_cursors WHERE name LIKE 'hp_%'",
    )
    assert.equal(open.rows[0]!.n, 0, 'every cursor was closed')
    const pool = db.stats().pools.embedded!
    assert.deepEqual([pool.idle, pool.waiting], [1, 0])
    // In a transaction, a plain cursor on the transaction's session.
    await within(
      10_000,
      db.transaction(async (tx) => {
        let seen = 0
        for await (const row of tx.cursor<{ id: number }>(
          'SELECT id FROM odd WHERE id < $1 ORDER BY id',
          [300],
          { batchSize: 100 },
        )) {
          if (row.id % 100 === 0)
            await tx.query('UPDATE odd SET t = $1 WHERE id = $2', ['seen', row.id])
          seen++
        }
        assert.equal(seen, 300)
      }),
    )
    assert.equal((await db.query("SELECT 1 FROM odd WHERE t = 'seen'")).rows.length, 3)
  })

  it('persists across close and reopen of the same directory', async () => {
    await db.close()
    db = createDb({ embedded: true, embeddedDir: dir, nPlusOne: false })
    const r = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM odd')
    assert.equal(r.rows[0]!.n, 5000)
    const items = await db.query('SELECT name FROM items WHERE id = 1')
    assert.deepEqual(items.rows, [{ name: 'uno' }])
  })

  it('refuses read replicas', () => {
    assert.throws(
      () => createDb({ embedded: true, replicas: ['postgres://postgres@127.0.0.1:5432/test'] }),
      code('HP_ERR_DB_UNSUPPORTED'),
    )
  })
})

/** Every row of a cursor (Array.fromAsync is past this project's es2023 lib). */
async function all<T>(rows: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const r of rows) out.push(r)
  return out
}
