/**
 * An incremental HTTP/1.1 response parser for the generator's connections:
 * the head is found with one native `indexOf` and decoded as one latin1
 * string, bodies are handed on as views of the socket's chunks (no copy).
 * What a client needs of RFC 9112 §6.3: Content-Length, chunked (with
 * trailers), bodies delimited by close, no body for HEAD/204/304, interim
 * 1xx responses skipped. Anything else malformed is a ResponseParseError
 * and the connection is dropped.
 */

export class ResponseParseError extends Error {
  constructor(message: string) {
    super(`malformed response: ${message}`)
    this.name = 'ResponseParseError'
  }
}

export interface ResponseSink {
  /** A final response's head; `headers` is [name, value, …], names lower-cased. */
  onHead(status: number, headers: string[], keepAlive: boolean): void
  onBody(chunk: Buffer): void
  onEnd(): void
}

/** Heads (and chunk lines, trailers) larger than this are refused, as Node's own limit. */
export const MAX_HEAD_BYTES = 16 * 1024

const CRLFCRLF = Buffer.from('\r\n\r\n', 'latin1')
const LF = 0x0a

// States.
const HEAD = 0
const SIZED = 1
const CHUNK_SIZE = 2
const CHUNK_DATA = 3
const CHUNK_END = 4
const TRAILERS = 5
const UNTIL_CLOSE = 6
/** After a response that closes the connection: nothing more is read. */
const CLOSED = 7

