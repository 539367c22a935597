import { EventEmitter } from 'node:events'
import type { IncomingMessage } from 'node:http'
import { Cluster, Redis } from 'ioredis'
import { type Duration, toMs } from '../cache/duration.ts'
import type { RedisTarget } from '../cache/options.ts'
import { RedisTier } from '../cache/redis-tier.ts'
import { FAILED, Remote } from '../cache/remote.ts'
import { HotpathError } from '../errors.ts'
import { Decision, GCRA_LUA, type GcraReply, LocalGcra } from './gcra.ts'
import type { TrustProxy } from './rate-limit-key.ts'
import { type KeyBy, NAME, RateLimitPolicy } from './rate-limit-policy.ts'

export { Decision, type DecisionSource } from './gcra.ts'
export type { TrustProxy } from './rate-limit-key.ts'
export { type KeyBy, RateLimitPolicy, retryAfterSeconds } from './rate-limit-policy.ts'

/** One limit. Route policies inherit `limit`, `window` and `keyBy` from the global one. */
export interface RateLimitPolicyOptions<Req = IncomingMessage> {
  /** Requests per window (rate = limit / window). Default: 100. */
  limit?: number
  /** The window of `limit`. Default: `'1m'`. */
  window?: Duration
  /** Requests a client with a full bucket may make at once. Default: `limit`. */
  burst?: number
  /** Name in the RateLimit headers, the problem body and the Redis key. Default: `'default'` (route policies: `'route'`). */
  name?: string
  /** The client's key (a user id…). Default: the client address (see `trustProxy`). */
  keyBy?: KeyBy<Req>
  /** One bucket per route template and client instead of one per client. Default: `false` (route policies: `true`). */
  perRoute?: boolean
}

export type OnRedisError = 'local' | 'allow' | 'deny'

export interface RateLimitOptions<Req = IncomingMessage> extends RateLimitPolicyOptions<Req> {
  /** Redis: a URL, ioredis options, or an ioredis `Redis` / `Cluster` (duplicated with fail-fast options). Default: none (in-process only). */
  redis?: RedisTarget
  /** Prefix of every Redis key. Default: `'hp:rl'`. */
  prefix?: string
  /** When Redis cannot answer: the in-process limiter decides, or every request passes, or none does. Default: `'local'`. */
  onRedisError?: OnRedisError
  /** A Redis call that has not answered after this long fails (one watchdog timer, not one per call). Default: `'50ms'`. */
  commandTimeout?: Duration
  /** Consecutive Redis failures that open the circuit. Default: 5. */
  breakerThreshold?: number
  /** An open circuit skips Redis this long between probes. Default: `'1s'`. */
  breakerDuration?: Duration
  /** Clients the in-process limiter remembers (LRU). Default: 10000. */
  localMaxKeys?: number
  /** Read the client address from X-Forwarded-For: `true` (leftmost) or the number of trusted proxies. Default: `false`. */
  trustProxy?: TrustProxy
  /** IPv6 clients are keyed by this prefix length. Default: 64. */
  ipv6Subnet?: number
  /** Send `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers-10). Default: `true`. */
  headers?: boolean
  /** Also send `X-RateLimit-Limit`, `-Remaining`, `-Reset` (epoch seconds). Default: `false`. */
  legacyHeaders?: boolean
}

/** Defaults, in one place (durations in ms); the README's option table states the same. */
export const rateLimitDefaults = Object.freeze({
  limit: 100,
  window: 60_000,
  name: 'default',
  routeName: 'route',
  perRoute: false,
  prefix: 'hp:rl',
  onRedisError: 'local' as OnRedisError,
  commandTimeout: 50,
  breakerThreshold: 5,
  breakerDuration: 1000,
  localMaxKeys: 10_000,
  trustProxy: false as TrustProxy,
  ipv6Subnet: 64,
  headers: true,
  legacyHeaders: false,
})

export interface RateLimitStats {
  /** Requests let through / refused, whoever decided. */
  allowed: number
  limited: number
  /** Decisions by the Redis script. */
  redisDecisions: number
  /** Decisions by the in-process limiter (Redis down, timed out, circuit open, not yet connected). */
  localDecisions: number
  /** Requests let through / refused unchecked because Redis could not answer (`onRedisError` 'allow' / 'deny'). */
  failOpen: number
  failClosed: number
  /** Redis calls that failed or timed out. */
  redisErrors: number
  circuitOpen: boolean
  connected: boolean
  /** Clients held by the in-process limiter. */
  localKeys: number
}

export interface FallbackEvent {
  key: string
  policy: string
  source: 'local' | 'open' | 'closed'
  allowed: boolean
}

export interface RateLimitEvents {
  /** Every decision made without Redis. Costs nothing until something listens. */
  fallback: [FallbackEvent]
  /** Every refused request. Costs nothing until something listens. */
  limited: [{ key: string; policy: string; source: Decision['source'] }]
  'redis:error': [{ error: unknown }]
  'circuit:open': []
  'circuit:close': []
}

