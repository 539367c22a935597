import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import zlib from 'node:zlib'
import express from 'express'
import Fastify, { type FastifyInstance } from 'fastify'
import { isHotpathError } from 'hotpath/errors'
import {
  type Compressor,
  compress,
  compressionDefaults,
  compressSync,
  createCompressor,
  decompress,
  decompressSync,
  type EncodingName,
  isCompressibleType,
  zstdSupported,
} from '../../src/http/compression.ts'
import { expressCompression } from '../../src/http/express/compression.ts'
import { fastifyCompression } from '../../src/http/fastify/compression.ts'
import { negotiateEncoding, parseAcceptEncoding } from '../../src/http/negotiate.ts'

import { decode, raw } from '../helpers/http.ts'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

const items = Array.from({ length: 150 }, (_, i) => ({
  id: i,
  name: `Product ${i}`,
  description: `A product with a description long enough to be worth compressing (${i * 7919})`,
  price: (i * 3.7).toFixed(2),
}))
const JSON_BODY = JSON.stringify(items)
const TEXT_BODY = 'lorem ipsum dolor sit amet '.repeat(400)
const SMALL_BODY = JSON.stringify({ ok: true, note: 'small' })
const BINARY = Buffer.alloc(8192, 7)
const STREAM_CHUNK = 'streamed line of text, compressible\n'.repeat(500) // ~18 KB
const STREAM_CHUNKS = 120 // ~2 MB: more than the socket and zlib buffers, so backpressure happens
const STREAM_BODY = STREAM_CHUNK.repeat(STREAM_CHUNKS)

// Base64 of random bytes: a compressible type that barely compresses, so a slow reader
// makes the socket push back on the encoder.
const NOISE = Array.from({ length: 64 }, () => randomBytes(48 * 1024).toString('base64'))
const NOISE_BODY = NOISE.join('')

function noiseBody(): Readable {
  return Readable.from(NOISE)
}

function streamBody(): Readable {
  let i = 0
  return new Readable({
    read() {
      this.push(i++ < STREAM_CHUNKS ? STREAM_CHUNK : null)
    },
  })
}

async function fastifyApp(c: Compressor): Promise<{ app: FastifyInstance; port: number }> {
  const app = Fastify()
  await app.register(fastifyCompression, { compressor: c })
  app.get('/json', async () => items)
  app.get('/small', async (_req, reply) => reply.type('application/json').send(SMALL_BODY))
  app.get('/text', async (_req, reply) => reply.type('text/plain').send(TEXT_BODY))
  app.get('/image', async (_req, reply) => reply.type('image/png').send(BINARY))
  app.get('/octet', async (_req, reply) => reply.send(Buffer.from(TEXT_BODY)))
  app.get('/no-transform', async (_req, reply) =>
    reply.header('cache-control', 'public, no-transform').send(items),
  )
  app.get('/encoded', async (_req, reply) =>
    reply
      .type('application/json')
      .header('content-encoding', 'gzip')
      .send(zlib.gzipSync(JSON_BODY)),
  )
  app.get('/vary', async (_req, reply) => reply.header('vary', 'Origin').send(items))
  app.get('/etag', async (_req, reply) => reply.header('etag', '"v1"').send(items))
  app.get('/stream', async (_req, reply) => reply.type('text/plain').send(streamBody()))
  app.get('/noise', async (_req, reply) => reply.type('text/plain').send(noiseBody()))
  app.get('/web-stream', async (_req, reply) =>
    reply.type('text/plain').send(Readable.toWeb(streamBody())),
  )
  app.get('/health', async () => items)
  app.get('/metrics', async (_req, reply) => reply.type('text/plain').send(TEXT_BODY))
  app.get('/metrics.json', async () => items)
  app.get('/empty', async (_req, reply) => reply.code(204).send())
  app.get('/partial', async (_req, reply) =>
    reply.code(206).header('content-range', 'bytes 0-9/100').type('text/plain').send(TEXT_BODY),
  )
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, port: (app.server.address() as AddressInfo).port }
}

