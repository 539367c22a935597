import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { HotpathError } from '../errors.ts'
import { type Duration, toMs } from './duration.ts'
import { MAX_KEY_LENGTH } from './keys.ts'
import { jsonSerializer, type Serializer } from './serializer.ts'

/** How to reach Redis for L2: a URL, ioredis options, a ready client, or a Cluster. */
export type RedisTarget =
  | string
  | RedisOptions
  | Redis
  | Cluster
  | { cluster: { host: string; port: number }[] | string[]; options?: RedisOptions }

export interface L1Options {
  /** Upper bound of L1 memory, estimated from each value's serialized size. Default: 64 MiB. */
  maxBytes?: number
  /** Upper bound of L1 entries. Default: 100_000. */
  maxItems?: number
  /** L1 keeps no entry longer than this, so a missed invalidation heals by itself. Default: `'60s'`. */
  maxTtl?: Duration
  /** Deep-freeze values held in L1 (they are shared by every reader). Default: `true`. */
  freeze?: boolean
}

export interface L2Options {
  /** The Redis to use. Required for L2. */
  redis: RedisTarget
  /** Each Redis command fails after this long. Default: `'250ms'`. */
  commandTimeout?: Duration
  /** Consecutive L2 failures that open the circuit. Default: 5. */
  breakerThreshold?: number
  /** How long an open circuit skips Redis before one probe. Default: `'2s'`. */
  breakerDuration?: Duration
  /** Keys per UNLINK batch and SCAN COUNT in `deletePattern`. Default: 500. */
  scanBatch?: number
}

export interface LockOptions {
  /** Use a Redis lock so N processes run one factory per key. Default: `false`. */
  enabled?: boolean
  /** The lock expires after this long if its owner dies. Default: `'10s'`. */
  ttl?: Duration
  /** How long waiters poll L2 for the owner's value before running the factory themselves. Default: `'5s'`. */
  wait?: Duration
}

export interface CacheOptions {
  /** Prefix of every Redis key and the bus channel: letters, digits, `_`, `-`, `.`. Default: `'hp'`. */
  namespace?: string
  l1?: L1Options
  /** L2 on Redis; without it the cache is L1-only. Default: none. */
  l2?: L2Options
  /** Carry invalidations to other instances' L1 over Redis pub/sub. Default: `true` when L2 is set. */
  bus?: boolean
  /** TTL tiers by name. Default: `{ hot: '60s', warm: '300s', cold: '3600s' }`; given tiers are merged. */
  tiers?: Record<string, Duration>
  /** TTL when a call names none: a duration or a tier name. Default: `'warm'`. */
  defaultTtl?: Duration | string
  /** How long past its TTL a value may still be served if refreshing fails. Default: `false` (off). */
  grace?: Duration | false
  /** Factory timeouts: `soft` returns a stale value early, `hard` gives up. Default: none. */
  timeout?: { soft?: Duration; hard?: Duration }
  lock?: LockOptions
  /** Value encoding for L2 and the L1 copy. Default: JSON keeping Date, BigInt, Map and Set. */
  serializer?: Serializer
  /** Track the most-hit keys for warming. Default: `false`. */
  hotKeys?: boolean | { capacity?: number; halfLife?: Duration }
  /** Longest accepted key. Default: 1024. */
  maxKeyLength?: number
}

export interface ResolvedOptions {
  namespace: string
  l1: { maxBytes: number; maxItems: number; maxTtl: number; freeze: boolean }
  l2: {
    redis: RedisTarget
    commandTimeout: number
    breakerThreshold: number
    breakerDuration: number
    scanBatch: number
  } | null
  bus: boolean
  tiers: ReadonlyMap<string, number>
  defaultTtl: number
  grace: number
  timeout: { soft: number; hard: number }
  lock: { enabled: boolean; ttl: number; wait: number }
  serializer: Serializer
  hotKeys: { capacity: number; halfLife: number } | null
  maxKeyLength: number
}

/** Defaults, in one place; the README's option tables are tested against it. */
export const cacheDefaults = Object.freeze({
  namespace: 'hp',
  l1: Object.freeze({
    maxBytes: 64 * 1024 * 1024,
    maxItems: 100_000,
    maxTtl: 60_000,
    freeze: true,
  }),
  l2: Object.freeze({
    commandTimeout: 250,
    breakerThreshold: 5,
    breakerDuration: 2000,
    scanBatch: 500,
  }),
  tiers: Object.freeze({ hot: 60_000, warm: 300_000, cold: 3_600_000 }),
  defaultTtl: 'warm',
  grace: 0,
  lock: Object.freeze({ enabled: false, ttl: 10_000, wait: 5000 }),
  hotKeys: Object.freeze({ capacity: 256, halfLife: 60_000 }),
  maxKeyLength: MAX_KEY_LENGTH,
})

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      name,
      `expected a positive integer, got ${String(value)}`,
    ])
  }
  return value
}

