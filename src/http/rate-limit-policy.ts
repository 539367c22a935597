import type { IncomingMessage, ServerResponse } from 'node:http'
import { errorCodes } from '../errors.ts'
import type { Decision } from './gcra.ts'
import { type Problem, problem } from './problem.ts'
import { clientAddress, type TrustProxy } from './rate-limit-key.ts'

/** The client's key from the request; null or undefined falls back to the client address. */
export type KeyBy<Req> = (req: Req) => string | null | undefined

type HeaderTarget = Pick<ServerResponse, 'getHeader' | 'setHeader'>

/** Policy names go out as structured-field strings: printable ASCII only. */
export const NAME = /^[\x20-\x7e]{1,64}$/

const RATE_LIMITED = errorCodes.HP_ERR_HTTP_RATE_LIMITED.message

/**
 * One limit, resolved once: the rate as an emission interval, the script's
 * arguments and the `RateLimit-Policy` value prebuilt, so a request only
 * formats its own remaining count.
 */
export class RateLimitPolicy<Req = IncomingMessage> {
  readonly name: string
  readonly limit: number
  readonly windowMs: number
  readonly burst: number
  /** The emission interval T = window / limit, in integer microseconds. */
  readonly interval: number
  readonly perRoute: boolean
  readonly keyBy: KeyBy<Req> | null
  /** `<prefix>:<name>:` — every bucket of this policy starts with it. */
  readonly keyPrefix: string
  /** The `RateLimit-Policy` item, e.g. `"default";q=100;w=60`. */
  readonly policyHeader: string
  /** @internal the script's arguments, as strings once. */
  readonly intervalArg: string
  /** @internal */
  readonly burstArg: string
  readonly #item: string
  readonly #limitText: string
  readonly #headers: boolean
  readonly #legacy: boolean

  constructor(
    init: {
      name: string
      limit: number
      windowMs: number
      burst: number
      perRoute: boolean
      keyBy: KeyBy<Req> | null
    },
    prefix: string,
    headers: boolean,
    legacy: boolean,
  ) {
    this.name = init.name
    this.limit = init.limit
    this.windowMs = init.windowMs
    this.burst = init.burst
    this.perRoute = init.perRoute
    this.keyBy = init.keyBy
    this.interval = Math.max(1, Math.round((init.windowMs * 1000) / init.limit))
    this.keyPrefix = `${prefix}:${init.name}:`
    this.#item = `"${init.name.replace(/[\\"]/g, '\\$&')}"`
    const w = Math.max(1, Math.round(init.windowMs / 1000))
    this.policyHeader = `${this.#item};q=${init.limit};w=${w}${
      init.burst === init.limit ? '' : `;hp-burst=${init.burst}`
    }`
    this.intervalArg = String(this.interval)
    this.burstArg = String(init.burst)
    this.#limitText = String(init.limit)
    this.#headers = headers
    this.#legacy = legacy
  }

  /** The bucket prefix of one route (the route part only when `perRoute`): build it once per route. */
  bucketPrefix(route: string): string {
    return this.perRoute ? `${this.keyPrefix}${route}:` : this.keyPrefix
  }

  /** The client part of the key: `keyBy`'s value (as `u:<value>`), else the client address. */
  clientKey(req: Req, raw: IncomingMessage, trustProxy: TrustProxy, v6Bits: number): string {
    if (this.keyBy !== null) {
      const k: unknown = this.keyBy(req)
      // A number (a user id from untyped code) is a key too.
      if ((typeof k === 'string' && k !== '') || typeof k === 'number') return `u:${k}`
    }
    return clientAddress(raw, trustProxy, v6Bits)
  }

  /**
   * Writes the rate-limit headers of a decision. The RateLimit fields are
   * lists, so a second policy on the same response (Express: an app-level and
   * a route-level limiter) adds its item instead of replacing the first.
   */
  writeHeaders(res: HeaderTarget, d: Decision): void {
    const retry = d.allowed ? 0 : retryAfterSeconds(d)
    if (this.#headers) {
      append(res, 'RateLimit-Policy', this.policyHeader)
      // Fail-open decisions know nothing of the client's quota: no made-up numbers.
      if (d.source !== 'open')
        append(
          res,
          'RateLimit',
          `${this.#item};r=${d.remaining};t=${d.allowed ? Math.ceil(d.resetMs / 1000) : retry}`,
        )
    }
    if (this.#legacy && d.source !== 'open') {
      res.setHeader('X-RateLimit-Limit', this.#limitText)
      res.setHeader('X-RateLimit-Remaining', String(d.remaining))
      res.setHeader('X-RateLimit-Reset', String(Math.ceil((Date.now() + d.resetMs) / 1000)))
    }
    if (!d.allowed) res.setHeader('Retry-After', String(retry))
  }

  /** The 429 body: RFC 9457 problem details, code HP_ERR_HTTP_RATE_LIMITED. */
  problem(d: Decision): Problem {
    return problem(429, RATE_LIMITED.replace('%s', String(retryAfterSeconds(d))), {
      code: 'HP_ERR_HTTP_RATE_LIMITED',
      'violated-policies': [this.name],
    })
  }
}

/** Retry-After in whole seconds, at least 1 (rounded up, so a client that obeys it gets through). */
export function retryAfterSeconds(d: Decision): number {
  return Math.max(1, Math.ceil(d.retryAfterMs / 1000))
}

function append(res: HeaderTarget, name: string, value: string): void {
  const prev = res.getHeader(name)
  res.setHeader(name, prev === undefined ? value : `${String(prev)}, ${value}`)
}
