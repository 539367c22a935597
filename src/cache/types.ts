import type { Duration } from './duration.ts'

/** Per-call TTL: a duration (ms number or `'5m'`) or a tier name (`'hot'`, `'warm'`, `'cold'`, or your own). */
export type Ttl = Duration | (string & {})

export interface SetOptions {
  /** How long the value is fresh. Default: the cache's `defaultTtl` (tier `warm`, 300 s). */
  ttl?: Ttl
  /** A tier name; same as `ttl: 'warm'`. */
  tier?: string
  /** How long past `ttl` the value may still be served when refreshing fails. Default: the cache's `grace`. */
  grace?: Duration | false
  /** Tags for `invalidateTags`. Default: none. */
  tags?: readonly string[]
}

export interface GetOrSetOptions extends SetOptions {
  /** Serve a stale value at once and refresh it in the background (needs `grace`). Default: `false`. */
  staleWhileRevalidate?: boolean
  /** `soft`: return a stale value if the factory is slower; `hard`: give up (stale value or error). Default: the cache's. */
  timeout?: { soft?: Duration; hard?: Duration }
  /** Use the distributed lock for this call. Default: the cache's `lock.enabled`. */
  lock?: boolean
}

export interface FactoryContext<T = unknown> {
  readonly key: string
  /** The expired value still within grace, if any. */
  readonly stale: T | undefined
  /** Aborted when the hard timeout fires. */
  readonly signal: AbortSignal
  /** Change the TTL (duration or tier) of what this call stores. */
  setTtl(ttl: Ttl): void
  /** Replace the tags of what this call stores. */
  setTags(tags: readonly string[]): void
  /** Return the value to the caller without caching it. */
  skipCache(): void
}

export type Factory<T> = (ctx: FactoryContext<T>) => T | Promise<T>

export interface CacheStats {
  l1: {
    hits: number
    misses: number
    size: number
    maxItems: number
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
    /** L2 commands that failed (timeouts, connection errors). */
    errors: number
    /** L2 commands not sent because the circuit was open or Redis not yet connected. */
    skipped: number
    writeFailures: number
  }
  hits: number
  misses: number
  /** hits / (hits + misses) over both tiers, 0 when there was no read. */
  hitRatio: number
  sets: number
  deletes: number
  factoryCalls: number
  factoryErrors: number
  factoryTimeouts: number
  /** getOrSet calls that joined a factory call already under way. */
  collapsed: number
  /** Stale values served because the factory failed, timed out, or Redis was down. */
  graced: number
  /** Stale values served at once while one background refresh ran. */
  staleServed: number
  /** Results not stored because an invalidation landed while they were computed. */
  staleWritesPrevented: number
  bus: { enabled: boolean; sent: number; received: number; reconnects: number }
}

export interface CacheEvents {
  hit: [{ key: string; tier: 'l1' | 'l2' }]
  miss: [{ key: string }]
  set: [{ key: string }]
  delete: [{ key: string }]
  invalidate: [
    { keys?: string[]; tags?: string[]; pattern?: string; clear?: boolean; remote: boolean },
  ]
  graced: [{ key: string; reason: 'error' | 'timeout' | 'soft-timeout' }]
  'l2:error': [{ error: unknown }]
  'circuit:open': []
  'circuit:close': []
  'bus:reconnect': []
}
