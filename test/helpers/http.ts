import { type IncomingHttpHeaders, request } from 'node:http'
import { decompressSync } from '../../src/http/codecs.ts'

export interface Raw {
  status: number
  headers: IncomingHttpHeaders
  body: Buffer
}

/** A request over real HTTP that keeps the raw bytes (fetch would decode them). */
export function raw(
  port: number,
  path: string,
  headers: Record<string, string> = {},
  method = 'GET',
): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }),
      )
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

/** The body, decoded according to its Content-Encoding. */
export function decode(r: Raw): Buffer {
  const e = r.headers['content-encoding']
  return e === undefined ? r.body : decompressSync(r.body, e as 'br')
}
