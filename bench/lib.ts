// Shared helpers of the benchmark suites: machine info, an ops/s measuring
// loop (warmup, calibrated rounds interleaved across the sides compared,
// medians), and the one-JSON-object report every suite prints on stdout.
// Progress goes to stderr so stdout stays machine-readable.

import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export interface Machine {
  cpus: number
  node: string
}

export interface Result {
  name: string
  value: number
  unit: string
}

export interface Ratio {
  name: string
  value: number
  better: 'higher' | 'lower'
  goal?: number
}

export interface Report {
  suite: string
  machine: Machine
  results: Result[]
  ratios: Ratio[]
}

export function machine(): Machine {
  return { cpus: availableParallelism(), node: process.version }
}

/** Did a ratio meet its goal? `undefined` when it has none. */
export function meetsGoal(r: Ratio): boolean | undefined {
  if (r.goal === undefined) return undefined
  return r.better === 'higher' ? r.value >= r.goal : r.value <= r.goal
}

export function progress(message: string): void {
  process.stderr.write(`${message}\n`)
}

/** Prints the suite's report: exactly one JSON object, on one line of stdout. */
export function emit(report: Report): void {
  process.stdout.write(`${JSON.stringify(report)}\n`)
}

/** Rounds to `digits` significant digits, so the JSON stays readable. */
export function round(value: number, digits = 4): number {
  if (value === 0 || !Number.isFinite(value)) return value
  return Number(value.toPrecision(digits))
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN
  const s = [...values].sort((a, b) => a - b)
  const mid = s.length >> 1
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2
}

/**
 * One side of a comparison: runs `n` operations and resolves when they are
 * done. The loop lives in the side itself so the harness adds no per-op call.
 */
export type Batch = (n: number) => Promise<void>

export interface MeasureOptions {
  /** Time spent running each side before measuring (also used to calibrate). Default 1000 ms, env BENCH_WARMUP_MS. */
  warmupMs?: number
  /** Target duration of one measured round of one side. Default 400 ms, env BENCH_ROUND_MS. */
  roundMs?: number
  /** Measured rounds per side; the median is kept. Default 11, env BENCH_ROUNDS. */
  rounds?: number
}

export interface SideResult {
  /** Median ops/s over the rounds. */
  opsPerSec: number
  /** ops/s of every round, in order. */
  rounds: number[]
}

/** A positive whole number from the environment (BENCH_ROUNDS, …), or `fallback`. */
export function envInt(name: string, fallback: number): number {
  const v = process.env[name]
  if (v === undefined || v === '') return fallback
  const n = Number(v)
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${v}`)
  return Math.round(n)
}

const gc = (globalThis as { gc?: () => void }).gc

async function timed(batch: Batch, n: number): Promise<number> {
  const t0 = process.hrtime.bigint()
  await batch(n)
  return Number(process.hrtime.bigint() - t0) / 1e6
}

/**
 * Measures the ops/s of every side, side by side: each is warmed up and
 * calibrated to about `roundMs` per round, then rounds are interleaved (the
 * order alternates every round) so drift of the machine hits all sides
 * alike. A GC runs between rounds when `--expose-gc` is on, so one side's
 * garbage is not collected on the other side's clock.
 */
export async function compare<K extends string>(
  sides: Record<K, Batch>,
  options: MeasureOptions = {},
): Promise<Record<K, SideResult>> {
  const warmupMs = options.warmupMs ?? envInt('BENCH_WARMUP_MS', 1000)
  const roundMs = options.roundMs ?? envInt('BENCH_ROUND_MS', 400)
  const rounds = options.rounds ?? envInt('BENCH_ROUNDS', 11)
  const names = Object.keys(sides) as K[]
  const sizes = new Map<K, number>()

  for (const name of names) {
    const batch = sides[name]
    // Grow n until one batch takes a measurable time, then keep running
    // until the warmup time is spent; the last batch calibrates n.
    let n = 16
    let spent = 0
    let ms = await timed(batch, n)
    spent += ms
    while (ms < 20 && n < 1e9) {
      n *= 4
      ms = await timed(batch, n)
      spent += ms
    }
    // Re-aim at roundMs after every batch: the speed may change while warming up
    // (JIT tiers, a connection that becomes ready), and a stale n could run for ages.
    const aim = () => Math.max(1, Math.round((n * roundMs) / Math.max(ms, 0.001)))
    while (spent < warmupMs) {
      n = aim()
      ms = await timed(batch, n)
      spent += ms
    }
    sizes.set(name, aim())
  }

  const perRound = new Map<K, number[]>(names.map((n) => [n, []]))
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? names : [...names].reverse()
    for (const name of order) {
      gc?.()
      const n = sizes.get(name)!
      const ms = await timed(sides[name], n)
      perRound.get(name)!.push((n * 1000) / ms)
    }
  }

  const out = {} as Record<K, SideResult>
  for (const name of names) {
    const values = perRound.get(name)!
    out[name] = { opsPerSec: median(values), rounds: values }
  }
  return out
}

/**
 * The ratio of two sides measured by `compare`: the median of the per-round
 * ratios (rounds ran back to back, so each pair saw the same machine state).
 */
export function pairedRatio(a: SideResult, b: SideResult): number {
  const n = Math.min(a.rounds.length, b.rounds.length)
  const ratios: number[] = []
  for (let i = 0; i < n; i++) ratios.push(a.rounds[i]! / b.rounds[i]!)
  return median(ratios)
}

/** Spread of the rounds as (max - min) / median, for the progress log. */
export function spread(s: SideResult): number {
  return (Math.max(...s.rounds) - Math.min(...s.rounds)) / s.opsPerSec
}

export function fmtOps(opsPerSec: number): string {
  if (opsPerSec >= 1e6) return `${(opsPerSec / 1e6).toFixed(2)} M ops/s`
  if (opsPerSec >= 1e3) return `${(opsPerSec / 1e3).toFixed(1)} k ops/s`
  return `${opsPerSec.toFixed(0)} ops/s`
}

/** Runs `n` calls of `op` with at most `concurrency` in flight, each lane awaiting its own call before the next. */
export function inFlight(concurrency: number, op: (i: number) => Promise<unknown>): Batch {
  return async (n: number) => {
    let next = 0
    const lane = async () => {
      while (next < n) await op(next++)
    }
    const lanes: Promise<void>[] = []
    for (let i = 0; i < Math.min(concurrency, n); i++) lanes.push(lane())
    await Promise.all(lanes)
  }
}

/** Milliseconds as whole seconds, at least 1 (wrk and load scenarios take seconds). */
export const seconds = (ms: number): number => Math.max(1, Math.round(ms / 1000))

/**
 * Puts `body` (which starts and ends with the `<!-- bench:<name>:start/end -->`
 * markers) into BENCHMARKS.md in place of that section, keeping the rest, then
 * formats the file with the project's formatter so lint stays clean.
 */
export function writeBenchSection(path: string, name: string, body: string, header: string): void {
  let text = existsSync(path) ? readFileSync(path, 'utf8') : header
  const re = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*?<!-- bench:${name}:end -->`)
  text = re.test(text) ? text.replace(re, () => body) : `${text.trimEnd()}\n\n${body}\n`
  writeFileSync(path, text)
  const biome = join(dirname(fileURLToPath(import.meta.url)), '../node_modules/.bin/biome')
  const r = spawnSync(biome, ['format', '--write', path], { encoding: 'utf8' })
  if (r.status !== 0) progress(`could not format ${path}: ${r.stderr || r.error?.message}`)
}
