// Helpers for the shop's tests: a fresh database per suite on the real
// PostgreSQL, and a shop server on a spare port over real HTTP.
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import { loadConfig, type ShopConfig } from '../../app/config.ts'
import { migrate, openResources, type Resources } from '../../app/resources.ts'
import { seedShop } from '../../app/seed/seed.ts'
import { buildServer } from '../../app/server.ts'
import { DATABASE_URL, REDIS_URL } from '../helpers/services.ts'

/** `shop_test_<random>`, created through the admin connection; `drop()` removes it. */
export async function createTestDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `shop_test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: DATABASE_URL })
  await admin.connect()
  try {
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  const u = new URL(DATABASE_URL)
  u.pathname = `/${name}`
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: DATABASE_URL })
      await c.connect()
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      } finally {
        await c.end()
      }
    },
  }
}

export interface TestShop {
  base: string
  app: FastifyInstance
  resources: Resources
  config: ShopConfig
  stop(): Promise<void>
}

/** A migrated, seeded shop on its own database and cache namespace, listening on 127.0.0.1. */
export async function startShop(
  counts = { products: 300, users: 10, orders: 20 },
): Promise<TestShop> {
  const database = await createTestDatabase()
  const dataDir = mkdtempSync(join(tmpdir(), 'shop-test-'))
  const config = loadConfig({
    DATABASE_URL: database.url,
    REDIS_URL,
    SHOP_DATA_DIR: dataDir,
    SHOP_CACHE_NAMESPACE: `shoptest-${randomBytes(4).toString('hex')}`,
    LOG_LEVEL: 'silent',
    NODE_ENV: 'test',
  })
  const resources = openResources(config)
  await migrate(resources.db)
  await seedShop(resources.db, counts)
  const app = await buildServer({
    config,
    db: resources.db,
    cache: resources.cache,
    shedding: false,
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return {
    base: `http://127.0.0.1:${port}`,
    app,
    resources,
    config,
    async stop() {
      await app.close()
      await resources.cache.clear()
      await resources.close()
      await database.drop()
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** A row of a listing, as the tests read it. */
export interface Row {
  id: number
  categoryId: number
  name: string
  price: string
  createdAt: string
  rank?: number
  [k: string]: unknown
}

/** A JSON reply, loosely: listings, one product, or a problem. */
export interface Body {
  data: Row[]
  pagination: { limit: number; nextCursor?: string | null; hasMore: boolean; offset?: number }
  code?: string
  status?: number
  text?: string
  [k: string]: unknown
}

/** GET, with the body parsed when it is JSON. */
export async function get(
  base: string,
  path: string,
): Promise<{ status: number; headers: Headers; body: Body }> {
  const res = await fetch(base + path)
  const text = await res.text()
  const type = res.headers.get('content-type') ?? ''
  return {
    status: res.status,
    headers: res.headers,
    body: type.includes('json') ? JSON.parse(text) : { text },
  }
}
