import type { RedisOptions } from 'ioredis'
import { createCache, type TieredCache } from '../cache/cache.ts'
import type { CacheOptions, RedisTarget } from '../cache/options.ts'
import type { SetOptions } from '../cache/types.ts'
import type { HotpathError } from '../errors.ts'
import { type CacheConfig, cacheConfig } from './config.ts'
import { optionMs, percent, stateError, ttlMs } from './units.ts'

/** What `connect` may change of `cacheConfig`; units as there (TTLs in seconds, timeouts in ms). */
export interface CacheOverrides {
  /** Prefix of every Redis key; a `keyPrefix` in the Redis options sets it too. Default: `cacheConfig.namespace`. */
  namespace?: string
  l1?: Partial<CacheConfig['l1']>
  l2?: Partial<CacheConfig['l2']>
  /** TTL strategies (s), merged into `cacheConfig.ttl`; each name is usable as a TTL. */
  ttl?: Readonly<Record<string, number>>
  /** TTL of calls that name none: seconds or a strategy name. Default: `cacheConfig.defaultTtl`. */
  defaultTtl?: number | string
  /** How long (s) past its TTL a value may still be served when its factory fails. Default: off. */
  grace?: number | false
  /** Keep every instance's L1 coherent over Redis pub/sub. Default: `true`. */
  bus?: boolean
  /** How long `connect` waits for Redis (ms). Default: `cacheConfig.redis.connectTimeout`. */
  connectTimeout?: number
}

/** A TTL as the guides give it: seconds, or the name of a TTL strategy (`'hot'`, `'session'`…). */
export type GuideTtl = number | string

export interface GuideCacheStats {
  l1: {
    size: number
    maxSize: number
    /** size / maxSize, in percent. */
    utilization: number
    hits: number
    misses: number
    /** In percent of L1 lookups. */
    hitRate: number
    bytes: number
    maxBytes: number
    evictions: number
  }
  l2: {
    enabled: boolean
    connected: boolean
    circuitOpen: boolean
    hits: number
    misses: number
    /** In percent of L2 lookups (made on L1 misses only). */
    hitRate: number
    errors: number
    writeFailures: number
  }
  hits: number
  misses: number
  /** Both tiers, in percent of reads. */
  hitRate: number
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype
}

/**
 * The guides' `cacheConfig` (with overrides) as `createCache` options.
 * Without `redis`: an L1-only cache, as `queryOptimizer` uses when no cache
 * is connected.
 */
export function cacheOptions(redis: RedisTarget | null, o: CacheOverrides = {}): CacheOptions {
  const c = cacheConfig
  const l1 = { ...c.l1, ...o.l1 }
  const l2 = { ...c.l2, ...o.l2 }
  const tiers: Record<string, number> = {}
  for (const [name, s] of Object.entries({ ...c.ttl, ...o.ttl })) {
    tiers[name] = optionMs(s, `ttl.${name}`)
  }
  const d = o.defaultTtl ?? c.defaultTtl
  return {
    namespace: o.namespace ?? c.namespace,
    l1: { maxItems: l1.maxSize, maxBytes: l1.maxBytes, maxTtl: optionMs(l1.ttl, 'l1.ttl') },
    ...(redis === null ? {} : { l2: { redis, ...l2 } }),
    tiers,
    defaultTtl: typeof d === 'string' ? d : optionMs(d, 'defaultTtl'),
    grace: o.grace ? optionMs(o.grace, 'grace') : false,
    ...(o.bus === undefined ? {} : { bus: o.bus }),
  }
}

/**
 * `{ host, port, keyPrefix }` → the Redis target and the namespace. ioredis'
 * own `keyPrefix` is not applied to SCAN patterns, so `deletePattern` would
 * miss every key: the prefix becomes the cache's namespace instead.
 */
function splitPrefix(redis: RedisTarget | undefined): { target: RedisTarget; namespace?: string } {
  if (redis === undefined) return { target: cacheConfig.redis.url }
  if (isPlainObject(redis) && !('cluster' in redis)) {
    const { keyPrefix, ...rest } = redis as RedisOptions
    if (typeof keyPrefix === 'string')
      return { target: rest, namespace: keyPrefix.replace(/:$/, '') }
  }
  return { target: redis }
}

/**
 * The guides' `cacheService`: one `TieredCache` (L1 in process + L2 on
 * Redis) made by `connect`. Calls before `connect` fail with
 * `HP_ERR_GUIDE_STATE`: a silent L1-only fallback would hide a missing
 * connect until several instances serve diverging data.
 */
export class CacheService {
  #cache: TieredCache | null = null