const DIGITS = /^\d+$/
/** Control characters but HTAB, CR and LF (those two are checked by line). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it finds
const CONTROL = /[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/
const HEX = /^[0-9a-fA-F]+$/

export class ResponseParser {
  #state = HEAD
  #remaining = 0
  #pending: Buffer | undefined
  #noBody = false
  #keepAlive = true
  /** A response ended and no request has been sent since: any byte now is not a response to anything. */
  #answered = false
  readonly #sink: ResponseSink

  constructor(sink: ResponseSink) {
    this.#sink = sink
  }

  /** Before each request: a HEAD request's response has no body whatever its headers say. */
  expect(noBody: boolean): void {
    this.#noBody = noBody
    this.#answered = false
  }

  /** True between responses with nothing buffered: a close now loses nothing. */
  get idle(): boolean {
    return this.#state === HEAD && this.#pending === undefined
  }

  execute(chunk: Buffer): void {
    let buf = chunk
    if (this.#pending !== undefined) {
      buf = Buffer.concat([this.#pending, chunk])
      this.#pending = undefined
    }
    let off = 0
    const len = buf.length
    while (off < len) {
      if (this.#answered && this.#state === HEAD) {
        throw new ResponseParseError('bytes after the response, with no request under way')
      }
      switch (this.#state) {
        case HEAD: {
          const end = buf.indexOf(CRLFCRLF, off)
          if (end < 0) {
            this.#keep(buf, off, 'response head')
            return
          }
          if (end - off > MAX_HEAD_BYTES) throw new ResponseParseError('response head too large')
          this.#head(buf.toString('latin1', off, end + 2))
          off = end + 4
          break
        }
        case SIZED:
        case CHUNK_DATA: {
          const n = Math.min(this.#remaining, len - off)
          this.#sink.onBody(off === 0 && n === len ? buf : buf.subarray(off, off + n))
          off += n
          this.#remaining -= n
          if (this.#remaining === 0) {
            if (this.#state === SIZED) this.#end()
            else this.#state = CHUNK_END
          }
          break
        }
        case CHUNK_SIZE:
        case CHUNK_END:
        case TRAILERS: {
          // The chunked framing's lines: a size, the CRLF after data, trailers.
          const lf = buf.indexOf(LF, off)
          if (lf < 0) {
            this.#keep(buf, off, 'chunk line')
            return
          }
          this.#chunkLine(
            buf.toString('latin1', off, buf[lf - 1] === 0x0d && lf > off ? lf - 1 : lf),
          )
          off = lf + 1
          break
        }
        case UNTIL_CLOSE:
          this.#sink.onBody(off === 0 ? buf : buf.subarray(off))
          return
        default:
          // CLOSED: the response said the connection ends; later bytes are not a response.
          return
      }
    }
  }

  /** The peer closed the connection: ends a body delimited by close; a cut response throws. */
  finish(): void {
    if (this.#state === UNTIL_CLOSE) {
      this.#end()
      return
    }
    if (this.#state === CLOSED || this.idle) return
    this.#state = CLOSED
    throw new ResponseParseError('the connection closed before the response ended')
  }

  #chunkLine(line: string): void {
    if (this.#state === CHUNK_END) {
      if (line !== '') throw new ResponseParseError('chunk data longer than its size')
      this.#state = CHUNK_SIZE
    } else if (this.#state === TRAILERS) {
      if (line === '') this.#end()
    } else {
      const ext = line.indexOf(';')
      const size = (ext < 0 ? line : line.slice(0, ext)).trim()
      if (!HEX.test(size) || size.length > 12) {
        throw new ResponseParseError(`bad chunk size ${JSON.stringify(size)}`)
      }
      this.#remaining = Number.parseInt(size, 16)
      this.#state = this.#remaining === 0 ? TRAILERS : CHUNK_DATA
    }
  }

  /** Keeps an unfinished line or head for the next chunk, within the size limit. */
  #keep(buf: Buffer, off: number, what: string): void {
    if (buf.length - off > MAX_HEAD_BYTES) throw new ResponseParseError(`${what} too large`)
    this.#pending = Buffer.from(buf.subarray(off))
  }

  /** `text` is the head up to and including its last line's CRLF. */
  #head(text: string): void {
    // "HTTP/1.1 200 OK": version, status, an optional reason.
    if (
      !text.startsWith('HTTP/1.') ||
      text.charCodeAt(8) !== 32 ||
      !(text.charCodeAt(12) === 32 || text.charCodeAt(12) === 13)
    ) {
      throw new ResponseParseError(`bad status line ${JSON.stringify(text.slice(0, 40))}`)
    }
    const status = Number(text.slice(9, 12))
    if (!(status >= 100 && status <= 999) || !DIGITS.test(text.slice(9, 12))) {
      throw new ResponseParseError(`bad status ${JSON.stringify(text.slice(9, 12))}`)
    }
    const bad = CONTROL.exec(text)
    if (bad !== null) {
      throw new ResponseParseError(`control character ${JSON.stringify(bad[0])} in the head`)
    }
    // Every line ends at its first CR and first LF, together: a bare one must not hide a header.
    const first = text.indexOf('\r\n')
    if (text.indexOf('\r') !== first || text.indexOf('\n') !== first + 1) bareLine(text, 0)
    let keepAlive = text.charCodeAt(7) === 49 // HTTP/1.1; 1.0 only with "connection: keep-alive"
    let closed = false
    let length = -1
    let chunked = false
    let encoded = false
    const headers: string[] = []
    let pos = text.indexOf('\r\n') + 2
    while (pos < text.length) {
      const eol = text.indexOf('\r\n', pos)
      if (text.indexOf('\r', pos) !== eol || text.indexOf('\n', pos) !== eol + 1)
        bareLine(text, pos)
      const colon = text.indexOf(':', pos)
      const lead = text.charCodeAt(pos)
      if (colon < 0 || colon > eol || colon === pos || lead === 32 || lead === 9) {
        throw new ResponseParseError(`bad header line ${JSON.stringify(text.slice(pos, eol))}`)
      }
      const name = text.slice(pos, colon).toLowerCase()
      const value = text.slice(colon + 1, eol).trim()
      headers.push(name, value)
      if (name === 'content-length') {
        const n = DIGITS.test(value) ? Number(value) : Number.NaN
        if (!Number.isSafeInteger(n) || (length >= 0 && n !== length)) {
          throw new ResponseParseError(`bad content-length ${JSON.stringify(value)}`)
        }
        length = n
      } else if (name === 'transfer-encoding') {
        encoded = true
        chunked = /(?:^|,)\s*chunked$/i.test(value)
      } else if (name === 'connection') {
        const v = value.toLowerCase()
        // Once asked for, the close stands, whatever another Connection header says.
        if (v.includes('close')) closed = true
        else if (v.includes('keep-alive')) keepAlive = true
      }
      pos = eol + 2
    }
    if (closed) keepAlive = false
    if (status < 200 && status !== 101) return // interim (100, 103): the final response follows
    if (status === 101) throw new ResponseParseError('101 Switching Protocols is not supported')
    // RFC 9112 §6.3: a transfer coding other than chunked, or none and no length, ends with the close.
    const noBody = this.#noBody || status === 204 || status === 304
    if (!noBody && ((encoded && !chunked) || (!encoded && length < 0))) keepAlive = false
    // Both framings: chunked wins, and the connection is not trusted after it.
    if (chunked && length >= 0) keepAlive = false
    this.#keepAlive = keepAlive
    this.#sink.onHead(status, headers, keepAlive)
    if (noBody) this.#end()
    else if (chunked) this.#state = CHUNK_SIZE
    else if (encoded || length < 0) this.#state = UNTIL_CLOSE
    else if (length === 0) this.#end()
    else {
      this.#remaining = length
      this.#state = SIZED
    }
  }

  #end(): void {
    this.#state = this.#keepAlive ? HEAD : CLOSED
    this.#answered = true
    this.#sink.onEnd()
  }
}

function bareLine(text: string, pos: number): never {
  const line = text.slice(pos, text.indexOf('\r\n', pos))
  throw new ResponseParseError(
    `bare CR or LF in the head line ${JSON.stringify(line.slice(0, 60))}`,
  )
}
