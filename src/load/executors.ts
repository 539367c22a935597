import { setTimeout as sleep } from 'node:timers/promises'
import type { ResolvedScenario } from './scenario.ts'
import { arrivalSchedule, share, vusAt } from './schedule.ts'
import { Interrupted, type VirtualUser } from './vu.ts'

/**
 * Executors, one worker's share of one scenario. Closed ones (constant-vus,
 * ramping-vus) keep N VUs looping; open ones (arrival rates) start
 * iterations on a schedule whatever the response times, taking this
 * worker's residue class of the global schedule (k ≡ index mod count) so
 * the workers' iterations interleave into one even stream.
 */

export interface ExecutorHooks {
  readonly scenario: ResolvedScenario
  /** This worker's index among `workers`. */
  readonly index: number
  readonly workers: number
  newVU(id: number): VirtualUser
  init: ((vu: VirtualUser) => Promise<void> | void) | undefined
  journey(vu: VirtualUser): Promise<void> | void
  /** An iteration ended (error: what the journey threw; undefined when it completed). */
  iterationDone(startedAt: number, error: unknown): void
  dropped(n: number): void
}

export interface ExecutorRun {
  /** Resolves when the scenario has ended and every iteration finished or was cut. */
  readonly done: Promise<void>
  /** VUs allocated now. */
  readonly vus: number
  /** Pre-allocates and initializes VUs before the start (open executors). */
  prepare(): Promise<void>
  /** Starts now; `startAt` is the scenario's start on this thread's performance clock. */
  start(startAt: number): void
  /** Ends early: no new iterations; running ones get gracefulStop, then are cut. */
  stop(): void
}

abstract class Base implements ExecutorRun {
  protected readonly all: VirtualUser[] = []
  protected readonly initialized = new WeakSet<VirtualUser>()
  protected ended = false
  protected taken = 0
  protected startAt = 0
  #created = 0
  protected readonly cap: number
  readonly #running = new Set<Promise<void>>()
  #resolve!: () => void
  readonly done = new Promise<void>((r) => {
    this.#resolve = r
  })

  protected readonly h: ExecutorHooks

  constructor(h: ExecutorHooks) {
    this.h = h
    const it = h.scenario.iterations
    this.cap = it === undefined ? Number.POSITIVE_INFINITY : share(it, h.index, h.workers)
  }

  get vus(): number {
    return this.all.length
  }

