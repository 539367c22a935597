import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { createKeyset, type KeysetListing, type KeysetQuery } from 'hotpath/pagination'
import { unless } from '../helpers/services.ts'
import { scratch } from './schema.ts'

const skip = await unless('postgres')
const secret = 'a-test-secret-of-at-least-32-bytes!!'
const ROWS = 50_000

interface PlanNode {
  'Node Type': string
  'Index Name'?: string
  'Actual Rows'?: number
  'Rows Removed by Filter'?: number
  Plans?: PlanNode[]
}

function nodes(plan: PlanNode, out: PlanNode[] = []): PlanNode[] {
  out.push(plan)
  for (const p of plan.Plans ?? []) nodes(p, out)
  return out
}

// The plan checks: every table access is an index scan that reads about one
// page of rows, and nothing sorts. Timing is not measured.
describe('keyset queries use the index', { skip }, () => {
  let db: Awaited<ReturnType<typeof scratch>>
  let table: string
  let same: KeysetListing
  let mixed: KeysetListing

  before(async () => {
    db = await scratch('plan')
    table = `${db.schema}.events`
    await db.pool.query(
      `CREATE TABLE ${table} (id int PRIMARY KEY, at timestamptz, kind int NOT NULL, body text)`,
    )
    // One row in ten has no timestamp; timestamps repeat and carry microseconds.
    await db.pool.query(
      `INSERT INTO ${table}
       SELECT i,
              CASE WHEN i % 10 = 0 THEN NULL
                   ELSE timestamptz '2024-01-01' + (i % 20000) * interval '1.001 ms' END,
              i % 500,
              repeat('x', 40)
       FROM generate_series(1, ${ROWS}) AS i`,
    )
    await db.pool.query(`CREATE INDEX ON ${table} (at, id)`)
    await db.pool.query(`CREATE INDEX ON ${table} (kind, id)`)
    await db.pool.query(`CREATE INDEX ON ${table} (kind DESC, id ASC)`)
    await db.pool.query(`ANALYZE ${table}`)
    const options = {
      table,
      allowedSorts: ['at', { column: 'kind', nullable: false }],
      secret,
    } as const
    same = createKeyset(options)
    mixed = createKeyset({ ...options, name: 'mixed', primaryKeyOrder: 'asc' })
  })
  after(async () => {
    await db?.drop()
  })

  /** A cursor `depth` rows into the listing, made by the listing's own envelope. */
  async function deep(
    listing: KeysetListing,
    sort: string,
    order: 'asc' | 'desc',
    depth: number,
  ): Promise<{ next: string; prev: string }> {
    const first = listing.build({ sort, order, limit: 1 })
    const { rows } = await db.pool.query(`${first.text} OFFSET ${depth}`, first.values)
    const cursor = listing.envelope(rows, first).pagination.nextCursor!
    const q = listing.build({ cursor })
    const page = listing.envelope((await db.pool.query(q)).rows, q)
    return { next: page.pagination.nextCursor!, prev: page.pagination.prevCursor! }
  }

  async function explain(q: KeysetQuery): Promise<PlanNode[]> {
    const { rows } = await db.pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`, q.values)
    return nodes((rows[0]['QUERY PLAN'] as { Plan: PlanNode }[])[0]!.Plan)
  }

  async function assertIndexOnly(q: KeysetQuery, what: string, ranges: 1 | 2): Promise<void> {
    assert.doesNotMatch(q.text, /OFFSET/i)
    const plan = await explain(q)
    const types = plan.map((n) => n['Node Type'])
    const scans = plan.filter((n) => /Scan/.test(n['Node Type']))
    assert.equal(scans.length, ranges, `${what}: ${types.join(' > ')}`)
    for (const s of scans) {
      assert.match(s['Node Type'], /^Index (Only )?Scan$/, `${what}: ${types.join(' > ')}`)
      const read = (s['Actual Rows'] ?? 0) + (s['Rows Removed by Filter'] ?? 0)
      // One page (+1), plus the rows sharing the cursor's value in a mixed-order scan.
      assert.ok(read <= q.fetchLimit + 200, `${what}: ${s['Index Name']} read ${read} rows`)
    }
    for (const banned of ['Sort', 'Incremental Sort', 'Seq Scan', 'Bitmap Heap Scan']) {
      assert.ok(!types.includes(banned), `${what}: ${banned} in ${types.join(' > ')}`)
    }
  }

  it('a NOT NULL column: one index range, forwards and backwards', async () => {
    for (const order of ['asc', 'desc'] as const) {
      const { next, prev } = await deep(same, 'kind', order, 40_000)
      await assertIndexOnly(same.build({ cursor: next }), `kind ${order} next`, 1)
      await assertIndexOnly(same.build({ cursor: prev }), `kind ${order} prev`, 1)
    }
  })

  it('a nullable column: two short index ranges merged where the scan crosses into the NULLs', async () => {
    // Ascending past 40,000 rows: the non-NULL rest, then the NULLs (sorted last).
    const asc = await deep(same, 'at', 'asc', 40_000)
    await assertIndexOnly(same.build({ cursor: asc.next }), 'at asc next', 2)
    await assertIndexOnly(same.build({ cursor: asc.prev }), 'at asc prev', 1)
    // Descending, the NULLs come first: from inside them, the rest of them and then the values.
    const inNulls = await deep(same, 'at', 'desc', 2_000)
    await assertIndexOnly(same.build({ cursor: inNulls.next }), 'at desc next, in NULLs', 2)
    await assertIndexOnly(same.build({ cursor: inNulls.prev }), 'at desc prev, in NULLs', 1)
    const desc = await deep(same, 'at', 'desc', 40_000)
    await assertIndexOnly(same.build({ cursor: desc.next }), 'at desc next', 1)
    await assertIndexOnly(same.build({ cursor: desc.prev }), 'at desc prev', 2)
    // Ascending from inside the NULLs: only NULLs remain.
    const tail = await deep(same, 'at', 'asc', 47_000)
    await assertIndexOnly(same.build({ cursor: tail.next }), 'at asc next, in NULLs', 1)
  })

  it('a tie-breaker in its own order: the expanded predicate still starts an index range', async () => {
    const { next, prev } = await deep(mixed, 'kind', 'desc', 40_000)
    await assertIndexOnly(mixed.build({ cursor: next }), 'kind desc, id asc next', 1)
    await assertIndexOnly(mixed.build({ cursor: prev }), 'kind desc, id asc prev', 1)
  })

  it('with a caller filter the page is still an index range', async () => {
    const { next } = await deep(same, 'kind', 'asc', 40_000)
    const q = same.build({ cursor: next, where: { text: 'body = $1', values: ['x'.repeat(40)] } })
    await assertIndexOnly(q, 'kind asc with a filter', 1)
  })
})
