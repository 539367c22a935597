import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import pg from 'pg'
import { DEFAULT_SOURCE, findPgTool, parseDrillArgs } from '../../scripts/dr-drill.ts'
import { ThrowawayPostgres, unlessPostgresBinaries } from '../helpers/postgres.ts'
import { runScript } from '../helpers/script.ts'
import { DATABASE_URL, unless } from '../helpers/services.ts'

// scripts/dr-drill.ts run as `npm run dr-drill` runs it, against a scratch
// database: a clean drill passes table by table, a changed restored copy is
// caught by --compare, and a server that does not answer is exit code 2.

const noBinaries = await unlessPostgresBinaries()

const drill = (args: string[]) => runScript('scripts/dr-drill.ts', args)

const withDb = (url: string, name: string) => {
  const u = new URL(url)
  u.pathname = `/${name}`
  return u.toString()
}

/** A result row of the drill's table: `<object> <kind> <source> <target> <checksum> <result>`. */
const row = (out: string, name: string) =>
  out.split('\n').find((l) => l.startsWith(`${name} `)) ?? `(no row for ${name})`

const FIXTURE = `
  CREATE SCHEMA shop;
  CREATE TABLE products (
    id serial PRIMARY KEY, name text NOT NULL, price numeric(10, 2), tags text[],
    meta jsonb, created_at timestamptz NOT NULL DEFAULT '2025-01-01T00:00:00Z');
  INSERT INTO products (name, price, tags, meta)
    SELECT 'product ' || i, i * 1.25, ARRAY['t' || i % 7, 'all'],
           CASE WHEN i % 3 = 0 THEN NULL ELSE jsonb_build_object('i', i, 'odd', i % 2 = 1) END
    FROM generate_series(1, 300) i;
  CREATE TABLE shop.blobs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, data bytea, note text);
  INSERT INTO shop.blobs (data, note)
    SELECT decode(md5(i::text), 'hex'), CASE WHEN i % 5 = 0 THEN NULL ELSE 'note ' || i END
    FROM generate_series(1, 200) i;
  CREATE TABLE shop.orders (
    id int PRIMARY KEY, product_id int REFERENCES products, qty int, at timestamptz);
  INSERT INTO shop.orders SELECT i, 1 + i % 300, i % 9, NULL FROM generate_series(1, 250) i;
  CREATE SEQUENCE shop.invoice_no START 1000;
  SELECT nextval('shop.invoice_no') FROM generate_series(1, 7);
  CREATE TABLE empty_one (x int);`

describe('dr-drill: arguments and binaries (no services)', () => {
  it('defaults to DATABASE_URL, else the local test database', () => {
    assert.deepEqual(parseDrillArgs([], {}), {
      mode: 'drill',
      source: DEFAULT_SOURCE,
      target: null,
      keep: false,
      dumpFile: null,
    })
    const url = 'postgres://u:p@db:5432/shop'
    assert.equal((parseDrillArgs([], { DATABASE_URL: url }) as { source: string }).source, url)
    assert.deepEqual(parseDrillArgs(['--compare', url, withDb(url, 'copy')]), {
      mode: 'compare',
      source: url,
      target: withDb(url, 'copy'),
    })
  })

  it('refuses bad arguments with HP_ERR_INVALID_OPTION', () => {
    for (const argv of [['--compare', 'postgres://x/a'], ['--source', 'mysql://x/a'], ['--bogus']])
      assert.throws(() => parseDrillArgs(argv, {}), { code: 'HP_ERR_INVALID_OPTION' })
  })

  it('a missing pg_dump of a recent enough version is HP_ERR_DB_UNSUPPORTED', () => {
    assert.throws(() => findPgTool('pg_dump', 999), {
      code: 'HP_ERR_DB_UNSUPPORTED',
      message: /no pg_dump of version 999 or newer/,
    })
  })

  it('a server that does not answer: exit 2 with a message', async () => {
    const r = await drill(['--source', 'postgres://postgres@127.0.0.1:1/nowhere'])
    assert.equal(r.code, 2, r.stderr)
    assert.match(
      r.stderr,
      /dr-drill: Database postgres:\/\/postgres@127\.0\.0\.1:1\/nowhere is unavailable/,
    )
  })
})

