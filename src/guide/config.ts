import { deepFreeze } from '../cache/freeze.ts'
import { cacheDefaults } from '../cache/options.ts'
import { dbDefaults } from '../db/options.ts'
import { compressionDefaults } from '../http/compression.ts'
import { paginationDefaults } from '../pagination/options.ts'

/**
 * The guides' configuration files (`cache.config.ts`, `performance.config.ts`)
 * as frozen objects. Units are the guides': TTLs in seconds, timeouts in ms,
 * rates in percent. Wherever hotpath has the same default it is read from
 * hotpath's own defaults object, so the two cannot drift apart.
 */

const seconds = (ms: number) => ms / 1000

function frozen<T>(value: T): T {
  deepFreeze(value)
  return value
}

/** `cacheConfig` as the guides describe it: Redis, L1/L2, TTL strategies, key patterns, invalidation. */
export const cacheConfig = frozen({
  redis: {
    /** Where `cacheService.connect()` goes when given nothing: `REDIS_URL` at import. */
    url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    /** How long `connect` waits for Redis to answer before resolving `false` (ms). */
    connectTimeout: 5000,
  },
  /** Prefix of every Redis key and of the invalidation bus (a connect `keyPrefix` replaces it). */
  namespace: cacheDefaults.namespace,
  l1: {
    /** Entries in memory (the guides' application cache: 10,000). */
    maxSize: 10_000,
    /** Bytes in memory, estimated from each entry's serialized size. */
    maxBytes: cacheDefaults.l1.maxBytes,
    /** No L1 copy lives longer than this (s), whatever its TTL: a missed invalidation heals. */
    ttl: seconds(cacheDefaults.l1.maxTtl),
  },
  l2: {
    /** Each Redis command fails after this long (ms). */
    commandTimeout: cacheDefaults.l2.commandTimeout,
    /** Consecutive Redis failures that open the circuit (L2 is then skipped). */
    breakerThreshold: cacheDefaults.l2.breakerThreshold,
    /** How long an open circuit skips Redis before one probe (ms). */
    breakerDuration: cacheDefaults.l2.breakerDuration,
    /** Keys per SCAN / UNLINK batch of `deletePattern`. */
    scanBatch: cacheDefaults.l2.scanBatch,
  },
  /** TTL strategies (s), each also a tier name: `cacheService.set(key, value, 'hot')`. */
  ttl: {
    hot: seconds(cacheDefaults.tiers.hot),
    warm: seconds(cacheDefaults.tiers.warm),
    cold: seconds(cacheDefaults.tiers.cold),
    session: 3600,
    apiResponse: 60,
    queryResult: 300,
  },
  /** TTL of a `set` / `getOrSet` that names none (s). */
  defaultTtl: seconds(cacheDefaults.tiers.warm),
  /** The keys `CacheKeys` builds (documentation: `CacheKeys` is the code). */
  keys: {
    user: 'user:{id}',
    allUsers: 'users:all',
    apiResponse: 'api:{path}?{sorted query}',
    queryResult: 'query:{sha1 of sql and params}',
    rateLimit: 'ratelimit:{ip}',
    response: 'res:api:{path}?{sorted query}',
  },
  /** Named patterns for `cacheService.deletePattern(cacheConfig.invalidation.userUpdate)`. */
  invalidation: {
    userUpdate: 'user:*',
    userList: 'users:*',
    queryResults: 'query:*',
    apiResponses: 'res:api:*',
    rateLimits: 'ratelimit:*',
    all: '*',
  },
})

export type CacheConfig = typeof cacheConfig

/** `performanceConfig`: the pool, compression and pagination defaults, and the guides' targets. */
export const performanceConfig = frozen({
  database: {
    maxConnections: dbDefaults.pool.max,
    minConnections: dbDefaults.pool.min,
    /** ms */
    idleTimeout: dbDefaults.pool.idleTimeoutMs,
    /** ms */
    connectionTimeout: dbDefaults.pool.connectTimeoutMs,
    /** ms */
    queryTimeout: dbDefaults.statementTimeoutMs,
    /** Statements slower than this emit `slowQuery` (ms). */
    slowQueryThreshold: dbDefaults.slowQueryMs,
  },
  compression: {
    enabled: true,
    /** bytes */
    minSize: compressionDefaults.threshold,
    excludePaths: compressionDefaults.exclude,
  },
  pagination: {
    defaultLimit: paginationDefaults.defaultLimit,
    maxLimit: paginationDefaults.maxLimit,
    /** The unique tie-breaker, and the sort of a request that names none. */
    primaryKey: paginationDefaults.primaryKey,
    sortOrder: 'asc' as 'asc' | 'desc',
  },
  /** The guides' bars: ms, or percent for rates. */
  targets: {
    apiResponseP95: 100,
    queryP95: 50,
    transaction: 100,
    l1Hit: 5,
    l2Hit: 20,
    cacheHitRate: 80,
    poolUtilization: 70,
    compressionTime: 10,
    compressionRate: 60,
    pagination: 50,
  },
})

export type PerformanceConfig = typeof performanceConfig
