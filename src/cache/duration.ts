import { HotpathError } from '../errors.ts'

/** Milliseconds as a number, or a string with a unit: `'250ms'`, `'30s'`, `'5m'`, `'1h'`, `'7d'`. */
export type Duration = number | `${number}${'ms' | 's' | 'm' | 'h' | 'd'}`

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const pattern = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/

/** Parses a duration to milliseconds; anything not a finite positive time is a typed error. */
export function toMs(value: unknown, what = 'ttl'): number {
  let ms: number
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string') {
    const m = pattern.exec(value.trim())
    ms = m ? Number(m[1]) * units[m[2]!]! : Number.NaN
  } else ms = Number.NaN
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new HotpathError('HP_ERR_CACHE_INVALID_TTL', [`${what} = ${String(value)}`])
  }
  return Math.round(ms)
}
