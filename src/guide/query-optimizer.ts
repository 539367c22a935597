import { EventEmitter } from 'node:events'
import { createCache, type TieredCache } from '../cache/cache.ts'
import type { Analysis, AnalyzeOptions } from '../db/analyze.ts'
import { createDb, type Db, type QueryOptions } from '../db/db.ts'
import type { PoolCounts, Result } from '../db/endpoint.ts'
import type { IndexColumn } from '../db/index-keys.ts'
import type { CreateIndexOptions, CreateIndexResult } from '../db/indexes.ts'
import type { StatementStats } from '../db/observer.ts'
import { HotpathError } from '../errors.ts'
import { cacheOptions, cacheService } from './cache-service.ts'
import { performanceConfig } from './config.ts'
import { percent, roundMs, stateError, ttlMs } from './units.ts'

/** The guides' pool settings; every one optional (defaults: `performanceConfig.database`). */
export interface QueryOptimizerConfig {
  maxConnections?: number
  minConnections?: number
  /** ms */
  idleTimeout?: number
  /** ms: connecting, or waiting for a free connection. */
  connectionTimeout?: number
  /** ms: server-side timeout of every statement (0: none). */
  queryTimeout?: number
  /** ms: slower statements emit `slowQuery`. */
  slowQueryThreshold?: number
  /** Default: `DATABASE_URL`; with neither, hotpath's embedded PostgreSQL (PGlite). */
  connectionString?: string
  /** Read replicas' URLs: plain reads go to them. Default: none. */
  replicas?: readonly string[]
}

export interface GuideQueryOptions {
  /** Read through the cache under `CacheKeys.queryResult(sql, params)`. Default: `false`. */
  cache?: boolean
  /** Seconds. Default: `cacheConfig.ttl.queryResult` (300). */
  cacheTTL?: number
  /** Tags of the cached result, for `cacheService.cache.invalidateTags`. */
  tags?: readonly string[]
  /** Tags to invalidate once this write succeeds. */
  invalidates?: readonly string[]
  /** This statement's own timeout (ms). */
  timeout?: number
}

export interface GuideQueryMetrics {
  totalQueries: number
  /** ms */
  avgQueryTime: number
  slowQueries: number
  errors: number
  cacheHits: number
  cacheMisses: number
  /** In percent of cached-query lookups. */
  cacheHitRate: number
  nPlusOneWarnings: number
  /** The statements that took the most time in total, by shape. */
  topQueries: StatementStats[]
}

export interface GuidePoolStats extends PoolCounts {
  /** Connections in use. */
  active: number
  /** active / max, in percent (the guides' bar: under 70 %). */
  utilization: number
  /** Per server: `primary`, `replica0`…, or `embedded`. */
  endpoints: Record<string, PoolCounts>
}

export interface GuideAnalysis {
  /** ms */
  executionTime: number
  /** ms */
  planningTime: number
  totalCost: number
  rows: number
  /** Verified index suggestions first, then notes. */
  suggestions: Analysis['suggestions']
  plan: Analysis['plan']
  buffers: Analysis['buffers']
}

export interface QueryOptimizerEvents {
  /** `(query, durationMs, details)` as the guides listen: `on('slowQuery', (query, duration) => …)`. */
  slowQuery: [query: string, duration: number, details: { statement: string; endpoint: string }]
  nPlusOne: [statement: string, count: number]
}

/**
 * The guides' `queryOptimizer`: one `Db` made by `initialize`. Result caching
 * goes through the cache `cacheService` had connected at that moment; if none
 * was, through an L1-only cache of its own (per process), closed by `close`.
 */
export class QueryOptimizer extends EventEmitter<QueryOptimizerEvents> {
  #db: Db | null = null
  #ownCache: TieredCache | null = null

  /** Creates the pool (connections open in the background). */
  initialize(config: QueryOptimizerConfig = {}): void {
    if (this.#db !== null) {
      throw stateError('queryOptimizer.initialize', 'already initialized: call close() first')
    }
    const d = performanceConfig.database
    const own = cacheService.current() === null ? createCache(cacheOptions(null)) : null
    const cache = own ?? cacheService.current()!
    let db: Db
    try {
      db = createDb({
        ...(config.connectionString === undefined ? {} : { primary: config.connectionString }),
        ...(config.replicas === undefined ? {} : { replicas: config.replicas }),
        pool: {
          max: config.maxConnections ?? d.maxConnections,
          min: config.minConnections ?? d.minConnections,
          idleTimeoutMs: config.idleTimeout ?? d.idleTimeout,
          connectTimeoutMs: config.connectionTimeout ?? d.connectionTimeout,
        },
        statementTimeoutMs: config.queryTimeout ?? d.queryTimeout,
        slowQueryMs: config.slowQueryThreshold ?? d.slowQueryThreshold,
        cache,
      })
    } catch (err) {
      void own?.close()
      throw err
    }
    this.#ownCache = own
    db.on('slowQuery', (e) =>
      this.emit('slowQuery', e.text, e.durationMs, {
        statement: e.statement,
        endpoint: e.endpoint,
      }),
    )
    db.on('nPlusOne', (e) => this.emit('nPlusOne', e.statement, e.count))
    this.#db = db
  }

  get initialized(): boolean {
    return this.#db !== null
  }

