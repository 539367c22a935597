/**
 * Durations as k6 writes them: `'500ms'`, `'30s'`, `'1m30s'`, `'2h'`, or a
 * number of milliseconds. Returns undefined for anything else, so each caller
 * can name the field in its own error.
 */
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

export type Duration = number | string

export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined
  if (typeof value !== 'string') return undefined
  const text = value.replace(/\s+/g, '')
  if (text === '') return undefined
  PART.lastIndex = 0
  let total = 0
  let end = 0
  for (let m = PART.exec(text); m !== null; m = PART.exec(text)) {
    total += Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS]
    end = PART.lastIndex
  }
  return end === text.length ? total : undefined
}

/** `90_000` → `'1m30s'`, for summaries. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`
  let s = Math.round(ms / 1000)
  const h = Math.floor(s / 3600)
  s -= h * 3600
  const m = Math.floor(s / 60)
  s -= m * 60
  return `${h > 0 ? `${h}h` : ''}${m > 0 ? `${m}m` : ''}${s > 0 || (h === 0 && m === 0) ? `${s}s` : ''}`
}
