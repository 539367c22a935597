export { HotpathError, isHotpathError } from '../errors.ts'
export {
  compress,
  compressSync,
  decompress,
  decompressSync,
  type EncodingName,
  zstdSupported,
} from './codecs.ts'
export {
  type CompressionOptions,
  type CompressionStats,
  Compressor,
  compressionDefaults,
  createCompressor,
  isCompressibleType,
  skipCompression,
} from './compression.ts'
export {
  createDashboard,
  Dashboard,
  type DashboardAsset,
  type DashboardCache,
  type DashboardClient,
  type DashboardFrame,
  type DashboardOptions,
  type DashboardPool,
  type DashboardRoute,
  type DashboardSlowQuery,
  dashboardDefaults,
} from './dashboard.ts'
export {
  createErrorMapper,
  ErrorMapper,
  type ErrorsOptions,
  errorChannel,
  errorsDefaults,
} from './errors.ts'
export * as express from './express/index.ts'
export * from './fastify/index.ts'
export { type HotpathFastifyOptions, hotpathFastify as fastify } from './fastify/index.ts'
export {
  createFieldsets,
  type FieldsetSpec,
  Fieldsets,
  type FieldsetsOptions,
  fieldsetsDefaults,
} from './fieldsets.ts'
export {
  type CheckResult,
  createHealth,
  Health,
  type HealthCheck,
  type HealthOptions,
  healthDefaults,
  type Readiness,
} from './health.ts'
export {
  createRequestMetrics,
  RequestMetrics,
  type RequestMetricsOptions,
  requestMetricsDefaults,
} from './metrics.ts'
export { type Encoding, negotiateEncoding, parseAcceptEncoding } from './negotiate.ts'
export { type Problem, problem, sendProblem, toProblem } from './problem.ts'
export {
  createRateLimiter,
  Decision,
  type OnRedisError,
  RateLimiter,
  type RateLimitOptions,
  RateLimitPolicy,
  type RateLimitStats,
  rateLimitDefaults,
} from './rate-limit.ts'
export {
  type CacheControlOptions,
  createResponseCache,
  ResponseCache,
  type ResponseCacheOptions,
  type ResponseCacheStats,
  type RouteCacheOptions,
  responseCacheDefaults,
} from './response-cache.ts'
export {
  createShedder,
  Shedder,
  type SheddingOptions,
  type SheddingStats,
  sheddingDefaults,
} from './shedding.ts'
export { readinessChecks, wireMetrics } from './wiring.ts'
