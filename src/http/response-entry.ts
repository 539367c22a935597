import { toMs } from '../cache/duration.ts'
import type { Duration, FactoryContext, GetOrSetOptions, Ttl } from '../cache/index.ts'
import { HotpathError } from '../errors.ts'
import type { Encoding } from './compression.ts'

/**
 * The response cache's pieces: a route's resolved options (Policy), the
 * stored form of a response, its per-process prepared form (Prepared, one
 * Variant per coding), and the first miss of a key (Capture).
 */

export interface CacheControlOptions {
  /** `max-age` (a duration; 0 allowed). */
  maxAge?: Duration | 0
  /** `s-maxage`, for shared caches (dropped on private routes). */
  sMaxAge?: Duration | 0
  /** `stale-while-revalidate`. */
  staleWhileRevalidate?: Duration | 0
  /** `no-store`: clients and CDNs keep nothing (the server-side cache still does). */
  noStore?: boolean
}

/** A route's cache settings (Fastify: `config.cache`; Express: the middleware's argument). */
export interface RouteCacheOptions<R = unknown> {
  /** How long a response is fresh: a duration or a tier name. Default: the cache's `defaultTtl`. */
  ttl?: Ttl
  /** A tier name; same as `ttl: 'warm'`. */
  tier?: string
  /** Tags shared with the data cache: `cache.invalidateTags([...])` drops the response too. Default: none. */
  tags?: readonly string[] | ((request: R) => readonly string[])
  /** Request headers whose values select a separate entry (e.g. `accept-language`). Default: none. */
  vary?: readonly string[]
  /** Cache per user (needs `keyBy`): requests with credentials are cached, under their user key only. Default: `false`. */
  private?: boolean
  /** The user key of a private route; `null`/`undefined`/`''` leaves the request uncached. */
  keyBy?: (request: R) => string | number | null | undefined
  /** `Cache-Control` sent with the response. Default: the handler's, else `no-cache` (`private, no-cache` on private routes). */
  cacheControl?: string | CacheControlOptions
}

/** What the tiered cache holds for one response: plain JSON, bodies in base64, ETags per coding. */
export interface StoredResponse {
  v: 1
  /** status */
  s: number
  /** headers to replay (lowercase names), `cache-control` and `vary` final */
  h: Record<string, string>
  /** 2: compressible, 1: `Vary: Accept-Encoding` only (small), 0: neither */
  c: 0 | 1 | 2
  /** bodies by coding (`identity`, `br`, …), base64 */
  b: Record<string, string>
  /** strong ETags by coding */
  e: Record<string, string>
}

/** A route's options resolved once. */
export class Policy<R = unknown> {
  readonly getOrSet: GetOrSetOptions
  readonly tags: readonly string[] | ((request: R) => readonly string[]) | null
  readonly vary: readonly string[]
  readonly private: boolean
  readonly keyBy: ((request: R) => string | number | null | undefined) | null
  readonly cacheControl: string | null

  constructor(o: RouteCacheOptions<R>, wait: number) {
    if (o === null || typeof o !== 'object') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache', 'expected route cache options'])
    }
    if (o.ttl !== undefined && o.tier !== undefined) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache.ttl/tier', 'give one of them'])
    }
    const base: GetOrSetOptions = { timeout: { hard: wait } }
    if (o.ttl !== undefined) base.ttl = o.ttl
    if (o.tier !== undefined) base.tier = o.tier
    this.getOrSet = Object.freeze(base)
    if (o.tags !== undefined && typeof o.tags !== 'function' && !Array.isArray(o.tags)) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache.tags', 'an array or a function'])
    }
    if (Array.isArray(o.tags) && o.tags.some((t) => typeof t !== 'string' || t === '')) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache.tags', 'tags are non-empty strings'])
    }
    this.tags = o.tags === undefined ? null : typeof o.tags === 'function' ? o.tags : [...o.tags]
    const vary = o.vary ?? []
    if (!Array.isArray(vary) || vary.some((h) => typeof h !== 'string' || h === '')) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache.vary', 'expected header names'])
    }
    this.vary = Object.freeze(vary.map((h) => h.toLowerCase()).sort())
    this.private = o.private === true
    if (this.private && typeof o.keyBy !== 'function') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache.keyBy', 'a private route needs one'])
    }
    this.keyBy = this.private ? o.keyBy! : null
    this.cacheControl = cacheControl(o.cacheControl, this.private)
  }
}

