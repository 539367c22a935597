export { HotpathError, isHotpathError } from '../errors.ts'
export type { RequestLabels } from './histogram.ts'
export {
  type MetricsOptions,
  metricsDefaults,
  type StatsProvider,
} from './options.ts'
export { createMetrics, Metrics, type StatsSnapshot, UNMATCHED_ROUTE } from './red.ts'
