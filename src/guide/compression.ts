import type { RequestHandler } from 'express'
import {
  type CompressionOptions,
  type CompressionStats,
  type Compressor,
  createCompressor,
  type EncodingName,
  toBuffer,
  toEncoding,
} from '../http/compression.ts'
import { expressCompression } from '../http/express/compression.ts'
import { performanceConfig } from './config.ts'
import { percent, roundMs } from './units.ts'

/** The guides' options, on top of hotpath's own (`brotliQuality`, `encodings`…). */
export interface GuideCompressionOptions extends CompressionOptions {
  /** `false`: a middleware that does nothing. Default: `true`. */
  enabled?: boolean
  /** Bodies smaller than this (bytes) are sent as they are (hotpath's `threshold`). Default: 1024. */
  minSize?: number
  /** Path prefixes never compressed (hotpath's `exclude`). Default: `['/health', '/metrics']`. */
  excludePaths?: readonly string[]
  /** gzip and deflate level, 1-9 (as the `compression` package's `level`). Default: 6. */
  level?: number
  /** Use this compressor (its options and counters) instead of one made from the options. */
  compressor?: Compressor
}

export interface GuideCompressionMetrics {
  /** Bodies compressed (middleware, response cache and manual calls). */
  totalCompressed: number
  bytesIn: number
  bytesOut: number
  bytesSaved: number
  /** Size reduction, in percent of the bytes compressed. */
  compressionRate: number
  /** Mean time per compressed buffer, ms (streams are not timed). */
  averageTime: number
  byEncoding: CompressionStats['byEncoding']
  skipped: CompressionStats['skipped']
}

// One compressor shared by the middleware, the manual calls and the response
// cache of `cacheMiddleware`, so `getMetrics()` counts all of them.
let shared: Compressor | null = null

/** The compressor of the last `createCompressionMiddleware` made without its own, else a default one. */
export function sharedCompressor(): Compressor {
  shared ??= createCompressor()
  return shared
}

function compressorOptions(o: GuideCompressionOptions): CompressionOptions {
  const { enabled: _enabled, minSize, excludePaths, level, compressor: _compressor, ...rest } = o
  return {
    ...rest,
    ...(minSize === undefined ? {} : { threshold: minSize }),
    ...(excludePaths === undefined ? {} : { exclude: excludePaths }),
    ...(level === undefined ? {} : { gzipLevel: level, deflateLevel: level }),
  }
}

/**
 * The guides' `createCompressionMiddleware`: hotpath's Express compression
 * (`express.compression`) with the guides' option names. Its compressor
 * becomes the one `compressionMiddleware` reports on, unless one is passed.
 */
export function createCompressionMiddleware(
  options: GuideCompressionOptions = {},
): RequestHandler & { readonly compressor: Compressor } {
  const compressor = options.compressor ?? createCompressor(compressorOptions(options))
  if (options.compressor === undefined) shared = compressor
  if (options.enabled ?? performanceConfig.compression.enabled) {
    return expressCompression({ compressor })
  }
  const off: RequestHandler = (_req, _res, next) => next()
  return Object.assign(off, { compressor })
}

/** The guides' `compressionMiddleware`: manual compression and the metrics, on the shared compressor. */
export const compressionMiddleware = Object.freeze({
  /** `data`: a string, bytes, or any JSON-able value; `method`: `'brotli'` (`'br'`), `'gzip'`, `'deflate'`, `'zstd'`. */
  compress(data: unknown, method: EncodingName = 'brotli'): Promise<Buffer> {
    return sharedCompressor().compress(toBuffer(data), toEncoding(method))
  },

  getMetrics(): GuideCompressionMetrics {
    const s = sharedCompressor().stats()
    const timed = s.compressed - s.streams
    return {
      totalCompressed: s.compressed,
      bytesIn: s.bytesIn,
      bytesOut: s.bytesOut,
      bytesSaved: s.bytesSaved,
      compressionRate: s.bytesIn === 0 ? 0 : percent(s.bytesSaved / s.bytesIn),
      averageTime: timed <= 0 ? 0 : roundMs(s.timeMs / timed),
      byEncoding: s.byEncoding,
      skipped: s.skipped,
    }
  },

  /** The shared compressor, for hotpath's own adapters (`fastifyCompression({ compressor })`…). */
  get compressor(): Compressor {
    return sharedCompressor()
  },
})
