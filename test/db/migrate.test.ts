import assert from 'node:assert/strict'
import { type ChildProcess, fork } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createDb, type Db, isHotpathError } from 'hotpath/db'
import { DATABASE_URL, unless } from '../helpers/services.ts'

const skip = await unless('postgres')
const code = (c: string, text?: string) => (err: unknown) =>
  isHotpathError(err) && err.code === c && (text === undefined || err.message.includes(text))

const dirs: string[] = []
/** A temporary folder of migration files. */
function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'hp-migrate-'))
  dirs.push(dir)
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql)
  return dir
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

describe('migrations against PostgreSQL', { skip }, () => {
  const schema = `hp_migrate_${randomUUID().slice(0, 8)}`
  let db: Db
  const open: Db[] = []
  const make = (o: Parameters<typeof createDb>[0] = {}) => {
    const d = createDb({ primary: DATABASE_URL, pool: { min: 0 }, ...o })
    open.push(d)
    return d
  }
  const values = async (table: string) =>
    (await db.query<{ v: number }>(`SELECT v FROM ${schema}.${table} ORDER BY v`)).rows.map(
      (r) => r.v,
    )
  const recorded = async (table: string) =>
    (
      await db.query<{ name: string }>(`SELECT name FROM ${schema}.${table} ORDER BY name`)
    ).rows.map((r) => r.name)

  before(async () => {
    db = make()
    await db.query(`CREATE SCHEMA ${schema}`)
  })
  after(async () => {
    await db.query(`DROP SCHEMA ${schema} CASCADE`)
    for (const d of open) await d.close()
  })

  it('applies *.sql files in file-name order, several statements each; a second run skips them', async () => {
    const table = `${schema}.m_order`
    const dir = folder({
      '002_second.sql': `INSERT INTO ${schema}.ordered VALUES (2);`,
      '001_first.sql': `CREATE TABLE ${schema}.ordered (v int);\nINSERT INTO ${schema}.ordered VALUES (1);`,
      '010_third.sql': `-- a function body with semicolons inside
CREATE FUNCTION ${schema}.three() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 3; END; $$;
INSERT INTO ${schema}.ordered SELECT ${schema}.three();`,
      'README.md': 'not a migration',
    })
    const first = await db.migrate({ dir, table })
    assert.deepEqual(first, {
      applied: ['001_first.sql', '002_second.sql', '010_third.sql'],
      skipped: [],
    })
    assert.deepEqual(await values('ordered'), [1, 2, 3])
    const rows = await db.query<{ name: string; checksum: string; applied_at: Date }>(
      `SELECT name, checksum, applied_at FROM ${table} ORDER BY name`,
    )
    assert.equal(rows.rowCount, 3)
    for (const r of rows.rows) {
      assert.match(r.checksum, /^[0-9a-f]{64}$/)
      assert.ok(r.applied_at instanceof Date)
    }

    const again = await db.migrate({ dir, table })
    assert.deepEqual(again.applied, [])
    assert.deepEqual(again.skipped, ['001_first.sql', '002_second.sql', '010_third.sql'])
    assert.deepEqual(await values('ordered'), [1, 2, 3])

    writeFileSync(join(dir, '011_fourth.sql'), `INSERT INTO ${schema}.ordered VALUES (4)`)
    assert.deepEqual((await db.migrate({ dir, table })).applied, ['011_fourth.sql'])
    assert.deepEqual(await values('ordered'), [1, 2, 3, 4])
  })

  it('an applied migration whose content changed is a typed error naming it, and nothing runs', async () => {
    const table = `${schema}.m_checksum`
    const one = { name: '001_create', sql: `CREATE TABLE ${schema}.sums (v int);\n` }
    const two = { name: '002_insert', sql: `INSERT INTO ${schema}.sums VALUES (1);\n` }
    await db.migrate({ migrations: [one, two], table })

    // Line endings are not content: the same file checked out with CRLF is unchanged.
    const crlf = { ...two, sql: two.sql.replace(/\n/g, '\r\n') }
    assert.deepEqual((await db.migrate({ migrations: [one, crlf], table })).applied, [])

    const edited = { ...two, sql: `INSERT INTO ${schema}.sums VALUES (100);\n` }
    const three = { name: '003_more', sql: `INSERT INTO ${schema}.sums VALUES (3);` }
    await assert.rejects(
      db.migrate({ migrations: [one, edited, three], table }),
      code('HP_ERR_DB_MIGRATION', '002_insert'),
    )
    assert.deepEqual(await values('sums'), [1]) // neither re-applied nor followed by 003
    assert.deepEqual(await recorded('m_checksum'), ['001_create', '002_insert'])
  })

  it('a failing migration is rolled back whole, reported with its cause, and stops the run', async () => {
    const table = `${schema}.m_fail`
    const dir = folder({
      '001.sql': `CREATE TABLE ${schema}.failing (v int); INSERT INTO ${schema}.failing VALUES (1);`,
      '002.sql': `INSERT INTO ${schema}.failing VALUES (2);\nSELECT no_such_function();`,
      '003.sql': `INSERT INTO ${schema}.failing VALUES (3);`,
    })
    let caught: unknown
    await assert.rejects(db.migrate({ dir, table }), (err) => {
      caught = err
      return code('HP_ERR_DB_MIGRATION', '002.sql')(err)
    })
    assert.equal((caught as Error & { cause: { code: string } }).cause.code, '42883')
    assert.deepEqual(await values('failing'), [1]) // 2 rolled back, 3 never ran
    assert.deepEqual(await recorded('m_fail'), ['001.sql'])

    writeFileSync(join(dir, '002.sql'), `INSERT INTO ${schema}.failing VALUES (2);`)
    assert.deepEqual((await db.migrate({ dir, table })).applied, ['002.sql', '003.sql'])
    assert.deepEqual(await values('failing'), [1, 2, 3])
  })

  it('a no-transaction file runs statement by statement (CREATE INDEX CONCURRENTLY) and releases its lock', async () => {
    const table = `${schema}.m_notx`
    const dir = folder({
      '001.sql': `CREATE TABLE ${schema}.big (a int, b int);`,
      '002.sql': `-- hotpath:no-transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS big_a ON ${schema}.big (a);
-- a second statement: one simple query holding both would be an implicit transaction
CREATE INDEX CONCURRENTLY IF NOT EXISTS big_b ON ${schema}.big (b);
`,
    })
    // One connection: the check below runs on the very connection that held the lock.
    const one = make({ pool: { max: 1, min: 0 } })
    assert.deepEqual((await one.migrate({ dir, table })).applied, ['001.sql', '002.sql'])
    const idx = await db.query<{ name: string; valid: boolean }>(
      `SELECT c.relname AS name, i.indisvalid AS valid FROM pg_index i
       JOIN pg_class c ON c.oid = i.indexrelid
       WHERE i.indrelid = $1::regclass ORDER BY 1`,
      [`${schema}.big`],
    )
    assert.deepEqual(idx.rows, [
      { name: 'big_a', valid: true },
      { name: 'big_b', valid: true },
    ])
    const locks = await one.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()",
    )
    assert.equal(locks.rows[0]!.n, 0)
    assert.deepEqual((await db.migrate({ dir, table })).skipped, ['001.sql', '002.sql'])

    const bad = folder({
      '003.sql': '-- hotpath:no-transaction\nCREATE INDEX CONCURRENTLY x ON nope (a);',
    })
    await assert.rejects(db.migrate({ dir: bad, table }), code('HP_ERR_DB_MIGRATION', '003.sql'))
  })

  it('migrations are not bound by the pool’s statement timeout unless asked', async () => {
    const quick = make({ statementTimeoutMs: 100 })
    const table = `${schema}.m_timeout`
    const slow = [{ name: '001_slow', sql: 'SELECT pg_sleep(0.3)' }]
    assert.deepEqual((await quick.migrate({ migrations: slow, table })).applied, ['001_slow'])
    await assert.rejects(
      quick.migrate({
        migrations: [...slow, { name: '002_slow', sql: 'SELECT pg_sleep(0.3)' }],
        table,
        statementTimeoutMs: 100,
      }),
      (err) =>
        code('HP_ERR_DB_MIGRATION', '002_slow')(err) &&
        isHotpathError((err as Error).cause, 'HP_ERR_DB_QUERY_TIMEOUT'),
    )
  })

  it('rejects bad options and a call inside a transaction', async () => {
    await assert.rejects(db.migrate({}), code('HP_ERR_INVALID_OPTION'))
    await assert.rejects(
      db.migrate({ dir: '/nonexistent-hp', migrations: [] }),
      code('HP_ERR_INVALID_OPTION'),
    )
    await assert.rejects(db.migrate({ dir: '/nonexistent-hp' }), code('HP_ERR_INVALID_OPTION'))
    await assert.rejects(
      db.migrate({ migrations: [], table: 'x; DROP TABLE y' }),
      code('HP_ERR_DB_INVALID_IDENTIFIER'),
    )
    const twice = [
      { name: 'a', sql: 'SELECT 1' },
      { name: 'a', sql: 'SELECT 2' },
    ]
    await assert.rejects(db.migrate({ migrations: twice }), code('HP_ERR_INVALID_OPTION'))
    await assert.rejects(
      db.transaction(() => db.migrate({ migrations: [], table: `${schema}.m_tx` })),
      code('HP_ERR_DB_UNSUPPORTED'),
    )
  })

  it('processes racing over the same folder apply each migration exactly once', async () => {
    const table = `${schema}.m_race`
    const dir = folder({
      '001_log.sql': `CREATE TABLE ${schema}.log (m text);`,
      // Slow and not idempotent: applied twice, it would leave two rows.
      '002_slow.sql': `SELECT pg_sleep(0.3);\nINSERT INTO ${schema}.log VALUES ('m2');`,
      '003_fast.sql': `INSERT INTO ${schema}.log VALUES ('m3');`,
    })
    const peers = await Promise.all([0, 1, 2].map(() => startPeer(DATABASE_URL, dir, table)))
    const replies = peers.map(
      (p) =>
        once(p, 'message') as Promise<
          [{ result?: { applied: string[]; skipped: string[] }; error?: unknown }]
        >,
    )
    const t0 = Date.now()
    for (const p of peers) p.send({ op: 'go' })
    const results = (await Promise.all(replies)).map(([r]) => r)
    await Promise.all(peers.map((p) => (p.exitCode === null ? once(p, 'exit') : null)))
    const ms = Date.now() - t0

    for (const r of results) assert.equal(r.error, undefined, JSON.stringify(r.error))
    const applied = results.flatMap((r) => r.result!.applied).sort()
    assert.deepEqual(applied, ['001_log.sql', '002_slow.sql', '003_fast.sql'])
    for (const r of results) {
      assert.equal(r.result!.applied.length + r.result!.skipped.length, 3)
    }
    const log = await db.query<{ m: string; n: number }>(
      `SELECT m, count(*)::int AS n FROM ${schema}.log GROUP BY m ORDER BY m`,
    )
    assert.deepEqual(log.rows, [
      { m: 'm2', n: 1 },
      { m: 'm3', n: 1 },
    ])
    assert.ok(ms >= 300, `the slow migration ran (${ms} ms)`)
  })
})

