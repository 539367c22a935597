import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http'
import type { NextFunction, Request, RequestHandler, Response } from 'express'
import {
  type CompressionOptions,
  type CompressionStream,
  Compressor,
  type Decision,
  isCompressionSkipped,
  varyWithAcceptEncoding,
  weakenEtag,
} from '../compression.ts'

export interface ExpressCompressionOptions extends CompressionOptions {
  /** Use this compressor (its options and its counters) instead of creating one from the options. */
  compressor?: Compressor
}

type Chunk = string | Buffer | Uint8Array
type Listener = (...args: unknown[]) => void
/** The response methods the encoder wraps, with loose signatures (overloads are resolved at run time). */
export type WriteFn = (
  this: ServerResponse,
  chunk?: unknown,
  encoding?: unknown,
  cb?: unknown,
) => boolean
export type EndFn = (
  this: ServerResponse,
  chunk?: unknown,
  encoding?: unknown,
  cb?: unknown,
) => ServerResponse
export type WriteHeadFn = (this: ServerResponse, ...args: unknown[]) => ServerResponse
type OnFn = (this: ServerResponse, type: string | symbol, fn: Listener) => ServerResponse
/** What the adapters read from a request: Express's `originalUrl` when there is one. */
export type Req = IncomingMessage & { originalUrl?: string }

/**
 * Applies what `writeHead(status, [message], [headers])` was given to the
 * response, so a decision taken before the original runs sees it.
 */
export function applyWriteHead(res: ServerResponse, args: unknown[]): void {
  if (typeof args[0] === 'number') res.statusCode = args[0]
  let headers = args[1]
  if (typeof headers === 'string') {
    res.statusMessage = headers
    headers = args[2]
  }
  if (Array.isArray(headers)) {
    // [[name, value], …] or the raw flat form [name, value, name, value, …]
    if (Array.isArray(headers[0])) for (const [k, v] of headers) res.appendHeader(k, v)
    else
      for (let i = 0; i + 1 < headers.length; i += 2) res.appendHeader(headers[i], headers[i + 1])
  } else if (headers !== null && typeof headers === 'object') {
    for (const [k, v] of Object.entries(headers as OutgoingHttpHeaders))
      if (v !== undefined) res.setHeader(k, v)
  }
}

function byteLength(chunk: Chunk | null | undefined, encoding: BufferEncoding | undefined): number {
  if (chunk == null) return 0
  return typeof chunk === 'string' ? Buffer.byteLength(chunk, encoding) : chunk.length
}

/**
 * One response's encoder: the `compression` middleware's approach (decide
 * when the headers are about to go out, then write through a zlib stream),
 * plus a fast path: a body given whole to `end()` — `res.send`, `res.json` —
 * is compressed synchronously with an exact `Content-Length`.
 */
class Encoder {
  readonly #c: Compressor
  readonly #req: Req
  readonly #res: ServerResponse
  readonly #write: WriteFn
  readonly #end: EndFn
  readonly #writeHead: WriteHeadFn
  readonly #on: OnFn
  #decided = false
  #stream: CompressionStream | null = null
  #drain: Listener[] | null = null

