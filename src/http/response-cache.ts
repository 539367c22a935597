import { hash } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { TieredCache } from '../cache/index.ts'
import { createKeys, type Duration, type KeyBuilder } from '../cache/index.ts'
import { HotpathError, isHotpathError } from '../errors.ts'
import { Compressor, type Encoding, toEncoding } from './compression.ts'
import { etagMatches } from './etag.ts'
import {
  Capture,
  ms,
  Policy,
  Prepared,
  type RouteCacheOptions,
  type StoredResponse,
  Variant,
} from './response-entry.ts'

export {
  type CacheControlOptions,
  Capture,
  Policy,
  Prepared,
  type RouteCacheOptions,
  type StoredResponse,
  Variant,
} from './response-entry.ts'

export interface ResponseCacheOptions {
  /** The tiered cache responses live in (the data cache: tags are shared). Required. */
  cache: TieredCache
  /** Compresses the stored variants (and the responses the cache owns); `false` stores identity only. Default: a new `Compressor` with its defaults. */
  compressor?: Compressor | false
  /** Codings compressed and stored on a miss; other accepted codings are compressed once per process on first use. Default: `['br', 'gzip']`. */
  variants?: readonly Encoding[]
  /** Statuses that are stored. Default: `[200]`. */
  statuses?: readonly number[]
  /** Larger bodies are not stored. Default: 1 MiB. */
  maxBytes?: number
  /** Response header saying `HIT` or `MISS`; `false` for none. Default: `'x-cache'`. */
  header?: string | false
  /** Prefix of the cache keys (`res:api:/path?query`). Default: `'res'`. */
  keyPrefix?: string
  /** Response headers never stored, added to the built-in list (per-request ones: `date`, `set-cookie`, rate-limit, request ids…). Default: none. */
  ignoreHeaders?: readonly string[]
  /** How long concurrent misses wait for the first one's response before running their own handler. Default: `'10s'`. */
  wait?: Duration
}

/** Defaults, in one place; the README's option table says the same. */
export const responseCacheDefaults = Object.freeze({
  variants: Object.freeze<Encoding[]>(['br', 'gzip']),
  statuses: Object.freeze([200]),
  maxBytes: 1024 * 1024,
  header: 'x-cache',
  keyPrefix: 'res',
  wait: 10_000,
  /** Never replayed from a stored response: per-request, per-connection, or recomputed. */
  ignoreHeaders: Object.freeze(
    (
      'age connection content-encoding content-length date etag keep-alive ratelimit ' +
      'ratelimit-limit ratelimit-policy ratelimit-remaining ratelimit-reset request-id ' +
      'retry-after server-timing set-cookie trailer transfer-encoding vary x-ratelimit-limit ' +
      'x-ratelimit-remaining x-ratelimit-reset x-request-id x-response-time'
    ).split(' '),
  ),
})

export interface ResponseCacheStats {
  /** Responses served from the cache (including requests that waited for a concurrent miss). */
  hits: number
  /** Requests that ran the handler to fill the cache. */
  misses: number
  /** 304s sent for a matching `If-None-Match`. */
  notModified: number
  /** Requests not looked up: credentials on a public route, no user key on a private one, HEAD misses. */
  bypassed: number
  stored: number
  /** Responses not stored: status, size, `Set-Cookie`, `no-store`/`private`, unknown `Vary`, a stream. */
  refused: number
}

function etagOf(body: Buffer): string {
  return `"${hash('sha1', body, 'base64url')}"`
}

const MEMO_MAX = 4096

/**
 * The response cache's core, shared by the Fastify plugin and the Express
 * middleware: keys, single-flight lookup through `getOrSet`, storing a
 * captured response with its coded variants, and picking the variant a
 * request gets. A hit does no JSON, hashing or compression work.
 */
