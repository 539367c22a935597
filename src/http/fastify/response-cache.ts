import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
  onSendHookHandler,
  RouteOptions,
} from 'fastify'
import fp from 'fastify-plugin'
import { skipCompression } from '../compression.ts'
import {
  Capture,
  type Policy,
  type Prepared,
  ResponseCache,
  type ResponseCacheOptions,
  type RouteCacheOptions,
} from '../response-cache.ts'
import { compressReply } from './compression.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Cache this GET route's responses (hotpath response cache). */
    cache?: RouteCacheOptions<FastifyRequest>
  }
}

export interface FastifyResponseCacheOptions extends Partial<ResponseCacheOptions> {
  /** Use this response cache (and its counters) instead of creating one from the options. */
  responseCache?: ResponseCache
}

type Done = (err?: Error | null, payload?: unknown) => void

/** The first miss of each key, waiting for its response in onSend. */
const captures = new WeakMap<FastifyRequest, Capture>()

function serve(rc: ResponseCache, p: Prepared, request: FastifyRequest, reply: FastifyReply) {
  const v = rc.select(p, request.headers['accept-encoding'])
  skipCompression(reply.raw)
  if (rc.notModified(v, request.headers['if-none-match'])) {
    reply.code(304).headers(v.notModified).send()
    return
  }
  if (p.status !== 200) reply.code(p.status)
  reply.headers(v.headers).send(v.body)
}

function lookupHook(rc: ResponseCache, policy: Policy<FastifyRequest>): onRequestHookHandler {
  return function hotpathCacheLookup(request, reply, done) {
    const method = request.method
    if (method !== 'GET' && method !== 'HEAD') return done()
    const key = rc.key(policy, request.url, request.headers, request)
    if (key === null) return done()
    rc.lookup(key, policy, method === 'GET').then((r) => {
      if (r === null) return done()
      if (r instanceof Capture) {
        captures.set(request, r)
        // The cache compresses what it captures; a compression hook must leave it alone.
        skipCompression(reply.raw)
        // Whatever happens to this request, the waiters must not wait for ever.
        reply.raw.once('close', () => r.settle(null))
        return done()
      }
      serve(rc, r, request, reply)
    }, done)
  }
}

function captureHook(rc: ResponseCache): onSendHookHandler {
  return function hotpathCacheStore(request, reply, payload, done: Done) {
    const capture = captures.get(request)
    if (capture === undefined) return done(null, payload)
    captures.delete(request)
    let p: Prepared | null = null
    try {
      const body =
        typeof payload === 'string'
          ? Buffer.from(payload)
          : Buffer.isBuffer(payload)
            ? payload
            : null
      // A stream is passed through: buffering it would hold back its first bytes.
      if (body !== null) p = rc.store(capture, request, reply.statusCode, reply.getHeaders(), body)
      else rc.refuse(capture)
    } catch (err) {
      return done(err as Error)
    }
    if (p === null) {
      // Not storable: compress it as the compression plugin would have.
      if (rc.compressor === null) return done(null, payload)
      const out = compressReply(rc.compressor, request, reply, payload)
      if (out instanceof Promise) out.then((b) => done(null, b), done)
      else done(null, out)
      return
    }
    const v = rc.select(p, request.headers['accept-encoding'])
    reply.headers(v.missHeaders)
    if (rc.notModified(v, request.headers['if-none-match'])) {
      reply.code(304)
      reply.removeHeader('content-length')
      return done(null, null)
    }
    done(null, v.body)
  }
}

function add<T>(current: T | T[] | undefined, hook: T): T[] {
  return current === undefined
    ? [hook]
    : Array.isArray(current)
      ? [...current, hook]
      : [current, hook]
}

/**
 * The response cache for Fastify. Routes opt in with `config.cache`; the
 * plugin adds hooks to those routes only. A hit is answered in `onRequest`
 * (private routes: `preHandler`, after authentication) with stored bytes and
 * prebuilt headers, so the handler, serialization and compression are
 * skipped; a miss runs the handler, and `onSend` stores the body with its
 * coded variants. Concurrent misses of one key wait for the first.
 */
const plugin: FastifyPluginAsync<FastifyResponseCacheOptions> = async (app, options) => {
  const rc = options.responseCache ?? new ResponseCache(options as ResponseCacheOptions)
  const store = captureHook(rc)
  app.addHook('onRoute', (route: RouteOptions) => {
    const config = route.config?.cache
    if (config == null) return
    const policy = rc.policy<FastifyRequest>(config)
    const hook = lookupHook(rc, policy)
    if (policy.private) route.preHandler = add(route.preHandler, hook)
    else route.onRequest = add(route.onRequest, hook)
    route.onSend = add(route.onSend, store)
  })
}

export const fastifyResponseCache = fp(plugin, { fastify: '5.x', name: 'hotpath-response-cache' })
