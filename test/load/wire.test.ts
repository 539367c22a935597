import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createServer as createHttpsServer } from 'node:https'
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { Recorder } from '../../src/load/samples.ts'
import { newSecond, VirtualUser } from '../../src/load/vu.ts'
import { SWEEP_MS, Wire } from '../../src/load/wire.ts'
import { startTarget, type Target } from '../helpers/target.ts'

// The generator's own HTTP/1.1 connections, against a real node:http server
// and raw TCP servers that misbehave on purpose: keep-alive, stale
// connections, closes, timeouts, chunked and large bodies, bad input.

const wires: Wire[] = []

function vuFor(baseUrl: string): VirtualUser {
  const wire = new Wire()
  wires.push(wire)
  const url = new URL(baseUrl)
  const second = newSecond()
  return new VirtualUser(1, {
    scenario: 'wire',
    baseUrl,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    headers: {},
    tags: {},
    data: {},
    open: false,
    wire,
    endpoint: wire.endpoint(url.origin),
    recorder: new Recorder(),
    second: () => second,
  })
}

/** A raw TCP server: `onRequest` gets each request's head (and what followed it) and the socket. */
async function rawServer(
  onRequest: (head: string, socket: Socket, n: number) => void,
): Promise<{ url: string; connections: number; server: Server }> {
  const state = { url: '', connections: 0, server: createServer() }
  let n = 0
  state.server.on('connection', (socket) => {
    state.connections++
    let buf = ''
    socket.on('data', (c: Buffer) => {
      buf += c.toString('latin1')
      let end = buf.indexOf('\r\n\r\n')
      while (end >= 0) {
        const head = buf.slice(0, end)
        const length = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? 0)
        if (buf.length < end + 4 + length) return
        const request = buf.slice(0, end + 4 + length)
        buf = buf.slice(end + 4 + length)
        onRequest(request, socket, ++n)
        end = buf.indexOf('\r\n\r\n')
      }
    })
    socket.on('error', () => {})
  })
  state.server.listen(0, '127.0.0.1')
  await once(state.server, 'listening')
  state.url = `http://127.0.0.1:${(state.server.address() as AddressInfo).port}`
  return state
}

const servers: Server[] = []
let target: Target

before(async () => {
  target = await startTarget()
})
after(async () => {
  for (const w of wires) w.close()
  for (const s of servers) {
    s.close()
  }
  await target.close()
})