export class ResponseCache {
  readonly cache: TieredCache
  readonly compressor: Compressor | null
  readonly header: string | null
  readonly maxBytes: number
  readonly #variants: readonly Encoding[]
  readonly #statuses: ReadonlySet<number>
  readonly #ignore: ReadonlySet<string>
  readonly #wait: number
  readonly #keys: KeyBuilder
  readonly #long: KeyBuilder
  readonly #urls = new Map<string, string>()
  readonly #prepared = new WeakMap<object, Prepared>()
  readonly #c: ResponseCacheStats = {
    hits: 0,
    misses: 0,
    notModified: 0,
    bypassed: 0,
    stored: 0,
    refused: 0,
  }

  constructor(options: ResponseCacheOptions) {
    const d = responseCacheDefaults
    if (options === null || typeof options !== 'object' || !options.cache) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['cache', 'a TieredCache is required'])
    }
    this.cache = options.cache
    this.compressor = options.compressor === false ? null : (options.compressor ?? new Compressor())
    const variants = options.variants ?? d.variants
    this.#variants = Object.freeze(
      variants.map((e) => toEncoding(e)).filter((e) => this.compressor?.encodings.includes(e)),
    )
    const statuses = options.statuses ?? d.statuses
    const bodyless = (s: number) => s === 204 || s === 206 || s === 304
    if (
      !Array.isArray(statuses) ||
      statuses.some((s) => !Number.isInteger(s) || s < 200 || s > 599 || bodyless(s))
    ) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', [
        'statuses',
        'expected status codes from 200 to 599 with a body (not 204, 206, 304)',
      ])
    }
    this.#statuses = new Set(statuses)
    const maxBytes = options.maxBytes ?? d.maxBytes
    if (!Number.isInteger(maxBytes) || maxBytes <= 0) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['maxBytes', 'a positive integer'])
    }
    this.maxBytes = maxBytes
    const header = options.header ?? d.header
    if (header !== false && (typeof header !== 'string' || !/^[A-Za-z0-9-]+$/.test(header))) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['header', 'a header name or false'])
    }
    this.header = header === false ? null : header.toLowerCase()
    const ignore = [...d.ignoreHeaders, ...(options.ignoreHeaders ?? [])]
    if (this.header !== null) ignore.push(this.header)
    this.#ignore = new Set(ignore.map((h) => h.toLowerCase()))
    this.#wait = options.wait === undefined ? d.wait : ms('wait', options.wait)
    const prefix = options.keyPrefix ?? d.keyPrefix
    this.#keys = createKeys({ prefix })
    this.#long = createKeys()
  }

  /** Resolves a route's options once (at route registration). */
  policy<R>(options: RouteCacheOptions<R>): Policy<R> {
    return new Policy(options, this.#wait)
  }

  /**
   * The cache key of a request, or null when it must not be cached: a
   * public route with credentials, or a private one without a user key.
   * HEAD shares GET's key; the URL's query is sorted.
   */
  key<R>(policy: Policy<R>, url: string, headers: IncomingHttpHeaders, request: R): string | null {
    let user: string | null = null
    if (policy.keyBy !== null) {
      const u = policy.keyBy(request)
      if (u == null || u === '') return this.#bypass()
      user = String(u)
    } else if (headers.authorization !== undefined || headers.cookie !== undefined) {
      return this.#bypass()
    }
    let key = this.#urls.get(url)
    if (key === undefined) {
      const hashAt = url.indexOf('#')
      const clean = hashAt < 0 ? url : url.slice(0, hashAt)
      const q = clean.indexOf('?')
      key =
        q < 0
          ? this.#keys.apiResponse(clean)
          : this.#keys.apiResponse(clean.slice(0, q), clean.slice(q + 1))
      if (this.#urls.size >= MEMO_MAX) this.#urls.clear()
      this.#urls.set(url, key)
    }
    if (policy.vary.length === 0 && user === null) return key
    // A space cannot occur in a request target, so the suffix is unambiguous.
    let suffix = ''
    for (const name of policy.vary) {
      const v = headers[name]
      suffix += ` ${name}=${encodeURIComponent(Array.isArray(v) ? v.join(',') : (v ?? ''))}`
    }
    if (user !== null) suffix += ` u=${encodeURIComponent(user)}`
    return this.#long.of(key + suffix)
  }

  #bypass(): null {
    this.#c.bypassed++
    return null
  }

  /**
   * Looks a key up with single-flight: a stored response (Prepared), or the
   * Capture when this request is the first miss (it runs the handler and
   * must `store` or `settle(null)`), or null to run the handler uncached.
   * Requests that arrive during the first miss wait for its result. HEAD
   * (`lead: false`) is served from GET's entry but never fills it.
   */
  lookup<R>(key: string, policy: Policy<R>, lead: boolean): Promise<Prepared | Capture | null> {
    if (!lead) {
      return this.cache.get(key).then(
        (value) => this.#hit(value) ?? this.#bypass(),
        () => this.#bypass(),
      )
    }
    return new Promise((resolve, reject) => {
      let capture: Capture | null = null
      this.cache
        .getOrSet<StoredResponse | null>(
          key,
          (ctx) =>
            new Promise<StoredResponse | null>((settle) => {
              this.#c.misses++
              capture = new Capture(settle, ctx, policy as Policy<never>)
              resolve(capture)
            }),
          policy.getOrSet,
        )
        .then(
          (value) => {
            if (capture === null) resolve(this.#hit(value))
            // The leader's response is already prepared: let hits on the stored copy reuse it.
            else if (value !== null && capture.prepared !== null)
              this.#prepared.set(value, capture.prepared)
          },
          (err: unknown) => {
            if (capture !== null) return
            // Waiting ran out, or the cache closed: serve uncached rather than fail.
            if (isHotpathError(err, 'HP_ERR_CACHE_FACTORY_TIMEOUT')) resolve(null)
            else if (isHotpathError(err, 'HP_ERR_CACHE_CLOSED')) resolve(null)
            else reject(err)
          },
        )
    })
  }

  #hit(value: unknown): Prepared | null {
    const p = this.prepare(value)
    if (p !== null) this.#c.hits++
    return p
  }

  /** The Prepared form of a stored value, built once per value object (L1 hands out the same one). */
  prepare(value: unknown): Prepared | null {
    if (value === null || typeof value !== 'object') return null
    const known = this.#prepared.get(value)
    if (known !== undefined) return known
    const s = value as StoredResponse
    if (
      s.v !== 1 ||
      typeof s.s !== 'number' ||
      typeof s.h !== 'object' ||
      typeof s.b?.identity !== 'string' ||
      typeof s.e?.identity !== 'string'
    )
      return null
    const p = this.#build(s.s, s.c, s.h, Buffer.from(s.b.identity, 'base64'), s.e.identity)
    for (const e of Object.keys(s.b) as (Encoding | 'identity')[]) {
      if (e === 'identity' || typeof s.e[e] !== 'string') continue
      p.variants.set(e, this.#variant(p, Buffer.from(s.b[e]!, 'base64'), s.e[e]!, e))
    }
    this.#prepared.set(value, p)
    return p
  }

  #build(
    status: number,
    c: 0 | 1 | 2,
    headers: Record<string, string>,
    body: Buffer,
    etag: string,
  ): Prepared {
    const base = { ...headers }
    const identity = new Variant(base, body, etag, null, this.header)
    return new Prepared(status, c === 2 && this.compressor !== null, base, identity)
  }

  #variant(p: Prepared, body: Buffer, etag: string, encoding: Encoding): Variant {
    return new Variant(p.base, body, etag, encoding, this.header)
  }

  /**
   * Stores a captured response if it may be stored, and returns it ready to
   * send; null (after settling the capture with null) when it may not.
   */
  store<R>(
    capture: Capture,
    request: R,
    status: number,
    headers: Record<string, unknown>,
    body: Buffer,
  ): Prepared | null {
    const policy = capture.policy as Policy<R>
    // Settled already: the client left (or waiting ran out) before the response was ready.
    if (capture.settled) return null
    if (!this.#storable(policy, status, headers, body.length)) return this.refuse(capture)
    if (policy.tags !== null) {
      try {
        const tags = typeof policy.tags === 'function' ? policy.tags(request) : policy.tags
        if (tags.length > 0) capture.ctx.setTags(tags)
      } catch (err) {
        capture.settle(null)
        throw err
      }
    }
    const h: Record<string, string> = {}
    for (const name of Object.keys(headers)) {
      const v = headers[name]
      if (v == null || this.#ignore.has(name)) continue
      h[name] = Array.isArray(v) ? v.join(', ') : String(v)
    }
    let cc = policy.cacheControl ?? h['cache-control']
    if (cc === undefined) cc = policy.private ? 'private, no-cache' : 'no-cache'
    else if (policy.private && !/\bprivate\b/i.test(cc)) cc = `private, ${cc}`
    h['cache-control'] = cc
    const verdict =
      this.compressor === null
        ? 'type'
        : this.compressor.check(status, h['content-type'], undefined, cc, body.length)
    const c = verdict === 'compress' ? 2 : verdict === 'small' ? 1 : 0
    const vary = [...policy.vary]
    if (c !== 0) vary.push('accept-encoding')
    if (vary.length > 0) h.vary = vary.join(', ')
    const etag = etagOf(body)
    const stored: StoredResponse = {
      v: 1,
      s: status,
      h,
      c,
      b: { identity: '' },
      e: { identity: etag },
    }
    const p = this.#build(status, c, h, body, etag)
    if (p.compressible) {
      for (const e of this.#variants) {
        const out = this.compressor!.compressSync(body, e)
        // A coding that does not shrink the body is not worth a variant.
        if (out.length >= body.length) continue
        const tag = etagOf(out)
        stored.b[e] = out.toString('base64')
        stored.e[e] = tag
        p.variants.set(e, this.#variant(p, out, tag, e))
      }
    }
    stored.b.identity = body.toString('base64')
    this.#c.stored++
    capture.prepared = p
    capture.settle(stored)
    return p
  }

  /** Leaves a captured response unstored (the waiters run their own handler). */
  refuse(capture: Capture): null {
    if (!capture.settled) this.#c.refused++
    capture.settle(null)
    return null
  }

  #storable<R>(policy: Policy<R>, status: number, h: Record<string, unknown>, size: number) {
    if (!this.#statuses.has(status) || size > this.maxBytes) return false
    if (h['set-cookie'] !== undefined) return false
    const ce = h['content-encoding']
    if (ce !== undefined && ce !== 'identity') return false
    const cc = h['cache-control']
    if (typeof cc === 'string') {
      if (/\bno-store\b/i.test(cc)) return false
      if (!policy.private && /\bprivate\b/i.test(cc)) return false
    }
    const vary = h.vary
    if (vary !== undefined) {
      for (const token of String(vary).split(',')) {
        const t = token.trim().toLowerCase()
        if (t === '' || t === 'accept-encoding') continue
        if (t === '*' || !policy.vary.includes(t)) return false
      }
    }
    return true
  }

  /** The variant for a request's `Accept-Encoding`; a coding not stored is compressed once per process. */
  select(p: Prepared, acceptEncoding: string | undefined): Variant {
    if (!p.compressible) return p.identity
    const e = this.compressor!.negotiate(acceptEncoding)
    if (e === null) return p.identity
    const v = p.variants.get(e)
    return v === undefined ? this.#fill(p, e) : v
  }

  #fill(p: Prepared, e: Encoding): Variant {
    const out = this.compressor!.compressSync(p.identity.body, e)
    const v =
      out.length < p.identity.body.length ? this.#variant(p, out, etagOf(out), e) : p.identity
    p.variants.set(e, v)
    return v
  }

  /** Whether `If-None-Match` matches the variant (weak comparison, as RFC 9110 asks for it). */
  notModified(v: Variant, ifNoneMatch: string | undefined): boolean {
    if (!etagMatches(ifNoneMatch, v.etag)) return false
    this.#c.notModified++
    return true
  }

  stats(): ResponseCacheStats {
    return { ...this.#c }
  }
}

export function createResponseCache(options: ResponseCacheOptions): ResponseCache {
  return new ResponseCache(options)
}
