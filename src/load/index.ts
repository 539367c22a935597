export { HotpathError, isHotpathError } from '../errors.ts'
export { CookieJar } from './cookies.ts'
export { type DataRows, loadDataFile } from './data.ts'
export { type Duration, formatDuration, parseDuration } from './duration.ts'
export {
  type ArrivalLatency,
  createArrivalLatency,
  createLatencyHistogram,
  decodeLatencyHistogram,
  LATENCY_MAX_US,
  LATENCY_MIN_US,
  type LatencyHistogram,
} from './histogram.ts'
export { mergeResults } from './merge.ts'
export { type LoadPlan, type PlanOptions, planLoad } from './plan.ts'
export { type ReportOptions, renderReport } from './report.ts'
export {
  parseRunResult,
  RESULT_FORMAT,
  RESULT_VERSION,
  type RunResult,
  type ScenarioSummary,
  type ThresholdOutcome,
  type TimelinePoint,
} from './result.ts'
export { type LoadOptions, type Progress, passed, runLoad } from './run.ts'
export { METRICS, type MetricKind, type SeriesRecord, SeriesStore } from './samples.ts'
export {
  type ConstantArrivalRateScenario,
  type ConstantVusScenario,
  defineScenario,
  EXECUTORS,
  type ExecutorName,
  type RampingArrivalRateScenario,
  type RampingVusScenario,
  type ResolvedScenario,
  type ScenarioOptions,
  type Stage,
} from './scenario.ts'
export { formatSummary } from './summary.ts'
export {
  evaluateThreshold,
  evaluateThresholds,
  type MetricValues,
  parseThresholdExpression,
  parseThresholdKey,
  parseThresholds,
  type Threshold,
  type ThresholdAggregate,
  type ThresholdOperator,
  type ThresholdResult,
  type ThresholdSpec,
  type ThresholdsConfig,
} from './thresholds.ts'
export type { RequestOptions, Response, VU } from './vu.ts'
