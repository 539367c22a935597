import { availableParallelism } from 'node:os'
import { performance } from 'node:perf_hooks'
import type { Transform } from 'node:stream'
import { HotpathError } from '../errors.ts'
import {
  type CompressionStream,
  callback,
  type Level,
  levelDefaults,
  levels,
  streams,
  sync,
  toEncoding,
  zstdSupported,
} from './codecs.ts'
import { type Encoding, Negotiator } from './negotiate.ts'

export {
  type CompressionStream,
  compress,
  compressSync,
  decompress,
  decompressSync,
  type EncodingName,
  toBuffer,
  toEncoding,
  zstdSupported,
} from './codecs.ts'

export { type Encoding, varyWithAcceptEncoding, weakenEtag } from './negotiate.ts'

export interface CompressionOptions {
  /**
   * Codings offered, in the server's order of preference (ties in q-value go
   * to the earlier one). Default: `['br', 'zstd', 'gzip', 'deflate']`, zstd
   * only where Node has it.
   */
  encodings?: readonly Encoding[]
  /** Bodies smaller than this many bytes are sent as they are. Default: 1024. */
  threshold?: number
  /** Brotli quality 0-11; 11 is ~300× slower than 4 for ~20 % less. Default: 4. */
  brotliQuality?: number
  /** gzip level 1-9. Default: 6. */
  gzipLevel?: number
  /** deflate level 1-9. Default: 6. */
  deflateLevel?: number
  /** zstd level 1-22. Default: 3. */
  zstdLevel?: number
  /** Path prefixes never compressed (`'/health'` covers `/health` and `/health/…`). Default: `['/health', '/metrics']`. */
  exclude?: readonly string[]
  /** Which `Content-Type`s to compress. Default: {@link isCompressibleType}. */
  compressible?: (contentType: string) => boolean
  /**
   * Bodies up to this many bytes are compressed synchronously; larger ones on the
   * thread pool. Default: 8 KiB with more than one CPU (the pool adds cores the
   * event loop cannot), 1 MiB on one CPU.
   */
  syncLimit?: number
}

/** Defaults, in one place; the README's option table says the same. */
export const compressionDefaults = Object.freeze({
  encodings: Object.freeze<Encoding[]>(
    zstdSupported ? ['br', 'zstd', 'gzip', 'deflate'] : ['br', 'gzip', 'deflate'],
  ),
  threshold: 1024,
  ...levelDefaults,
  exclude: Object.freeze(['/health', '/metrics']),
  // Measured on 2 cores with a 20 KB body: on the pool, 1.26× @fastify/compress; synchronous, ~1.0×.
  syncLimit: availableParallelism() > 1 ? 8 * 1024 : 1024 * 1024,
})

// application/* subtypes worth compressing (besides +json and +xml)
const APPLICATION = new Set(
  (
    'json javascript x-javascript ecmascript xml wasm ndjson x-ndjson graphql x-www-form-urlencoded ' +
    'yaml x-yaml toml rtf sql x-sh csv vnd.ms-fontobject x-font-ttf x-font-otf'
  ).split(' '),
)

/**
 * The default compressible check, positive by design: text, JSON, JS, XML,
 * SVG, WASM and uncompressed fonts. Everything else — images, audio, video,
 * archives, `application/octet-stream`, woff/woff2, and `text/event-stream`
 * (compressing SSE would hold events back) — is sent as it is.
 */
export function isCompressibleType(contentType: string): boolean {
  const semi = contentType.indexOf(';')
  const type = (semi < 0 ? contentType : contentType.slice(0, semi)).trim().toLowerCase()
  const slash = type.indexOf('/')
  if (slash <= 0) return false
  const top = type.slice(0, slash)
  const sub = type.slice(slash + 1)
  if (sub.endsWith('+json') || sub.endsWith('+xml')) return true
  switch (top) {
    case 'text':
      return sub !== 'event-stream'
    case 'application':
      return APPLICATION.has(sub)
    case 'image':
      return sub === 'x-icon' || sub === 'vnd.microsoft.icon' || sub === 'bmp'
    case 'font':
      return sub === 'ttf' || sub === 'otf' || sub === 'sfnt' || sub === 'collection'
    default:
      return false
  }
}

/** Why a response is or is not compressed; `compress` and `small` get `Vary: Accept-Encoding`. */
export type Verdict = 'compress' | 'small' | 'status' | 'encoded' | 'type' | 'noTransform'

/** An adapter's decision: the coding to apply, `'vary'` (send as is, with Vary), or `'skip'`. */
export type Decision = Encoding | 'vary' | 'skip'

export interface EncodingStats {
  count: number
  bytesIn: number
  bytesOut: number
  timeMs: number
}

