import { LRUCache } from 'lru-cache'

/**
 * GCRA (generic cell rate algorithm), the shape of a token bucket with one
 * number of state per client: the theoretical arrival time (TAT), the moment
 * the client's bucket would be full again. A request costs one emission
 * interval `T = window / limit`; it passes when the new TAT stays within the
 * burst window (`burst × T`) from now.
 *
 * Times are integer microseconds, so every sum is exact in a double (the
 * clock is ~1.7e15 µs, far below 2^53) and `burst × T` never rounds a request
 * away.
 */

/** Where a decision came from: Redis, the in-process limiter, or a fail-open / fail-closed rule. */
export type DecisionSource = 'redis' | 'local' | 'open' | 'closed'

/** One rate-limit decision. Times in milliseconds. */
export class Decision {
  readonly allowed: boolean
  /** Requests the client may still make at once. */
  readonly remaining: number
  /** When denied: how long until one request passes again (0 when allowed). */
  readonly retryAfterMs: number
  /** How long until the client's bucket is full again (its whole burst is back). */
  readonly resetMs: number
  readonly source: DecisionSource

  constructor(
    allowed: boolean,
    remaining: number,
    retryAfterMs: number,
    resetMs: number,
    source: DecisionSource,
  ) {
    this.allowed = allowed
    this.remaining = remaining
    this.retryAfterMs = retryAfterMs
    this.resetMs = resetMs
    this.source = source
  }
}

/**
 * The Redis side: one script, one key, atomic. The server's clock (`TIME`)
 * decides, so the app servers' clocks never matter. The key holds the TAT
 * (integer µs) and expires when the bucket is full again (at most the burst
 * window), so idle clients cost no memory.
 *
 * KEYS[1] the client's bucket; ARGV[1] the emission interval T (µs, integer);
 * ARGV[2] the burst (requests). Returns { allowed 1/0, remaining,
 * retry-after ms, reset ms }.
 */
export const GCRA_LUA = `
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local newTat = tat + interval
local allowAt = newTat - burst * interval
if now < allowAt then
  return { 0, 0, math.ceil((allowAt - now) / 1000), math.ceil((tat - now) / 1000) }
end
local ttl = math.ceil((newTat - now) / 1000)
redis.call('SET', KEYS[1], string.format('%.0f', newTat), 'PX', ttl)
return { 1, math.floor((now - allowAt) / interval), 0, ttl }
`

/** The reply of GCRA_LUA. */
export type GcraReply = [allowed: number, remaining: number, retryAfterMs: number, resetMs: number]

/**
 * The same algorithm in process, for when Redis cannot answer: a bounded LRU
 * of TATs on a monotonic clock. Per process, so N processes let N× through;
 * an evicted client starts with a full bucket (lenient, never stuck).
 */
export class LocalGcra {
  readonly #tats: LRUCache<string, number>

  constructor(maxKeys: number) {
    this.#tats = new LRUCache<string, number>({ max: maxKeys })
  }

  get size(): number {
    return this.#tats.size
  }

  hit(key: string, interval: number, burst: number): Decision {
    const now = Math.round(performance.now() * 1000)
    let tat = this.#tats.get(key) ?? now
    if (tat < now) tat = now
    const newTat = tat + interval
    const allowAt = newTat - burst * interval
    if (now < allowAt) {
      return new Decision(
        false,
        0,
        Math.ceil((allowAt - now) / 1000),
        Math.ceil((tat - now) / 1000),
        'local',
      )
    }
    this.#tats.set(key, newTat)
    return new Decision(
      true,
      Math.floor((now - allowAt) / interval),
      0,
      Math.ceil((newTat - now) / 1000),
      'local',
    )
  }

  clear(): void {
    this.#tats.clear()
  }
}