describe('wire: the generator’s HTTP/1.1 connections', () => {
  it('sends paths, headers, query and JSON bodies and reads repeated headers', async () => {
    const seen: unknown[] = []
    target.handler = (req, res) => {
      let body = ''
      req.on('data', (c) => {
        body += c
      })
      req.on('end', () => {
        seen.push({ method: req.method, url: req.url, x: req.headers['x-a'], body })
        res.setHeader('x-reply', ['1', '2'])
        res.end(`echo ${req.url}`)
      })
    }
    const vu = vuFor(target.url)
    for (let i = 0; i < 20; i++) {
      const r = await vu.get(`/n/${i}`)
      assert.equal(r.status, 200)
      assert.equal(r.body, `echo /n/${i}`)
    }
    const q = await vu.get('/q', { query: { a: 'b c', n: 1 }, headers: { 'x-a': 'yes' } })
    assert.equal(q.body, 'echo /q?a=b+c&n=1')
    assert.deepEqual(q.headers['x-reply'], ['1', '2'])
    // Headers as Node's own object: no prototype, so `constructor` is only ever a header.
    assert.equal(Object.getPrototypeOf(q.headers), null)
    const p = await vu.post('/p', { a: 1 })
    assert.equal(p.status, 200)
    assert.deepEqual(seen.at(-1), { method: 'POST', url: '/p', x: undefined, body: '{"a":1}' })
    assert.deepEqual(seen.at(-2), { method: 'GET', url: '/q?a=b+c&n=1', x: 'yes', body: '' })
  })

  it('sends 1,000 requests on one connection and opens one more only for concurrent ones', async () => {
    const raw = await rawServer((_head, socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    for (let i = 0; i < 1000; i++) assert.equal((await vu.get('/')).status, 200)
    assert.equal(raw.connections, 1)
    const both = await Promise.all([vu.get('/a'), vu.get('/b')])
    assert.deepEqual(
      both.map((r) => r.body),
      ['ok', 'ok'],
    )
    assert.equal(raw.connections, 2)
  })

  it('sends a GET again on a new connection when a kept-alive one turns out closed, never a POST', async () => {
    // Every connection's second request is met by a close with no response: the race of a keep-alive timeout.
    const perSocket = new WeakMap<Socket, number>()
    let received = 0
    const raw = await rawServer((_head, socket) => {
      received++
      const n = (perSocket.get(socket) ?? 0) + 1
      perSocket.set(socket, n)
      if (n === 2) socket.destroy()
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    assert.equal((await vu.get('/1')).status, 200)
    const again = await vu.get('/2')
    assert.equal(again.status, 200, again.error)
    assert.equal(received, 3, 'the GET was sent twice')
    const post = await vu.post('/3', { x: 1 })
    assert.equal(post.status, 0)
    assert.match(post.error ?? '', /closed|reset|EPIPE/i)
    assert.equal(received, 4, 'the POST was sent once')
  })

  it('drops a connection on which bytes came with no request, and the next response is its own', async () => {
    const raw = await rawServer((head, socket) => {
      const path = head.split(' ')[1]
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${path?.length}\r\n\r\n${path}`)
      // An unsolicited response on the idle connection, as a confused server or proxy might send.
      if (path === '/first') setTimeout(() => socket.write('HTTP/1.1 503 Busy\r\n\r\nstale'), 5)
    })
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    assert.equal((await vu.get('/first')).body, '/first')
    await new Promise((r) => setTimeout(r, 30))
    const next = await vu.get('/second')
    assert.deepEqual([next.status, next.body], [200, '/second'])
    assert.equal(raw.connections, 2)
  })

  it('sends nothing more on a connection its request asked to close, and retries on a new one', async () => {
    let closeAsked = 0
    const raw = await rawServer((head, socket) => {
      if (/connection: close/i.test(head)) closeAsked++
      // No echo of the close: the server closes a moment later.
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
      if (/connection: close/i.test(head)) setTimeout(() => socket.destroy(), 20)
    })
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    assert.equal((await vu.get('/', { headers: { connection: 'close' } })).status, 200)
    const post = await vu.post('/after', { a: 1 })
    assert.equal(post.status, 200, post.error)
    assert.equal(closeAsked, 1)
    assert.equal(raw.connections, 2)
  })

  it('retries a GET on a new connection even when the VU holds other stale ones', async () => {
    let phase = 'serve'
    const raw = await rawServer((_head, socket) => {
      if (phase === 'drop') {
        socket.destroy()
        return
      }
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    await Promise.all([vu.get('/a'), vu.get('/b')]) // two kept-alive connections
    assert.equal(raw.connections, 2)
    phase = 'drop' // every old connection now dies on its next request; new ones are served
    raw.server.once('connection', () => {
      phase = 'serve'
    })
    const r = await vu.get('/c')
    assert.deepEqual([r.status, r.error], [200, undefined])
    assert.equal(raw.connections, 3)
  })

  it('opens a new connection after Connection: close and after a body delimited by the close', async () => {
    const raw = await rawServer((head, socket) => {
      if (head.startsWith('GET /close')) {
        socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye')
      } else if (head.startsWith('GET /eof')) {
        socket.end('HTTP/1.1 200 OK\r\n\r\nuntil the end')
      } else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    assert.equal((await vu.get('/close')).body, 'bye')
    assert.equal((await vu.get('/eof')).body, 'until the end')
    assert.equal((await vu.get('/')).body, 'ok')
    assert.equal(raw.connections, 3)
  })

  it('reads chunked, streamed and large bodies from node:http', async () => {
    const big = 'x'.repeat(1_000_000)
    target.handler = (req, res) => {
      if (req.url === '/big') {
        res.end(big)
        return
      }
      res.write('one,')
      setTimeout(() => {
        res.write('two,')
        setTimeout(() => res.end('three'), 5)
      }, 5)
    }
    const vu = vuFor(target.url)
    assert.equal((await vu.get('/stream')).body, 'one,two,three')
    const r = await vu.get('/big')
    assert.equal(r.body.length, big.length)
    assert.equal((await vu.request('HEAD', '/big')).body, '')
    assert.equal((await vu.get('/stream')).body, 'one,two,three')
  })

  it('times a request out with no timer of its own, and the connection goes', async () => {
    const raw = await rawServer(() => {})
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    const t0 = performance.now()
    const r = await vu.get('/', { timeout: '200ms' })
    const took = performance.now() - t0
    assert.equal(r.status, 0)
    assert.match(r.error ?? '', /timeout: no complete response within 200 ms/)
    assert.ok(took >= 190 && took < 200 + 3 * SWEEP_MS, `took ${took} ms`)
    // The timed-out connection is not reused: its late response could not be told apart.
    assert.equal((await vu.get('/', { timeout: '50ms' })).status, 0)
    assert.equal(raw.connections, 2)
  })

  it('turns what cannot be sent or read into status 0 with the reason, sending nothing bad', async () => {
    const heads: string[] = []
    const raw = await rawServer((head, socket) => {
      heads.push(head)
      if (head.startsWith('GET /garbage')) socket.write('SMTP ready\r\n\r\n')
      else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok')
    })
    servers.push(raw.server)
    const vu = vuFor(raw.url)
    const injected = await vu.get('/', { headers: { 'x-a': 'v\r\nx-injected: 1' } })
    assert.equal(injected.status, 0)
    assert.match(injected.error ?? '', /invalid value of header x-a/)
    // Latin-1 encoding keeps a code unit's low byte only: U+010D would go out as a bare CR.
    const wide = await vu.get('/', { headers: { 'x-name': 'Dvo\u0159\u00e1k \u010d' } })
    assert.equal(wide.status, 0)
    assert.match(wide.error ?? '', /invalid value of header x-name/)
    const garbage = await vu.get('/garbage')
    assert.equal(garbage.status, 0)
    assert.match(garbage.error ?? '', /malformed response: bad status line/)
    // Spaces and non-ASCII in a path are percent-encoded, not sent raw.
    assert.equal((await vu.get('/café au lait')).status, 200)
    assert.equal(heads.length, 2)
    assert.ok(heads[1]?.startsWith('GET /caf%C3%A9%20au%20lait HTTP/1.1\r\n'), heads[1])
    const refused = vuFor('http://127.0.0.1:9')
    const r = await refused.get('/')
    assert.equal(r.status, 0)
    assert.match(r.error ?? '', /ECONNREFUSED/)
  })

  it('speaks TLS to https: origins and checks the certificate', async () => {
    // A self-signed certificate made now (openssl): TLS is negotiated, and refused as untrusted.
    const dir = mkdtempSync(join(tmpdir(), 'hotpath-wire-tls-'))
    try {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'rsa:2048',
          '-nodes',
          '-days',
          '1',
          '-subj',
          '/CN=localhost',
          '-keyout',
          join(dir, 'key.pem'),
          '-out',
          join(dir, 'cert.pem'),
        ],
        { stdio: 'ignore' },
      )
      let served = 0
      const server = createHttpsServer(
        { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
        (_req, res) => {
          served++
          res.end('secret')
        },
      )
      server.listen(0, '127.0.0.1')
      await once(server, 'listening')
      const port = (server.address() as AddressInfo).port
      const r = await vuFor(`https://localhost:${port}`).get('/')
      server.close()
      assert.equal(r.status, 0)
      assert.match(r.error ?? '', /self[- ]signed certificate/)
      assert.equal(served, 0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