type GcraClient = { hpGcra(key: string, interval: string, burst: string): Promise<GcraReply> }

function invalid(name: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [`rateLimit.${name}`, why])
}

function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0)
    throw invalid(name, `expected a positive integer, got ${String(value)}`)
  return value
}

function duration(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  try {
    return toMs(value, name)
  } catch {
    throw invalid(name, `expected a duration, got ${String(value)}`)
  }
}

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback
  if (typeof value !== 'boolean') throw invalid(name, `expected a boolean, got ${String(value)}`)
  return value
}

/**
 * Our own connection, whatever the caller gave (a client is duplicated): on
 * the request path commands must fail at once while disconnected (no offline
 * queue, no retries), and a dropped connection must close now, not after
 * ioredis' 2 s `disconnectTimeout` (the watchdog drops a stalled connection
 * to fail the calls under way).
 */
function connect(target: RedisTarget): Redis | Cluster {
  const node = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    enableAutoPipelining: true,
    disconnectTimeout: 0,
    lazyConnect: false,
  }
  const cluster = { enableOfflineQueue: false, enableAutoPipelining: true, lazyConnect: false }
  if (target instanceof Redis) return target.duplicate(node)
  if (target instanceof Cluster)
    return target.duplicate([], {
      ...cluster,
      redisOptions: { ...target.options.redisOptions, ...node },
    })
  if (typeof target === 'string') return new Redis(target, node)
  if ('cluster' in target)
    return new Cluster(target.cluster, { ...cluster, redisOptions: { ...target.options, ...node } })
  return new Redis({ ...target, ...node })
}

/**
 * The rate limiter behind both adapters: GCRA in one Redis script, with an
 * in-process GCRA taking over while Redis cannot answer. `hit` returns
 * synchronously when no Redis call is made (no Redis, circuit open).
 */
export class RateLimiter<Req = IncomingMessage> extends EventEmitter<RateLimitEvents> {
  readonly defaultPolicy: RateLimitPolicy<Req>
  readonly trustProxy: TrustProxy
  readonly ipv6Subnet: number
  readonly onRedisError: OnRedisError
  readonly #prefix: string
  readonly #headers: boolean
  readonly #legacy: boolean
  readonly #breakerMs: number
  readonly #remote: Remote | null
  readonly #local: LocalGcra | null
  #closed = false
  #allowed = 0
  #limited = 0
  #redisDecisions = 0
  #localDecisions = 0
  #failOpen = 0
  #failClosed = 0