  constructor(c: Compressor, req: Req, res: ServerResponse) {
    this.#c = c
    this.#req = req
    this.#res = res
    this.#write = res.write as WriteFn
    this.#end = res.end as EndFn
    this.#writeHead = res.writeHead as WriteHeadFn
    this.#on = res.on as OnFn
    const r = res as unknown as Record<string, unknown>
    r.writeHead = (...args: unknown[]) => this.#onWriteHead(args)
    r.write = (chunk: unknown, encoding?: unknown, cb?: unknown) =>
      this.#onWrite(chunk, encoding, cb)
    r.end = (chunk?: unknown, encoding?: unknown, cb?: unknown) => this.#onEnd(chunk, encoding, cb)
    // `drain` listeners (pipe's backpressure) must follow the zlib stream once there is one.
    const on = (type: string | symbol, fn: Listener) => {
      if (type !== 'drain') return this.#on.call(res, type, fn)
      if (this.#stream !== null) this.#stream.on('drain', fn)
      else if (this.#decided) this.#on.call(res, type, fn)
      else {
        this.#drain ??= []
        this.#drain.push(fn)
      }
      return res
    }
    r.on = on
    r.addListener = on
    r.flush = () => this.#stream?.flush()
  }

  #onWriteHead(args: unknown[]): ServerResponse {
    const res = this.#res
    if (this.#decided || res.headersSent) return this.#writeHead.apply(res, args)
    applyWriteHead(res, args)
    this.#decide(this.#declaredLength(), true)
    return this.#writeHead.call(res, res.statusCode)
  }

  #onWrite(chunk: unknown, encoding: unknown, cb: unknown): boolean {
    if (!this.#decided) this.#decide(this.#declaredLength(), true)
    const s = this.#stream
    if (s === null) return this.#write.call(this.#res, chunk, encoding, cb)
    return (s.write as WriteFn).call(s as unknown as ServerResponse, chunk, encoding, cb)
  }

  #onEnd(chunk: unknown, encoding: unknown, cb: unknown): ServerResponse {
    const res = this.#res
    if (typeof chunk === 'function') {
      cb = chunk
      chunk = undefined
      encoding = undefined
    } else if (typeof encoding === 'function') {
      cb = encoding
      encoding = undefined
    }
    const enc = encoding as BufferEncoding | undefined
    if (!this.#decided && !res.headersSent) {
      const body = chunk as Chunk | null | undefined
      const length = byteLength(body, enc)
      const d = this.#decide(length, false)
      if (d !== 'skip' && d !== 'vary') {
        const data =
          typeof body === 'string'
            ? Buffer.from(body, enc)
            : Buffer.isBuffer(body)
              ? body
              : Buffer.from(body!.buffer, body!.byteOffset, body!.byteLength)
        const out = this.#c.encode(data, length, d)
        if (out instanceof Promise) {
          out.then(
            (buf) => this.#finish(buf, cb),
            (err: Error) => res.destroy(err),
          )
          return res
        }
        return this.#finish(out, cb)
      }
    }
    const s = this.#stream
    if (s === null) return this.#end.call(res, chunk, enc, cb)
    if (typeof cb === 'function') res.once('finish', cb as Listener)
    if (chunk == null) s.end()
    else s.end(chunk as Chunk, enc as BufferEncoding)
    return res
  }

  #finish(body: Buffer, cb: unknown): ServerResponse {
    this.#res.setHeader('content-length', body.length)
    return this.#end.call(this.#res, body, cb)
  }

  #declaredLength(): number {
    const cl = this.#res.getHeader('content-length')
    const n = cl === undefined ? -1 : Number(cl)
    return Number.isNaN(n) ? -1 : n
  }

  /** Decides once, sets the headers, and (when streaming) sets up the zlib stream. */
  #decide(length: number, streaming: boolean): Decision {
    this.#decided = true
    const req = this.#req
    const res = this.#res
    const d =
      isCompressionSkipped(res) || res.headersSent
        ? 'skip'
        : this.#c.decide(
            req.method,
            req.originalUrl ?? req.url ?? '/',
            res.statusCode,
            res.getHeader('content-type'),
            res.getHeader('content-encoding'),
            res.getHeader('cache-control'),
            length,
            req.headers['accept-encoding'],
          )
    if (d !== 'skip') {
      const vary = varyWithAcceptEncoding(res.getHeader('vary'))
      if (vary !== null) res.setHeader('vary', vary)
    }
    if (d !== 'skip' && d !== 'vary') {
      res.setHeader('content-encoding', d)
      const weak = weakenEtag(res.getHeader('etag'))
      if (weak !== null) res.setHeader('etag', weak)
      res.removeHeader('content-length')
      if (streaming) this.#startStream(this.#c.createStream(d))
    }
    const queued = this.#drain
    this.#drain = null
    if (queued !== null)
      for (const fn of queued) {
        if (this.#stream !== null) this.#stream.on('drain', fn)
        else this.#on.call(res, 'drain', fn)
      }
    return d
  }

  #startStream(s: CompressionStream): void {
    const res = this.#res
    this.#stream = s
    s.on('data', (chunk: Buffer) => {
      if (this.#write.call(res, chunk) === false) s.pause()
    })
    s.once('end', () => this.#end.call(res))
    s.once('error', (err) => res.destroy(err))
    this.#on.call(res, 'drain', () => s.resume())
    // A client gone mid-body: free the zlib handle now rather than at GC.
    this.#on.call(res, 'close', () => s.destroy())
  }
}

/**
 * Response compression for Express / Connect. Mount it before the routes.
 * `res.flush()` pushes out what the zlib stream holds (for server-sent
 * events and other long-lived responses).
 */
export function expressCompression(
  options?: ExpressCompressionOptions,
): RequestHandler & { readonly compressor: Compressor } {
  const c = options?.compressor ?? new Compressor(options)
  const mw = (req: Request, res: Response, next: NextFunction): void => {
    if (!c.isExcluded(req.originalUrl ?? req.url)) new Encoder(c, req, res)
    next()
  }
  return Object.assign(mw as RequestHandler, { compressor: c })
}
