import { existsSync } from 'node:fs'
import { pathToFileURL } from 'node:url'
import { HotpathError } from '../errors.ts'
import type { ScenarioOptions } from './scenario.ts'
import type { ThresholdsConfig } from './thresholds.ts'

/**
 * Imports a scenario file: its default export is one scenario or an array
 * of them; an optional `export const thresholds` applies to the whole run.
 * Node 24 runs `.ts` files itself, so scenarios need no build step.
 */
export interface ScenarioModule {
  readonly scenarios: readonly ScenarioOptions[]
  readonly thresholds: ThresholdsConfig | undefined
}

function fail(
  file: string,
  why: string,
  cause?: unknown,
): HotpathError<'HP_ERR_LOAD_SCENARIO_FILE'> {
  return new HotpathError('HP_ERR_LOAD_SCENARIO_FILE', [file, why], { cause })
}

export async function importScenarioModule(file: string): Promise<ScenarioModule> {
  if (!existsSync(file)) throw fail(file, 'no such file')
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  } catch (err) {
    throw fail(file, (err as Error).message ?? String(err), err)
  }
  const exported = mod.default
  if (exported === undefined) {
    throw fail(file, 'it has no default export: export default defineScenario({ … })')
  }
  const scenarios = (Array.isArray(exported) ? exported : [exported]) as ScenarioOptions[]
  if (scenarios.length === 0) throw fail(file, 'its default export is an empty array')
  const thresholds = mod.thresholds
  if (thresholds !== undefined && (typeof thresholds !== 'object' || thresholds === null)) {
    throw fail(file, 'its `thresholds` export is not an object')
  }
  return { scenarios, thresholds: thresholds as ThresholdsConfig | undefined }
}