  protected createVU(): VirtualUser {
    // A counter, not all.length: interrupted VUs leave `all`, and ids must not repeat.
    const vu = this.h.newVU(this.#created++ * this.h.workers + this.h.index + 1)
    this.all.push(vu)
    return vu
  }

  protected async initVU(vu: VirtualUser): Promise<boolean> {
    if (this.initialized.has(vu)) return true
    if (this.h.init === undefined) {
      this.initialized.add(vu)
      return true
    }
    const started = performance.now()
    try {
      await this.h.init(vu)
      this.initialized.add(vu)
      return true
    } catch (err) {
      if (err instanceof Interrupted) return false
      // A failed init (login refused) counts as a failed iteration; the next one retries it.
      this.h.iterationDone(started, err)
      return false
    }
  }

  /** One iteration; false when it was cut by the stop. */
  protected async iterate(vu: VirtualUser, scheduledAt: number | undefined): Promise<void> {
    // One await fewer per iteration once the VU is initialized (the common case).
    if (!this.initialized.has(vu) && !(await this.initVU(vu))) return
    vu.beginIteration(scheduledAt)
    const started = scheduledAt ?? performance.now()
    try {
      await this.h.journey(vu)
      this.h.iterationDone(started, undefined)
    } catch (err) {
      if (!(err instanceof Interrupted)) this.h.iterationDone(started, err)
    }
  }

  protected track(p: Promise<void>): void {
    this.#running.add(p)
    void p.finally(() => {
      this.#running.delete(p)
      if (this.ended && this.#running.size === 0) this.#resolve()
    })
  }

  async prepare(): Promise<void> {}

  start(startAt: number): void {
    this.startAt = startAt
    this.begin()
  }

  protected abstract begin(): void

  stop(): void {
    if (this.ended) return
    this.ended = true
    this.onEnd()
    if (this.#running.size === 0) {
      this.#resolve()
      return
    }
    const cut = setTimeout(() => {
      for (const vu of this.all) vu.interrupt()
    }, this.h.scenario.gracefulStopMs)
    cut.unref()
    void this.done.then(() => clearTimeout(cut))
  }

  protected onEnd(): void {}

  protected at(): number {
    return performance.now() - this.startAt
  }

  /** Calls stop() at the scenario's end. */
  protected endAtDuration(): void {
    const t = setTimeout(
      () => this.stop(),
      Math.max(0, this.startAt + this.h.scenario.durationMs - performance.now()),
    )
    void this.done.then(() => clearTimeout(t))
  }
}

/** constant-vus and ramping-vus: VUs loop; a ramp adds or retires them every 100 ms. */
class Closed extends Base {
  readonly #active = new Set<VirtualUser>()
  readonly #leaving = new Set<VirtualUser>()
  #timer: NodeJS.Timeout | undefined

  protected begin(): void {
    this.endAtDuration()
    this.#adjust()
    if (this.h.scenario.executor === 'ramping-vus') {
      this.#timer = setInterval(() => this.#adjust(), 100)
    }
  }

  #adjust(): void {
    if (this.ended) return
    const want = share(vusAt(this.h.scenario, this.at()), this.h.index, this.h.workers)
    while (this.#active.size - this.#leaving.size < want) {
      const back = [...this.#leaving][0]
      if (back !== undefined) {
        this.#leaving.delete(back)
        continue
      }
      const vu = this.all.find((v) => !this.#active.has(v)) ?? this.createVU()
      this.#active.add(vu)
      this.track(this.#loop(vu))
    }
    const staying = [...this.#active].filter((v) => !this.#leaving.has(v))
    for (let n = staying.length - want; n > 0; n--) {
      const vu = staying.pop() as VirtualUser
      this.#leaving.add(vu)
      // A leaving VU ends its iteration, or is cut after gracefulRampDown.
      const cut = setTimeout(() => {
        if (this.#leaving.has(vu)) vu.interrupt()
      }, this.h.scenario.gracefulRampDownMs)
      cut.unref()
    }
  }

  async #loop(vu: VirtualUser): Promise<void> {
    try {
      while (!this.ended && !this.#leaving.has(vu) && !vu.signal.aborted && this.taken < this.cap) {
        this.taken++
        await this.iterate(vu, undefined)
      }
    } finally {
      this.#active.delete(vu)
      this.#leaving.delete(vu)
      if (vu.signal.aborted && !this.ended) {
        // An interrupted VU cannot send again; replace it with a fresh one if still wanted.
        const i = this.all.indexOf(vu)
        if (i >= 0) this.all.splice(i, 1)
      }
      if (this.taken >= this.cap) this.stop()
    }
  }

  protected override onEnd(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer)
  }
}

/** Arrival rates: iterations due on a schedule; late ones wait (counted in the corrected latency), stale ones drop. */
class Open extends Base {
  readonly #due = arrivalSchedule(this.h.scenario)
  readonly #idle: VirtualUser[] = []
  /** Global indices of due iterations waiting for a VU, oldest first. */
  #backlog: number[] = []
  #head = 0
  #next = this.h.index
  #timer: NodeJS.Timeout | undefined

  override async prepare(): Promise<void> {
    const n = share(this.h.scenario.vus, this.h.index, this.h.workers)
    const vus = Array.from({ length: n }, () => this.createVU())
    await Promise.all(vus.map((vu) => this.initVU(vu)))
    this.#idle.push(...vus)
  }

  protected begin(): void {
    this.#tick()
  }

  #maxVUs(): number {
    return Math.max(1, share(this.h.scenario.maxVUs, this.h.index, this.h.workers))
  }

  #tick(): void {
    this.#timer = undefined
    if (this.ended) return
    const now = this.at()
    let t = this.#due(this.#next)
    while (t <= now && this.taken < this.cap) {
      this.taken++
      this.#dispatch(this.#next)
      this.#next += this.h.workers
      t = this.#due(this.#next)
    }
    this.#dropStale(now)
    if (t === Number.POSITIVE_INFINITY || this.taken >= this.cap) {
      // Nothing more is due: wait for the backlog to drain (or go stale), then end.
      this.#drainThenStop()
      return
    }
    this.#timer = setTimeout(() => this.#tick(), Math.max(0, t - this.at()))
  }

  #dispatch(k: number): void {
    let vu = this.#idle.pop()
    if (vu === undefined && this.all.length < this.#maxVUs()) vu = this.createVU()
    if (vu === undefined) this.#backlog.push(k)
    else this.#run(vu, k)
  }

  #run(vu: VirtualUser, k: number): void {
    this.track(
      this.iterate(vu, this.startAt + this.#due(k)).then(() => {
        if (vu.signal.aborted) return
        const next = this.#takeBacklog()
        if (next !== undefined && !this.ended) this.#run(vu, next)
        else this.#idle.push(vu)
      }),
    )
  }

  #takeBacklog(): number | undefined {
    this.#dropStale(this.at())
    if (this.#head >= this.#backlog.length) return undefined
    const k = this.#backlog[this.#head++] as number
    if (this.#head > 1024 && this.#head * 2 > this.#backlog.length) {
      this.#backlog = this.#backlog.slice(this.#head)
      this.#head = 0
    }
    return k
  }

  #dropStale(now: number): void {
    const maxLag = this.h.scenario.maxLagMs
    let n = 0
    while (
      this.#head < this.#backlog.length &&
      now - this.#due(this.#backlog[this.#head] as number) > maxLag
    ) {
      this.#head++
      n++
    }
    if (n > 0) this.h.dropped(n)
  }

  #drainThenStop(): void {
    const waiting = this.#backlog.length - this.#head
    if (waiting === 0) {
      this.stop()
      return
    }
    this.#timer = setTimeout(() => {
      this.#dropStale(this.at())
      this.#drainThenStop()
    }, 50)
  }

  protected override onEnd(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    const left = this.#backlog.length - this.#head
    if (left > 0) this.h.dropped(left)
    this.#backlog = []
    this.#head = 0
  }
}

export function createExecutor(h: ExecutorHooks): ExecutorRun {
  return h.scenario.open ? new Open(h) : new Closed(h)
}

/** Waits until `at` on the performance clock. */
export function until(at: number): Promise<void> {
  return sleep(Math.max(0, at - performance.now()))
}
