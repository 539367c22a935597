import type { RedisTier } from './redis-tier.ts'

/** What a read returns when L2 could not answer (down, timed out, circuit open). */
export const FAILED: unique symbol = Symbol('hotpath.l2.failed')
export type Failed = typeof FAILED

export interface RemoteEvents {
  onError(err: unknown): void
  onOpen(): void
  onRecover(): void
}

/**
 * Resilience above the Redis tier, in one place: per-command timeouts come
 * from the client, and a circuit breaker stops calling Redis after
 * `threshold` consecutive failures, probing again once per `duration`.
 * Reads resolve to FAILED and writes to false instead of throwing.
 */
export class Remote {
  readonly tier: RedisTier
  readonly #threshold: number
  readonly #duration: number
  readonly #events: RemoteEvents
  #failures = 0
  #openUntil = 0
  #timer: NodeJS.Timeout | null = null
  #closed = false
  readonly #timeout: number
  #watchdog: NodeJS.Timeout | null = null
  #progress = 0
  #inFlight = 0
  #drained: (() => void) | null = null
  errors = 0
  skipped = 0

  constructor(
    tier: RedisTier,
    threshold: number,
    duration: number,
    timeout: number,
    events: RemoteEvents,
  ) {
    this.tier = tier
    this.#timeout = timeout
    this.#watch()
    this.#threshold = threshold
    this.#duration = duration
    this.#events = events
    // A reconnect closes the circuit at once instead of waiting for the next probe.
    tier.client.on('ready', () => this.#ok())
  }

  get open(): boolean {
    return this.#openUntil !== 0
  }

  #allow(): boolean {
    if (!this.tier.started) return false
    if (this.#openUntil === 0) return true
    const now = Date.now()
    if (now < this.#openUntil) return false
    // Half-open: let this call probe, keep the others out for another period.
    this.#openUntil = now + this.#duration
    return true
  }

  #ok(): void {
    if (this.#failures === 0) return
    this.#failures = 0
    this.#openUntil = 0
    this.#events.onRecover()
  }

  #fail(err: unknown): void {
    this.errors++
    this.#failures++
    this.#events.onError(err)
    if (this.#openUntil === 0 && this.#failures >= this.#threshold) {
      this.#openUntil = Date.now() + this.#duration
      this.#events.onOpen()
      this.#probe()
    }
  }

  /** While open, PING once per period, so the cache recovers (and replays) even with no traffic. */
  #probe(): void {
    if (this.#timer !== null || this.#closed) return
    this.#timer = setInterval(() => {
      if (this.#openUntil === 0) return this.#stopProbe()
      this.tier.client.ping().then(
        () => this.#ok(),
        () => {},
      )
    }, this.#duration)
    this.#timer.unref()
  }

  #stopProbe(): void {
    if (this.#timer !== null) clearInterval(this.#timer)
    this.#timer = null
  }

  close(): void {
    this.#closed = true
    this.#stopProbe()
    if (this.#watchdog !== null) clearInterval(this.#watchdog)
  }

  /** `arg` lets hot callers pass a static function and its argument instead of a new closure. */
  async read<T, A = undefined>(
    op: (tier: RedisTier, arg: A) => Promise<T>,
    arg?: A,
  ): Promise<T | Failed> {
    if (!this.#allow()) {
      this.skipped++
      return FAILED
    }
    this.#inFlight++
    try {
      const value = await op(this.tier, arg as A)
      this.#ok()
      return value
    } catch (err) {
      this.#fail(err)
      return FAILED
    } finally {
      this.#progress++
      if (--this.#inFlight === 0) this.#drained?.()
    }
  }

  /**
   * The command timeout, without a timer per command (ioredis' commandTimeout
   * costs ~15 % of L2 throughput): a watchdog looks four times per `timeout`;
   * when commands are under way and none has finished for a whole `timeout`,
   * Redis is stalled, and the connection is dropped and reopened, which fails
   * every command under way at once.
   */
  #watch(): void {
    let seen = -1
    let still = 0
    this.#watchdog = setInterval(() => {
      if (this.#inFlight === 0 || this.#progress !== seen) {
        seen = this.#progress
        still = 0
        return
      }
      if (++still < 4) return
      still = 0
      this.errors++
      this.#events.onError(new Error(`Redis did not answer for ${this.#timeout} ms`))
      this.tier.client.disconnect(true)
    }, this.#timeout / 4)
    this.#watchdog.unref()
  }

  /** Resolves once no command is under way, or after `ms`. */
  drain(ms: number): Promise<void> {
    if (this.#inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms)
      this.#drained = () => {
        clearTimeout(timer)
        this.#drained = null
        resolve()
      }
    })
  }

  async write(op: (tier: RedisTier) => Promise<unknown>): Promise<boolean> {
    return (await this.read(op)) !== FAILED
  }
}
