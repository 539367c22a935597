// Writes generated shop data through db.batchInsert: COPY on PostgreSQL,
// multi-row INSERTs on the embedded database.
import type { Db } from 'hotpath/db'
import { generateShop, type SeedCounts } from './generate.ts'

/** Demo data written on the first start, when the products table is empty. */
export const DEMO_COUNTS: SeedCounts = Object.freeze({ products: 2000, users: 50, orders: 500 })

/** Every shop table, children first (the TRUNCATE order does not matter with CASCADE). */
const TABLES = [
  'jobs',
  'idempotency_keys',
  'payments',
  'order_items',
  'orders',
  'cart_items',
  'carts',
  'email_verifications',
  'sessions',
  'users',
  'inventory',
  'products',
  'categories',
]

/** Tables whose identity column the seed writes explicitly: their sequences move past it. */
const IDENTITIES = ['categories', 'products', 'users', 'orders', 'payments']

export interface SeedResult {
  rows: Record<string, number>
  ms: number
}

export async function isEmpty(db: Db): Promise<boolean> {
  const { rows } = await db.query('SELECT NOT EXISTS (SELECT 1 FROM products) AS empty', [], {
    primary: true,
  })
  return rows[0]?.empty === true
}

/** Empties every shop table (identities restart at 1). */
export async function resetShop(db: Db): Promise<void> {
  await db.query(`TRUNCATE ${TABLES.join(', ')} RESTART IDENTITY CASCADE`)
}

/** Inserts the generated shop in one transaction: all of it or nothing. */
export async function seedShop(db: Db, counts: SeedCounts, seed = 42): Promise<SeedResult> {
  const start = performance.now()
  const tables = generateShop(counts, seed)
  const rows: Record<string, number> = {}
  await db.transaction(async (tx) => {
    for (const t of tables) {
      rows[t.table] = (await tx.batchInsert(t.table, t.columns, t.rows)).inserted
    }
    for (const t of IDENTITIES) {
      await tx.query(
        `SELECT setval(pg_get_serial_sequence('${t}', 'id'), GREATEST((SELECT max(id) FROM ${t}), 1))`,
      )
    }
  })
  // Fresh statistics, so the planner picks the indexes right after a big seed.
  await db.query('ANALYZE')
  return { rows, ms: performance.now() - start }
}
