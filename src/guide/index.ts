export { HotpathError, isHotpathError } from '../errors.ts'
export { type CacheMiddlewareOptions, cacheMiddleware } from './cache-middleware.ts'
export {
  type CacheOverrides,
  CacheService,
  cacheService,
  type GuideCacheStats,
  type GuideTtl,
} from './cache-service.ts'
export {
  compressionMiddleware,
  createCompressionMiddleware,
  type GuideCompressionMetrics,
  type GuideCompressionOptions,
} from './compression.ts'
export {
  type CacheConfig,
  cacheConfig,
  type PerformanceConfig,
  performanceConfig,
} from './config.ts'
export { CacheKeys, createKeys, type KeyBuilder, type KeyBuilderOptions } from './keys.ts'
export { type GuideMetricsSnapshot, getMetricsSnapshot } from './metrics.ts'
export {
  type CursorQuery,
  type CursorQueryOptions,
  type CursorRequest,
  type GuidePaginationParams,
  type ListingShape,
  PaginationService,
  type PaginationSettings,
  paginationService,
  type ResponseOptions,
} from './pagination-service.ts'
export {
  type GuideAnalysis,
  type GuidePoolStats,
  type GuideQueryMetrics,
  type GuideQueryOptions,
  QueryOptimizer,
  type QueryOptimizerConfig,
  type QueryOptimizerEvents,
  queryOptimizer,
} from './query-optimizer.ts'