export function ms(name: string, value: unknown): number {
  try {
    return toMs(value, name)
  } catch {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [name, `expected a duration, got ${value}`])
  }
}

function seconds(name: string, value: unknown): number {
  return value === 0 ? 0 : Math.floor(ms(name, value) / 1000)
}

function cacheControl(o: RouteCacheOptions['cacheControl'], priv: boolean): string | null {
  if (o === undefined) return null
  if (typeof o === 'string') return priv && !/\bprivate\b/i.test(o) ? `private, ${o}` : o
  if (o === null || typeof o !== 'object') {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache.cacheControl', 'a string or an object'])
  }
  if (o.noStore) return priv ? 'private, no-store' : 'no-store'
  const parts = [priv ? 'private' : 'public']
  if (o.maxAge !== undefined) parts.push(`max-age=${seconds('cacheControl.maxAge', o.maxAge)}`)
  if (o.sMaxAge !== undefined && !priv)
    parts.push(`s-maxage=${seconds('cacheControl.sMaxAge', o.sMaxAge)}`)
  if (o.staleWhileRevalidate !== undefined) {
    const s = seconds('cacheControl.staleWhileRevalidate', o.staleWhileRevalidate)
    parts.push(`stale-while-revalidate=${s}`)
  }
  return parts.join(', ')
}

/** One stored body in one coding, with its headers built once per process. */
export class Variant {
  readonly body: Buffer
  readonly etag: string
  /** A hit's headers: the stored ones plus length, coding, ETag and `x-cache: HIT`. */
  readonly headers: Record<string, string>
  /** The same for the miss that stored it (`x-cache: MISS`). */
  readonly missHeaders: Record<string, string>
  /** A 304's headers: ETag, Cache-Control, Vary. */
  readonly notModified: Record<string, string>

  constructor(
    base: Record<string, string>,
    body: Buffer,
    etag: string,
    encoding: Encoding | null,
    header: string | null,
  ) {
    this.body = body
    this.etag = etag
    const h: Record<string, string> = { ...base, 'content-length': String(body.length), etag }
    if (encoding !== null) h['content-encoding'] = encoding
    const nm: Record<string, string> = { etag }
    if (base['cache-control'] !== undefined) nm['cache-control'] = base['cache-control']
    if (base.vary !== undefined) nm.vary = base.vary
    if (header !== null) {
      h[header] = 'HIT'
      nm[header] = 'HIT'
    }
    this.headers = h
    this.notModified = nm
    this.missHeaders = header === null ? h : { ...h, [header]: 'MISS' }
  }
}

/** A stored response made ready to send: Buffers and headers, per process, held while L1 holds the entry. */
export class Prepared {
  readonly status: number
  /** Whether coded variants apply (compressible and over the threshold). */
  readonly compressible: boolean
  readonly base: Record<string, string>
  readonly identity: Variant
  readonly variants = new Map<Encoding, Variant>()

  constructor(
    status: number,
    compressible: boolean,
    base: Record<string, string>,
    identity: Variant,
  ) {
    this.status = status
    this.compressible = compressible
    this.base = base
    this.identity = identity
  }
}

/** The first miss of a key: its response is stored and served to the requests that waited for it. */
export class Capture {
  #resolve: ((value: StoredResponse | null) => void) | null
  readonly ctx: FactoryContext<StoredResponse | null>
  readonly policy: Policy<never>
  /** The stored response as the leader prepared it. */
  prepared: Prepared | null = null

  constructor(
    resolve: (value: StoredResponse | null) => void,
    ctx: FactoryContext<StoredResponse | null>,
    policy: Policy<never>,
  ) {
    this.#resolve = resolve
    this.ctx = ctx
    this.policy = policy
  }

  get settled(): boolean {
    return this.#resolve === null
  }

  /** Hands the response (or null: not storable, the waiters run their own handler) to the cache. */
  settle(value: StoredResponse | null): void {
    const resolve = this.#resolve
    if (resolve === null) return
    this.#resolve = null
    if (value === null) this.ctx.skipCache()
    resolve(value)
  }
}
