import type { Transform } from 'node:stream'
import zlib from 'node:zlib'
import { HotpathError } from '../errors.ts'
import type { Encoding } from './negotiate.ts'

/**
 * The codecs behind compression: zlib's sync, callback and stream functions
 * per coding, levels resolved once, and the manual API of the guides.
 */

/** What the manual API accepts: the codings, plus `'brotli'` as the guides spell it. */
export type EncodingName = Encoding | 'brotli'

/** Whether the running Node has zstd (`zlib.zstdCompressSync`: 22.15+, 23.8+). */
export const zstdSupported: boolean = typeof zlib.zstdCompressSync === 'function'

/** Default levels: fit for dynamic responses (brotli 11 is ~270x slower than 4 for ~20 % less). */
export const levelDefaults = Object.freeze({
  brotliQuality: 4,
  gzipLevel: 6,
  deflateLevel: 6,
  zstdLevel: 3,
})

/** A zlib compression stream: a Transform that can also `flush()` what it holds. */
export type CompressionStream = Transform & { flush(callback?: () => void): void }

export type Level = zlib.BrotliOptions | zlib.ZlibOptions | zlib.ZstdOptions
export type SyncFn = (data: string | Buffer, options: Level) => Buffer
export type AsyncFn = (
  data: string | Buffer,
  options: Level,
  cb: (err: Error | null, out: Buffer) => void,
) => void
export type StreamFn = (options: Level) => Transform

const C = zlib.constants
export const sync: Record<Encoding, SyncFn> = {
  br: zlib.brotliCompressSync as SyncFn,
  gzip: zlib.gzipSync as SyncFn,
  deflate: zlib.deflateSync as SyncFn,
  zstd: (zlib.zstdCompressSync ?? unsupported) as SyncFn,
}
export const callback: Record<Encoding, AsyncFn> = {
  br: zlib.brotliCompress as AsyncFn,
  gzip: zlib.gzip as AsyncFn,
  deflate: zlib.deflate as AsyncFn,
  zstd: (zlib.zstdCompress ?? unsupported) as AsyncFn,
}
export const streams: Record<Encoding, StreamFn> = {
  br: zlib.createBrotliCompress as StreamFn,
  gzip: zlib.createGzip as StreamFn,
  deflate: zlib.createDeflate as StreamFn,
  zstd: (zlib.createZstdCompress ?? unsupported) as StreamFn,
}

export function unsupported(): never {
  throw new HotpathError('HP_ERR_INVALID_OPTION', ['encoding', 'zstd needs Node 22.15 or later'])
}

export function levels(o: {
  brotliQuality: number
  gzipLevel: number
  deflateLevel: number
  zstdLevel: number
}): Record<Encoding, Level> {
  return {
    br: { params: { [C.BROTLI_PARAM_QUALITY]: o.brotliQuality } },
    gzip: { level: o.gzipLevel },
    deflate: { level: o.deflateLevel },
    zstd: zstdSupported ? { params: { [C.ZSTD_c_compressionLevel]: o.zstdLevel } } : {},
  }
}

/** `'brotli'` → `'br'`; anything unknown (or zstd without Node support) is a typed error. */
export function toEncoding(name: unknown): Encoding {
  const e = name === 'brotli' ? 'br' : name
  if (e === 'br' || e === 'gzip' || e === 'deflate') return e
  if (e === 'zstd') {
    if (!zstdSupported) unsupported()
    return e
  }
  throw new HotpathError('HP_ERR_INVALID_OPTION', [
    'encoding',
    `expected br, brotli, zstd, gzip or deflate, got ${String(name)}`,
  ])
}

/** Bytes of a manual call's input: strings as UTF-8, views as they are, anything else as JSON. */
export function toBuffer(data: unknown): Buffer {
  if (typeof data === 'string') return Buffer.from(data)
  if (Buffer.isBuffer(data)) return data
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength)
  if (data instanceof ArrayBuffer) return Buffer.from(data)
  const json = JSON.stringify(data)
  if (json === undefined) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['data', `${typeof data} cannot be compressed`])
  }
  return Buffer.from(json)
}

// ---- the manual API, as in the guides --------------------------------------

const defaultLevels = levels(levelDefaults)

/** `compress(largeData, 'brotli')`: data as string, bytes or a JSON-able value; on the thread pool. */
export function compress(data: unknown, encoding: EncodingName): Promise<Buffer> {
  const e = toEncoding(encoding)
  const input = toBuffer(data)
  return new Promise((resolve, reject) => {
    callback[e](input, defaultLevels[e], (err, out) => (err ? reject(err) : resolve(out)))
  })
}

/** The synchronous twin of {@link compress}. */
export function compressSync(data: unknown, encoding: EncodingName): Buffer {
  const e = toEncoding(encoding)
  return sync[e](toBuffer(data), defaultLevels[e])
}

const inflaters: Record<Encoding, (data: Buffer) => Buffer> = {
  br: (d) => zlib.brotliDecompressSync(d),
  gzip: (d) => zlib.gunzipSync(d),
  deflate: (d) => zlib.inflateSync(d),
  zstd: (d) => (zlib.zstdDecompressSync ?? unsupported)(d),
}

/** Decodes a body compressed with one of the codings (for clients and tests). */
export function decompressSync(data: Uint8Array, encoding: EncodingName): Buffer {
  return inflaters[toEncoding(encoding)](toBuffer(data))
}

const inflatersAsync: Record<Encoding, AsyncFn> = {
  br: zlib.brotliDecompress as AsyncFn,
  gzip: zlib.gunzip as AsyncFn,
  deflate: zlib.inflate as AsyncFn,
  zstd: (zlib.zstdDecompress ?? unsupported) as AsyncFn,
}

/** The asynchronous twin of {@link decompressSync}, on the thread pool. */
export function decompress(data: Uint8Array, encoding: EncodingName): Promise<Buffer> {
  const e = toEncoding(encoding)
  const input = toBuffer(data)
  return new Promise((resolve, reject) => {
    inflatersAsync[e](input, {}, (err, out) => (err ? reject(err) : resolve(out)))
  })
}
