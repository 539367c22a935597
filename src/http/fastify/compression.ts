import { pipeline, Readable } from 'node:stream'
import type { ReadableStream as WebReadableStream } from 'node:stream/web'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import {
  type CompressionOptions,
  Compressor,
  isCompressionSkipped,
  varyWithAcceptEncoding,
  weakenEtag,
} from '../compression.ts'

export interface FastifyCompressionOptions extends CompressionOptions {
  /** Use this compressor (its options and its counters) instead of creating one from the options. */
  compressor?: Compressor
}

type Done = (err: Error | null, payload?: unknown) => void

function noop(): void {}

/**
 * Compresses one Fastify payload, or returns it unchanged: strings and
 * Buffers synchronously (up to `syncLimit`), node and web streams through a
 * zlib stream. Sets `Content-Encoding`, merges `Vary`, weakens a strong
 * ETag and drops `Content-Length` (Fastify sets the new one for buffers).
 * The response cache calls it for the replies it owns.
 */
export function compressReply(
  c: Compressor,
  request: FastifyRequest,
  reply: FastifyReply,
  payload: unknown,
): unknown {
  if (payload == null) return payload
  let length: number
  let stream: Readable | WebReadableStream | null = null
  if (typeof payload === 'string') {
    // Characters bound bytes from below: count bytes only when it can matter.
    length = payload.length >= c.threshold ? payload.length : Buffer.byteLength(payload)
  } else if (Buffer.isBuffer(payload)) {
    length = payload.length
  } else if (typeof (payload as Readable).pipe === 'function') {
    stream = payload as Readable
    length = Number(reply.getHeader('content-length') ?? -1)
  } else if (typeof (payload as WebReadableStream).getReader === 'function') {
    stream = payload as WebReadableStream
    length = Number(reply.getHeader('content-length') ?? -1)
  } else {
    return payload
  }
  const d = c.decide(
    request.method,
    request.url,
    reply.statusCode,
    reply.getHeader('content-type'),
    reply.getHeader('content-encoding'),
    reply.getHeader('cache-control'),
    Number.isNaN(length) ? -1 : length,
    request.headers['accept-encoding'],
  )
  if (d === 'skip') return payload
  const vary = varyWithAcceptEncoding(reply.getHeader('vary'))
  if (vary !== null) reply.header('vary', vary)
  if (d === 'vary') return payload
  reply.header('content-encoding', d)
  const weak = weakenEtag(reply.getHeader('etag'))
  if (weak !== null) reply.header('etag', weak)
  reply.removeHeader('content-length')
  if (stream === null) return c.encode(payload as string | Buffer, length, d)
  const z = c.createStream(d)
  // Errors reach Fastify through the zlib stream, which pipeline destroys with them.
  const source =
    typeof (stream as Readable).pipe === 'function'
      ? (stream as Readable)
      : Readable.fromWeb(stream as WebReadableStream)
  pipeline(source, z, noop)
  return z
}

/**
 * Response compression for Fastify: one `onSend` hook. Register it at the
 * root; replies marked with `skipCompression` (the response cache's) pass
 * through untouched.
 */
const plugin: FastifyPluginAsync<FastifyCompressionOptions> = async (app, options) => {
  const c = options.compressor ?? new Compressor(options)
  app.addHook(
    'onSend',
    (request: FastifyRequest, reply: FastifyReply, payload: unknown, done: Done): void => {
      if (isCompressionSkipped(reply.raw)) {
        done(null, payload)
        return
      }
      let out: unknown
      try {
        out = compressReply(c, request, reply, payload)
      } catch (err) {
        done(err as Error)
        return
      }
      if (out instanceof Promise) out.then((b) => done(null, b), done)
      else done(null, out)
    },
  )
}

export const fastifyCompression = fp(plugin, { fastify: '5.x', name: 'hotpath-compression' })
