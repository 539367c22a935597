/**
 * Top-K keys by recent hits in bounded memory (Space-Saving): at most
 * `capacity` counters; a new key replaces the smallest and inherits its
 * count. Counts halve every `halfLife` so the ranking follows recent traffic.
 */
export class HotKeys {
  readonly #counts = new Map<string, number>()
  readonly #capacity: number
  readonly #halfLife: number
  #nextDecay: number

  constructor(capacity: number, halfLife: number) {
    this.#capacity = capacity
    this.#halfLife = halfLife
    this.#nextDecay = Date.now() + halfLife
  }

  record(key: string, now: number): void {
    if (now >= this.#nextDecay) this.#decay(now)
    const c = this.#counts.get(key)
    if (c !== undefined) {
      this.#counts.set(key, c + 1)
      return
    }
    if (this.#counts.size < this.#capacity) {
      this.#counts.set(key, 1)
      return
    }
    let minKey = ''
    let min = Number.POSITIVE_INFINITY
    for (const [k, v] of this.#counts) {
      if (v < min) {
        min = v
        minKey = k
      }
    }
    this.#counts.delete(minKey)
    this.#counts.set(key, min + 1)
  }

  top(n: number): { key: string; hits: number }[] {
    return [...this.#counts]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .map(([key, hits]) => ({ key, hits: Math.round(hits * 100) / 100 }))
  }

  #decay(now: number): void {
    for (const [k, v] of this.#counts) {
      const half = v / 2
      if (half < 0.5) this.#counts.delete(k)
      else this.#counts.set(k, half)
    }
    this.#nextDecay = now + this.#halfLife
  }
}
