import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { TieredCache } from '../cache/cache.ts'
import { createKeys } from '../cache/keys.ts'
import type { Ttl } from '../cache/types.ts'
import { HotpathError } from '../errors.ts'
import { type Analysis, type AnalyzeOptions, analyze } from './analyze.ts'
import {
  type BatchInsertOptions,
  type BatchInsertResult,
  type BatchRow,
  batchInsert,
} from './batch.ts'
import { type CursorOptions, cursor } from './cursor.ts'
import { EmbeddedEndpoint } from './embedded.ts'
import type { Endpoint, PoolCounts, Result, Session } from './endpoint.ts'
import { isRead } from './fingerprint.ts'
import type { IndexColumn } from './index-keys.ts'
import {
  type CreateIndexOptions,
  type CreateIndexResult,
  createIndex,
  type IndexReport,
  type IndexReportOptions,
  indexReport,
} from './indexes.ts'
import { type BatchLoad, Loader, type LoaderOptions } from './loader.ts'
import { type MigrateOptions, type MigrateResult, migrate } from './migrate.ts'
import { type DbEvents, Observer, type StatementStats } from './observer.ts'
import { type DbOptions, type ResolvedDbOptions, resolveDbOptions } from './options.ts'
import { PgEndpoint } from './pg-endpoint.ts'
import { isUnavailable, sqlState } from './pg-errors.ts'
import { Router } from './router.ts'
import { Scope, storage, txOf } from './scope.ts'

export interface QueryOptions {
  /** Cache the result through the db's cache: `{ ttl | tier, tags }`. Ignored inside a transaction. */
  cache?: { ttl?: Ttl; tier?: string; tags?: readonly string[]; key?: string }
  /** Tags to invalidate once this write succeeds (after COMMIT inside a transaction). */
  invalidates?: readonly string[]
  /** Force the primary for a read (e.g. a SELECT calling a volatile function). */
  primary?: boolean
  /** A stable name for metrics; default: the statement's fingerprint. */
  name?: string
  /** This statement's own server-side timeout, in ms (costs a short transaction). */
  timeoutMs?: number
}

export type Isolation = 'read committed' | 'repeatable read' | 'serializable'

export interface TransactionOptions {
  isolation?: Isolation
  readOnly?: boolean
  /** Attempts on serialization failure or deadlock. Default: the db's `transactionRetries` (3). */
  retries?: number
}

export interface DbStats {
  queries: number
  errors: number
  avgQueryMs: number
  slowQueries: number
  cacheHits: number
  cacheMisses: number
  cacheHitRate: number
  nPlusOneWarnings: number
  pools: Record<string, PoolCounts>
  replicas: { name: string; up: boolean }[]
  statements: StatementStats[]
}

const RETRYABLE = new Set(['40001', '40P01'])
const queryKeys = createKeys()

/**
 * The data layer: pooled PostgreSQL (or embedded PGlite) with replica
 * routing, transactions, result caching and observation. Create it with
 * `createDb`.
 */
export class Db extends EventEmitter<DbEvents> {
  readonly options: ResolvedDbOptions
  readonly router: Router
  readonly observer: Observer
  readonly #cache: TieredCache | null
  #closed = false

