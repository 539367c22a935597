import type { Endpoint } from './endpoint.ts'

interface Replica {
  endpoint: Endpoint
  downUntil: number
}

/**
 * Primary/replica routing: reads round-robin over the healthy replicas, a
 * failed replica sits out `retryMs` and is tried again after; with none
 * healthy, reads go to the primary.
 */
export class Router {
  readonly primary: Endpoint
  readonly #replicas: Replica[]
  readonly #retryMs: number
  #next = 0

  constructor(primary: Endpoint, replicas: Endpoint[], retryMs: number) {
    this.primary = primary
    this.#replicas = replicas.map((endpoint) => ({ endpoint, downUntil: 0 }))
    this.#retryMs = retryMs
  }

  get replicas(): readonly Endpoint[] {
    return this.#replicas.map((r) => r.endpoint)
  }

  /** The next healthy replica, or null when there is none. */
  reader(): Endpoint | null {
    const n = this.#replicas.length
    if (n === 0) return null
    const now = Date.now()
    for (let i = 0; i < n; i++) {
      const r = this.#replicas[(this.#next + i) % n]!
      if (r.downUntil <= now) {
        this.#next = (this.#next + i + 1) % n
        return r.endpoint
      }
    }
    return null
  }

  /** Returns true when the replica was in rotation until now. */
  markDown(endpoint: Endpoint): boolean {
    const r = this.#replicas.find((x) => x.endpoint === endpoint)
    if (r === undefined) return false
    const now = Date.now()
    const wasUp = r.downUntil <= now
    r.downUntil = now + this.#retryMs
    return wasUp
  }

  health(): { name: string; up: boolean }[] {
    const now = Date.now()
    return this.#replicas.map((r) => ({ name: r.endpoint.name, up: r.downUntil <= now }))
  }

  all(): Endpoint[] {
    return [this.primary, ...this.#replicas.map((r) => r.endpoint)]
  }
}
