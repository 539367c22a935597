export { HotpathError, isHotpathError } from '../errors.ts'
export {
  type ArrivalLatency,
  createArrivalLatency,
  createLatencyHistogram,
  decodeLatencyHistogram,
  LATENCY_MAX_US,
  LATENCY_MIN_US,
  type LatencyHistogram,
} from './histogram.ts'
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