  /** The `Db` itself, for what the guides do not have (transactions, batchInsert, migrations…). */
  get db(): Db {
    return this.#use('queryOptimizer.db')
  }

  #use(call: string): Db {
    if (this.#db === null) throw stateError(call, 'call queryOptimizer.initialize() first')
    return this.#db
  }

  /** `{ rows, rowCount, fields }`; with `cache: true` cached rows are frozen, shared copies. */
  async query<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options: GuideQueryOptions = {},
  ): Promise<Result<R>> {
    const db = this.#use('queryOptimizer.query')
    const o: QueryOptions = {}
    if (options.cache) {
      o.cache = {
        // Without cacheTTL: the `queryResult` TTL strategy of cacheConfig (a tier of the cache).
        ttl: options.cacheTTL === undefined ? 'queryResult' : ttlMs(options.cacheTTL, 'cacheTTL'),
        ...(options.tags === undefined ? {} : { tags: options.tags }),
      }
    }
    if (options.invalidates !== undefined) o.invalidates = options.invalidates
    if (options.timeout !== undefined) o.timeoutMs = options.timeout
    return db.query<R>(sql, params, o)
  }

  /**
   * Runs `sql` once per parameter list, `batchSize` lists per transaction:
   * a batch is all or nothing (batches before a failing one stay committed).
   * Results come back in order. For plain inserts `db.batchInsert` is faster
   * still (multi-row VALUES or COPY).
   */
  async batchQuery<R = Record<string, unknown>>(
    sql: string,
    batchParams: readonly (readonly unknown[])[],
    options: { batchSize?: number } = {},
  ): Promise<Result<R>[]> {
    const db = this.#use('queryOptimizer.batchQuery')
    const size = options.batchSize ?? 100
    if (!Number.isInteger(size) || size < 1) {
      throw new HotpathError('HP_ERR_DB_INVALID_INPUT', [`batchSize must be a positive integer`])
    }
    if (!Array.isArray(batchParams)) {
      throw new HotpathError('HP_ERR_DB_INVALID_INPUT', ['batchParams must be an array of arrays'])
    }
    const results: Result<R>[] = []
    for (let i = 0; i < batchParams.length; i += size) {
      const batch = batchParams.slice(i, i + size)
      const done = await db.transaction(async () => {
        const out: Result<R>[] = []
        for (const params of batch) out.push(await db.query<R>(sql, params))
        return out
      })
      for (const r of done) results.push(r)
    }
    return results
  }

  /** Rows through a server-side cursor, `batchSize` per round trip (default 1000). */
  queryCursor<R = Record<string, unknown>>(
    sql: string,
    params?: readonly unknown[],
    options: { batchSize?: number } = {},
  ): AsyncGenerator<R, void, undefined> {
    return this.#use('queryOptimizer.queryCursor').cursor<R>(sql, params, options)
  }

  /** Idempotent; names are checked and quoted (`HP_ERR_DB_INVALID_IDENTIFIER`), `where` is trusted SQL. */
  async createIndex(
    table: string,
    columns: readonly IndexColumn[],
    options?: CreateIndexOptions,
  ): Promise<CreateIndexResult> {
    return this.#use('queryOptimizer.createIndex').createIndex(table, columns, options)
  }

  /** EXPLAIN (ANALYZE, BUFFERS) in a rolled-back transaction, with verified index suggestions. */
  async analyzeQuery(
    sql: string,
    params?: readonly unknown[],
    options?: AnalyzeOptions,
  ): Promise<GuideAnalysis> {
    const a = await this.#use('queryOptimizer.analyzeQuery').analyze(sql, params, options)
    return {
      executionTime: a.executionMs,
      planningTime: a.planningMs,
      totalCost: a.totalCost,
      rows: a.rows,
      suggestions: a.suggestions,
      plan: a.plan,
      buffers: a.buffers,
    }
  }

  getMetrics(): GuideQueryMetrics {
    const s = this.#use('queryOptimizer.getMetrics').stats(10)
    return {
      totalQueries: s.queries,
      avgQueryTime: roundMs(s.avgQueryMs),
      slowQueries: s.slowQueries,
      errors: s.errors,
      cacheHits: s.cacheHits,
      cacheMisses: s.cacheMisses,
      cacheHitRate: percent(s.cacheHitRate),
      nPlusOneWarnings: s.nPlusOneWarnings,
      topQueries: s.statements,
    }
  }

  getPoolStats(): GuidePoolStats {
    const endpoints = this.#use('queryOptimizer.getPoolStats').stats(0).pools
    const sum: PoolCounts = { total: 0, idle: 0, waiting: 0, max: 0 }
    for (const p of Object.values(endpoints)) {
      sum.total += p.total
      sum.idle += p.idle
      sum.waiting += p.waiting
      sum.max += p.max
    }
    const active = sum.total - sum.idle
    return { ...sum, active, utilization: percent(sum.max === 0 ? 0 : active / sum.max), endpoints }
  }

  /** Closes the pool (and the L1-only cache, if it made one); `initialize` may be called again. */
  async close(): Promise<void> {
    const db = this.#db
    const own = this.#ownCache
    this.#db = null
    this.#ownCache = null
    await db?.close()
    await own?.close()
  }
}

/** The default instance, as the guides import it. */
export const queryOptimizer = new QueryOptimizer()
