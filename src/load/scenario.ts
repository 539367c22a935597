import { HotpathError } from '../errors.ts'
import { type Duration, parseDuration } from './duration.ts'
import { parseThresholds, type Threshold, type ThresholdsConfig } from './thresholds.ts'
import type { VU } from './vu.ts'

/**
 * Scenarios are TypeScript modules whose default export is one
 * `defineScenario(…)` or an array of them. Options are checked here, once,
 * before any load is sent: a typo fails the run with the file, the scenario
 * and the field named.
 */

export interface Stage {
  readonly duration: Duration
  /** VUs (ramping-vus) or iterations per `timeUnit` (ramping-arrival-rate) at the end of the stage. */
  readonly target: number
}

interface Common {
  /** Unique within the run; the `scenario` tag of every sample. Default: the file's name. */
  readonly name?: string
  /** Prefix of relative request paths. Default: `--base-url`, else `http://127.0.0.1:3000`. */
  readonly baseUrl?: string
  /** Headers sent with every request of every VU (a VU's own `vu.headers` add to them). */
  readonly headers?: Readonly<Record<string, string>>
  /** Tags added to every sample of this scenario. */
  readonly tags?: Readonly<Record<string, string>>
  /** Thresholds on this scenario's samples only (a `scenario:<name>` filter is implied). */
  readonly thresholds?: ThresholdsConfig
  /** JSON or CSV files (relative to the scenario file), read once per worker, shared by its VUs as `vu.data[name]`. */
  readonly data?: Readonly<Record<string, string>>
  /** Delay before the scenario starts. Default 0. */
  readonly startTime?: Duration
  /** How long running iterations may finish after the scenario's end before they are cut. Default 30s. */
  readonly gracefulStop?: Duration
  /** Total iterations cap across all VUs and workers; the run also ends at its duration. */
  readonly iterations?: number
  /** Runs once per VU before its first iteration: log in, keep the session in `vu.headers`/cookies. */
  readonly init?: (vu: VU) => Promise<void> | void
  /** One user's journey; called once per iteration. */
  readonly journey: (vu: VU) => Promise<void> | void
}

export interface ConstantVusScenario extends Common {
  readonly executor: 'constant-vus'
  readonly vus: number
  readonly duration: Duration
}

export interface RampingVusScenario extends Common {
  readonly executor: 'ramping-vus'
  /** Default 1. */
  readonly startVUs?: number
  readonly stages: readonly Stage[]
  /** How long a VU leaving on a ramp-down may finish its iteration. Default 30s. */
  readonly gracefulRampDown?: Duration
}

interface ArrivalCommon {
  /** Time unit of `rate`/`target`. Default 1s. */
  readonly timeUnit?: Duration
  /** VUs created before the start. */
  readonly preAllocatedVUs: number
  /** More VUs are created, up to this, when all are busy. Default: preAllocatedVUs. */
  readonly maxVUs?: number
  /**
   * An iteration that finds every VU busy waits, and its wait counts in the
   * corrected latency; one that has waited this long is dropped instead.
   * Default 10s.
   */
  readonly maxLag?: Duration
}

export interface ConstantArrivalRateScenario extends Common, ArrivalCommon {
  readonly executor: 'constant-arrival-rate'
  /** Iterations started per `timeUnit`, whatever the response times. */
  readonly rate: number
  readonly duration: Duration
}

export interface RampingArrivalRateScenario extends Common, ArrivalCommon {
  readonly executor: 'ramping-arrival-rate'
  /** Default 0. */
  readonly startRate?: number
  readonly stages: readonly Stage[]
}

export type ScenarioOptions =
  | ConstantVusScenario
  | RampingVusScenario
  | ConstantArrivalRateScenario
  | RampingArrivalRateScenario

export type ExecutorName = ScenarioOptions['executor']
export const EXECUTORS: readonly ExecutorName[] = [
  'constant-vus',
  'ramping-vus',
  'constant-arrival-rate',
  'ramping-arrival-rate',
]

/** Marks a scenario module's export; options are checked when the run resolves it. */
export function defineScenario<const S extends ScenarioOptions>(options: S): S {
  return options
}

/** A stage in milliseconds. */
export interface ResolvedStage {
  readonly durationMs: number
  readonly target: number
}

