import { globToRegExp } from './glob.ts'

/**
 * Guards against stale write-back. Every invalidation (delete, set, tags,
 * pattern, clear — local or from the bus) gets a sequence number; an
 * operation that read or computed a value notes the sequence when it
 * started, and stores its result only if nothing touching its key or tags
 * was invalidated since. Entries are kept only while an older operation is
 * still running.
 */
export class InvalidationLog {
  #seq = 0
  readonly #keys = new Map<string, number>()
  readonly #tags = new Map<string, number>()
  #patterns: { re: RegExp; seq: number }[] = []
  #cleared = 0
  // Operations running, by start sequence: the newest start in two fields (the
  // steady state, no Map work per read), older ones in a Map in ascending order.
  #total = 0
  #head = -1
  #headCount = 0
  readonly #older = new Map<number, number>()

  begin(): number {
    const s = this.#seq
    this.#total++
    if (s === this.#head) this.#headCount++
    else {
      if (this.#headCount > 0) this.#older.set(this.#head, this.#headCount)
      this.#head = s
      this.#headCount = 1
    }
    return s
  }

  end(start: number): void {
    this.#total--
    if (start === this.#head) this.#headCount--
    else {
      const n = (this.#older.get(start) ?? 1) - 1
      if (n > 0) this.#older.set(start, n)
      else this.#older.delete(start)
    }
    if (this.#total === 0) this.#reset()
    else if (this.#keys.size + this.#tags.size > 4096) this.#prune()
  }

  key(key: string): void {
    if (this.#total > 0) this.#keys.set(key, ++this.#seq)
  }

  tags(tags: readonly string[]): void {
    if (this.#total === 0) return
    const s = ++this.#seq
    for (const t of tags) this.#tags.set(t, s)
  }

  pattern(glob: string): void {
    if (this.#total > 0) this.#patterns.push({ re: globToRegExp(glob), seq: ++this.#seq })
  }

  clear(): void {
    if (this.#total > 0) this.#cleared = ++this.#seq
  }

  /** Was `key`, or any of `tags`, invalidated after `start`? */
  touched(start: number, key: string, tags: readonly string[] | null): boolean {
    if (this.#seq === start) return false
    if (this.#cleared > start) return true
    if ((this.#keys.get(key) ?? 0) > start) return true
    if (tags !== null) for (const t of tags) if ((this.#tags.get(t) ?? 0) > start) return true
    for (const p of this.#patterns) if (p.seq > start && p.re.test(key)) return true
    return false
  }

  #reset(): void {
    this.#older.clear()
    this.#headCount = 0
    if (this.#keys.size > 0) this.#keys.clear()
    if (this.#tags.size > 0) this.#tags.clear()
    if (this.#patterns.length > 0) this.#patterns = []
    this.#cleared = 0
  }

  #prune(): void {
    const oldest = this.#older.keys().next().value ?? (this.#headCount > 0 ? this.#head : this.#seq)
    for (const [k, s] of this.#keys) if (s <= oldest) this.#keys.delete(k)
    for (const [t, s] of this.#tags) if (s <= oldest) this.#tags.delete(t)
    this.#patterns = this.#patterns.filter((p) => p.seq > oldest)
  }
}
