import { HotpathError } from '../errors.ts'

// The guides count TTLs in seconds and print rates as percentages; hotpath
// counts milliseconds and ratios. These are the only conversions between them.

function positive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0
}

/** A per-call TTL in seconds, as ms; anything else is `HP_ERR_CACHE_INVALID_TTL`. */
export function ttlMs(value: unknown, what = 'ttl'): number {
  if (!positive(value)) {
    throw new HotpathError('HP_ERR_CACHE_INVALID_TTL', [`${what} = ${String(value)} (seconds)`])
  }
  return Math.max(1, Math.round(value * 1000))
}

/** A configured duration in seconds, as ms; anything else is `HP_ERR_INVALID_OPTION`. */
export function optionMs(value: unknown, name: string): number {
  if (!positive(value)) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      name,
      `expected a positive number of seconds, got ${String(value)}`,
    ])
  }
  return Math.max(1, Math.round(value * 1000))
}

/** A ratio as a percentage with two decimals (`0.8333` → `83.33`). */
export function percent(ratio: number): number {
  return Math.round(ratio * 10_000) / 100
}

/** Milliseconds with three decimals. */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000
}

/** `HP_ERR_GUIDE_STATE`: a service called in the wrong state (before connect, twice…). */
export function stateError(call: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_GUIDE_STATE', [call, why])
}