/** A scenario with every option checked and every default filled in; plain data, sent to workers. */
export interface ResolvedScenario {
  readonly name: string
  readonly file: string
  /** Index in the file's default export (0 for a single scenario). */
  readonly index: number
  readonly executor: ExecutorName
  readonly baseUrl: string
  readonly headers: Readonly<Record<string, string>>
  readonly tags: Readonly<Record<string, string>>
  readonly data: Readonly<Record<string, string>>
  readonly startMs: number
  /** From the scenario's start to its last scheduled iteration start / VU stop. */
  readonly durationMs: number
  readonly gracefulStopMs: number
  readonly gracefulRampDownMs: number
  readonly iterations: number | undefined
  /** constant-vus: the VUs; ramping-vus: startVUs; arrival rate: preAllocatedVUs. */
  readonly vus: number
  readonly maxVUs: number
  /** Ramping executors: the stages; constant ones: one stage at the constant level. */
  readonly stages: readonly ResolvedStage[]
  /** ramping-arrival-rate: iterations per ms at the start; constant: the rate per ms. */
  readonly startRate: number
  readonly timeUnitMs: number
  readonly maxLagMs: number
  /** Arrival-rate executors measure latency from the scheduled start. */
  readonly open: boolean
}

function bad(where: string, why: string): HotpathError<'HP_ERR_LOAD_INVALID_SCENARIO'> {
  return new HotpathError('HP_ERR_LOAD_INVALID_SCENARIO', [where, why])
}

const DEFAULT_BASE_URL = 'http://127.0.0.1:3000'

export interface ResolveOptions {
  readonly file: string
  readonly index: number
  /** The file's base name, the default scenario name. */
  readonly defaultName: string
  readonly baseUrl?: string
  /** Multiplies durations, VUs and rates (≥ 1 VU, ≥ 1 s): `--scale 0.1` for CI. Default 1. */
  readonly scale?: number
}