export interface CompressionStats {
  /** Bodies compressed (buffers and streams). */
  compressed: number
  bytesIn: number
  bytesOut: number
  bytesSaved: number
  /** bytesOut / bytesIn (0 before anything was compressed); lower is better. */
  ratio: number
  /** Time spent compressing buffers: event-loop time for synchronous calls, wall time for thread-pool ones. Streams are not timed. */
  timeMs: number
  /** Responses compressed as streams (counted in the totals when they end). */
  streams: number
  byEncoding: Record<Encoding, EncodingStats>
  /** Responses sent unencoded, by reason. */
  skipped: {
    path: number
    status: number
    encoded: number
    type: number
    noTransform: number
    small: number
    head: number
    identity: number
  }
}

function int(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      name,
      `expected an integer from ${min} to ${max}, got ${String(value)}`,
    ])
  }
  return value
}

/** `'brotli'` → `'br'`; anything unknown (or zstd without Node support) is a typed error. */
class Counters {
  streams = 0
  by: Record<Encoding, EncodingStats> = {
    br: { count: 0, bytesIn: 0, bytesOut: 0, timeMs: 0 },
    zstd: { count: 0, bytesIn: 0, bytesOut: 0, timeMs: 0 },
    gzip: { count: 0, bytesIn: 0, bytesOut: 0, timeMs: 0 },
    deflate: { count: 0, bytesIn: 0, bytesOut: 0, timeMs: 0 },
  }
  skipped = {
    path: 0,
    status: 0,
    encoded: 0,
    type: 0,
    noTransform: 0,
    small: 0,
    head: 0,
    identity: 0,
  }
}

/**
 * One compression configuration, resolved and validated once, shared by
 * the Fastify plugin, the Express middleware, the response cache and the
 * manual API, with one set of counters.
 */
export class Compressor {
  readonly encodings: readonly Encoding[]
  readonly threshold: number
  readonly syncLimit: number
  readonly #exclude: readonly string[]
  readonly #compressible: (contentType: string) => boolean
  readonly #types = new Map<string, boolean>()
  readonly #negotiator: Negotiator
  readonly #levels: Record<Encoding, Level>
  readonly #c = new Counters()

