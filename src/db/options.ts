import type { TieredCache } from '../cache/cache.ts'
import { HotpathError } from '../errors.ts'

export interface PoolOptions {
  /** Most connections per server. Default: 20. */
  max?: number
  /** Connections opened at start and kept when idle. Default: 5. */
  min?: number
  /** An idle connection above `min` closes after this many ms. Default: 30_000. */
  idleTimeoutMs?: number
  /** Connecting, or waiting for a free connection, fails after this many ms. Default: 5000. */
  connectTimeoutMs?: number
}

export interface DbOptions {
  /** The primary's URL. Default: `DATABASE_URL`; with neither, the embedded PGlite database. */
  primary?: string
  /** Read replicas' URLs: plain reads go round-robin to the healthy ones. Default: none. */
  replicas?: readonly string[]
  pool?: PoolOptions
  /** Server-side statement timeout for every statement, in ms (0: none). Default: 5000. */
  statementTimeoutMs?: number
  /** Statements slower than this emit `slowQuery`. Default: 50. */
  slowQueryMs?: number
  /** The cache for `query(…, { cache })`. Default: none (cache options then throw). */
  cache?: TieredCache
  /**
   * N+1 detection: the same statement more than `threshold` times in one scope
   * emits `nPlusOne`. Default: on (threshold 10) unless NODE_ENV is production.
   */
  nPlusOne?: boolean | { threshold?: number }
  /**
   * Prepare repeated statements once per connection (named statements).
   * `'auto'` turns them off by itself when the server refuses them (PgBouncer
   * in transaction mode before 1.21). Default: `'auto'`.
   */
  preparedStatements?: boolean | 'auto'
  /** A failed replica is left out this many ms before it is tried again. Default: 5000. */
  replicaRetryMs?: number
  /** Attempts of a transaction that hits a serialization failure or deadlock. Default: 3. */
  transactionRetries?: number
  /** Use the embedded database even when `DATABASE_URL` is set. Default: `false`. */
  embedded?: boolean
  /** Data directory of the embedded database (`'memory://'`: in memory). Default: `.data/pglite`. */
  embeddedDir?: string
  /** `application_name` reported to the server. Default: `'hotpath'`. */
  applicationName?: string
  /**
   * Connecting through PgBouncer in transaction mode: no `statement_timeout`
   * at start-up (PgBouncer refuses it; set it on the role instead) and no
   * named statements unless asked. Default: `false`.
   */
  pgbouncer?: boolean
}

export interface ResolvedDbOptions {
  primary: string | null
  replicas: readonly string[]
  pool: { max: number; min: number; idleTimeoutMs: number; connectTimeoutMs: number }
  statementTimeoutMs: number
  slowQueryMs: number
  cache: TieredCache | null
  nPlusOne: number
  preparedStatements: boolean | 'auto'
  replicaRetryMs: number
  transactionRetries: number
  embeddedDir: string
  applicationName: string
  pgbouncer: boolean
}

/** The guides' pool settings (max 20, min 5, idle 30 s, connect 5 s, statement 5 s). */
export const dbDefaults = Object.freeze({
  pool: Object.freeze({ max: 20, min: 5, idleTimeoutMs: 30_000, connectTimeoutMs: 5000 }),
  statementTimeoutMs: 5000,
  slowQueryMs: 50,
  nPlusOneThreshold: 10,
  preparedStatements: 'auto' as const,
  replicaRetryMs: 5000,
  transactionRetries: 3,
  embeddedDir: '.data/pglite',
  applicationName: 'hotpath',
})

function int(name: string, v: unknown, fallback: number, min = 0): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      name,
      `expected an integer ≥ ${min}, got ${String(v)}`,
    ])
  }
  return v
}

function url(name: string, v: unknown): string {
  if (typeof v !== 'string' || !/^postgres(ql)?:\/\//.test(v)) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [name, 'expected a postgres:// URL'])
  }
  return v
}

export function resolveDbOptions(o: DbOptions = {}): ResolvedDbOptions {
  const d = dbDefaults
  if (o.embedded && o.primary !== undefined) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['embedded', 'give either primary or embedded'])
  }
  const primary = o.embedded ? null : (o.primary ?? process.env.DATABASE_URL ?? null)
  const pool = o.pool ?? {}
  const max = int('pool.max', pool.max, d.pool.max, 1)
  const min = Math.min(int('pool.min', pool.min, d.pool.min), max)
  const n = o.nPlusOne ?? process.env.NODE_ENV !== 'production'
  const prepared = o.preparedStatements ?? (o.pgbouncer ? false : d.preparedStatements)
  if (prepared !== true && prepared !== false && prepared !== 'auto') {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['preparedStatements', "true, false or 'auto'"])
  }
  return Object.freeze({
    primary: primary === null || primary === '' ? null : url('primary', primary),
    replicas: Object.freeze((o.replicas ?? []).map((r, i) => url(`replicas[${i}]`, r))),
    pool: Object.freeze({
      max,
      min,
      idleTimeoutMs: int('pool.idleTimeoutMs', pool.idleTimeoutMs, d.pool.idleTimeoutMs, 1),
      connectTimeoutMs: int(
        'pool.connectTimeoutMs',
        pool.connectTimeoutMs,
        d.pool.connectTimeoutMs,
        1,
      ),
    }),
    statementTimeoutMs: int('statementTimeoutMs', o.statementTimeoutMs, d.statementTimeoutMs),
    slowQueryMs: int('slowQueryMs', o.slowQueryMs, d.slowQueryMs),
    cache: o.cache ?? null,
    nPlusOne:
      n === false
        ? 0
        : int('nPlusOne.threshold', n === true ? undefined : n.threshold, d.nPlusOneThreshold, 1),
    preparedStatements: prepared,
    replicaRetryMs: int('replicaRetryMs', o.replicaRetryMs, d.replicaRetryMs, 1),
    transactionRetries: int('transactionRetries', o.transactionRetries, d.transactionRetries, 1),
    embeddedDir: o.embeddedDir ?? d.embeddedDir,
    applicationName: o.applicationName ?? d.applicationName,
    pgbouncer: o.pgbouncer === true,
  })
}
