import { toMs } from './duration.ts'
import { checkTags } from './keys.ts'
import type { FactoryContext, Ttl } from './types.ts'

/** One factory run per key per process; every caller for the key awaits its promise. */
export class Flight {
  readonly promise: Promise<unknown>
  settled = false
  #resolve!: (value: unknown) => void
  #reject!: (err: unknown) => void

  constructor() {
    this.promise = new Promise<unknown>((resolve, reject) => {
      this.#resolve = resolve
      this.#reject = reject
    })
    // A flight that is rejected with no caller left must not crash the process.
    this.promise.catch(() => {})
  }

  resolve(value: unknown): void {
    if (this.settled) return
    this.settled = true
    this.#resolve(value)
  }

  reject(err: unknown): void {
    if (this.settled) return
    this.settled = true
    this.#reject(err)
  }
}

export class Context<T> implements FactoryContext<T> {
  readonly key: string
  readonly stale: T | undefined
  readonly #abort = new AbortController()
  ttl: number
  tags: readonly string[] | null
  skipped = false
  readonly #resolveTtl: (ttl: Ttl) => number

  constructor(
    key: string,
    stale: T | undefined,
    ttl: number,
    tags: readonly string[] | null,
    resolveTtl: (ttl: Ttl) => number,
  ) {
    this.key = key
    this.stale = stale
    this.ttl = ttl
    this.tags = tags
    this.#resolveTtl = resolveTtl
  }

  get signal(): AbortSignal {
    return this.#abort.signal
  }

  abort(reason: unknown): void {
    this.#abort.abort(reason)
  }

  setTtl(ttl: Ttl): void {
    this.ttl = typeof ttl === 'number' ? toMs(ttl) : this.#resolveTtl(ttl)
  }

  setTags(tags: readonly string[]): void {
    const checked = checkTags(tags)
    this.tags = checked.length === 0 ? null : [...checked]
  }

  skipCache(): void {
    this.skipped = true
  }
}
