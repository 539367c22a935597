import type { Cluster, Redis } from 'ioredis'

/** What travels on the bus: keys, tags, a pattern or a clear; never values. */
export interface BusMessage {
  /** sender instance id */
  i: string
  k?: string[]
  t?: string[]
  p?: string
  c?: 1
}

export interface BusHandlers {
  onMessage(message: BusMessage): void
  /** The subscription came back after a break: invalidations may have been missed. */
  onReconnect(): void
}

/**
 * L1 coherence across instances: a dedicated subscribed connection receives
 * invalidations from other instances; our own messages are ignored by id.
 */
export class InvalidationBus {
  readonly #sub: Redis | Cluster
  readonly #channel: string
  readonly #id: string
  #wasReady = false
  #lost = false
  readonly #waiters: (() => void)[] = []
  subscribed = false
  received = 0
  reconnects = 0

  constructor(sub: Redis | Cluster, channel: string, id: string, handlers: BusHandlers) {
    this.#sub = sub
    this.#channel = channel
    this.#id = id
    sub.on('error', () => {})
    sub.on('close', () => {
      if (this.#wasReady) this.#lost = true
    })
    sub.on('ready', () => {
      if (this.#lost) {
        this.#lost = false
        this.reconnects++
        handlers.onReconnect()
      }
      this.#wasReady = true
      // Subscribe on every (re)connect: the connection has no offline queue, and SUBSCRIBE is idempotent.
      sub.subscribe(channel).then(
        () => {
          this.subscribed = true
          for (const w of this.#waiters.splice(0)) w()
        },
        () => {},
      )
    })
    sub.on('close', () => {
      this.subscribed = false
    })
    sub.on('message', (channel: string, text: string) => {
      if (channel !== this.#channel) return
      let msg: BusMessage
      try {
        msg = JSON.parse(text) as BusMessage
      } catch {
        return
      }
      if (msg.i === this.#id) return
      this.received++
      handlers.onMessage(msg)
    })
  }

  /** Resolves true once subscribed, false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean> {
    if (this.subscribed) return Promise.resolve(true)
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs)
      this.#waiters.push(() => {
        clearTimeout(timer)
        resolve(true)
      })
    })
  }

  encode(msg: Omit<BusMessage, 'i'>): string {
    return JSON.stringify({ i: this.#id, ...msg })
  }

  get channel(): string {
    return this.#channel
  }

  async close(): Promise<void> {
    // Not connected: drop the reconnect timers at once instead of waiting for them.
    if (this.#sub.status !== 'ready') return this.#sub.disconnect()
    try {
      await this.#sub.quit()
    } catch {
      this.#sub.disconnect()
    }
  }
}
