// Code as a reader of the performance guide writes it — an Express 5 app over
// the five module-level services — run against the real PostgreSQL and Redis,
// over real HTTP. Only the import path differs from the guide.
import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { type IncomingHttpHeaders, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import express, { type NextFunction, type Request, type Response } from 'express'
import {
  CacheKeys,
  cacheConfig,
  cacheMiddleware,
  cacheService,
  compressionMiddleware,
  createCompressionMiddleware,
  getMetricsSnapshot,
  isHotpathError,
  paginationService,
  queryOptimizer,
} from 'hotpath/guide'
import { decompressSync } from 'hotpath/http'
import { Redis } from 'ioredis'
import { DATABASE_URL, REDIS_URL, unless } from '../helpers/services.ts'

const skip = (await unless('redis')) || (await unless('postgres'))
const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

interface Raw {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** A request with exactly the headers given (fetch adds and decodes its own Accept-Encoding). */
function raw(port: number, path: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

function json<T>(r: Raw): T {
  const e = r.headers['content-encoding']
  return JSON.parse((e ? decompressSync(r.body, e as 'br') : r.body).toString()) as T
}

interface User {
  id: number
  email: string
  name: string
}
interface Page {
  data: User[]
  pagination: {
    limit: number
    nextCursor: string | null
    prevCursor: string | null
    hasMore: boolean
  }
}

describe('hotpath/guide, used as the guide writes it', { skip }, () => {
  const id = randomUUID().slice(0, 8)
  const schema = `hp_guide_${id}`
  const users = `${schema}.users`
  const posts = `${schema}.posts`
  const namespace = `hpguide_${id}`
  const redisUrl = new URL(REDIS_URL)
  const USER_SQL = `SELECT id, email, name FROM ${users} WHERE id = $1`
  const slow: { query: string; duration: number }[] = []
  let statsRuns = 0
  let server: Server
  let port: number
  let redis: Redis

  const report = () => ({
    generated: 'today',
    lines: Array.from({ length: 400 }, (_, i) => ({ i, text: `line ${i} of the large report` })),
  })

  before(async () => {
    redis = new Redis(REDIS_URL)
    const app = express()
    app.use(
      createCompressionMiddleware({
        enabled: true,
        minSize: 1024,
        excludePaths: ['/health', '/metrics'],
      }),
    )
    app.use(express.json())

    app.get('/health', (_req, res) => {
      res.json({ status: 'ok', padding: 'h'.repeat(2000) })
    })

    // Cursor pagination, as in the guide's "API Implementation".
    app.get('/api/users', async (req, res) => {
      const params = paginationService.parsePaginationParams(req.query)
      const {
        query,
        params: queryParams,
        limit,
      } = paginationService.buildCursorQuery({
        table: users,
        columns: ['id', 'email', 'name'],
        cursor: params.cursor,
        limit: params.limit,
        sortField: params.sortField,
        sortOrder: params.sortOrder,
      })
      const result = await queryOptimizer.query(query, queryParams)
      assert.equal(limit, params.limit)
      res.json(paginationService.createPaginatedResponse(result.rows, params))
    })

    // The guide's first pagination snippet: a fixed sort, the cursor from the query.
    app.get('/api/users/recent', async (req, res) => {
      const cursor = req.query.cursor as string | undefined
      const { query, params, limit } = paginationService.buildCursorQuery({
        table: users,
        columns: ['id', 'email', 'name'],
        cursor,
        limit: 20,
        sortField: 'id',
        sortOrder: 'desc',
      })
      const rows = (await queryOptimizer.query(query, params)).rows
      const response = paginationService.createPaginatedResponse(rows, {
        limit,
        cursor,
        sortField: 'id',
        sortOrder: 'desc',
      })
      res.json(response)
    })

    app.get('/api/users/export', async (_req, res) => {
      res.type('application/x-ndjson')
      for await (const row of queryOptimizer.queryCursor(`SELECT * FROM ${users} ORDER BY id`, [], {
        batchSize: 50,
      })) {
        res.write(`${JSON.stringify(row)}\n`)
      }
      res.end()
    })

    app.get('/api/users/:id', async (req, res) => {
      const userId = Number(req.params.id)
      const user = await cacheService.getOrSet(
        CacheKeys.user(userId),
        async () =>
          (await queryOptimizer.query(USER_SQL, [userId], { cache: true, cacheTTL: 300 })).rows[0],
        300,
      )
      if (user === undefined) return res.status(404).json({ error: 'not found' })
      res.json(user)
    })

    app.put('/api/users/:id', async (req, res) => {
      const userId = Number(req.params.id)
      await queryOptimizer.query(`UPDATE ${users} SET name = $1 WHERE id = $2`, [
        req.body.name,
        userId,
      ])
      await cacheService.delete(CacheKeys.user(userId))
      await cacheService.delete(CacheKeys.queryResult(USER_SQL, [userId]))
      await cacheService.deletePattern(cacheConfig.invalidation.userUpdate)
      res.json({ ok: true })
    })

    app.get('/api/users-count', async (_req, res) => {
      const count = await cacheService.getOrSet(
        CacheKeys.allUsers(),
        async () =>
          (await queryOptimizer.query(`SELECT count(*)::int AS n FROM ${users}`)).rows[0]!.n,
        60,
      )
      res.json({ count })
    })

    // A hand-written login throttle over CacheKeys.rateLimit, TTL in seconds.
    app.post('/api/login', async (req, res) => {
      const key = CacheKeys.rateLimit(req.ip ?? 'unknown')
      const attempts = ((await cacheService.get<number>(key)) ?? 0) + 1
      await cacheService.set(key, attempts, 60)
      if (attempts > 3) return res.status(429).json({ attempts })
      res.json({ attempts })
    })

    // Response caching for a GET route, as the education guide does it.
    app.get('/api/stats', cacheMiddleware(60), async (_req, res) => {
      statsRuns++
      const r = queryOptimizer.initialized
        ? (await queryOptimizer.query(`SELECT id, email FROM ${users} ORDER BY id`)).rows
        : []
      res.json({ run: statsRuns, users: r, padding: 's'.repeat(1500) })
    })

    // Manual compression, as in the guide's best practices.
    app.get('/api/large-report', async (_req, res) => {
      const compressed = await compressionMiddleware.compress(report(), 'brotli')
      res.set('Content-Encoding', 'br')
      res.type('application/json')
      res.send(compressed)
    })

    app.get('/api/analyze', async (req, res) => {
      const analysis = await queryOptimizer.analyzeQuery(
        `SELECT * FROM ${posts} WHERE title = $1`,
        [String(req.query.title)],
      )
      res.json({ executionTime: analysis.executionTime, suggestions: analysis.suggestions })
    })

    // The guide's monitoring endpoint, word for word.
    app.get('/metrics', async (_req, res) => {
      const metrics = {
        cache: await cacheService.getStats(),
        database: queryOptimizer.getMetrics(),
        pool: queryOptimizer.getPoolStats(),
        compression: compressionMiddleware.getMetrics(),
        timestamp: Date.now(),
      }
      res.json(metrics)
    })

    app.use(
      (
        err: Error & { statusCode?: number; code?: string },
        _req: Request,
        res: Response,
        _next: NextFunction,
      ) => {
        res.status(err.statusCode ?? 500).json({ code: err.code, message: err.message })
      },
    )

    server = app.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
  })

  after(async () => {
    server?.close()
    if (queryOptimizer.initialized) {
      await queryOptimizer.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`)
      await queryOptimizer.close()
    }
    if (cacheService.connected) {
      await cacheService.deletePattern('*')
      await cacheService.disconnect()
    }
    await redis?.quit()
  })

  it('says clearly what is missing before connect and initialize', async () => {
    await assert.rejects(cacheService.get(CacheKeys.user(1)), code('HP_ERR_GUIDE_STATE'))
    await assert.rejects(cacheService.set('k', 1, 60), code('HP_ERR_GUIDE_STATE'))
    await assert.rejects(cacheService.getStats(), code('HP_ERR_GUIDE_STATE'))
    await assert.rejects(cacheService.deletePattern('user:*'), code('HP_ERR_GUIDE_STATE'))
    await assert.rejects(queryOptimizer.query('SELECT 1'), code('HP_ERR_GUIDE_STATE'))
    assert.throws(() => queryOptimizer.queryCursor('SELECT 1'), code('HP_ERR_GUIDE_STATE'))
    assert.throws(() => queryOptimizer.getMetrics(), code('HP_ERR_GUIDE_STATE'))
    assert.throws(() => paginationService.createPaginatedResponse([]), code('HP_ERR_GUIDE_STATE'))
    await cacheService.disconnect() // a no-op
    await queryOptimizer.close() // a no-op

    // Routes declared with cacheMiddleware pass through, uncached, until the cache is connected.
    const a = await raw(port, '/api/stats')
    assert.equal(a.status, 200)
    assert.equal(a.headers['x-cache'], undefined)
    assert.equal(json<{ run: number }>(a).run, 1)

    // The /metrics aggregation reports what is not there instead of failing.
    const snap = await getMetricsSnapshot()
    assert.match(String((snap.cache as { error: string }).error), /cacheService\.connect/)
    assert.match(String((snap.database as { error: string }).error), /initialize/)
    assert.equal(typeof (snap.compression as { compressionRate: number }).compressionRate, 'number')
    assert.ok(snap.timestamp > 0)

    // Initialized before the cache is connected: query results go to an L1 cache of its own.
    queryOptimizer.initialize({ connectionString: DATABASE_URL, minConnections: 0 })
    const first = await queryOptimizer.query('SELECT 41 + $1::int AS n', [1], { cache: true })
    const second = await queryOptimizer.query('SELECT 41 + $1::int AS n', [1], { cache: true })
    assert.deepEqual(second.rows, first.rows)
    assert.equal(queryOptimizer.getMetrics().cacheHits, 1)
    await queryOptimizer.close()
  })

  it('connects and initializes as the guide does', async () => {
    const ok = await cacheService.connect({
      host: redisUrl.hostname,
      port: Number(redisUrl.port || 6379),
      keyPrefix: `${namespace}:`,
    })
    assert.equal(ok, true)
    queryOptimizer.initialize({
      maxConnections: 20,
      minConnections: 5,
      idleTimeout: 30000,
      connectionTimeout: 5000,
      queryTimeout: 5000,
      connectionString: DATABASE_URL,
    })
    queryOptimizer.on('slowQuery', (query, duration) => {
      slow.push({ query, duration })
    })
    await assert.rejects(cacheService.connect(), code('HP_ERR_GUIDE_STATE'))
    assert.throws(() => queryOptimizer.initialize(), code('HP_ERR_GUIDE_STATE'))

    await queryOptimizer.query(`CREATE SCHEMA ${schema}`)
    await queryOptimizer.query(
      `CREATE TABLE ${users} (id serial PRIMARY KEY, email text NOT NULL, name text NOT NULL,
         status text NOT NULL DEFAULT 'active', created_at timestamptz NOT NULL DEFAULT now())`,
    )
    await queryOptimizer.query(
      `CREATE TABLE ${posts} (id serial PRIMARY KEY, user_id int NOT NULL, title text NOT NULL,
         created_at timestamptz NOT NULL DEFAULT now())`,
    )
  })

  it('batches inserts: one transaction per batch, results in order', async () => {
    const batchParams = Array.from({ length: 250 }, (_, i) => [
      `user${String(i).padStart(3, '0')}@example.com`,
      `User ${(i * 37) % 250}`,
      i % 3 === 0 ? 'inactive' : 'active',
    ])
    const results = await queryOptimizer.batchQuery<{ id: number }>(
      `INSERT INTO ${users} (email, name, status) VALUES ($1, $2, $3) RETURNING id`,
      batchParams,
      { batchSize: 100 },
    )
    assert.equal(results.length, 250)
    assert.deepEqual(
      results.map((r) => r.rows[0]!.id),
      Array.from({ length: 250 }, (_, i) => i + 1),
    )

    const items = Array.from({ length: 500 }, (_, i) => `post ${i}`)
    await queryOptimizer.batchQuery(
      `INSERT INTO ${posts} (user_id, title) VALUES ($1, $2)`,
      items.map((title, i) => [(i % 250) + 1, title]),
      { batchSize: 100 },
    )
    const n = await queryOptimizer.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${posts}`)
    assert.equal(n.rows[0]!.n, 500)
  })

  it('creates indexes, idempotently, and refuses names that are not names', async () => {
    const email = await queryOptimizer.createIndex(users, ['email'], {
      unique: true,
      method: 'btree',
    })
    assert.equal(email.created, true)
    assert.equal(
      (await queryOptimizer.createIndex(users, ['email'], { unique: true })).created,
      false,
    )
    await queryOptimizer.createIndex(posts, ['user_id', 'created_at'], { method: 'btree' })
    const active = await queryOptimizer.createIndex(users, ['status'], {
      where: "status = 'active'",
    })
    const defs = await queryOptimizer.query<{ indexdef: string }>(
      'SELECT indexdef FROM pg_indexes WHERE schemaname = $1 ORDER BY indexname',
      [schema],
    )
    const all = defs.rows.map((r) => r.indexdef).join('\n')
    assert.match(all, /CREATE UNIQUE INDEX \S+ ON \S+\.users USING btree \(email\)/)
    assert.match(all, /USING btree \(user_id, created_at\)/)
    assert.match(all, new RegExp(`${active.name}.*WHERE \\(status = 'active'::text\\)`))

    // A unique index makes a duplicate fail: a batch is all or nothing.
    await assert.rejects(
      queryOptimizer.batchQuery(
        `INSERT INTO ${users} (email, name) VALUES ($1, $2)`,
        [
          ['extra1@example.com', 'x'],
          ['extra2@example.com', 'x'],
          ['extra3@example.com', 'x'],
          ['user000@example.com', 'dup'],
        ],
        { batchSize: 2 },
      ),
      (e: Error & { code?: string }) => e.code === '23505',
    )
    const extra = await queryOptimizer.query<{ email: string }>(
      `SELECT email FROM ${users} WHERE email LIKE 'extra%' ORDER BY email`,
    )
    assert.deepEqual(
      extra.rows.map((r) => r.email),
      ['extra1@example.com', 'extra2@example.com'],
    )
    await queryOptimizer.query(`DELETE FROM ${users} WHERE email LIKE 'extra%'`)

    await assert.rejects(
      queryOptimizer.createIndex(`${users}; DROP TABLE ${posts}`, ['email']),
      code('HP_ERR_DB_INVALID_IDENTIFIER'),
    )
    await assert.rejects(
      queryOptimizer.createIndex(users, ['email") WITH (fillfactor=10']),
      code('HP_ERR_DB_INVALID_IDENTIFIER'),
    )
  })

  it('caches in both tiers with TTLs in seconds, and invalidates by key and pattern', async () => {
    const userData = { id: 1, email: 'user000@example.com', name: 'User 0' }
    await cacheService.set(CacheKeys.user(1), userData, 300)
    assert.deepEqual(await cacheService.get(CacheKeys.user(1)), userData)
    const ttl = await redis.pttl(`${namespace}:${CacheKeys.user(1)}`)
    assert.ok(ttl > 295_000 && ttl <= 300_000, `a 300 s TTL in Redis, got ${ttl} ms`)

    await cacheService.set('session:abc', { user: 1 }, 'session')
    const sessionTtl = await redis.pttl(`${namespace}:session:abc`)
    assert.ok(sessionTtl > 3_590_000, `the session strategy is 3600 s, got ${sessionTtl} ms`)
    await assert.rejects(cacheService.set('k', 1, -5), code('HP_ERR_CACHE_INVALID_TTL'))
    await assert.rejects(cacheService.set('k', 1, 'lukewarm'), code('HP_ERR_CACHE_UNKNOWN_TIER'))

    let calls = 0
    const load = async () => {
      calls++
      return { id: 2, name: 'User 2' }
    }
    const [a, b] = await Promise.all([
      cacheService.getOrSet(CacheKeys.user(2), load, 300),
      cacheService.getOrSet(CacheKeys.user(2), load, 300),
    ])
    assert.deepEqual(a, b)
    assert.equal(calls, 1, 'one factory call for concurrent callers')
    assert.equal(await cacheService.get(CacheKeys.user(999)), null, 'a miss is null')

    await cacheService.delete(CacheKeys.user(1))
    assert.equal(await cacheService.get(CacheKeys.user(1)), null)
    assert.equal(await redis.exists(`${namespace}:${CacheKeys.user(1)}`), 0)

    await cacheService.set(CacheKeys.user(3), { id: 3 }, 300)
    await cacheService.set(CacheKeys.allUsers(), [1, 2, 3], 300)
    assert.equal(await cacheService.deletePattern(cacheConfig.invalidation.userUpdate), 2)
    assert.equal(await cacheService.get(CacheKeys.user(2)), null)
    assert.equal(await cacheService.get(CacheKeys.user(3)), null)
    assert.deepEqual(await cacheService.get(CacheKeys.allUsers()), [1, 2, 3])
    assert.equal(await cacheService.deletePattern('users:*'), 1)

    const stats = await cacheService.getStats()
    assert.equal(stats.l1.maxSize, cacheConfig.l1.maxSize)
    assert.equal(
      stats.l1.utilization,
      Math.round((stats.l1.size / stats.l1.maxSize) * 10_000) / 100,
    )
    assert.ok(stats.l1.hits > 0 && stats.l1.misses > 0)
    assert.ok(stats.l1.hitRate > 0 && stats.l1.hitRate < 100)
    assert.equal(stats.l2.connected, true)
    assert.ok(stats.l2.misses > 0)
    assert.equal(
      stats.hitRate,
      Math.round((stats.hits / (stats.hits + stats.misses)) * 10_000) / 100,
    )
    assert.equal(
      CacheKeys.apiResponse('/api/users', 'sort=desc&limit=20'),
      'api:/api/users?limit=20&sort=desc',
    )
  })

  it('serves users through getOrSet and a cached query, and a write invalidates them', async () => {
    const get = async () => (await fetch(`http://127.0.0.1:${port}/api/users/7`)).json()
    const before = await get()
    assert.deepEqual(before, { id: 7, email: 'user006@example.com', name: 'User 222' })
    assert.deepEqual(await get(), before)
    const cached = await cacheService.get<{ rows: User[] }>(CacheKeys.queryResult(USER_SQL, [7]))
    assert.deepEqual(cached?.rows, [before], 'the query result is under CacheKeys.queryResult')
    const again = await queryOptimizer.query(USER_SQL, [7], { cache: true, cacheTTL: 300 })
    assert.deepEqual(again.rows, [before])

    const put = await fetch(`http://127.0.0.1:${port}/api/users/7`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'Renamed' }),
    })
    assert.equal(put.status, 200)
    assert.equal(((await get()) as User).name, 'Renamed')
    assert.equal(
      (
        (await (await fetch(`http://127.0.0.1:${port}/api/users-count`)).json()) as {
          count: number
        }
      ).count,
      250,
    )
    const m = queryOptimizer.getMetrics()
    assert.ok(m.cacheHits >= 1 && m.cacheMisses >= 2)
    assert.equal(
      m.cacheHitRate,
      Math.round((m.cacheHits / (m.cacheHits + m.cacheMisses)) * 10_000) / 100,
    )

    const attempts: number[] = []
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`http://127.0.0.1:${port}/api/login`, { method: 'POST' })
      attempts.push(r.status)
    }
    assert.deepEqual(attempts, [200, 200, 200, 429])
  })

  it('walks every page of the users table over HTTP, both ways', async () => {
    const expected = await queryOptimizer.query<{ id: number }>(
      `SELECT id FROM ${users} ORDER BY name DESC, id DESC`,
    )
    const seen: number[] = []
    let url = '/api/users?sort=name&order=desc&limit=40'
    let last: Page | undefined
    let pages = 0
    for (;;) {
      const r = await raw(port, url, { 'accept-encoding': 'br' })
      assert.equal(r.status, 200)
      last = json<Page>(r)
      if (last.data.length === 40) assert.equal(r.headers['content-encoding'], 'br')
      pages++
      seen.push(...last.data.map((u) => u.id))
      assert.ok(last.data.every((u) => Object.keys(u).join() === 'id,email,name'))
      if (last.pagination.nextCursor === null) break
      // The cursor carries its sort: a client only sends it back.
      url = `/api/users?cursor=${last.pagination.nextCursor}&limit=40`
    }
    assert.equal(pages, 7)
    assert.deepEqual(
      seen,
      expected.rows.map((r) => r.id),
    )
    assert.equal(last!.pagination.hasMore, false)
    const back = json<Page>(
      await raw(port, `/api/users?cursor=${last!.pagination.prevCursor}&limit=40`),
    )
    assert.deepEqual(
      back.data.map((u) => u.id),
      seen.slice(200, 240),
    )

    // The fixed-sort snippet: ids descending, 20 per page.
    const ids: number[] = []
    let cursor: string | null = null
    do {
      const q: string = cursor === null ? '' : `?cursor=${cursor}`
      const page = (await (
        await fetch(`http://127.0.0.1:${port}/api/users/recent${q}`)
      ).json()) as Page
      ids.push(...page.data.map((u) => u.id))
      cursor = page.pagination.nextCursor
    } while (cursor !== null)
    assert.deepEqual(
      ids,
      Array.from({ length: 250 }, (_, i) => 250 - i),
    )

    // Built and answered outside a request: the object buildCursorQuery returned works too.
    const built = paginationService.buildCursorQuery({ table: users, limit: 5, sortField: 'id' })
    const rows = await queryOptimizer.query<User>(built.query, built.params)
    assert.equal(rows.rows.length, built.fetchLimit)
    const page = paginationService.createPaginatedResponse(rows, built)
    assert.deepEqual(
      page.data.map((u) => u.id),
      [1, 2, 3, 4, 5],
    )
    const next = paginationService.buildCursorQuery({
      table: users,
      cursor: page.pagination.nextCursor,
    })
    const rest = await queryOptimizer.query<User>(next.query, next.params)
    assert.equal(
      paginationService.createPaginatedResponse(rest.rows, {
        table: users,
        limit: next.limit,
        cursor: page.pagination.nextCursor,
      }).data[0]!.id,
      6,
    )
  })

  it('refuses bad names, sorts, limits and cursors with typed errors', async () => {
    assert.throws(
      () => paginationService.buildCursorQuery({ table: 'users; DROP TABLE users', limit: 20 }),
      code('HP_ERR_PAGINATION_INVALID_IDENTIFIER'),
    )
    assert.throws(
      () => paginationService.buildCursorQuery({ table: users, columns: ['id', 'e mail'] }),
      code('HP_ERR_PAGINATION_INVALID_IDENTIFIER'),
    )
    assert.throws(
      () => paginationService.buildCursorQuery({ table: users, sortField: 'password' }),
      code('HP_ERR_PAGINATION_INVALID_SORT'),
    )
    assert.throws(
      () => paginationService.configure({ secret: 'short' }),
      code('HP_ERR_INVALID_OPTION'),
    )
    const answers = await Promise.all(
      ['?sort=password', '?limit=1000', '?cursor=AAAA', '?order=sideways'].map(async (q) => {
        const r = await fetch(`http://127.0.0.1:${port}/api/users${q}`)
        return [r.status, ((await r.json()) as { code: string }).code]
      }),
    )
    assert.deepEqual(answers, [
      [400, 'HP_ERR_PAGINATION_INVALID_SORT'],
      [400, 'HP_ERR_PAGINATION_INVALID_LIMIT'],
      [400, 'HP_ERR_PAGINATION_INVALID_CURSOR'],
      [400, 'HP_ERR_PAGINATION_INVALID_SORT'],
    ])
  })

  it('caches GET responses with cacheMiddleware, compressed, in Redis', async () => {
    const runs = statsRuns
    const a = await raw(port, '/api/stats', { 'accept-encoding': 'br' })
    const b = await raw(port, '/api/stats', { 'accept-encoding': 'gzip' })
    assert.equal(a.headers['x-cache'], 'MISS')
    assert.equal(b.headers['x-cache'], 'HIT')
    assert.equal(a.headers['content-encoding'], 'br')
    assert.equal(b.headers['content-encoding'], 'gzip')
    assert.deepEqual(json(b), json(a))
    assert.equal(statsRuns, runs + 1, 'the handler ran once')
    assert.equal(json<{ users: unknown[] }>(a).users.length, 250)
    assert.ok((await redis.exists(`${namespace}:res:${CacheKeys.apiResponse('/api/stats')}`)) === 1)

    assert.equal(await cacheService.deletePattern(cacheConfig.invalidation.apiResponses), 1)
    const c = await raw(port, '/api/stats', { 'accept-encoding': 'br' })
    assert.equal(c.headers['x-cache'], 'MISS')
    assert.equal(statsRuns, runs + 2)
  })

  it('compresses responses and payloads, and counts it', async () => {
    const before = compressionMiddleware.getMetrics()
    const large = await raw(port, '/api/large-report', { 'accept-encoding': 'br' })
    assert.equal(large.headers['content-encoding'], 'br')
    assert.deepEqual(json(large), report())

    const largeData = { items: Array.from({ length: 200 }, (_, i) => ({ i, name: `item ${i}` })) }
    const gz = await compressionMiddleware.compress(largeData, 'gzip')
    assert.deepEqual(JSON.parse(decompressSync(gz, 'gzip').toString()), largeData)
    const br = await compressionMiddleware.compress(JSON.stringify(largeData), 'brotli')
    assert.ok(br.length < gz.length)

    const health = await raw(port, '/health', { 'accept-encoding': 'br' })
    assert.equal(health.headers['content-encoding'], undefined, '/health is excluded')
    const exported = await raw(port, '/api/users/export', { 'accept-encoding': 'gzip' })
    assert.equal(exported.headers['content-encoding'], 'gzip', 'a stream is compressed too')
    const lines = decompressSync(exported.body, 'gzip').toString().trim().split('\n')
    assert.equal(lines.length, 250)
    assert.equal(JSON.parse(lines[249]!).id, 250)

    const m = compressionMiddleware.getMetrics()
    assert.ok(m.totalCompressed >= before.totalCompressed + 3)
    assert.ok(m.bytesSaved > before.bytesSaved)
    assert.ok(m.compressionRate > 60 && m.compressionRate < 100, `rate ${m.compressionRate}%`)
    assert.ok(m.skipped.path > before.skipped.path)
  })

  it('analyzes a query, and reports slow ones', async () => {
    await queryOptimizer.query(
      `INSERT INTO ${posts} (user_id, title) SELECT (g % 250) + 1, 'bulk ' || g FROM generate_series(1, 20000) g`,
    )
    await queryOptimizer.query(`ANALYZE ${posts}`)
    const r = (await (
      await fetch(`http://127.0.0.1:${port}/api/analyze?title=bulk%20777`)
    ).json()) as {
      executionTime: number
      suggestions: { kind: string; statement?: string }[]
    }
    assert.ok(r.executionTime > 0)
    const index = r.suggestions.find((s) => s.kind === 'index')
    assert.match(String(index?.statement), /\("title"\)/)

    await queryOptimizer.query('SELECT pg_sleep(0.08)')
    const hit = slow.find((s) => s.query.includes('pg_sleep'))
    assert.ok(hit !== undefined && hit.duration >= 50, 'slowQuery(query, duration)')
    assert.ok(queryOptimizer.getMetrics().slowQueries >= 1)
  })

  it('answers the /metrics route of the guide', async () => {
    const r = await raw(port, '/metrics', { 'accept-encoding': 'br' })
    assert.equal(r.headers['content-encoding'], undefined, '/metrics is excluded')
    const m = json<{
      cache: { l1: { size: number; maxSize: number; utilization: number; hitRate: number } }
      database: {
        avgQueryTime: number
        cacheHitRate: number
        slowQueries: number
        totalQueries: number
      }
      pool: { max: number; total: number; utilization: number }
      compression: { compressionRate: number; bytesSaved: number }
      timestamp: number
    }>(r)
    assert.equal(m.cache.l1.maxSize, 10_000)
    assert.ok(m.database.totalQueries > 0 && m.database.avgQueryTime > 0)
    assert.equal(m.pool.max, 20)
    assert.ok(m.pool.total >= 1 && m.pool.utilization >= 0 && m.pool.utilization <= 100)
    assert.ok(m.compression.bytesSaved > 0)
    assert.ok(Math.abs(m.timestamp - Date.now()) < 5000)

    const snap = await getMetricsSnapshot()
    assert.deepEqual(Object.keys(snap).sort(), [
      'cache',
      'compression',
      'database',
      'pool',
      'timestamp',
    ])
    assert.equal((snap.pool as { max: number }).max, 20)
  })
})
