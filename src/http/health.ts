import { HotpathError } from '../errors.ts'

/**
 * A readiness check: resolves when the dependency answers. It fails when it
 * throws, rejects, does not settle within the timeout, or resolves `false`,
 * an object with `ok: false`, or an array holding one (so `() => db.health()`
 * fails when any endpoint is down; write your own check to tolerate a
 * replica outage).
 */
export type HealthCheck = () => unknown

export interface HealthOptions {
  /** Named readiness checks, run in parallel: `{ db: () => db.health(), redis: () => cache.ready(200) }`. Default: none. */
  checks?: Readonly<Record<string, HealthCheck>>
  /** Each check fails after this long. Default: 1000 (ms). */
  timeoutMs?: number
  /** Liveness path, or `false` for none. Default: `'/health'`. */
  livenessPath?: string | false
  /** Readiness path, or `false` for none. Default: `'/ready'`. */
  readinessPath?: string | false
}

/** Defaults, in one place. */
export const healthDefaults = Object.freeze({
  timeoutMs: 1000,
  livenessPath: '/health' as string | false,
  readinessPath: '/ready' as string | false,
})

export interface CheckResult {
  status: 'ok' | 'fail'
  latencyMs: number
  error?: string
}

export interface Readiness {
  status: 'ok' | 'fail' | 'draining'
  checks: Record<string, CheckResult>
}

/** Response headers of both endpoints: never cached by anyone. */
export const HEALTH_HEADERS = Object.freeze({
  'content-type': 'application/json; charset=utf-8',
  'cache-control': 'no-store',
})

/** True when `url` (path and query) has exactly the path `path`; allocates nothing. */
export function urlPathIs(url: string, path: string): boolean {
  if (!url.startsWith(path)) return false
  return url.length === path.length || url.charCodeAt(path.length) === 63 // '?'
}

function invalid(name: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [name, why])
}

export function checkPath(name: string, v: unknown): string | false {
  if (v === false) return false
  if (typeof v !== 'string' || !v.startsWith('/') || /[?#\s]/.test(v))
    throw invalid(name, `expected a path starting with "/" or false, got ${String(v)}`)
  return v
}

/**
 * Liveness and readiness. Liveness answers 200 while the process serves.
 * Readiness runs every check in parallel, each bounded by `timeoutMs`, so it
 * never hangs; concurrent probes share one run so a probe storm costs the
 * dependencies one ping each.
 */
export class Health {
  readonly livenessPath: string | false
  readonly readinessPath: string | false
  readonly timeoutMs: number
  readonly #names: string[]
  readonly #checks: HealthCheck[]
  #running: Promise<Readiness> | null = null
  #draining = false

  constructor(o: HealthOptions = {}) {
    const d = healthDefaults
    this.livenessPath = checkPath('livenessPath', o.livenessPath ?? d.livenessPath)
    this.readinessPath = checkPath('readinessPath', o.readinessPath ?? d.readinessPath)
    this.timeoutMs = o.timeoutMs ?? d.timeoutMs
    if (!Number.isFinite(this.timeoutMs) || this.timeoutMs <= 0)
      throw invalid('timeoutMs', 'expected a positive number of ms')
    const checks = o.checks ?? {}
    for (const [name, f] of Object.entries(checks))
      if (typeof f !== 'function') throw invalid(`checks.${name}`, 'expected a function')
    this.#names = Object.keys(checks)
    this.#checks = Object.values(checks)
  }

  /** The liveness body: `{ status: 'ok', uptime }` (seconds). */
  liveness(): string {
    return `{"status":"ok","uptime":${process.uptime()}}`
  }

  /**
   * Marks the instance as shutting down: readiness answers 503
   * `{ status: 'draining' }` from now on, so the load balancer stops sending
   * traffic while in-flight requests finish.
   */
  drain(): void {
    this.#draining = true
  }

  /** Runs the checks (or joins a run under way). */
  readiness(): Promise<Readiness> {
    if (this.#draining) return Promise.resolve({ status: 'draining', checks: {} })
    if (this.#running !== null) return this.#running
    const run = this.#run().finally(() => {
      this.#running = null
    })
    this.#running = run
    return run
  }

  async #run(): Promise<Readiness> {
    const results = await Promise.all(this.#checks.map((f) => runCheck(f, this.timeoutMs)))
    const checks: Record<string, CheckResult> = {}
    let ok = true
    for (let i = 0; i < results.length; i++) {
      checks[this.#names[i]!] = results[i]!
      if (results[i]!.status !== 'ok') ok = false
    }
    return { status: ok ? 'ok' : 'fail', checks }
  }
}

function failed(v: unknown): string | null {
  if (v === false) return 'returned false'
  if (Array.isArray(v)) {
    for (const x of v) {
      const why = failed(x)
      if (why !== null) return why
    }
    return null
  }
  if (v !== null && typeof v === 'object' && (v as { ok?: unknown }).ok === false) {
    const e = v as { name?: unknown; error?: unknown }
    const who = typeof e.name === 'string' ? `${e.name}: ` : ''
    return `${who}${typeof e.error === 'string' ? e.error : 'not ok'}`
  }
  return null
}

async function runCheck(f: HealthCheck, timeoutMs: number): Promise<CheckResult> {
  const t0 = performance.now()
  let timer: NodeJS.Timeout | undefined
  try {
    const v = await Promise.race([
      Promise.resolve().then(f),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
        timer.unref()
      }),
    ])
    const why = failed(v)
    const latencyMs = Math.round((performance.now() - t0) * 100) / 100
    return why === null ? { status: 'ok', latencyMs } : { status: 'fail', latencyMs, error: why }
  } catch (err) {
    return {
      status: 'fail',
      latencyMs: Math.round((performance.now() - t0) * 100) / 100,
      error: err instanceof Error ? err.message : String(err),
    }
  } finally {
    clearTimeout(timer)
  }
}

export function createHealth(options?: HealthOptions): Health {
  return new Health(options)
}
