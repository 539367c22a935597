import { basename, extname, resolve } from 'node:path'
import { HotpathError } from '../errors.ts'
import { loadScenarioData } from './data.ts'
import { importScenarioModule } from './module.ts'
import { METRICS } from './samples.ts'
import {
  type ResolvedScenario,
  resolveScenario,
  scenarioEndMs,
  scenarioThresholds,
} from './scenario.ts'
import { parseThresholds, type Threshold, type ThresholdsConfig } from './thresholds.ts'

/**
 * Everything a run needs, checked before any request is sent: the files
 * import, every scenario's options hold, every data file parses, every
 * threshold names a metric the runner records.
 */
export interface PlanOptions {
  /** Scenario files (TypeScript or JavaScript modules). */
  readonly files: readonly string[]
  /** Base URL of scenarios that set none. Default `http://127.0.0.1:3000`. */
  readonly baseUrl?: string
  /** Shrinks durations, VUs and rates: `0.1` runs a tenth of the load for a tenth of the time. Default 1. */
  readonly scale?: number
  /** Thresholds on the whole run, added to those of the files. */
  readonly thresholds?: ThresholdsConfig
}

export interface LoadPlan {
  readonly scenarios: readonly ResolvedScenario[]
  readonly thresholds: readonly Threshold[]
  /** The last scenario's end plus its graceful stop: the run's upper bound. */
  readonly totalMs: number
}

export async function planLoad(o: PlanOptions): Promise<LoadPlan> {
  if (o.files.length === 0) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['files', 'no scenario file given'])
  }
  const scale = o.scale ?? 1
  if (!(scale > 0 && scale <= 100)) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['scale', `${scale} is not in (0, 100]`])
  }
  const scenarios: ResolvedScenario[] = []
  const thresholds: Threshold[] = o.thresholds === undefined ? [] : parseThresholds(o.thresholds)
  for (const given of o.files) {
    const file = resolve(given)
    const mod = await importScenarioModule(file)
    const defaultName = basename(file, extname(file))
    mod.scenarios.forEach((raw, index) => {
      const s = resolveScenario(raw, {
        file,
        index,
        defaultName: mod.scenarios.length > 1 ? `${defaultName}-${index + 1}` : defaultName,
        ...(o.baseUrl === undefined ? {} : { baseUrl: o.baseUrl }),
        scale,
      })
      if (scenarios.some((x) => x.name === s.name)) {
        throw new HotpathError('HP_ERR_LOAD_INVALID_SCENARIO', [
          `"${s.name}" in ${file}`,
          'name: another scenario of this run has the same name',
        ])
      }
      loadScenarioData(resolve(file, '..'), s.data)
      scenarios.push(s)
      const own = (raw as { thresholds?: ThresholdsConfig }).thresholds
      if (own !== undefined) thresholds.push(...scenarioThresholds(own, s.name))
    })
    if (mod.thresholds !== undefined) thresholds.push(...parseThresholds(mod.thresholds))
  }
  for (const t of thresholds) {
    if (METRICS[t.metric] === undefined) {
      throw new HotpathError('HP_ERR_LOAD_INVALID_THRESHOLD', [
        t.source,
        `unknown metric "${t.metric}" (known: ${Object.keys(METRICS).join(', ')})`,
      ])
    }
    const scenario = t.tags.scenario
    if (scenario !== undefined && !scenarios.some((s) => s.name === scenario)) {
      throw new HotpathError('HP_ERR_LOAD_INVALID_THRESHOLD', [
        t.source,
        `no scenario is named "${scenario}"`,
      ])
    }
  }
  const totalMs = Math.max(...scenarios.map((s) => scenarioEndMs(s) + s.gracefulStopMs))
  return { scenarios, thresholds, totalMs }
}