/** Checks a scenario's options and fills in the defaults; throws HP_ERR_LOAD_INVALID_SCENARIO. */
export function resolveScenario(raw: unknown, o: ResolveOptions): ResolvedScenario {
  const at0 = `${o.file}${o.index > 0 ? `[${o.index}]` : ''}`
  if (raw === null || typeof raw !== 'object') throw bad(at0, 'expected defineScenario({ … })')
  const s = raw as Record<string, unknown>
  const name = s.name ?? o.defaultName
  if (typeof name !== 'string' || !/^[\w.-]{1,64}$/.test(name)) {
    throw bad(at0, `name ${JSON.stringify(name)} must be 1-64 letters, digits, _ . or -`)
  }
  const at = `"${name}" in ${o.file}`
  const scale = o.scale ?? 1
  const field = (f: string, why: string) => bad(at, `${f}: ${why}`)

  const executor = s.executor
  if (typeof executor !== 'string' || !(EXECUTORS as readonly string[]).includes(executor)) {
    throw field('executor', `${JSON.stringify(executor)} is not one of ${EXECUTORS.join(', ')}`)
  }
  if (typeof s.journey !== 'function') throw field('journey', 'must be a function (vu) => …')
  if (s.init !== undefined && typeof s.init !== 'function')
    throw field('init', 'must be a function')

  const duration = (f: string, fallback?: number): number => {
    const v = s[f]
    if (v === undefined && fallback !== undefined) return fallback
    const ms = parseDuration(v)
    if (ms === undefined) throw field(f, `${JSON.stringify(v)} is not a duration such as '30s'`)
    return ms
  }
  const count = (f: string, opts: { min: number; fallback?: number; int?: boolean }): number => {
    const v = s[f] ?? opts.fallback
    if (typeof v !== 'number' || !Number.isFinite(v) || v < opts.min) {
      throw field(f, `${JSON.stringify(v)} must be a number ≥ ${opts.min}`)
    }
    if (opts.int !== false && !Number.isInteger(v)) throw field(f, `${v} must be a whole number`)
    return v
  }
  const record = (f: string): Record<string, string> => {
    const v = s[f] ?? {}
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw field(f, 'must be an object')
    for (const [k, x] of Object.entries(v)) {
      if (typeof x !== 'string') throw field(`${f}.${k}`, 'must be a string')
    }
    return { ...(v as Record<string, string>) }
  }
  const stages = (unit: number, label: string): ResolvedStage[] => {
    const v = s.stages
    if (!Array.isArray(v) || v.length === 0) throw field('stages', 'must be a non-empty array')
    return v.map((st: unknown, i: number) => {
      const stage = st as Record<string, unknown>
      const ms = parseDuration(stage?.duration)
      if (ms === undefined) throw field(`stages[${i}].duration`, 'is not a duration')
      const target = stage?.target
      if (typeof target !== 'number' || !Number.isFinite(target) || target < 0) {
        throw field(`stages[${i}].target`, `must be a number of ${label} ≥ 0`)
      }
      return { durationMs: scaleMs(ms, scale), target: target * unit }
    })
  }

  const baseUrl = (s.baseUrl as string | undefined) ?? o.baseUrl ?? DEFAULT_BASE_URL
  try {
    const u = new URL(baseUrl)
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http(s)')
  } catch {
    throw field('baseUrl', `${JSON.stringify(baseUrl)} is not an http(s) URL`)
  }
  const iterations =
    s.iterations === undefined ? undefined : count('iterations', { min: 1, fallback: 1 })
  const common = {
    name,
    file: o.file,
    index: o.index,
    executor: executor as ExecutorName,
    baseUrl: baseUrl.replace(/\/+$/, ''),
    headers: record('headers'),
    tags: record('tags'),
    data: record('data'),
    startMs: scaleMs(duration('startTime', 0), scale),
    gracefulStopMs: duration('gracefulStop', 30_000),
    iterations,
  }
  if (s.thresholds !== undefined) {
    // Checked here so a bad one names this scenario; the run parses them again with the filter.
    scenarioThresholds(s.thresholds as ThresholdsConfig, name)
  }

  switch (executor as ExecutorName) {
    case 'constant-vus': {
      const vus = scaleCount(count('vus', { min: 1 }), scale)
      const durationMs = scaleMs(duration('duration'), scale)
      return {
        ...common,
        durationMs,
        gracefulRampDownMs: 0,
        vus,
        maxVUs: vus,
        stages: [{ durationMs, target: vus }],
        startRate: 0,
        timeUnitMs: 1000,
        maxLagMs: 0,
        open: false,
      }
    }
    case 'ramping-vus': {
      const st = stages(1, 'VUs').map((x) => ({ ...x, target: scaleCount(x.target, scale) }))
      const vus = scaleCount(count('startVUs', { min: 0, fallback: 1 }), scale)
      return {
        ...common,
        durationMs: st.reduce((a, x) => a + x.durationMs, 0),
        gracefulRampDownMs: duration('gracefulRampDown', 30_000),
        vus,
        maxVUs: Math.max(vus, ...st.map((x) => x.target)),
        stages: st,
        startRate: 0,
        timeUnitMs: 1000,
        maxLagMs: 0,
        open: false,
      }
    }
    case 'constant-arrival-rate':
    case 'ramping-arrival-rate': {
      const timeUnitMs = duration('timeUnit', 1000)
      if (timeUnitMs <= 0) throw field('timeUnit', 'must be longer than 0')
      const perMs = scale / timeUnitMs
      const rawVus = count('preAllocatedVUs', { min: 1 })
      const rawMax = count('maxVUs', { min: 1, fallback: rawVus })
      if (rawMax < rawVus) throw field('maxVUs', `${rawMax} is below preAllocatedVUs ${rawVus}`)
      const vus = scaleCount(rawVus, scale)
      const maxVUs = scaleCount(rawMax, scale)
      const maxLagMs = duration('maxLag', 10_000)
      const open = { vus, maxVUs, timeUnitMs, maxLagMs, open: true, gracefulRampDownMs: 0 }
      if (executor === 'constant-arrival-rate') {
        const rate = count('rate', { min: 0, int: false }) * perMs
        if (rate <= 0) throw field('rate', 'must be above 0')
        const durationMs = scaleMs(duration('duration'), scale)
        return {
          ...common,
          ...open,
          durationMs,
          stages: [{ durationMs, target: rate }],
          startRate: rate,
        }
      }
      const st = stages(perMs, 'iterations per timeUnit')
      return {
        ...common,
        ...open,
        durationMs: st.reduce((a, x) => a + x.durationMs, 0),
        stages: st,
        startRate: count('startRate', { min: 0, fallback: 0, int: false }) * perMs,
      }
    }
  }
}

/** A scenario's thresholds with the implied `scenario:<name>` filter. */
export function scenarioThresholds(config: ThresholdsConfig, scenario: string): Threshold[] {
  return parseThresholds(config).map((t) =>
    t.tags.scenario === undefined
      ? { ...t, tags: { ...t.tags, scenario }, source: `${t.source} (scenario ${scenario})` }
      : t,
  )
}

function scaleMs(ms: number, scale: number): number {
  // Scaled runs stay at least a second long so every stage still happens.
  return scale === 1 ? ms : Math.max(ms > 0 ? 1000 : 0, Math.round(ms * scale))
}

function scaleCount(n: number, scale: number, min = 1): number {
  return scale === 1 ? n : Math.max(n > 0 ? min : 0, Math.round(n * scale))
}

/** The scenario's end, relative to the run's start, without the graceful stop. */
export function scenarioEndMs(s: ResolvedScenario): number {
  return s.startMs + s.durationMs
}
