export { HotpathError, isHotpathError } from '../errors.ts'
export type { RequestLabels, RouteTotals } from './histogram.ts'
export {
  type MetricsOptions,
  metricsDefaults,
  type StatsProvider,
} from './options.ts'
export { createMetrics, Metrics, type StatsSnapshot, UNMATCHED_ROUTE } from './red.ts'
export {
  checkSloTargets,
  type LatencyIndicator,
  type SloAlert,
  type SloIndicator,
  type SloIndicatorStatus,
  type SloLevels,
  SloMonitor,
  type SloState,
  type SloStatus,
  type SloTarget,
} from './slo.ts'
export { type SloRulesOptions, sloRules } from './slo-rules.ts'