  constructor(options: RateLimitOptions<Req> = {}) {
    super()
    if (options === null || typeof options !== 'object')
      throw invalid('options', 'expected an object')
    const d = rateLimitDefaults
    const prefix = options.prefix ?? d.prefix
    if (typeof prefix !== 'string' || prefix === '')
      throw invalid('prefix', 'expected a non-empty string')
    this.#prefix = prefix
    const mode = options.onRedisError ?? d.onRedisError
    if (mode !== 'local' && mode !== 'allow' && mode !== 'deny')
      throw invalid('onRedisError', `expected 'local', 'allow' or 'deny', got ${String(mode)}`)
    this.onRedisError = mode
    const trust = options.trustProxy ?? d.trustProxy
    if (typeof trust !== 'boolean' && !(Number.isInteger(trust) && trust > 0))
      throw invalid('trustProxy', `expected a boolean or a positive integer, got ${String(trust)}`)
    this.trustProxy = trust
    const v6 = options.ipv6Subnet ?? d.ipv6Subnet
    if (!Number.isInteger(v6) || v6 < 1 || v6 > 128)
      throw invalid('ipv6Subnet', `expected an integer from 1 to 128, got ${String(v6)}`)
    this.ipv6Subnet = v6
    this.#headers = bool('headers', options.headers, d.headers)
    this.#legacy = bool('legacyHeaders', options.legacyHeaders, d.legacyHeaders)
    const timeout = duration('commandTimeout', options.commandTimeout, d.commandTimeout)
    const threshold = positiveInt('breakerThreshold', options.breakerThreshold, d.breakerThreshold)
    this.#breakerMs = duration('breakerDuration', options.breakerDuration, d.breakerDuration)
    const maxKeys = positiveInt('localMaxKeys', options.localMaxKeys, d.localMaxKeys)
    this.defaultPolicy = this.policy(options, false)
    const useLocal = mode === 'local' || options.redis === undefined
    this.#local = useLocal ? new LocalGcra(maxKeys) : null
    if (options.redis === undefined) {
      this.#remote = null
      return
    }
    if (
      options.redis === null ||
      (typeof options.redis !== 'object' && typeof options.redis !== 'string')
    )
      throw invalid('redis', 'expected a Redis URL, options or client')
    const tier = new RedisTier(connect(options.redis))
    tier.client.defineCommand('hpGcra', { numberOfKeys: 1, lua: GCRA_LUA })
    this.#remote = new Remote(tier, threshold, this.#breakerMs, timeout, {
      onError: (error) => this.emit('redis:error', { error }),
      onOpen: () => this.emit('circuit:open'),
      onRecover: () => this.emit('circuit:close'),
    })
  }

  /**
   * Resolves a policy once. `route` policies inherit `limit`, `window` and
   * `keyBy` from the global one, and default to their own bucket per route.
   */
  policy(options: RateLimitPolicyOptions<Req>, route = true): RateLimitPolicy<Req> {
    if (options === null || typeof options !== 'object')
      throw invalid('policy', 'expected an object')
    const d = rateLimitDefaults
    const base = route ? this.defaultPolicy : null
    const limit = positiveInt('limit', options.limit, base?.limit ?? d.limit)
    const windowMs = duration('window', options.window, base?.windowMs ?? d.window)
    const burst = positiveInt('burst', options.burst, limit)
    const name = options.name ?? (route ? d.routeName : d.name)
    if (typeof name !== 'string' || !NAME.test(name))
      throw invalid('name', 'expected 1-64 printable ASCII characters')
    const keyBy = options.keyBy ?? base?.keyBy ?? null
    if (keyBy !== null && typeof keyBy !== 'function') throw invalid('keyBy', 'expected a function')
    const perRoute = bool('perRoute', options.perRoute, route ? true : d.perRoute)
    return new RateLimitPolicy<Req>(
      { name, limit, windowMs, burst, perRoute, keyBy },
      this.#prefix,
      this.#headers,
      this.#legacy,
    )
  }

  /** The client part of a request's bucket key; the whole key is `policy.bucketPrefix(route)` + this. */
  clientKey(policy: RateLimitPolicy<Req>, req: Req, raw: IncomingMessage): string {
    return policy.clientKey(req, raw, this.trustProxy, this.ipv6Subnet)
  }

  /** Counts one request against `key` (a full bucket key) under `policy`. */
  hit(policy: RateLimitPolicy<Req>, key: string): Decision | Promise<Decision> {
    const r = this.#remote
    if (r === null || r.open || !r.tier.started) return this.#fallback(policy, key)
    return this.#redisHit(r, policy, key)
  }

  async #redisHit(r: Remote, policy: RateLimitPolicy<Req>, key: string): Promise<Decision> {
    const reply = await r.read((t) =>
      (t.client as unknown as GcraClient).hpGcra(key, policy.intervalArg, policy.burstArg),
    )
    if (reply === FAILED) return this.#fallback(policy, key)
    const d = new Decision(reply[0] === 1, reply[1], reply[2], reply[3], 'redis')
    this.#redisDecisions++
    this.#count(policy, key, d)
    return d
  }

  #fallback(policy: RateLimitPolicy<Req>, key: string): Decision {
    let d: Decision
    if (this.#local !== null) {
      d = this.#local.hit(key, policy.interval, policy.burst)
      this.#localDecisions++
    } else if (this.onRedisError === 'allow') {
      d = new Decision(true, 0, 0, 0, 'open')
      this.#failOpen++
    } else {
      d = new Decision(false, 0, this.#breakerMs, this.#breakerMs, 'closed')
      this.#failClosed++
    }
    this.#count(policy, key, d)
    if (this.listenerCount('fallback') > 0)
      this.emit('fallback', {
        key,
        policy: policy.name,
        source: d.source as FallbackEvent['source'],
        allowed: d.allowed,
      })
    return d
  }

  #count(policy: RateLimitPolicy<Req>, key: string, d: Decision): void {
    if (d.allowed) {
      this.#allowed++
      return
    }
    this.#limited++
    if (this.listenerCount('limited') > 0)
      this.emit('limited', { key, policy: policy.name, source: d.source })
  }

  stats(): RateLimitStats {
    const r = this.#remote
    return {
      allowed: this.#allowed,
      limited: this.#limited,
      redisDecisions: this.#redisDecisions,
      localDecisions: this.#localDecisions,
      failOpen: this.#failOpen,
      failClosed: this.#failClosed,
      redisErrors: r?.errors ?? 0,
      circuitOpen: r?.open ?? false,
      connected: r?.tier.connected ?? false,
      localKeys: this.#local?.size ?? 0,
    }
  }

  /** Resolves true once Redis answers (at once without Redis), false after `timeoutMs`. */
  ready(timeoutMs = 5000): Promise<boolean> {
    return this.#remote === null ? Promise.resolve(true) : this.#remote.tier.ready(timeoutMs)
  }

  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const r = this.#remote
    if (r === null) return
    r.close()
    await r.drain(this.#breakerMs)
    // Ours (see `connect`): RedisTier does not close a client it was given.
    const client = r.tier.client
    if (client.status !== 'ready') return client.disconnect()
    try {
      await client.quit()
    } catch {
      client.disconnect()
    }
  }
}

/** Creates a rate limiter; options are validated here, once (HP_ERR_INVALID_OPTION). */
export function createRateLimiter<Req = IncomingMessage>(
  options: RateLimitOptions<Req> = {},
): RateLimiter<Req> {
  return new RateLimiter<Req>(options)
}
