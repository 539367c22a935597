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
    // ioredis re-subscribes by itself after a reconnect.
    sub.subscribe(channel).catch(() => {})
  }

  encode(msg: Omit<BusMessage, 'i'>): string {
    return JSON.stringify({ i: this.#id, ...msg })
  }

  get channel(): string {
    return this.#channel
  }

  async close(): Promise<void> {
    try {
      await this.#sub.quit()
    } catch {
      this.#sub.disconnect()
    }
  }
}