async function expressApp(c: Compressor): Promise<{ server: Server; port: number }> {
  const app = express()
  app.use(expressCompression({ compressor: c }))
  app.get('/json', (_req, res) => {
    res.json(items)
  })
  app.get('/small', (_req, res) => {
    res.type('application/json').send(SMALL_BODY)
  })
  app.get('/text', (_req, res) => {
    res.type('text/plain').send(TEXT_BODY)
  })
  app.get('/image', (_req, res) => {
    res.type('image/png').send(BINARY)
  })
  app.get('/octet', (_req, res) => {
    res.type('application/octet-stream').send(Buffer.from(TEXT_BODY))
  })
  app.get('/no-transform', (_req, res) => {
    res.set('cache-control', 'public, no-transform').json(items)
  })
  app.get('/encoded', (_req, res) => {
    res.type('application/json').set('content-encoding', 'gzip').send(zlib.gzipSync(JSON_BODY))
  })
  app.get('/vary', (_req, res) => {
    res.set('vary', 'Origin').json(items)
  })
  app.get('/etag', (_req, res) => {
    res.set('etag', '"v1"').json(items)
  })
  app.get('/stream', (_req, res) => {
    res.type('text/plain')
    streamBody().pipe(res)
  })
  app.get('/noise', (_req, res) => {
    res.type('text/plain')
    noiseBody().pipe(res)
  })
  app.get('/web-stream', (_req, res) => {
    // writeHead with headers, then writes: the decision is taken at writeHead
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
    streamBody().pipe(res)
  })
  app.get('/flush', async (_req, res) => {
    res.type('text/plain')
    res.write(TEXT_BODY)
    ;(res as unknown as { flush(): void }).flush()
    await sleep(300)
    res.end('done')
  })
  app.get('/health', (_req, res) => {
    res.json(items)
  })
  app.get('/metrics', (_req, res) => {
    res.type('text/plain').send(TEXT_BODY)
  })
  app.get('/metrics.json', (_req, res) => {
    res.json(items)
  })
  app.get('/empty', (_req, res) => {
    res.status(204).end()
  })
  app.get('/partial', (_req, res) => {
    res.status(206).set('content-range', 'bytes 0-9/100').type('text/plain').send(TEXT_BODY)
  })
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return { server, port: (server.address() as AddressInfo).port }
}

