import {
  build,
  decodeFromCompressedBase64,
  encodeIntoCompressedBase64,
  type Histogram,
} from 'hdr-histogram-js'
import { HotpathError } from '../errors.ts'

/**
 * Latency histograms: values are given in milliseconds (as from
 * `performance.now()` differences) and stored as whole microseconds in an
 * HDR histogram, so percentiles keep 3 significant digits from 1 µs to 1 h
 * in constant memory, and histograms from several workers or machines add
 * up exactly (averaging percentiles would not).
 */

/** Lowest and highest recordable latency, in microseconds. */
export const LATENCY_MIN_US = 1
export const LATENCY_MAX_US = 3_600_000_000

export interface LatencyHistogram {
  /** Records one latency in milliseconds; clamped to 1 µs..1 h. */
  record(ms: number): void
  /** Number of recorded latencies. */
  readonly count: number
  /** Mean, min, max and median in milliseconds; 0 when empty. */
  readonly avg: number
  readonly min: number
  readonly max: number
  readonly med: number
  /** The latency in milliseconds below which `p` percent (0..100) of the values fall; 0 when empty. */
  percentile(p: number): number
  /** Adds every value of `other` into this histogram (merging workers or runs). */
  add(other: LatencyHistogram): void
  /** Compressed base64 of the whole histogram, for `--out` files; see `decodeLatencyHistogram`. */
  encode(): string
  reset(): void
}

export function createLatencyHistogram(): LatencyHistogram {
  return wrap(
    build({
      lowestDiscernibleValue: LATENCY_MIN_US,
      highestTrackableValue: LATENCY_MAX_US,
      numberOfSignificantValueDigits: 3,
      bitBucketSize: 32,
      // A fixed range: a resize in the middle of a run would cost a pause
      // while measuring, and 1 h already bounds any sane request.
      autoResize: false,
    }),
  )
}

/** The inverse of `encode()`; a string that is not one → HP_ERR_INVALID_OPTION. */
export function decodeLatencyHistogram(encoded: string): LatencyHistogram {
  let decoded: Histogram
  try {
    decoded = decodeFromCompressedBase64(encoded)
  } catch (err) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['histogram', 'not an encoded HDR histogram'], {
      cause: err,
    })
  }
  // Re-add into a histogram of our own shape so every decoded histogram can
  // be added to any other, whatever the range it was encoded with.
  const h = createLatencyHistogram()
  h.add(wrap(decoded))
  return h
}

// The underlying HDR histogram of every wrapper, for add() without exposing it.
const inner = new WeakMap<LatencyHistogram, Histogram>()

function toUs(ms: number): number {
  const us = Math.round(ms * 1000)
  // NaN lands on the minimum too: a broken clock must not poison the run.
  if (!(us >= LATENCY_MIN_US)) return LATENCY_MIN_US
  return Math.min(us, LATENCY_MAX_US)
}

function wrap(h: Histogram): LatencyHistogram {
  const ms = (us: number) => (h.totalCount === 0 ? 0 : us / 1000)
  const self: LatencyHistogram = {
    record(value) {
      h.recordValue(toUs(value))
    },
    get count() {
      return h.totalCount
    },
    get avg() {
      return ms(h.mean)
    },
    get min() {
      return ms(h.minNonZeroValue)
    },
    get max() {
      return ms(h.maxValue)
    },
    get med() {
      return ms(h.getValueAtPercentile(50))
    },
    percentile(p) {
      return ms(h.getValueAtPercentile(p))
    },
    add(other) {
      const o = inner.get(other)
      if (o === undefined) {
        throw new HotpathError('HP_ERR_INVALID_OPTION', ['histogram', 'not a LatencyHistogram'])
      }
      h.add(o)
    },
    encode() {
      return encodeIntoCompressedBase64(h)
    },
    reset() {
      h.reset()
    },
  }
  inner.set(self, h)
  return self
}

/**
 * Latency for arrival-rate executors, kept twice. The corrected figure runs
 * from the iteration's scheduled start, so time spent waiting for a free VU
 * or connection while the server stalls counts as latency (as a real user
 * arriving on schedule would see it); the uncorrected one runs from the
 * actual send, which is what a closed-loop tool reports and hides stalls
 * (coordinated omission).
 */
export interface ArrivalLatency {
  readonly corrected: LatencyHistogram
  readonly uncorrected: LatencyHistogram
  /** All three in milliseconds on the same clock (`performance.now()`). */
  record(scheduledAt: number, sentAt: number, doneAt: number): void
}

export function createArrivalLatency(): ArrivalLatency {
  const corrected = createLatencyHistogram()
  const uncorrected = createLatencyHistogram()
  return {
    corrected,
    uncorrected,
    record(scheduledAt, sentAt, doneAt) {
      uncorrected.record(doneAt - sentAt)
      // A send before its scheduled time (clock jitter) must not make the
      // corrected figure smaller than the uncorrected one.
      corrected.record(doneAt - Math.min(scheduledAt, sentAt))
    },
  }
}
