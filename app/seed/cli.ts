// npm run seed -- --products N --users N --orders N [--seed S] [--reset]
// Writes a deterministic shop into DATABASE_URL (or the embedded database),
// applying the migrations first.
import { parseArgs } from 'node:util'
import { createDb } from 'hotpath/db'
import { ConfigError, loadConfig } from '../config.ts'
import { migrate } from '../resources.ts'
import { isEmpty, resetShop, seedShop } from './seed.ts'

const USAGE = 'usage: npm run seed -- [--products N] [--users N] [--orders N] [--seed S] [--reset]'

function count(name: string, raw: string | undefined, fallback: number): number {
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw)) throw new ConfigError(`--${name}`, `expected a whole number\n${USAGE}`)
  return Number(raw)
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      products: { type: 'string' },
      users: { type: 'string' },
      orders: { type: 'string' },
      seed: { type: 'string' },
      reset: { type: 'boolean', default: false },
    },
  })
  const counts = {
    products: count('products', values.products, 10_000),
    users: count('users', values.users, 1000),
    orders: count('orders', values.orders, 10_000),
  }
  const seed = count('seed', values.seed, 42)
  const config = loadConfig()
  // Bulk loads and ANALYZE outlast the request-sized statement timeout.
  const db = createDb({
    ...(config.databaseUrl === null
      ? { embedded: true, embeddedDir: config.embeddedDir }
      : { primary: config.databaseUrl }),
    statementTimeoutMs: 0,
    pool: { min: 0, max: 2 },
    nPlusOne: false,
  })
  try {
    await migrate(db)
    if (!(await isEmpty(db))) {
      if (!values.reset) {
        throw new ConfigError(
          '--reset',
          'the shop already has products: pass --reset to replace them',
        )
      }
      await resetShop(db)
    }
    const r = await seedShop(db, counts, seed)
    const where = config.databaseUrl === null ? config.embeddedDir : 'DATABASE_URL'
    console.log(`seeded ${where} in ${(r.ms / 1000).toFixed(2)} s:`)
    for (const [table, n] of Object.entries(r.rows)) console.log(`  ${table.padEnd(12)} ${n}`)
  } finally {
    await db.close()
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof ConfigError ? `seed: ${err.message}` : err)
  process.exit(1)
})
