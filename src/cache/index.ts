export { HotpathError, isHotpathError } from '../errors.ts'
export type { TieredCache } from './cache.ts'
export { createCache } from './cache.ts'
export type { Duration } from './duration.ts'
export { CacheKeys, createKeys, type KeyBuilder, type KeyBuilderOptions } from './keys.ts'
export {
  type CacheOptions,
  cacheDefaults,
  type L1Options,
  type L2Options,
  type LockOptions,
  type RedisTarget,
} from './options.ts'
export { type CacheMetricsOptions, registerCacheMetrics } from './prometheus.ts'
export { jsonSerializer, type Serializer } from './serializer.ts'
export type {
  CacheEvents,
  CacheStats,
  Factory,
  FactoryContext,
  GetOrSetOptions,
  SetOptions,
  Ttl,
} from './types.ts'
export type { WarmEntry, WarmResult } from './warm.ts'
