import type { SeriesRecord } from './samples.ts'
import type { ResolvedScenario } from './scenario.ts'

/** Messages between the coordinator and its load-generating workers. */

export interface WorkerInput {
  readonly index: number
  readonly workers: number
  readonly scenarios: readonly ResolvedScenario[]
}

/** One second of one worker: its timeline counters and the series that changed. */
export interface Tick {
  readonly type: 'tick'
  /** Seconds since the run's start. */
  readonly t: number
  readonly reqs: number
  readonly failed: number
  readonly iterations: number
  readonly dropped: number
  readonly checks: number
  readonly checksFailed: number
  readonly bytesReceived: number
  readonly vus: number
  readonly latency: string
  readonly series: readonly SeriesRecord[]
  /** Journey errors since the last tick: message → count. */
  readonly errors: ReadonlyArray<readonly [string, number]>
}

export type FromWorker =
  | { readonly type: 'ready' }
  | Tick
  | { readonly type: 'done' }
  | { readonly type: 'fatal'; readonly message: string; readonly code?: string }

export type ToWorker =
  | { readonly type: 'start'; readonly startEpoch: number }
  /** Graceful: no new iterations; running ones get their gracefulStop. */
  | { readonly type: 'stop' }
