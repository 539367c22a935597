import { HotpathError } from '../errors.ts'

export type BatchLoad<K, V> = (
  keys: readonly K[],
) => Promise<readonly (V | undefined)[] | ReadonlyMap<K, V>>

export interface LoaderOptions<K> {
  /** Most keys per batch call. Default: 500. */
  maxBatch?: number
  /** Turns a key into a Map key for de-duplication. Default: the key itself. */
  keyOf?: (key: K) => unknown
}

/**
 * The fix for N+1 (DataLoader's idea): every `load` in the same tick joins one
 * batch, duplicate keys are asked once, and results are memoized for the
 * loader's life — create one per request.
 */
export class Loader<K, V> {
  readonly #batch: BatchLoad<K, V>
  readonly #max: number
  readonly #keyOf: (key: K) => unknown
  readonly #memo = new Map<unknown, Promise<V | undefined>>()
  #queue: { key: K; resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[] = []

  constructor(batch: BatchLoad<K, V>, options: LoaderOptions<K> = {}) {
    if (typeof batch !== 'function') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['loader', 'expected a batch function'])
    }
    this.#batch = batch
    this.#max = options.maxBatch ?? 500
    this.#keyOf = options.keyOf ?? ((k) => k)
  }

  load(key: K): Promise<V | undefined> {
    const id = this.#keyOf(key)
    const memo = this.#memo.get(id)
    if (memo !== undefined) return memo
    const p = new Promise<V | undefined>((resolve, reject) => {
      if (this.#queue.length === 0) {
        // After the current promise jobs settle, so loads issued in a loop's callbacks join in.
        Promise.resolve().then(() => process.nextTick(() => this.#dispatch()))
      }
      this.#queue.push({ key, resolve, reject })
    })
    this.#memo.set(id, p)
    return p
  }

  loadMany(keys: readonly K[]): Promise<(V | undefined)[]> {
    return Promise.all(keys.map((k) => this.load(k)))
  }

  clear(key?: K): void {
    if (key === undefined) this.#memo.clear()
    else this.#memo.delete(this.#keyOf(key))
  }

  #dispatch(): void {
    const queue = this.#queue
    this.#queue = []
    for (let i = 0; i < queue.length; i += this.#max) void this.#run(queue.slice(i, i + this.#max))
  }

  async #run(
    items: { key: K; resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[],
  ) {
    try {
      const result = await this.#batch(items.map((i) => i.key))
      if (result instanceof Map) {
        for (const i of items) i.resolve(result.get(i.key))
      } else {
        const list = result as readonly (V | undefined)[]
        if (list.length !== items.length) {
          throw new HotpathError('HP_ERR_INVALID_OPTION', [
            'loader',
            `the batch function returned ${list.length} values for ${items.length} keys`,
          ])
        }
        for (let n = 0; n < items.length; n++) items[n]!.resolve(list[n])
      }
    } catch (err) {
      for (const i of items) {
        this.#memo.delete(this.#keyOf(i.key))
        i.reject(err)
      }
    }
  }
}