  constructor(options: DbOptions = {}) {
    super()
    const o = resolveDbOptions(options)
    this.options = o
    this.#cache = o.cache
    this.observer = new Observer(this, o.slowQueryMs, o.nPlusOne)
    if (o.primary === null) {
      if (o.replicas.length > 0) {
        throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['read replicas', 'the embedded database'])
      }
      this.router = new Router(new EmbeddedEndpoint(o.embeddedDir), [], o.replicaRetryMs)
    } else {
      const primary = new PgEndpoint('primary', o.primary, o)
      const replicas = o.replicas.map((u, i) => new PgEndpoint(`replica${i}`, u, o))
      this.router = new Router(primary, replicas, o.replicaRetryMs)
      for (const e of [primary, ...replicas]) void e.warm()
    }
  }

  get embedded(): boolean {
    return this.router.primary.kind === 'embedded'
  }

  #assertOpen(): void {
    if (this.#closed) throw new HotpathError('HP_ERR_DB_CLOSED')
  }

  // ---- scope --------------------------------------------------------------

  /**
   * Runs `fn` as one request: reads after a write go to the primary
   * (read-your-writes) and repeated statements are counted for N+1 detection.
   */
  scope<T>(fn: () => T): T {
    return storage.run(new Scope(), fn)
  }

  /** Whether the current async context is inside a scope (a request). */
  get inScope(): boolean {
    return storage.getStore() !== undefined
  }

  // ---- queries ------------------------------------------------------------

  async query<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    options?: QueryOptions,
  ): Promise<Result<R>> {
    this.#assertOpen()
    if (typeof text !== 'string' || text.trim() === '') {
      throw new HotpathError('HP_ERR_DB_INVALID_INPUT', [
        'the statement must be a non-empty string',
      ])
    }
    if (values !== undefined && !Array.isArray(values)) {
      throw new HotpathError('HP_ERR_DB_INVALID_INPUT', ['values must be an array'])
    }
    const scope = storage.getStore()
    const tx = txOf(this)
    if (tx !== null) {
      const r = await this.#onSession<R>(tx.session, 'tx', text, values, options?.name, scope)
      if (options?.invalidates) tx.invalidate.push(...options.invalidates)
      return r
    }
    if (options?.cache !== undefined) return this.#cached<R>(text, values, options, scope)
    const r = await this.#run<R>(text, values, options, scope)
    if (options?.invalidates && this.#cache !== null)
      await this.#cache.invalidateTags(options.invalidates)
    return r
  }

  async #cached<R>(
    text: string,
    values: readonly unknown[] | undefined,
    options: QueryOptions,
    scope: Scope | undefined,
  ): Promise<Result<R>> {
    const cache = this.#cache
    if (cache === null) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', [
        'cache',
        'query caching needs createDb({ cache })',
      ])
    }
    const c = options.cache!
    const key = c.key ?? queryKeys.queryResult(text, values ?? [])
    let missed = false
    const r = await cache.getOrSet(
      key,
      async () => {
        missed = true
        const res = await this.#run<R>(text, values, options, scope)
        return {
          rows: res.rows,
          rowCount: res.rowCount,
          fields: res.fields.map((f) => ({ name: f.name })),
        }
      },
      { ttl: c.tier ?? c.ttl, tags: c.tags },
    )
    if (missed) this.observer.cacheMisses++
    else this.observer.cacheHits++
    return r as Result<R>
  }

  async #run<R>(
    text: string,
    values: readonly unknown[] | undefined,
    options: QueryOptions | undefined,
    scope: Scope | undefined,
  ): Promise<Result<R>> {
    const write = !isRead(text)
    const read = !write && options?.primary !== true && !(scope?.wrote ?? false)
    const replica = read ? this.router.reader() : null
    const endpoint = replica ?? this.router.primary
    try {
      return await this.#on<R>(endpoint, text, values, options, scope)
    } catch (err) {
      if (replica === null) throw err
      if (isUnavailable(err)) this.#replicaFailed(replica, err)
      // 25006: a statement that writes after all (a volatile function) — the replica did nothing.
      else if (sqlState(err) !== '25006') throw err
      return this.#on<R>(this.router.primary, text, values, options, scope)
    } finally {
      if (write && scope !== undefined) scope.wrote = true
    }
  }

  async #on<R>(
    endpoint: Endpoint,
    text: string,
    values: readonly unknown[] | undefined,
    options: QueryOptions | undefined,
    scope: Scope | undefined,
  ): Promise<Result<R>> {
    if (options?.timeoutMs !== undefined)
      return this.#withTimeout<R>(endpoint, text, values, options, scope)
    const t0 = performance.now()
    let ok = false
    try {
      const r = await endpoint.query<R>(text, values, true)
      ok = true
      return r
    } finally {
      this.observer.observe(text, options?.name, endpoint.name, performance.now() - t0, ok, scope)
    }
  }

  async #withTimeout<R>(
    endpoint: Endpoint,
    text: string,
    values: readonly unknown[] | undefined,
    options: QueryOptions,
    scope: Scope | undefined,
  ): Promise<Result<R>> {
    const ms = options.timeoutMs!
    if (!Number.isInteger(ms) || ms <= 0) {
      throw new HotpathError('HP_ERR_DB_INVALID_INPUT', [
        `timeoutMs must be a positive integer, got ${ms}`,
      ])
    }
    const session = await endpoint.connect()
    let broken: Error | undefined
    try {
      await session.query('BEGIN')
      await session.query(`SET LOCAL statement_timeout = ${ms}`)
      const r = await this.#onSession<R>(session, endpoint.name, text, values, options.name, scope)
      await session.query('COMMIT')
      return r
    } catch (err) {
      await session.query('ROLLBACK').catch((e: Error) => {
        broken = e
      })
      throw err
    } finally {
      session.release(broken)
    }
  }

  async #onSession<R>(
    session: Session,
    endpoint: string,
    text: string,
    values: readonly unknown[] | undefined,
    name: string | undefined,
    scope: Scope | undefined,
  ): Promise<Result<R>> {
    const t0 = performance.now()
    let ok = false
    try {
      const r = await session.query<R>(text, values)
      ok = true
      return r
    } finally {
      this.observer.observe(text, name, endpoint, performance.now() - t0, ok, scope)
    }
  }

  // ---- transactions -------------------------------------------------------

  /**
   * Runs `fn` in a transaction on the primary. Every `db.query` inside it (the
   * async context, not only `tx`) uses the transaction. Serialization failures
   * and deadlocks are retried with a short random backoff; tags passed as
   * `invalidates` are invalidated after COMMIT. A nested call joins the outer
   * transaction.
   */
  async transaction<T>(fn: (tx: Db) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.#assertOpen()
    const outer = storage.getStore()
    if (txOf(this) !== null) return fn(this)
    const attempts = options.retries ?? this.options.transactionRetries
    const begin = beginStatement(options)
    for (let attempt = 1; ; attempt++) {
      const session = await this.router.primary.connect()
      const scope = new Scope(outer)
      scope.tx = { owner: this, session, invalidate: [] }
      let broken: Error | undefined
      try {
        const result = await storage.run(scope, async () => {
          await session.query(begin)
          const value = await fn(this)
          await session.query('COMMIT')
          return value
        })
        if (outer !== undefined && !options.readOnly) outer.wrote = true
        session.release()
        if (scope.tx.invalidate.length > 0 && this.#cache !== null) {
          await this.#cache.invalidateTags([...new Set(scope.tx.invalidate)])
        }
        return result
      } catch (err) {
        await session.query('ROLLBACK').catch((e: Error) => {
          broken = e
        })
        session.release(broken)
        const code = sqlState(err)
        if (code === undefined || !RETRYABLE.has(code)) throw err
        if (attempt >= attempts) {
          throw new HotpathError('HP_ERR_DB_SERIALIZATION', [attempts, code], { cause: err })
        }
        await sleep(Math.floor(Math.random() * 20 * attempt) + 1)
      }
    }
  }

  // ---- bulk, cursors, indexes, analysis, migrations (one module each) ------

  /** Multi-row INSERT under the parameter limit for small sets, COPY for large ones. */
  batchInsert(
    table: string,
    columns: readonly string[],
    rows: readonly BatchRow[],
    options?: BatchInsertOptions & { invalidates?: readonly string[] },
  ): Promise<BatchInsertResult> {
    this.#assertOpen()
    return this.#invalidating(options?.invalidates, () =>
      batchInsert(this, table, columns, rows, options),
    )
  }

  /** Runs a write, then invalidates its tags: after COMMIT inside a transaction, at once outside. */
  async #invalidating<T>(tags: readonly string[] | undefined, write: () => Promise<T>): Promise<T> {
    const result = await write()
    if (tags === undefined || tags.length === 0) return result
    const tx = txOf(this)
    if (tx !== null) tx.invalidate.push(...tags)
    else if (this.#cache !== null) await this.#cache.invalidateTags(tags)
    return result
  }

  /** Rows through a server-side cursor; the connection is released when the loop ends, breaks or throws. */
  cursor<R = Record<string, unknown>>(
    text: string,
    values?: readonly unknown[],
    options?: CursorOptions,
  ): AsyncGenerator<R, void, undefined> {
    this.#assertOpen()
    return cursor<R>(this, text, values, options)
  }

  /** Creates an index unless one of that name exists. */
  createIndex(
    table: string,
    columns: readonly IndexColumn[],
    options?: CreateIndexOptions,
  ): Promise<CreateIndexResult> {
    this.#assertOpen()
    return createIndex(this, table, columns, options)
  }

  /** Unused, duplicate and invalid indexes, and tables read mostly by sequential scans. */
  indexReport(options?: IndexReportOptions): Promise<IndexReport> {
    this.#assertOpen()
    return indexReport(this, options)
  }

  /** EXPLAIN (ANALYZE, BUFFERS) with suggestions, each index suggestion verified by a re-plan. */
  analyze(text: string, values?: readonly unknown[], options?: AnalyzeOptions): Promise<Analysis> {
    this.#assertOpen()
    return analyze(this, text, values, options)
  }

  /** Applies pending SQL migrations in order, each in a transaction, under a lock. */
  migrate(options: MigrateOptions): Promise<MigrateResult> {
    this.#assertOpen()
    return migrate(this, options)
  }

  // ---- helpers ------------------------------------------------------------

  /** A batching loader (DataLoader-style), the fix for N+1: create one per request. */
  loader<K, V>(batch: BatchLoad<K, V>, options?: LoaderOptions<K>): Loader<K, V> {
    return new Loader(batch, options)
  }

  /** Checks out a connection from the primary (or the replica for reads) for cursors and COPY. */
  async session(read = false): Promise<{ session: Session; endpoint: Endpoint; own: boolean }> {
    this.#assertOpen()
    const scope = storage.getStore()
    const tx = txOf(this)
    if (tx !== null) return { session: tx.session, endpoint: this.router.primary, own: false }
    const replica = read && !scope?.wrote ? this.router.reader() : null
    if (replica !== null) {
      try {
        return { session: await replica.connect(), endpoint: replica, own: true }
      } catch (err) {
        if (!isUnavailable(err)) throw err
        this.#replicaFailed(replica, err)
      }
    }
    return {
      session: await this.router.primary.connect(),
      endpoint: this.router.primary,
      own: true,
    }
  }

  /** Leaves a failed replica out for a while; the event fires once per outage, not per query. */
  #replicaFailed(replica: Endpoint, error: unknown): void {
    if (this.router.markDown(replica)) this.emit('replicaDown', { endpoint: replica.name, error })
  }

  /** Pings the primary and every replica with a short timeout. */
  async health(
    timeoutMs = 1000,
  ): Promise<{ name: string; ok: boolean; ms: number; error?: string }[]> {
    return Promise.all(
      this.router.all().map(async (e) => {
        const t0 = performance.now()
        try {
          await Promise.race([
            e.query('SELECT 1', undefined, false),
            sleep(timeoutMs, undefined, { ref: false }).then(() => {
              throw new Error(`no answer within ${timeoutMs} ms`)
            }),
          ])
          return { name: e.name, ok: true, ms: performance.now() - t0 }
        } catch (err) {
          return {
            name: e.name,
            ok: false,
            ms: performance.now() - t0,
            error: (err as Error).message,
          }
        }
      }),
    )
  }

  stats(top = 20): DbStats {
    const o = this.observer
    const lookups = o.cacheHits + o.cacheMisses
    const pools: Record<string, PoolCounts> = {}
    for (const e of this.router.all()) pools[e.name] = e.counts()
    return {
      queries: o.queries,
      errors: o.errors,
      avgQueryMs: o.queries === 0 ? 0 : o.totalMs / o.queries,
      slowQueries: o.slow,
      cacheHits: o.cacheHits,
      cacheMisses: o.cacheMisses,
      cacheHitRate: lookups === 0 ? 0 : o.cacheHits / lookups,
      nPlusOneWarnings: o.nPlusOneWarnings,
      pools,
      replicas: this.router.health(),
      statements: o.statements(top),
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    await Promise.all(this.router.all().map((e) => e.end()))
  }
}

function beginStatement(o: TransactionOptions): string {
  let s = 'BEGIN'
  if (o.isolation !== undefined) {
    if (!['read committed', 'repeatable read', 'serializable'].includes(o.isolation)) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['isolation', String(o.isolation)])
    }
    s += ` ISOLATION LEVEL ${o.isolation.toUpperCase()}`
  }
  if (o.readOnly) s += ' READ ONLY'
  return s
}

export function createDb(options: DbOptions = {}): Db {
  return new Db(options)
}
