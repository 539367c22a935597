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
import type { LoginLimits } from '../../app/routes/auth.ts'
import { seedShop } from '../../app/seed/seed.ts'
import { buildServer } from '../../app/server.ts'
import type { PaymentProvider } from '../../app/services/payments.ts'
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

export interface ShopOptions {
  loginLimits?: LoginLimits
  payments?: PaymentProvider
}

/** A built server listening on a spare port of 127.0.0.1. */
async function listen(
  config: ShopConfig,
  resources: Resources,
  options: ShopOptions,
): Promise<{ app: FastifyInstance; base: string }> {
  const app = await buildServer({
    config,
    db: resources.db,
    cache: resources.cache,
    shedding: false,
    ...options,
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = app.server.address() as { port: number }
  return { app, base: `http://127.0.0.1:${port}` }
}

/** A migrated, seeded shop on its own database and cache namespace, listening on 127.0.0.1. */
export async function startShop(
  counts = { products: 300, users: 10, orders: 20 },
  options: ShopOptions = {},
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
  const { app, base } = await listen(config, resources, options)
  return {
    base,
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

/**
 * A second instance of `shop`: its own pools, cache (L1) and limiter over the
 * same database, Redis and cache namespace, as two processes behind a balancer.
 */
export async function startInstance(
  shop: TestShop,
  options: ShopOptions = {},
): Promise<Omit<TestShop, 'config'>> {
  const resources = openResources(shop.config)
  await resources.cache.ready()
  const { app, base } = await listen(shop.config, resources, options)
  return {
    base,
    app,
    resources,
    async stop() {
      await app.close()
      await resources.close()
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

export interface Reply {
  status: number
  headers: Headers
  // biome-ignore lint/suspicious/noExplicitAny: a test reads whatever JSON came back
  body: any
}

/**
 * One request with a JSON body (`body`), or a raw one (`raw`, sent as is with
 * `type`), and a bearer `token`; the reply's body parsed when it is JSON.
 */
export async function send(
  base: string,
  method: string,
  path: string,
  o: { body?: unknown; raw?: string; type?: string; token?: string } = {},
): Promise<Reply> {
  const headers: Record<string, string> = {}
  if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`
  let payload: string | undefined
  if (o.raw !== undefined) payload = o.raw
  else if (o.body !== undefined) payload = JSON.stringify(o.body)
  if (payload !== undefined) headers['content-type'] = o.type ?? 'application/json'
  const res = await fetch(base + path, { method, headers, body: payload })
  const text = await res.text()
  const type = res.headers.get('content-type') ?? ''
  return {
    status: res.status,
    headers: res.headers,
    body: type.includes('json') && text !== '' ? JSON.parse(text) : { text },
  }
}

/** Signs in and returns the bearer token (the seeded users' password is "password"). */
export async function login(base: string, email: string, password = 'password'): Promise<string> {
  const r = await send(base, 'POST', '/auth/login', { body: { email, password } })
  if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`)
  return r.body.token as string
}