  constructor(options: CompressionOptions = {}) {
    if (options === null || typeof options !== 'object') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['compression', 'expected an object'])
    }
    const d = compressionDefaults
    const encodings = options.encodings ?? d.encodings
    if (!Array.isArray(encodings) || new Set(encodings).size !== encodings.length) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['encodings', 'expected distinct codings'])
    }
    this.encodings = Object.freeze(encodings.map((e) => toEncoding(e)))
    this.threshold = int('threshold', options.threshold, d.threshold, 0, 2 ** 31)
    this.syncLimit = int('syncLimit', options.syncLimit, d.syncLimit, 1, 2 ** 31)
    this.#levels = levels({
      brotliQuality: int('brotliQuality', options.brotliQuality, d.brotliQuality, 0, 11),
      gzipLevel: int('gzipLevel', options.gzipLevel, d.gzipLevel, 1, 9),
      deflateLevel: int('deflateLevel', options.deflateLevel, d.deflateLevel, 1, 9),
      zstdLevel: int('zstdLevel', options.zstdLevel, d.zstdLevel, 1, 22),
    })
    const exclude = options.exclude ?? d.exclude
    if (!Array.isArray(exclude) || exclude.some((p) => typeof p !== 'string' || p[0] !== '/')) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['exclude', 'expected paths starting with /'])
    }
    this.#exclude = Object.freeze([...exclude])
    const compressible = options.compressible ?? isCompressibleType
    if (typeof compressible !== 'function') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['compressible', 'expected a function'])
    }
    this.#compressible = compressible
    this.#negotiator = new Negotiator(this.encodings)
  }

  /** The offered coding the client prefers, or null for identity. Memoized by header value. */
  negotiate(acceptEncoding: string | undefined): Encoding | null {
    return this.#negotiator.negotiate(acceptEncoding)
  }

  /**
   * Whether the URL's path is under an excluded prefix, segment-wise
   * (`/metrics` covers `/metrics/x`, not `/metrics.json`); counted in
   * `stats().skipped.path` when it is.
   */
  isExcluded(url: string): boolean {
    for (const p of this.#exclude) {
      if (!url.startsWith(p)) continue
      const next = url.charCodeAt(p.length)
      // end, '/', '?' or '#' after the prefix; or a prefix that ends with '/'
      if (Number.isNaN(next) || next === 47 || next === 63 || next === 35 || p.endsWith('/')) {
        this.#c.skipped.path++
        return true
      }
    }
    return false
  }

  isCompressible(contentType: unknown): boolean {
    if (typeof contentType !== 'string') return false
    let yes = this.#types.get(contentType)
    if (yes === undefined) {
      yes = this.#compressible(contentType) === true
      if (this.#types.size >= 256) this.#types.clear()
      this.#types.set(contentType, yes)
    }
    return yes
  }

  /** What the response itself allows; `length` is the body size in bytes, or -1 when unknown. */
  check(
    status: number,
    contentType: unknown,
    contentEncoding: unknown,
    cacheControl: unknown,
    length: number,
  ): Verdict {
    if (status < 200 || status === 204 || status === 206 || status === 304) return 'status'
    if (contentEncoding != null && contentEncoding !== '' && contentEncoding !== 'identity')
      return 'encoded'
    if (!this.isCompressible(contentType)) return 'type'
    if (typeof cacheControl === 'string' && cacheControl.toLowerCase().includes('no-transform'))
      return 'noTransform'
    if (length >= 0 && length < this.threshold) return 'small'
    return 'compress'
  }

  /** The adapters' decision for one response, counted in `stats().skipped`. */
  decide(
    method: string | undefined,
    url: string,
    status: number,
    contentType: unknown,
    contentEncoding: unknown,
    cacheControl: unknown,
    length: number,
    acceptEncoding: string | undefined,
  ): Decision {
    const s = this.#c.skipped
    if (this.#exclude.length !== 0 && this.isExcluded(url)) return 'skip'
    const v = this.check(status, contentType, contentEncoding, cacheControl, length)
    if (v !== 'compress') {
      s[v]++
      return v === 'small' ? 'vary' : 'skip'
    }
    if (method === 'HEAD') {
      s.head++
      return 'vary'
    }
    const encoding = this.#negotiator.negotiate(acceptEncoding)
    if (encoding === null) {
      s.identity++
      return 'vary'
    }
    return encoding
  }

  /** Compresses on the event loop (fast for API-sized bodies: ~0.1 ms for 20 KB of JSON). */
  compressSync(data: string | Buffer, encoding: Encoding): Buffer {
    const start = performance.now()
    const out = sync[encoding](data, this.#levels[encoding])
    this.#count(encoding, data, out, performance.now() - start)
    return out
  }

  /** Compresses on the thread pool. */
  compress(data: string | Buffer, encoding: Encoding): Promise<Buffer> {
    const start = performance.now()
    return new Promise((resolve, reject) => {
      callback[encoding](data, this.#levels[encoding], (err, out) => {
        if (err) return reject(err)
        this.#count(encoding, data, out, performance.now() - start)
        resolve(out)
      })
    })
  }

  /** Synchronously up to `syncLimit` bytes, on the thread pool above it. */
  encode(data: string | Buffer, length: number, encoding: Encoding): Buffer | Promise<Buffer> {
    return length <= this.syncLimit
      ? this.compressSync(data, encoding)
      : this.compress(data, encoding)
  }

  /** A zlib stream for the coding; its bytes are counted when it ends. */
  createStream(encoding: Encoding): CompressionStream {
    const stream = streams[encoding](this.#levels[encoding]) as CompressionStream
    const by = this.#c.by[encoding]
    let out = 0
    const push = stream.push
    stream.push = function (this: Transform, chunk: unknown, enc?: BufferEncoding): boolean {
      if (chunk != null) out += (chunk as Buffer).length
      return push.call(this, chunk, enc)
    }
    stream.once('end', () => {
      by.count++
      by.bytesIn += (stream as unknown as { bytesWritten: number }).bytesWritten
      by.bytesOut += out
    })
    this.#c.streams++
    return stream
  }

  #count(encoding: Encoding, data: string | Buffer, out: Buffer, ms: number): void {
    const by = this.#c.by[encoding]
    by.count++
    by.bytesIn += typeof data === 'string' ? Buffer.byteLength(data) : data.length
    by.bytesOut += out.length
    by.timeMs += ms
  }

  stats(): CompressionStats {
    const byEncoding = {} as Record<Encoding, EncodingStats>
    let compressed = 0
    let bytesIn = 0
    let bytesOut = 0
    let timeMs = 0
    for (const [e, s] of Object.entries(this.#c.by) as [Encoding, EncodingStats][]) {
      byEncoding[e] = { ...s }
      compressed += s.count
      bytesIn += s.bytesIn
      bytesOut += s.bytesOut
      timeMs += s.timeMs
    }
    return {
      compressed,
      bytesIn,
      bytesOut,
      bytesSaved: bytesIn - bytesOut,
      ratio: bytesIn === 0 ? 0 : bytesOut / bytesIn,
      timeMs,
      streams: this.#c.streams,
      byEncoding,
      skipped: { ...this.#c.skipped },
    }
  }
}

export function createCompressor(options?: CompressionOptions): Compressor {
  return new Compressor(options)
}

// ---- marking responses the compression adapters must leave alone -------------

const SKIP: unique symbol = Symbol.for('hotpath.http.skipCompression')
type Marked = { [SKIP]?: boolean }

/**
 * Marks a response (node's ServerResponse) as handled elsewhere, so the
 * compression adapters pass it through untouched: the response cache sends
 * stored variants already encoded and compresses the responses it captures.
 * A symbol property rather than a WeakSet: one per request, and ephemeron
 * tables cost the hit path more than the property does.
 */
export function skipCompression(res: object): void {
  ;(res as Marked)[SKIP] = true
}

export function unskipCompression(res: object): void {
  ;(res as Marked)[SKIP] = false
}

export function isCompressionSkipped(res: object): boolean {
  return (res as Marked)[SKIP] === true
}
