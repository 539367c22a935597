import type { ServerResponse } from 'node:http'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { skipCompression, unskipCompression } from '../compression.ts'
import {
  Capture,
  type Policy,
  type Prepared,
  ResponseCache,
  type ResponseCacheOptions,
  type RouteCacheOptions,
} from '../response-cache.ts'
import { applyWriteHead, type EndFn, type WriteFn, type WriteHeadFn } from './compression.ts'

export interface ExpressResponseCacheOptions extends Partial<ResponseCacheOptions> {
  /** Use this response cache (and its counters) instead of creating one from the options. */
  responseCache?: ResponseCache
}

/** A route middleware factory over one response cache. */
export interface ExpressResponseCache {
  /** The middleware for one route: `app.get(path, cached({ ttl: '1m' }), handler)`. */
  (route?: RouteCacheOptions<Request>): RequestHandler
  /** App-level: `app.use(cached.match((req) => options | undefined))`, options resolved once per object. */
  match(select: (req: Request) => RouteCacheOptions<Request> | undefined): RequestHandler
  readonly core: ResponseCache
}

function serve(rc: ResponseCache, p: Prepared, req: Request, res: Response): void {
  const v = rc.select(p, req.headers['accept-encoding'])
  skipCompression(res)
  if (rc.notModified(v, req.headers['if-none-match'])) {
    res.writeHead(304, v.notModified)
    res.end()
    return
  }
  res.writeHead(p.status, v.headers)
  res.end(req.method === 'HEAD' ? undefined : v.body)
}

/**
 * Buffers the first miss's response (writeHead, write, end), then stores it
 * and sends the variant the client accepts. Past `maxBytes` it gives up and
 * streams what it holds and the rest through.
 */
class Recorder {
  readonly #rc: ResponseCache
  readonly #capture: Capture
  readonly #req: Request
  readonly #res: Response
  readonly #write: WriteFn
  readonly #end: EndFn
  readonly #writeHead: WriteHeadFn
  #chunks: Buffer[] = []
  #size = 0
  #passing = false

  constructor(rc: ResponseCache, capture: Capture, req: Request, res: Response) {
    this.#rc = rc
    this.#capture = capture
    this.#req = req
    this.#res = res
    this.#write = res.write as WriteFn
    this.#end = res.end as EndFn
    this.#writeHead = res.writeHead as WriteHeadFn
    const r = res as unknown as Record<string, unknown>
    r.writeHead = (...args: unknown[]) => this.#onWriteHead(args)
    r.write = (chunk: unknown, encoding?: unknown, cb?: unknown) =>
      this.#onWrite(chunk, encoding, cb)
    r.end = (chunk?: unknown, encoding?: unknown, cb?: unknown) => this.#onEnd(chunk, encoding, cb)
    res.once('close', () => capture.settle(null))
  }

  #onWriteHead(args: unknown[]): ServerResponse {
    if (this.#passing) return this.#writeHead.apply(this.#res, args)
    applyWriteHead(this.#res, args)
    return this.#res
  }

  #add(chunk: unknown, encoding: unknown): void {
    if (chunk == null || typeof chunk === 'function') return
    const b =
      typeof chunk === 'string'
        ? Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
        : Buffer.isBuffer(chunk)
          ? chunk
          : Buffer.from(chunk as Uint8Array)
    this.#chunks.push(b)
    this.#size += b.length
  }

  #onWrite(chunk: unknown, encoding: unknown, cb: unknown): boolean {
    if (this.#passing) return this.#write.call(this.#res, chunk, encoding, cb)
    this.#add(chunk, encoding)
    const done = typeof encoding === 'function' ? encoding : cb
    if (typeof done === 'function') process.nextTick(done as () => void)
    if (this.#size > this.#rc.maxBytes) this.#giveUp()
    return true
  }

  #giveUp(): void {
    this.#capture.settle(null)
    this.#passing = true
    unskipCompression(this.#res)
    for (const chunk of this.#chunks) this.#write.call(this.#res, chunk)
    this.#chunks = []
  }

  #onEnd(chunk: unknown, encoding: unknown, cb: unknown): ServerResponse {
    const res = this.#res
    if (this.#passing) return this.#end.call(res, chunk, encoding, cb)
    this.#add(chunk, encoding)
    const done =
      typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb
    this.#passing = true
    const body = this.#chunks.length === 1 ? this.#chunks[0]! : Buffer.concat(this.#chunks)
    this.#chunks = []
    const p = this.#rc.store(this.#capture, this.#req, res.statusCode, res.getHeaders(), body)
    if (p === null) {
      unskipCompression(res)
      return this.#end.call(res, body, done)
    }
    const v = this.#rc.select(p, this.#req.headers['accept-encoding'])
    for (const name of Object.keys(v.missHeaders)) res.setHeader(name, v.missHeaders[name]!)
    if (this.#rc.notModified(v, this.#req.headers['if-none-match'])) {
      res.statusCode = 304
      res.removeHeader('content-length')
      return this.#end.call(res, done)
    }
    return this.#end.call(res, v.body, done)
  }
}

function middleware(
  rc: ResponseCache,
  policyOf: (req: Request) => Policy<Request> | undefined,
): RequestHandler {
  return (req: Request, res: Response, next: NextFunction): void => {
    const method = req.method
    const policy = method === 'GET' || method === 'HEAD' ? policyOf(req) : undefined
    const key = policy === undefined ? null : rc.key(policy, req.originalUrl, req.headers, req)
    if (key === null) {
      next()
      return
    }
    rc.lookup(key, policy!, method === 'GET').then((r) => {
      if (r === null) return next()
      if (r instanceof Capture) {
        // The recorder compresses what it stores; a compression middleware must leave it alone.
        skipCompression(res)
        new Recorder(rc, r, req, res)
        return next()
      }
      serve(rc, r, req, res)
    }, next)
  }
}

/**
 * The response cache for Express / Connect: `expressResponseCache({ cache })`
 * returns a factory of route middlewares. Mount compression before it (or
 * not at all: the cache compresses what it stores).
 */
export function expressResponseCache(options: ExpressResponseCacheOptions): ExpressResponseCache {
  const rc = options.responseCache ?? new ResponseCache(options as ResponseCacheOptions)
  const route = (o: RouteCacheOptions<Request> = {}): RequestHandler => {
    const policy = rc.policy(o)
    return middleware(rc, () => policy)
  }
  const policies = new WeakMap<object, Policy<Request>>()
  const match = (select: (req: Request) => RouteCacheOptions<Request> | undefined) =>
    middleware(rc, (req) => {
      const o = select(req)
      if (o == null) return undefined
      let p = policies.get(o)
      if (p === undefined) {
        p = rc.policy(o)
        policies.set(o, p)
      }
      return p
    })
  return Object.assign(route, { match, core: rc })
}
