import type { EventEmitter } from 'node:events'
import { fingerprint } from './fingerprint.ts'
import type { Scope } from './scope.ts'

export interface DbEvents {
  /** Every statement, for metrics: emitted only while someone listens. */
  query: [
    {
      statement: string
      name: string | undefined
      endpoint: string
      durationMs: number
      ok: boolean
    },
  ]
  slowQuery: [{ statement: string; text: string; durationMs: number; endpoint: string }]
  nPlusOne: [{ statement: string; count: number; threshold: number }]
  replicaDown: [{ endpoint: string; error: unknown }]
}

export interface StatementStats {
  statement: string
  calls: number
  errors: number
  totalMs: number
  maxMs: number
  meanMs: number
}

const MAX_STATEMENTS = 1000
const MAX_FINGERPRINTS = 5000

class Stat {
  calls = 0
  errors = 0
  totalMs = 0
  maxMs = 0
}

/** Counts, timings per statement shape, slow-query and N+1 events. */
export class Observer {
  readonly #events: EventEmitter<DbEvents>
  readonly #slowMs: number
  readonly #nPlusOne: number
  readonly #fps = new Map<string, string>()
  readonly #stats = new Map<string, Stat>()
  queries = 0
  errors = 0
  totalMs = 0
  slow = 0
  cacheHits = 0
  cacheMisses = 0
  nPlusOneWarnings = 0

  constructor(events: EventEmitter<DbEvents>, slowMs: number, nPlusOne: number) {
    this.#events = events
    this.#slowMs = slowMs
    this.#nPlusOne = nPlusOne
  }

  /** Fingerprints are memoized by text: the regexes run once per distinct statement. */
  fingerprint(text: string): string {
    let fp = this.#fps.get(text)
    if (fp === undefined) {
      fp = fingerprint(text)
      if (this.#fps.size < MAX_FINGERPRINTS) this.#fps.set(text, fp)
    }
    return fp
  }

  observe(
    text: string,
    name: string | undefined,
    endpoint: string,
    durationMs: number,
    ok: boolean,
    scope: Scope | undefined,
  ): void {
    const fp = this.fingerprint(text)
    this.queries++
    this.totalMs += durationMs
    if (!ok) this.errors++
    let s = this.#stats.get(fp)
    if (s === undefined && this.#stats.size < MAX_STATEMENTS) {
      s = new Stat()
      this.#stats.set(fp, s)
    }
    if (s !== undefined) {
      s.calls++
      s.totalMs += durationMs
      if (durationMs > s.maxMs) s.maxMs = durationMs
      if (!ok) s.errors++
    }
    if (this.#events.listenerCount('query') > 0) {
      this.#events.emit('query', { statement: fp, name, endpoint, durationMs, ok })
    }
    if (durationMs >= this.#slowMs && this.#slowMs > 0) {
      this.slow++
      this.#events.emit('slowQuery', { statement: fp, text, durationMs, endpoint })
    }
    if (scope !== undefined && this.#nPlusOne > 0) {
      const n = (scope.counts.get(fp) ?? 0) + 1
      scope.counts.set(fp, n)
      if (n > this.#nPlusOne && !scope.warned.has(fp)) {
        scope.warned.add(fp)
        this.nPlusOneWarnings++
        this.#events.emit('nPlusOne', { statement: fp, count: n, threshold: this.#nPlusOne })
      }
    }
  }

  statements(top: number): StatementStats[] {
    return [...this.#stats]
      .map(([statement, s]) => ({
        statement,
        calls: s.calls,
        errors: s.errors,
        totalMs: s.totalMs,
        maxMs: s.maxMs,
        meanMs: s.calls === 0 ? 0 : s.totalMs / s.calls,
      }))
      .sort((a, b) => b.totalMs - a.totalMs)
      .slice(0, top)
  }
}
