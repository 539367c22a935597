// The bench command: `npm run bench` runs every suite (bench/<suite>.ts),
// `npm run bench -- cache` runs the ones named. Each suite runs in its own
// child process (its heap and JIT state do not skew the next one) and prints
// one JSON object; this prints them on stdout, one per line, and rewrites the
// suites' sections of BENCHMARKS.md (`--no-write` keeps it as is).
// `--check` exits 1 when a ratio misses its goal. BENCH_WARMUP_MS, BENCH_ROUND_MS and
// BENCH_ROUNDS shorten or lengthen the measurement (see bench/lib.ts); when set, they are
// written into the command recorded in BENCHMARKS.md.
import { spawn } from 'node:child_process'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { cpus, platform, release } from 'node:os'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { meetsGoal, progress, type Report, writeBenchSection } from './lib.ts'

const benchDir = fileURLToPath(new URL('.', import.meta.url))
const root = join(benchDir, '..')
const markdownPath = join(root, 'BENCHMARKS.md')
const outDir = join(root, '.bench')

const HELPERS = new Set(['run', 'lib', 'server-process'])

/** Suites are bench/<suite>.ts; helpers (this file, lib.ts, server-process.ts, *-worker.ts) are not. */
function listSuites(): string[] {
  return readdirSync(benchDir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => basename(f, '.ts'))
    .filter((name) => !HELPERS.has(name) && !name.endsWith('-worker'))
    .sort()
}

function isReport(v: unknown): v is Report {
  if (v === null || typeof v !== 'object') return false
  const r = v as Record<string, unknown>
  const m = r.machine as Record<string, unknown> | undefined
  return (
    typeof r.suite === 'string' &&
    typeof m?.cpus === 'number' &&
    typeof m.node === 'string' &&
    Array.isArray(r.results) &&
    Array.isArray(r.ratios)
  )
}

function runSuite(name: string): Promise<Report> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=hotpath-source', '--expose-gc', join(benchDir, `${name}.ts`)],
      { stdio: ['ignore', 'pipe', 'inherit'], env: process.env },
    )
    let out = ''
    child.stdout.setEncoding('utf8')
    child.stdout.on('data', (chunk: string) => {
      out += chunk
    })
    child.on('error', reject)
    child.on('close', (code, signal) => {
      if (code !== 0) {
        reject(new Error(`suite ${name} exited with ${signal ?? code}`))
        return
      }
      const text = out.trim()
      let report: unknown
      try {
        report = JSON.parse(text)
      } catch {
        reject(
          new Error(`suite ${name} must print exactly one JSON object on stdout, got:\n${text}`),
        )
        return
      }
      if (!isReport(report) || report.suite !== name) {
        reject(new Error(`suite ${name} printed JSON that is not a report of suite "${name}"`))
        return
      }
      resolve(report)
    })
  })
}

function fmt(value: number): string {
  if (Number.isInteger(value)) return value.toLocaleString('en-US')
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US')
  return String(value)
}

function section(report: Report, command: string, date: string): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU'
  const lines = [
    `<!-- bench:${report.suite}:start -->`,
    `## ${report.suite}`,
    '',
    `Command: \`${command}\` · ${date} · ${report.machine.cpus} CPUs (${model}), ` +
      `Node ${report.machine.node}, ${platform()} ${release()}`,
    '',
    '| ratio | value | better | goal | result |',
    '| --- | ---: | --- | ---: | --- |',
  ]
  for (const r of report.ratios) {
    const ok = meetsGoal(r)
    const goal = r.goal === undefined ? '' : `${r.better === 'higher' ? '≥' : '≤'} ${fmt(r.goal)}`
    const verdict = ok === undefined ? '' : ok ? 'pass' : '**FAIL**'
    lines.push(`| ${r.name} | ${fmt(r.value)} | ${r.better} | ${goal} | ${verdict} |`)
  }
  lines.push('', '| result | value | unit |', '| --- | ---: | --- |')
  for (const r of report.results) lines.push(`| ${r.name} | ${fmt(r.value)} | ${r.unit} |`)
  lines.push(`<!-- bench:${report.suite}:end -->`)
  return lines.join('\n')
}

const HEADER = `# Benchmarks

Latest results of \`bench/\`, written by \`bench/run.ts\` (\`npm run bench\`, or
\`npm run bench -- <suite>\`). A ratio compares hotpath with its peer measured
side by side in the same run; absolute ops/s on a shared machine are noise,
ratios are the result. Raw JSON of the last run of each suite: \`.bench/<suite>.json\`.
`

/** Replaces the sections of the suites that ran and keeps the others and any text around them. */
function writeMarkdown(reports: Report[], command: string): void {
  const date = new Date().toISOString().replace(/\.\d+Z$/, 'Z')
  for (const report of reports) {
    writeBenchSection(markdownPath, report.suite, section(report, command, date), HEADER)
  }
}

async function main(): Promise<void> {
  const args = process.argv.slice(2)
  const write = !args.includes('--no-write')
  const check = args.includes('--check')
  const named = args.filter((a) => !a.startsWith('--'))
  const available = listSuites()
  const unknown = named.filter((n) => !available.includes(n))
  if (unknown.length > 0) {
    progress(`unknown suite(s): ${unknown.join(', ')}; available: ${available.join(', ')}`)
    process.exitCode = 2
    return
  }
  const suites = named.length > 0 ? named : available
  // Settings that change what is measured are part of the command (REDIS_URL is not: it may hold a password).
  const settings = ['BENCH_WARMUP_MS', 'BENCH_ROUND_MS', 'BENCH_ROUNDS', 'BENCH_FILTER']
    .filter((k) => process.env[k])
    .map((k) => `${k}=${process.env[k]} `)
    .join('')
  const command = `${settings}npm run bench${named.length > 0 ? ` -- ${named.join(' ')}` : ''}`

  const reports: Report[] = []
  let failed = false
  for (const name of suites) {
    progress(`# suite ${name}`)
    try {
      const report = await runSuite(name)
      reports.push(report)
      process.stdout.write(`${JSON.stringify(report)}\n`)
      mkdirSync(outDir, { recursive: true })
      writeFileSync(join(outDir, `${name}.json`), `${JSON.stringify(report, null, 2)}\n`)
    } catch (err) {
      failed = true
      progress(`# ${(err as Error).message}`)
    }
  }

  let missed = 0
  for (const report of reports) {
    for (const r of report.ratios) {
      const ok = meetsGoal(r)
      if (ok === false) missed++
      const goal =
        r.goal === undefined ? '' : ` (goal ${r.better === 'higher' ? '≥' : '≤'} ${r.goal})`
      progress(`# ${report.suite} ${r.name} = ${r.value}${goal}${ok === false ? ' MISSED' : ''}`)
    }
  }
  if (write && reports.length > 0) {
    writeMarkdown(reports, command)
    progress(`# wrote ${markdownPath}`)
  }
  if (failed || (check && missed > 0)) process.exitCode = 1
}

await main()