describe('Accept-Encoding negotiation', () => {
  const offered = zstdSupported
    ? (['br', 'zstd', 'gzip', 'deflate'] as const)
    : (['br', 'gzip', 'deflate'] as const)
  const cases: [string | undefined, string | null][] = [
    [undefined, null],
    ['', null],
    ['gzip, deflate, br', 'br'],
    ['gzip, deflate, br, zstd', 'br'],
    ['gzip;q=1.0, br;q=0.5', 'gzip'],
    ['br;q=0, gzip', 'gzip'],
    ['*', 'br'],
    ['*;q=0.5, gzip', 'gzip'],
    ['identity', null],
    ['identity;q=1, gzip;q=0.5', null],
    ['gzip;q=0.5', 'gzip'],
    ['compress', null],
    ['identity;q=0', null],
    ['gzip;q=0, *;q=0', null],
    ['GZIP', 'gzip'],
    ['x-gzip', 'gzip'],
    ['br;q=abc, gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['gzip ; q=0.8 , deflate;q=0.9', 'deflate'],
  ]
  if (zstdSupported) cases.push(['zstd', 'zstd'], ['gzip;q=0.5, zstd', 'zstd'])
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${expected ?? 'identity'}`, () => {
      assert.equal(negotiateEncoding(header, offered), expected)
    })
  }

  it('parses q-values and ignores malformed ones', () => {
    assert.deepEqual(
      [...parseAcceptEncoding('gzip;q=0.5, br, deflate;q=2, zstd;level=3;q=0.1')],
      [
        ['gzip', 0.5],
        ['br', 1],
        ['zstd', 0.1],
      ],
    )
  })

  it('the compressible check is positive: text, JSON, JS, XML, SVG; not media or archives', () => {
    for (const t of [
      'text/html; charset=utf-8',
      'application/json',
      'application/problem+json',
      'application/javascript',
      'image/svg+xml',
      'application/xml',
      'text/csv',
    ])
      assert.equal(isCompressibleType(t), true, t)
    for (const t of [
      'image/png',
      'image/jpeg',
      'video/mp4',
      'audio/mpeg',
      'application/zip',
      'application/gzip',
      'application/octet-stream',
      'font/woff2',
      'text/event-stream',
      'nonsense',
    ])
      assert.equal(isCompressibleType(t), false, t)
  })
})

/** The first column after the option name in the README table under `heading`. */
function readmeDefaults(heading: string): Map<string, string> {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
  const start = readme.indexOf(heading)
  assert.ok(start >= 0, `README has ${heading}`)
  const out = new Map<string, string>()
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#')) break
    const m = /^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|/.exec(line)
    if (m) out.set(m[1]!, m[2]!)
  }
  return out
}

describe('compression options', () => {
  it('the README gives every option its default', () => {
    const rows = readmeDefaults('### Compression')
    const d = compressionDefaults
    const list = (a: readonly string[]) => `\`[${a.map((x) => `'${x}'`).join(', ')}]\``
    assert.equal(rows.get('encodings'), list(['br', 'zstd', 'gzip', 'deflate']))
    assert.deepEqual(
      [...d.encodings],
      zstdSupported ? ['br', 'zstd', 'gzip', 'deflate'] : ['br', 'gzip', 'deflate'],
    )
    assert.equal(rows.get('threshold'), `\`${d.threshold}\``)
    assert.equal(rows.get('brotliQuality'), `\`${d.brotliQuality}\``)
    assert.equal(rows.get('gzipLevel'), `\`${d.gzipLevel}\``)
    assert.equal(rows.get('deflateLevel'), `\`${d.deflateLevel}\``)
    assert.equal(rows.get('zstdLevel'), `\`${d.zstdLevel}\``)
    assert.equal(rows.get('exclude'), list(d.exclude))
    const limit =
      d.syncLimit >= 1024 * 1024 ? `${d.syncLimit / 1024 / 1024} MiB` : `${d.syncLimit / 1024} KiB`
    assert.ok(
      rows.get('syncLimit')?.startsWith(`\`${limit}\``),
      `syncLimit ${rows.get('syncLimit')}`,
    )
    assert.equal(rows.get('compressible'), '`isCompressibleType`')
  })
})

