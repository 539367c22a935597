import type { ResolvedScenario } from './scenario.ts'

/**
 * The arithmetic of executors: how many VUs a ramp wants at a moment, when
 * the k-th iteration of an arrival rate is due, and how a whole is shared
 * among workers so the shares always add up to it.
 */

/** Worker `index` of `count`'s part of `total` (the parts sum to `total`). */
export function share(total: number, index: number, count: number): number {
  return Math.floor((total * (index + 1)) / count) - Math.floor((total * index) / count)
}

/** VUs a closed scenario wants `elapsed` ms after its start (linear between stages). */
export function vusAt(s: ResolvedScenario, elapsed: number): number {
  let from = s.vus
  let at = 0
  for (const st of s.stages) {
    if (elapsed < at + st.durationMs) {
      return Math.round(from + ((st.target - from) * (elapsed - at)) / st.durationMs)
    }
    at += st.durationMs
    from = st.target
  }
  return from
}

/**
 * When global iteration `k` (from 0) of an arrival-rate scenario is due, in
 * ms after the scenario's start; Infinity when it falls after the end. The
 * rate ramps linearly inside a stage, so the count of iterations due by τ is
 * a quadratic in τ and each time comes from its root, exactly, with no
 * drift however long the run.
 */
export function arrivalSchedule(s: ResolvedScenario): (k: number) => number {
  if (s.executor === 'constant-arrival-rate') {
    const rate = s.startRate
    return (k) => {
      const t = k / rate
      return t < s.durationMs ? t : Number.POSITIVE_INFINITY
    }
  }
  // Cumulative iterations due at each stage's start.
  const stages: { start: number; due: number; a: number; b: number; d: number }[] = []
  let start = 0
  let due = 0
  let a = s.startRate
  for (const st of s.stages) {
    stages.push({ start, due, a, b: st.target, d: st.durationMs })
    due += ((a + st.target) / 2) * st.durationMs
    start += st.durationMs
    a = st.target
  }
  const total = due
  return (k) => {
    if (k >= total) return Number.POSITIVE_INFINITY
    // Stages are few; a linear walk is cheaper than a search.
    let i = stages.length - 1
    while (i > 0 && (stages[i] as (typeof stages)[number]).due > k) i--
    const st = stages[i] as (typeof stages)[number]
    const x = k - st.due
    let tau: number
    if (st.a === st.b) tau = st.a === 0 ? st.d : x / st.a
    else {
      const slope = (st.b - st.a) / st.d
      tau = (-st.a + Math.sqrt(Math.max(0, st.a * st.a + 2 * slope * x))) / slope
    }
    return st.start + Math.min(Math.max(tau, 0), st.d)
  }
}

/** How many iterations an arrival-rate scenario schedules in all (before any `iterations` cap). */
export function arrivalTotal(s: ResolvedScenario): number {
  if (s.executor === 'constant-arrival-rate') return Math.ceil(s.startRate * s.durationMs - 1e-9)
  let due = 0
  let a = s.startRate
  for (const st of s.stages) {
    due += ((a + st.target) / 2) * st.durationMs
    a = st.target
  }
  return Math.ceil(due - 1e-9)
}