  /**
   * Creates the cache on `redis` (a URL, ioredis options such as
   * `{ host, port, password, db, keyPrefix }`, a client, or `{ cluster }`;
   * default `cacheConfig.redis.url`). Resolves `true` once Redis answers,
   * `false` if it has not within `connectTimeout`: the cache then serves L1
   * and keeps trying Redis in the background.
   */
  async connect(redis?: RedisTarget, overrides: CacheOverrides = {}): Promise<boolean> {
    if (this.#cache !== null) {
      throw stateError('cacheService.connect', 'already connected: call disconnect() first')
    }
    const { target, namespace } = splitPrefix(redis)
    const cache = createCache(
      cacheOptions(target, { ...overrides, namespace: overrides.namespace ?? namespace }),
    )
    this.#cache = cache
    return cache.ready(overrides.connectTimeout ?? cacheConfig.redis.connectTimeout)
  }

  get connected(): boolean {
    return this.#cache !== null
  }

  /** The `TieredCache` itself, for what the guides do not have (tags, grace, warming…). */
  get cache(): TieredCache {
    return this.#use('cacheService.cache')
  }

  /** The connected cache, or null: for the other guide services, which never throw for it. */
  current(): TieredCache | null {
    return this.#cache
  }

  #missing(call: string): HotpathError {
    return stateError(call, 'call cacheService.connect() first')
  }

  #use(call: string): TieredCache {
    if (this.#cache === null) throw this.#missing(call)
    return this.#cache
  }

  /** L1, then L2; a miss is `null`, as Redis' GET says it. */
  get<T = unknown>(key: string): Promise<T | null> {
    const cache = this.#cache
    if (cache === null) return Promise.reject(this.#missing('cacheService.get'))
    // One `then` with a shared function: no async frame of its own on the hit path.
    return cache.get<T>(key).then(orNull) as Promise<T | null>
  }

  /** Both tiers; `ttl` in seconds or a TTL strategy's name. Default: `cacheConfig.defaultTtl`. */
  async set(key: string, value: unknown, ttl?: GuideTtl): Promise<void> {
    await this.#use('cacheService.set').set(key, value, setOptions(ttl))
  }

  /** Read-through: one `factory` call per key per process however many callers wait. */
  async getOrSet<T>(key: string, factory: () => T | Promise<T>, ttl?: GuideTtl): Promise<T> {
    return this.#use('cacheService.getOrSet').getOrSet<T>(key, factory, setOptions(ttl))
  }

  /** Both tiers, and every instance's L1. */
  async delete(key: string): Promise<void> {
    return this.#use('cacheService.delete').delete(key)
  }

  /** Keys matching a Redis glob (or several), in both tiers and every instance; returns the L2 count. */
  async deletePattern(pattern: string | readonly string[]): Promise<number> {
    const cache = this.#use('cacheService.deletePattern')
    if (typeof pattern === 'string') return cache.deletePattern(pattern)
    let n = 0
    for (const p of pattern) n += await cache.deletePattern(p)
    return n
  }

  async getStats(): Promise<GuideCacheStats> {
    const s = this.#use('cacheService.getStats').stats()
    const ratio = (hits: number, misses: number) =>
      percent(hits + misses === 0 ? 0 : hits / (hits + misses))
    return {
      l1: {
        size: s.l1.size,
        maxSize: s.l1.maxItems,
        utilization: percent(s.l1.size / s.l1.maxItems),
        hits: s.l1.hits,
        misses: s.l1.misses,
        hitRate: ratio(s.l1.hits, s.l1.misses),
        bytes: s.l1.bytes,
        maxBytes: s.l1.maxBytes,
        evictions: s.l1.evictions,
      },
      l2: {
        enabled: s.l2.enabled,
        connected: s.l2.connected,
        circuitOpen: s.l2.circuitOpen,
        hits: s.l2.hits,
        misses: s.l2.misses,
        hitRate: ratio(s.l2.hits, s.l2.misses),
        errors: s.l2.errors,
        writeFailures: s.l2.writeFailures,
      },
      hits: s.hits,
      misses: s.misses,
      hitRate: percent(s.hitRatio),
    }
  }

  /** Closes the cache's connections; `connect` may be called again. A no-op when not connected. */
  async disconnect(): Promise<void> {
    const cache = this.#cache
    this.#cache = null
    await cache?.close()
  }
}

const orNull = (v: unknown) => (v === undefined ? null : v)

function setOptions(ttl: GuideTtl | undefined): SetOptions | undefined {
  if (ttl === undefined) return undefined
  return { ttl: typeof ttl === 'string' ? ttl : ttlMs(ttl) }
}

/** The default instance, as the guides import it. */
export const cacheService = new CacheService()
