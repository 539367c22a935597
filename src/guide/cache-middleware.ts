import type { Request, RequestHandler } from 'express'
import type { TieredCache } from '../cache/cache.ts'
import type { Compressor } from '../http/compression.ts'
import { type ExpressResponseCache, expressResponseCache } from '../http/express/response-cache.ts'
import type { RouteCacheOptions } from '../http/response-cache.ts'
import { cacheService } from './cache-service.ts'
import { sharedCompressor } from './compression.ts'
import { cacheConfig } from './config.ts'
import { ttlMs } from './units.ts'

/** Per-route options besides the TTL: `tags`, `vary`, `private` with `keyBy`, `cacheControl`. */
export type CacheMiddlewareOptions = Omit<RouteCacheOptions<Request>, 'ttl' | 'tier'>

// One response cache per connected cache (and shared compressor): made on
// first use, so routes may be declared before `cacheService.connect()`.
let made: { cache: TieredCache; compressor: Compressor; rc: ExpressResponseCache } | null = null

function responseCache(cache: TieredCache): ExpressResponseCache {
  const compressor = sharedCompressor()
  if (made === null || made.cache !== cache || made.compressor !== compressor) {
    made = { cache, compressor, rc: expressResponseCache({ cache, compressor }) }
  }
  return made.rc
}

/**
 * The guides' `cacheMiddleware(seconds)` for GET routes: hotpath's response
 * cache (`express.responseCache`) on the connected cache, so responses sit in
 * L1 and Redis beside the data, keyed `res:` + `CacheKeys.apiResponse(path,
 * query)`, stored compressed, with ETag / 304 and single flight. Before
 * `cacheService.connect()` (or after `disconnect()`) requests pass through
 * uncached: a cache outage must not fail the route.
 */
export function cacheMiddleware(
  seconds: number = cacheConfig.ttl.apiResponse,
  options: CacheMiddlewareOptions = {},
): RequestHandler {
  const route: RouteCacheOptions<Request> = { ...options, ttl: ttlMs(seconds, 'cacheMiddleware') }
  const handlers = new WeakMap<ExpressResponseCache, RequestHandler>()
  return (req, res, next) => {
    const cache = cacheService.current()
    if (cache === null) return next()
    const rc = responseCache(cache)
    let handler = handlers.get(rc)
    if (handler === undefined) {
      handler = rc(route)
      handlers.set(rc, handler)
    }
    return handler(req, res, next)
  }
}
