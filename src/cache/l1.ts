import { LRUCache } from 'lru-cache'
import type { Entry } from './entry.ts'

/**
 * The in-process tier: an LRU bounded by bytes and by entries, synchronous,
 * with an index from tag to keys so a tag invalidation drops exactly the
 * entries it names without a scan and the hit path never checks tags.
 */
export class L1Store {
  readonly #lru: LRUCache<string, Entry>
  readonly #byTag = new Map<string, Set<string>>()
  evictions = 0

  constructor(maxBytes: number, maxItems: number) {
    this.#lru = new LRUCache<string, Entry>({
      max: maxItems,
      maxSize: maxBytes,
      sizeCalculation: (e) => e.size,
      dispose: (e, key, reason) => {
        if (reason === 'evict') this.evictions++
        if (e.tags !== null) this.#unindex(key, e.tags)
      },
    })
  }

  get(key: string): Entry | undefined {
    return this.#lru.get(key)
  }

  /** Reads without touching recency: for stale lookups that should not keep an entry alive. */
  peek(key: string): Entry | undefined {
    return this.#lru.peek(key)
  }

  set(key: string, entry: Entry): void {
    // An entry larger than the whole tier is refused by lru-cache; skip it quietly.
    if (entry.size > this.#lru.maxSize) return
    this.#lru.set(key, entry)
    if (entry.tags !== null && this.#lru.peek(key) === entry) {
      for (const tag of entry.tags) {
        let keys = this.#byTag.get(tag)
        if (keys === undefined) {
          keys = new Set()
          this.#byTag.set(tag, keys)
        }
        keys.add(key)
      }
    }
  }

  delete(key: string): boolean {
    return this.#lru.delete(key)
  }

  /** Drops every entry carrying one of the tags; returns how many. */
  deleteTags(tags: readonly string[]): number {
    let n = 0
    for (const tag of tags) {
      const keys = this.#byTag.get(tag)
      if (keys === undefined) continue
      for (const key of [...keys]) if (this.#lru.delete(key)) n++
      this.#byTag.delete(tag)
    }
    return n
  }

  deleteMatching(test: (key: string) => boolean): number {
    let n = 0
    for (const key of [...this.#lru.keys()]) if (test(key) && this.#lru.delete(key)) n++
    return n
  }

  clear(): void {
    this.#lru.clear()
    this.#byTag.clear()
  }

  get size(): number {
    return this.#lru.size
  }

  get bytes(): number {
    return this.#lru.calculatedSize
  }

  get maxItems(): number {
    return this.#lru.max
  }

  get maxBytes(): number {
    return this.#lru.maxSize
  }

  #unindex(key: string, tags: readonly string[]): void {
    for (const tag of tags) {
      const keys = this.#byTag.get(tag)
      if (keys === undefined) continue
      keys.delete(key)
      if (keys.size === 0) this.#byTag.delete(tag)
    }
  }
}
