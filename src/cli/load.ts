// `hotpath load` and `hotpath report`: argument parsing and terminal output
// around hotpath/load. Exit codes: 0 passed, 99 a threshold failed (as k6),
// 2 bad input (nothing was sent), 1 anything else.
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, extname } from 'node:path'
import { parseArgs } from 'node:util'
import {
  formatDuration,
  formatSummary,
  isHotpathError,
  mergeResults,
  type Progress,
  parseRunResult,
  passed,
  type RunResult,
  renderReport,
  runLoad,
} from 'hotpath/load'
import { UsageError } from './usage.ts'

export const LOAD_HELP = `Usage: hotpath load <scenario.ts> [more.ts …] [options]

Runs the scenarios (modules whose default export is defineScenario(…) or an
array of them) against an HTTP service, prints live progress and an end
summary, and exits 99 when a threshold fails.

Options:
  --out <file>       write the result (histograms, per-second series) as JSON
  --html <file>      also write the HTML report
  --base-url <url>   base URL of scenarios that set none (default http://127.0.0.1:3000)
  --scale <n>        multiply durations, VUs and rates by n (e.g. 0.1 in CI)
  --workers <n>      load-generating threads (default: the cores)
  --quiet            no live progress
`

export const REPORT_HELP = `Usage: hotpath report <result.json> [-o report.html]
       hotpath report merge <a.json> <b.json> [… ] -o <merged.json>

report: a self-contained HTML page (charts, per-endpoint table, thresholds).
merge:  adds results of runs on several machines into one: histograms are
        added, never averaged; thresholds are evaluated again on the sum.
`

function fail(message: string): never {
  throw new UsageError(message)
}

function bar(p: Progress): string {
  const clock = (ms: number) => {
    const s = Math.round(ms / 1000)
    return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`
  }
  const rate = p.reqs === 0 ? 0 : (100 * p.failed) / p.reqs
  return `running ${clock(p.elapsedMs)}/${clock(p.totalMs)}  VUs ${p.vus}  ${p.rps} req/s  p95 ${p.p95.toFixed(1)}ms  failed ${p.failed} (${rate.toFixed(2)}%)  dropped ${p.dropped}`
}

export async function load(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      html: { type: 'string' },
      'base-url': { type: 'string' },
      scale: { type: 'string' },
      workers: { type: 'string' },
      quiet: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(LOAD_HELP)
    return 0
  }
  if (positionals.length === 0) fail('give at least one scenario file')
  const number = (name: string, v: string | undefined, integer: boolean) => {
    if (v === undefined) return undefined
    const n = Number(v)
    if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n)))
      fail(`--${name} ${v} is not a ${integer ? 'whole ' : ''}number above 0`)
    return n
  }
  const scale = number('scale', values.scale, false)
  const workers = number('workers', values.workers, true)

  const abort = new AbortController()
  let interrupts = 0
  const onSigint = () => {
    if (++interrupts > 1) process.exit(130)
    process.stderr.write(
      '\nstopping: running iterations get their graceful stop (Ctrl-C again to quit now)\n',
    )
    abort.abort()
  }
  process.on('SIGINT', onSigint)
  const tty = process.stderr.isTTY && !values.quiet
  let lastLine = 0
  try {
    const result = await runLoad({
      files: positionals,
      ...(values['base-url'] === undefined ? {} : { baseUrl: values['base-url'] }),
      ...(scale === undefined ? {} : { scale }),
      ...(workers === undefined ? {} : { workers }),
      signal: abort.signal,
      onProgress(p) {
        if (values.quiet) return
        if (tty) process.stderr.write(`\r\u001b[2K${bar(p)}`)
        else if (p.elapsedMs - lastLine >= 10_000 || p.elapsedMs >= p.totalMs) {
          lastLine = p.elapsedMs
          process.stderr.write(`${bar(p)}\n`)
        }
      },
    })
    if (tty) process.stderr.write('\n')
    process.stdout.write(`\n${formatSummary(result)}`)
    if (values.out !== undefined) {
      writeFileSync(values.out, JSON.stringify(result))
      process.stdout.write(`\nresult written to ${values.out}\n`)
    }
    if (values.html !== undefined) {
      writeFileSync(values.html, renderReport(result))
      process.stdout.write(`report written to ${values.html}\n`)
    }
    return passed(result) ? 0 : 99
  } finally {
    process.off('SIGINT', onSigint)
  }
}

function readResult(file: string): RunResult {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    return fail(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? err}`)
  }
  return parseRunResult(text, file)
}

export async function report(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { out: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' } },
  })
  if (values.help) {
    process.stdout.write(REPORT_HELP)
    return 0
  }
  if (positionals[0] === 'merge') {
    const files = positionals.slice(1)
    if (files.length < 2) fail('merge takes at least two result files')
    if (values.out === undefined) fail('merge needs -o <merged.json>')
    const merged = mergeResults(files.map(readResult))
    writeFileSync(values.out, JSON.stringify(merged))
    process.stdout.write(
      `${formatSummary(merged)}\nmerged ${files.length} results into ${values.out}\n`,
    )
    return passed(merged) ? 0 : 99
  }
  const [file, ...extra] = positionals
  if (file === undefined) fail('give a result file written by hotpath load --out')
  if (extra.length > 0) fail(`unexpected arguments: ${extra.join(' ')}`)
  const result = readResult(file)
  const out = values.out ?? `${basename(file, extname(file))}.html`
  writeFileSync(out, renderReport(result, { title: basename(file) }))
  process.stdout.write(`report written to ${out} (${formatDuration(result.durationMs)} run)\n`)
  return 0
}

/** Turns what a command threw into its message and exit code. */
export function exitFor(err: unknown): { message: string; code: number } {
  if (err instanceof UsageError) return { message: err.message, code: 2 }
  if (isHotpathError(err)) return { message: err.message, code: 2 }
  const e = err as { code?: string; message?: string }
  if (typeof e?.code === 'string' && e.code.startsWith('HP_ERR_'))
    return { message: e.message ?? '', code: 2 }
  if (
    e?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
    e?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
  ) {
    return { message: e.message ?? '', code: 2 }
  }
  return { message: err instanceof Error ? err.message : String(err), code: 1 }
}
