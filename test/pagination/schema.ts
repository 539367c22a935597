import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { DATABASE_URL } from '../helpers/services.ts'

/** A pool and a schema of its own for one suite, so suites running side by side never meet. */
export async function scratch(prefix: string): Promise<{
  pool: pg.Pool
  schema: string
  drop(): Promise<void>
}> {
  const pool = new pg.Pool({ connectionString: DATABASE_URL, max: 2 })
  const schema = `hp_${prefix}_${randomUUID().replace(/-/g, '').slice(0, 10)}`
  await pool.query(`CREATE SCHEMA "${schema}"`)
  return {
    pool,
    schema,
    async drop() {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)
      await pool.end()
    },
  }
}