describe('dr-drill against PostgreSQL', { skip: await unless('postgres') }, () => {
  const suffix = `${process.pid}_${Date.now().toString(36)}`
  const source = `hp_drill_src_${suffix}`
  const sourceUrl = withDb(DATABASE_URL, source)
  let admin: pg.Client
  const created = new Set<string>([source])

  before(async () => {
    admin = new pg.Client({ connectionString: DATABASE_URL })
    await admin.connect()
    await admin.query(`CREATE DATABASE ${source}`)
    const c = new pg.Client({ connectionString: sourceUrl })
    await c.connect()
    try {
      await c.query(FIXTURE)
    } finally {
      await c.end()
    }
  })

  after(async () => {
    for (const db of created) await admin.query(`DROP DATABASE IF EXISTS "${db}" WITH (FORCE)`)
    // Nothing left behind by the drills either (their names start with the source's).
    const { rows } = await admin.query<{ datname: string }>(
      'SELECT datname FROM pg_database WHERE datname LIKE $1',
      [`${source}%`],
    )
    for (const r of rows) await admin.query(`DROP DATABASE IF EXISTS "${r.datname}" WITH (FORCE)`)
    await admin.end()
    assert.deepEqual(rows, [], 'every drill database was dropped')
  })

  it('dumps, restores into a fresh database, verifies every table, drops the copy', async () => {
    const r = await drill(['--source', sourceUrl])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    assert.match(
      row(r.stdout, 'public.products'),
      /^public\.products\s+table\s+300\s+300\s+\w{12}\s+OK$/,
    )
    assert.match(row(r.stdout, 'shop.blobs'), /\s200\s+200\s+\w{12}\s+OK$/)
    assert.match(row(r.stdout, 'shop.orders'), /\s250\s+250\s+\w{12}\s+OK$/)
    assert.match(row(r.stdout, 'public.empty_one'), /\s0\s+0\s+\w{12}\s+OK$/)
    assert.match(row(r.stdout, 'shop.invoice_no'), /sequence\s+1006\s+1006\s+-\s+OK$/)
    assert.match(row(r.stdout, 'public.products_id_seq'), /\s300\s+300\s+-\s+OK$/)
    assert.match(
      r.stdout,
      /dr-drill: OK: all 7 objects match \(dump [\d.]+ KiB, dump [\d.]+ s, restore [\d.]+ s, verify [\d.]+ s\)/,
    )
    const dropped = /dr-drill: dropped (\S+)/.exec(r.stdout)?.[1]
    assert.match(dropped ?? '', new RegExp(`^${source}_drill_\\d{8}_\\d{6}_[0-9a-f]{4}$`))
    const left = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [dropped])
    assert.equal(left.rowCount, 0)
  })

  it('--keep, then a changed row in the copy: --compare names the table, exit 1', async () => {
    const r = await drill(['--source', sourceUrl, '--keep'])
    assert.equal(r.code, 0, r.stdout + r.stderr)
    const kept = /dr-drill: restored database kept: (\S+)/.exec(r.stdout)?.[1]
    assert.ok(kept, r.stdout)
    created.add(kept)
    const copyUrl = withDb(DATABASE_URL, kept)

    const same = await drill(['--compare', sourceUrl, copyUrl])
    assert.equal(same.code, 0, same.stdout)

    const c = new pg.Client({ connectionString: copyUrl })
    await c.connect()
    try {
      await c.query(`UPDATE shop.blobs SET note = 'changed' WHERE id = 7`)
    } finally {
      await c.end()
    }
    const changed = await drill(['--compare', sourceUrl, copyUrl])
    assert.equal(changed.code, 1, changed.stdout + changed.stderr)
    assert.match(
      row(changed.stdout, 'shop.blobs'),
      /\s200\s+200\s+\w{12}≠\w{12}\s+MISMATCH \(checksum\)$/,
    )
    assert.match(row(changed.stdout, 'public.products'), /OK$/)
    assert.match(changed.stdout, /dr-drill: FAILED: 1 of 7 objects differ: shop\.blobs/)
  })

  it('restores onto another server with --target', { skip: noBinaries }, async () => {
    const other = await ThrowawayPostgres.start()
    try {
      const r = await drill(['--source', sourceUrl, '--target', other.url()])
      assert.equal(r.code, 0, r.stdout + r.stderr)
      assert.match(r.stdout, /dr-drill: OK: all 7 objects match/)
    } finally {
      await other.destroy()
    }
  })
})
