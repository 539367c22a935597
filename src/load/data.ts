import { readFileSync } from 'node:fs'
import { extname, resolve } from 'node:path'
import { parse } from 'csv-parse/sync'
import { HotpathError } from '../errors.ts'

/**
 * Test data files (users to log in as, products to view), read once per
 * worker and shared by its VUs. JSON files hold an array; CSV files have a
 * header row and give one object per line. Frozen, so a VU cannot change
 * what the others read.
 */
export type DataRows = readonly unknown[]

function fail(
  file: string,
  why: string,
  cause?: unknown,
): HotpathError<'HP_ERR_LOAD_SCENARIO_FILE'> {
  return new HotpathError('HP_ERR_LOAD_SCENARIO_FILE', [file, why], { cause })
}

export function loadDataFile(path: string): DataRows {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw fail(
      path,
      `data file cannot be read (${(err as NodeJS.ErrnoException).code ?? err})`,
      err,
    )
  }
  const ext = extname(path).toLowerCase()
  let rows: unknown
  try {
    if (ext === '.json') rows = JSON.parse(text)
    else if (ext === '.csv') {
      rows = parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true })
    } else throw new Error('only .json and .csv data files are read')
  } catch (err) {
    throw fail(path, `data file does not parse: ${(err as Error).message}`, err)
  }
  if (!Array.isArray(rows)) throw fail(path, 'a JSON data file must hold an array')
  for (const row of rows) Object.freeze(row)
  return Object.freeze(rows)
}

/** Every data file of a scenario, paths relative to the scenario file's folder. */
export function loadScenarioData(
  scenarioDir: string,
  files: Readonly<Record<string, string>>,
): Readonly<Record<string, DataRows>> {
  const out: Record<string, DataRows> = {}
  for (const [name, file] of Object.entries(files))
    out[name] = loadDataFile(resolve(scenarioDir, file))
  return Object.freeze(out)
}