describe('migrations on the embedded database', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'hp-migrate-pglite-'))
  dirs.push(dataDir)
  let db: Db

  before(() => {
    db = createDb({ embedded: true, embeddedDir: dataDir })
  })
  after(async () => {
    await db.close()
  })

  it('applies, skips, rolls back, checks checksums and persists what it applied', async () => {
    const dir = folder({
      '001.sql': 'CREATE TABLE t (v int);\nINSERT INTO t VALUES (1);',
      '002.sql':
        '-- hotpath:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_v ON t (v);\nINSERT INTO t VALUES (2);',
    })
    assert.deepEqual(await db.migrate({ dir }), { applied: ['001.sql', '002.sql'], skipped: [] })
    assert.deepEqual((await db.migrate({ dir })).skipped, ['001.sql', '002.sql'])

    writeFileSync(join(dir, '003.sql'), 'INSERT INTO t VALUES (3);\nSELECT no_such_function();')
    await assert.rejects(db.migrate({ dir }), code('HP_ERR_DB_MIGRATION', '003.sql'))
    const rows = await db.query<{ v: number }>('SELECT v FROM t ORDER BY v')
    assert.deepEqual(
      rows.rows.map((r) => r.v),
      [1, 2],
    )

    writeFileSync(join(dir, '001.sql'), 'CREATE TABLE t (v bigint);')
    rmSync(join(dir, '003.sql'))
    await assert.rejects(db.migrate({ dir }), code('HP_ERR_DB_MIGRATION', '001.sql'))

    // The record lives in the data directory: a new client on it sees the same history.
    await db.close()
    db = createDb({ embedded: true, embeddedDir: dataDir })
    const names = await db.query<{ name: string }>(
      'SELECT name FROM hotpath_migrations ORDER BY name',
    )
    assert.deepEqual(
      names.rows.map((r) => r.name),
      ['001.sql', '002.sql'],
    )
  })
})

function startPeer(url: string, dir: string, table: string): Promise<ChildProcess> {
  const child = fork(new URL('../fixtures/migrate-peer.ts', import.meta.url), [url, dir, table], {
    execArgv: ['--conditions=hotpath-source'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  return once(child, 'message').then(([m]) => {
    if (!(m as { ready?: boolean }).ready) throw new Error('migrate peer did not start')
    return child
  })
}
