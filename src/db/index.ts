export { HotpathError, isHotpathError } from '../errors.ts'
export {
  type Analysis,
  type AnalyzeOptions,
  analyzeDefaults,
  type PlanNode,
  type Suggestion,
} from './analyze.ts'
export type { BatchInsertOptions, BatchInsertResult, BatchRow } from './batch.ts'
export type { CursorOptions } from './cursor.ts'
export type { Db, DbStats, Isolation, QueryOptions, TransactionOptions } from './db.ts'
export { createDb } from './db.ts'
export type { Endpoint, PoolCounts, Result, Session } from './endpoint.ts'
export { fingerprint, isRead } from './fingerprint.ts'
export { quoteIdent } from './identifiers.ts'
export type { IndexColumn, IndexColumnSpec, IndexExpressionSpec } from './index-keys.ts'
export { type IndexReportOptions, indexReportDefaults } from './index-report.ts'
export type { CreateIndexOptions, CreateIndexResult, IndexMethod, IndexReport } from './indexes.ts'
export type { BatchLoad, Loader, LoaderOptions } from './loader.ts'
export type { MigrateOptions, MigrateResult } from './migrate.ts'
export type { DbEvents, StatementStats } from './observer.ts'
export { type DbOptions, dbDefaults, type PoolOptions } from './options.ts'
export { type DbMetricsOptions, registerDbMetrics } from './prometheus.ts'
