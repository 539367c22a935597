import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  MAX_HEAD_BYTES,
  ResponseParseError,
  ResponseParser,
} from '../../src/load/response-parser.ts'

// The generator's response parser, fed bytes as a socket could deliver them:
// whole, and split at every position.

interface Parsed {
  status: number
  headers: string[]
  keepAlive: boolean
  body: string
}

/** `pipelined`: the next request counts as sent when a response ends, so several responses can be fed at once. */
function parser(noBody = false, pipelined = true): { p: ResponseParser; out: Parsed[] } {
  const out: Parsed[] = []
  let cur: Parsed | undefined
  const p = new ResponseParser({
    onHead(status, headers, keepAlive) {
      cur = { status, headers, keepAlive, body: '' }
    },
    onBody(chunk) {
      assert.ok(cur, 'body before head')
      cur.body += chunk.toString('latin1')
    },
    onEnd() {
      assert.ok(cur, 'end before head')
      out.push(cur)
      cur = undefined
      if (pipelined) p.expect(noBody)
    },
  })
  p.expect(noBody)
  return { p, out }
}

function parse(text: string, noBody = false): Parsed[] {
  const { p, out } = parser(noBody)
  p.execute(Buffer.from(text, 'latin1'))
  return out
}

/** Parses `text` split in two at every position; every split must give `whole`'s result. */
function eachSplit(text: string, check: (r: Parsed[]) => void): void {
  const bytes = Buffer.from(text, 'latin1')
  for (let i = 1; i < bytes.length; i++) {
    const { p, out } = parser()
    p.execute(bytes.subarray(0, i))
    p.execute(bytes.subarray(i))
    check(out)
  }
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello'

describe('response parser', () => {
  it('reads a Content-Length response whole and split at every byte', () => {
    const [r] = parse(OK)
    assert.deepEqual(r, {
      status: 200,
      headers: ['content-type', 'text/plain', 'content-length', '5'],
      keepAlive: true,
      body: 'hello',
    })
    eachSplit(OK, (out) => assert.deepEqual(out, [r]))
  })

  it('reads chunked bodies with extensions and trailers, split at every byte', () => {
    const text =
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' +
      '5;ext=1\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n' +
      OK
    const out = parse(text)
    assert.equal(out.length, 2)
    assert.equal(out[0]?.body, 'hello 0123456789')
    assert.equal(out[0]?.keepAlive, true)
    assert.equal(out[1]?.body, 'hello')
    eachSplit(text, (o) => assert.deepEqual(o, out))
  })

  it('skips interim 1xx responses and keeps the final one', () => {
    const out = parse(
      `HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n${OK}`,
    )
    assert.deepEqual(
      out.map((r) => [r.status, r.body]),
      [[200, 'hello']],
    )
  })

  it('reads no body after HEAD, 204 and 304, whatever their headers say', () => {
    assert.deepEqual(
      parse(`HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n${OK}`, true).map((r) => r.body),
      ['', ''],
    )
    const out = parse(
      `HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n${OK}`,
    )
    assert.deepEqual(
      out.map((r) => [r.status, r.body, r.keepAlive]),
      [
        [204, '', true],
        [304, '', true],
        [200, 'hello', true],
      ],
    )
  })

  it('reads a body without length until the close, and the connection does not stay', () => {
    const { p, out } = parser()
    p.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\npart one, '))
    p.execute(Buffer.from('part two'))
    assert.equal(out.length, 0)
    p.finish()
    assert.deepEqual(out, [
      { status: 200, headers: [], keepAlive: false, body: 'part one, part two' },
    ])
  })

  it('refuses bytes after a complete response, when no request is under way', () => {
    const { p, out } = parser(false, false)
    assert.throws(() => p.execute(Buffer.from(`${OK}\r\n`)), /bytes after the response/)
    assert.equal(out.length, 1, 'the complete response is delivered first')
  })

  it('follows Connection: close and HTTP/1.0 keep-alive', () => {
    assert.equal(
      parse(
        'HTTP/1.1 200 OK\r\nConnection: close\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n',
      )[0]?.keepAlive,
      false,
      'a close asked for stands',
    )
    assert.equal(
      parse('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')[0]?.keepAlive,
      false,
    )
    assert.equal(parse('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n')[0]?.keepAlive, false)
    assert.equal(
      parse('HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n')[0]?.keepAlive,
      true,
    )
  })

  it('ignores bytes after a response that closes the connection', () => {
    const out = parse(`HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokGARBAGE`)
    assert.deepEqual(
      out.map((r) => r.body),
      ['ok'],
    )
  })

  it('refuses malformed responses with a ResponseParseError', () => {
    const bad = [
      'HTTP/2 200 OK\r\n\r\n',
      'HTTP/1.1 2x0 OK\r\n\r\n',
      'ICY 200 OK\r\n\r\n',
      'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n',
      'HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n',
      // A bare LF or CR would hide the Content-Length after it in a header value.
      'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 5\r\n\r\n',
      'HTTP/1.1 200 OK\r\nX-A: 1\rContent-Length: 5\r\n\r\n',
      'HTTP/1.1 200 OK\r\nX-A: a\u0000b\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\n',
      'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
      'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n',
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
      `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}\r\n\r\n`,
    ]
    for (const text of bad) {
      assert.throws(() => parse(text), ResponseParseError, JSON.stringify(text.slice(0, 60)))
    }
  })

  it('refuses a head that never ends once it passes the limit, and a cut response at the close', () => {
    const { p } = parser()
    assert.throws(
      () => p.execute(Buffer.from(`HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(MAX_HEAD_BYTES)}`)),
      /too large/,
    )
    const cut = parser()
    cut.p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf'))
    assert.throws(() => cut.p.finish(), /closed before the response ended/)
    const idle = parser()
    idle.p.execute(Buffer.from(OK))
    assert.doesNotThrow(() => idle.p.finish())
  })
})