function duration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  try {
    return toMs(value, name)
  } catch {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      name,
      `expected a duration, got ${String(value)}`,
    ])
  }
}

export function resolveTtl(value: Duration | string, tiers: ReadonlyMap<string, number>): number {
  if (typeof value === 'string') {
    const tier = tiers.get(value)
    if (tier !== undefined) return tier
    if (!/^\d/.test(value)) {
      throw new HotpathError('HP_ERR_CACHE_UNKNOWN_TIER', [value, [...tiers.keys()].join(', ')])
    }
  }
  return toMs(value)
}

export function resolveOptions(options: CacheOptions = {}): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['options', 'expected an object'])
  }
  const namespace = options.namespace ?? cacheDefaults.namespace
  if (typeof namespace !== 'string' || !/^[A-Za-z0-9_.-]{1,64}$/.test(namespace)) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      'namespace',
      'use 1-64 letters, digits, _ - .',
    ])
  }
  const tiers = new Map<string, number>(Object.entries(cacheDefaults.tiers))
  for (const [name, ttl] of Object.entries(options.tiers ?? {}))
    tiers.set(name, duration(`tiers.${name}`, ttl, 0))

  const l1 = options.l1 ?? {}
  const d = cacheDefaults
  let l2: ResolvedOptions['l2'] = null
  if (options.l2 !== undefined) {
    if (!options.l2 || options.l2.redis === undefined || options.l2.redis === null) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', [
        'l2.redis',
        'a Redis URL, options or client is required',
      ])
    }
    l2 = {
      redis: options.l2.redis,
      commandTimeout: duration('l2.commandTimeout', options.l2.commandTimeout, d.l2.commandTimeout),
      breakerThreshold: positiveInt(
        'l2.breakerThreshold',
        options.l2.breakerThreshold,
        d.l2.breakerThreshold,
      ),
      breakerDuration: duration(
        'l2.breakerDuration',
        options.l2.breakerDuration,
        d.l2.breakerDuration,
      ),
      scanBatch: positiveInt('l2.scanBatch', options.l2.scanBatch, d.l2.scanBatch),
    }
  }
  const hk = options.hotKeys
  const serializer = options.serializer ?? jsonSerializer
  if (typeof serializer?.serialize !== 'function' || typeof serializer.deserialize !== 'function') {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      'serializer',
      'needs serialize() and deserialize()',
    ])
  }
  let defaultTtl: number
  try {
    defaultTtl = resolveTtl(options.defaultTtl ?? d.defaultTtl, tiers)
  } catch (err) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['defaultTtl', (err as Error).message])
  }
  return Object.freeze({
    namespace,
    l1: Object.freeze({
      maxBytes: positiveInt('l1.maxBytes', l1.maxBytes, d.l1.maxBytes),
      maxItems: positiveInt('l1.maxItems', l1.maxItems, d.l1.maxItems),
      maxTtl: duration('l1.maxTtl', l1.maxTtl, d.l1.maxTtl),
      freeze: l1.freeze ?? d.l1.freeze,
    }),
    l2,
    bus: l2 !== null && options.bus !== false,
    tiers,
    defaultTtl,
    grace: options.grace ? duration('grace', options.grace, 0) : 0,
    timeout: Object.freeze({
      soft:
        options.timeout?.soft === undefined ? 0 : duration('timeout.soft', options.timeout.soft, 0),
      hard:
        options.timeout?.hard === undefined ? 0 : duration('timeout.hard', options.timeout.hard, 0),
    }),
    lock: Object.freeze({
      enabled: options.lock?.enabled ?? d.lock.enabled,
      ttl: duration('lock.ttl', options.lock?.ttl, d.lock.ttl),
      wait: duration('lock.wait', options.lock?.wait, d.lock.wait),
    }),
    serializer,
    hotKeys: hk
      ? {
          capacity: positiveInt(
            'hotKeys.capacity',
            hk === true ? undefined : hk.capacity,
            d.hotKeys.capacity,
          ),
          halfLife: duration(
            'hotKeys.halfLife',
            hk === true ? undefined : hk.halfLife,
            d.hotKeys.halfLife,
          ),
        }
      : null,
    maxKeyLength: positiveInt('maxKeyLength', options.maxKeyLength, d.maxKeyLength),
  })
}