describe('manual compression', () => {
  it('round-trips strings, buffers and objects in every coding', async () => {
    const names: EncodingName[] = ['brotli', 'br', 'gzip', 'deflate']
    if (zstdSupported) names.push('zstd')
    for (const name of names) {
      const a = await compress(items, name)
      assert.deepEqual(JSON.parse((await decompress(a, name)).toString()), items, name)
      const b = compressSync(TEXT_BODY, name)
      assert.ok(b.length < TEXT_BODY.length / 10, `${name} shrinks text`)
      assert.equal(decompressSync(b, name).toString(), TEXT_BODY)
      const c = compressSync(BINARY, name)
      assert.deepEqual(decompressSync(c, name), BINARY)
    }
  })

  it('rejects unknown codings and bad options with typed errors', async () => {
    assert.throws(() => compressSync('x', 'lzma' as 'br'), code('HP_ERR_INVALID_OPTION'))
    await assert.rejects(async () => compress('x', 'lzma' as 'br'), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createCompressor({ threshold: -1 }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createCompressor({ brotliQuality: 12 }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(
      () => createCompressor({ encodings: ['gzip', 'gzip'] }),
      code('HP_ERR_INVALID_OPTION'),
    )
    assert.throws(() => createCompressor({ exclude: ['health'] }), code('HP_ERR_INVALID_OPTION'))
  })

  it('a compressor counts bytes, time and calls per coding', () => {
    const c = createCompressor()
    c.compressSync(TEXT_BODY, 'br')
    c.compressSync(Buffer.from(TEXT_BODY), 'gzip')
    const s = c.stats()
    assert.equal(s.compressed, 2)
    assert.equal(s.byEncoding.br.count, 1)
    assert.equal(s.bytesIn, TEXT_BODY.length * 2)
    assert.ok(s.ratio > 0 && s.ratio < 0.1, `ratio ${s.ratio}`)
    assert.equal(s.bytesSaved, s.bytesIn - s.bytesOut)
    assert.ok(s.timeMs > 0)
  })
})

for (const kind of ['fastify', 'express'] as const) {
  describe(`compression over HTTP (${kind})`, () => {
    const c = createCompressor()
    let port = 0
    let close: () => Promise<void> = async () => {}
    before(async () => {
      if (kind === 'fastify') {
        const f = await fastifyApp(c)
        port = f.port
        close = () => f.app.close()
      } else {
        const e = await expressApp(c)
        port = e.port
        close = () =>
          new Promise((resolve) => {
            e.server.closeAllConnections()
            e.server.close(() => resolve())
          })
      }
    })
    after(() => close())

    const matrix: [string, string | null][] = [
      ['gzip, deflate, br', 'br'],
      ['gzip', 'gzip'],
      ['deflate', 'deflate'],
      ['br;q=0.1, gzip;q=0.9', 'gzip'],
      ['*', 'br'],
      ['identity', null],
      ['compress', null],
      ['', null],
    ]
    if (zstdSupported) matrix.push(['zstd', 'zstd'], ['gzip, deflate, br, zstd', 'br'])
    for (const [ae, expected] of matrix) {
      it(`Accept-Encoding ${JSON.stringify(ae)} → ${expected ?? 'identity'}, exact length, same bytes`, async () => {
        const r = await raw(port, '/json', ae === '' ? {} : { 'accept-encoding': ae })
        assert.equal(r.status, 200)
        assert.equal(r.headers['content-encoding'], expected ?? undefined)
        assert.equal(Number(r.headers['content-length']), r.body.length)
        assert.match(String(r.headers.vary), /accept-encoding/i)
        assert.equal(decode(r).toString(), JSON_BODY)
        if (expected !== null) assert.ok(r.body.length < JSON_BODY.length / 3)
      })
    }

    it('below the threshold: sent as is, with Vary', async () => {
      const r = await raw(port, '/small', { 'accept-encoding': 'br, gzip' })
      assert.equal(r.headers['content-encoding'], undefined)
      assert.equal(r.body.toString(), SMALL_BODY)
      assert.match(String(r.headers.vary), /accept-encoding/i)
    })

    it('a lower threshold compresses the small body', async () => {
      const low = createCompressor({ threshold: 10 })
      const d = low.decide(
        'GET',
        '/small',
        200,
        'application/json',
        undefined,
        undefined,
        40,
        'gzip',
      )
      assert.equal(d, 'gzip')
    })

    for (const [path, why] of [
      ['/image', 'image/png'],
      ['/octet', 'application/octet-stream'],
      ['/no-transform', 'Cache-Control: no-transform'],
      ['/partial', '206'],
    ] as const) {
      it(`skips ${why}, without Vary`, async () => {
        const r = await raw(port, path, { 'accept-encoding': 'br, gzip' })
        assert.equal(r.headers['content-encoding'], undefined)
        assert.equal(r.headers.vary, undefined)
        assert.equal(Number(r.headers['content-length']), r.body.length)
      })
    }

    it('leaves an already encoded body alone', async () => {
      const r = await raw(port, '/encoded', { 'accept-encoding': 'br' })
      assert.equal(r.headers['content-encoding'], 'gzip')
      assert.equal(zlib.gunzipSync(r.body).toString(), JSON_BODY)
    })

    it('204 has no body and no coding', async () => {
      const r = await raw(port, '/empty', { 'accept-encoding': 'br' })
      assert.equal(r.status, 204)
      assert.equal(r.headers['content-encoding'], undefined)
      assert.equal(r.body.length, 0)
    })

    it('HEAD: no coding, but Vary as GET would have', async () => {
      const r = await raw(port, '/json', { 'accept-encoding': 'br' }, 'HEAD')
      assert.equal(r.status, 200)
      assert.equal(r.headers['content-encoding'], undefined)
      assert.match(String(r.headers.vary), /accept-encoding/i)
      assert.equal(r.body.length, 0)
    })

    it('merges Vary and weakens a strong ETag', async () => {
      const v = await raw(port, '/vary', { 'accept-encoding': 'gzip' })
      assert.equal(v.headers.vary, 'Origin, Accept-Encoding')
      const e = await raw(port, '/etag', { 'accept-encoding': 'gzip' })
      assert.equal(e.headers.etag, 'W/"v1"')
      const i = await raw(port, '/etag')
      assert.equal(i.headers.etag, '"v1"', 'identity keeps the strong ETag')
    })

    it('excluded paths are prefix matches on path segments', async () => {
      for (const path of ['/health', '/health?x=1', '/metrics']) {
        const r = await raw(port, path, { 'accept-encoding': 'br' })
        assert.equal(r.headers['content-encoding'], undefined, path)
        assert.equal(r.headers.vary, undefined, path)
      }
      const j = await raw(port, '/metrics.json', { 'accept-encoding': 'br' })
      assert.equal(j.headers['content-encoding'], 'br')
    })

    for (const [path, ae] of [
      ['/stream', 'gzip'],
      ['/stream', 'br'],
      ['/web-stream', 'br'],
    ] as const) {
      it(`streams a large body through zlib (${path}, ${ae})`, async () => {
        const r = await raw(port, path, { 'accept-encoding': ae })
        assert.equal(r.status, 200)
        assert.equal(r.headers['content-encoding'], ae)
        assert.equal(r.headers['content-length'], undefined)
        assert.equal(r.headers['transfer-encoding'], 'chunked')
        const text = decode(r).toString()
        assert.equal(text.length, STREAM_BODY.length)
        assert.equal(text, STREAM_BODY)
      })
    }

    it('a slow reader pushes back through the encoder and still gets every byte', async () => {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port, path: '/noise', headers: { 'accept-encoding': 'gzip' } },
          (res) => {
            res.pause()
            const chunks: Buffer[] = []
            res.on('data', (c: Buffer) => chunks.push(c))
            res.on('end', () => resolve(Buffer.concat(chunks)))
            setTimeout(() => res.resume(), 300)
          },
        )
        req.on('error', reject)
        req.end()
      })
      assert.equal(zlib.gunzipSync(body).toString(), NOISE_BODY)
    })

    it('stats count by coding and skipped reasons', () => {
      const s = c.stats()
      assert.ok(s.byEncoding.br.count > 0 && s.byEncoding.gzip.count > 0)
      assert.ok(s.streams >= 3)
      assert.ok(s.ratio > 0 && s.ratio < 0.5, `ratio ${s.ratio}`)
      assert.ok(s.skipped.path >= 3, 'excluded paths')
      assert.ok(s.skipped.type >= 2 && s.skipped.small >= 1 && s.skipped.noTransform >= 1)
      assert.ok(s.skipped.identity >= 1 && s.skipped.encoded >= 1)
      // Express's res.send ends a HEAD with no body: counted as small rather than head.
      assert.ok(s.skipped.head + s.skipped.small >= 2)
    })

    if (kind === 'express') {
      it('res.flush() sends what zlib holds before the response ends', async () => {
        const first = await new Promise<string>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port, path: '/flush', headers: { 'accept-encoding': 'gzip' } },
            (res) => {
              assert.equal(res.headers['content-encoding'], 'gzip')
              const gunzip = zlib.createGunzip()
              res.pipe(gunzip)
              let text = ''
              gunzip.on('data', (d: Buffer) => {
                text += d
                // Everything written before flush() arrives while the server still waits.
                if (text.length >= TEXT_BODY.length) {
                  resolve(text)
                  req.destroy()
                }
              })
              gunzip.on('error', () => {})
            },
          )
          req.on('error', reject)
          req.setTimeout(250, () => reject(new Error('nothing arrived before the end')))
          req.end()
        })
        assert.equal(first.slice(0, TEXT_BODY.length), TEXT_BODY)
      })
    }
  })
}
