import { connect as connectTcp, type Socket } from 'node:net'
import { connect as connectTls } from 'node:tls'
import { ResponseParser, type ResponseSink } from './response-parser.ts'

/**
 * One keep-alive HTTP/1.1 connection of one VU, one request at a time (a
 * VU's journey is sequential): the request goes out as one prebuilt write,
 * the response comes back through ResponseParser. No timer per request: the
 * wire's sweep checks `deadline`. A failure destroys the connection; the VU
 * opens a new one for its next request.
 */

export interface Endpoint {
  readonly host: string
  readonly port: number
  readonly tls: boolean
  /** `host[:port]` as the Host header carries it. */
  readonly authority: string
}

/** A request's bytes, encoded once (and kept when the journey repeats it). */
export interface Encoded {
  readonly bytes: Buffer
  /** The request asked for `connection: close`: nothing more may be sent on the connection. */
  readonly close: boolean
}

export interface Exchanged {
  readonly status: number
  /** [name, value, …], names lower-cased. */
  readonly headers: readonly string[]
  readonly bytes: Uint8Array
}

/** A request failed on a reused connection before any byte of its response: safe to send again if idempotent. */
export class StaleConnectionError extends Error {
  constructor(cause: Error) {
    super(cause.message, { cause })
    this.name = 'StaleConnectionError'
  }
}

const NO_BYTES = new Uint8Array(0)
/**
 * Plain TCP connections read into this one buffer (net's `onread`): no
 * buffer allocated and no stream machinery per read. Safe because a read is
 * consumed synchronously; what outlives it (body chunks, an unfinished
 * line) is copied. Per thread: each worker has its own module instance.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024)
const NO_HEADERS: readonly string[] = Object.freeze([])

export class Connection implements ResponseSink {
  /** performance.now() by which the response must have ended; 0 when idle. */
  deadline = 0
  /** Milliseconds the current request may take, for the timeout's message. */
  timeoutMs = 0
  readonly #socket: Socket
  readonly #parser = new ResponseParser(this)
  readonly #onGone: (c: Connection) => void
  #closed = false
  /** Responses completed on this connection: a failure before the first byte of a later one may be a stale keep-alive. */
  #served = 0
  #received = false
  #resolve: ((r: Exchanged) => void) | undefined
  #reject: ((e: Error) => void) | undefined
  #status = 0
  #headers: readonly string[] = NO_HEADERS
  #keepAlive = true
  #closeAfter = false
  #chunks: Buffer[] = []
  #size = 0
  /** Reads land in READ_BUFFER: a body chunk must be copied to be kept. */
  readonly #shared: boolean

  constructor(endpoint: Endpoint, onGone: (c: Connection) => void) {
    this.#onGone = onGone
    this.#socket = endpoint.tls
      ? connectTls({
          host: endpoint.host,
          port: endpoint.port,
          servername: isIp(endpoint.host) ? undefined : endpoint.host,
          ALPNProtocols: ['http/1.1'],
        })
      : connectTcp({
          host: endpoint.host,
          port: endpoint.port,
          onread: {
            buffer: READ_BUFFER,
            callback: (n: number, buf: Uint8Array) => {
              this.#data((buf as Buffer).subarray(0, n))
              return true // never paused
            },
          },
        })
    this.#shared = !endpoint.tls
    this.#socket.setNoDelay(true)
    if (endpoint.tls) this.#socket.on('data', (chunk: Buffer) => this.#data(chunk))
    this.#socket.on('end', () => this.#eof())
    this.#socket.on('error', (err) => this.#fail(err))
    this.#socket.on('close', () => this.#gone())
  }

  /** Open, not in use, nothing unread. */
  get ready(): boolean {
    return !this.#closed && this.#resolve === undefined && this.#parser.idle
  }

  get busy(): boolean {
    return this.#resolve !== undefined
  }

  get closed(): boolean {
    return this.#closed
  }

  /** `deadline` is performance.now() time; `timeoutMs` names it in the error. */
  send(
    request: Encoded,
    noBody: boolean,
    deadline: number,
    timeoutMs: number,
    resolve: (r: Exchanged) => void,
    reject: (e: Error) => void,
  ): void {
    this.#resolve = resolve
    this.#reject = reject
    this.#received = false
    this.#closeAfter = request.close
    this.timeoutMs = timeoutMs
    this.deadline = deadline
    this.#parser.expect(noBody)
    this.#socket.write(request.bytes)
  }

  /** Ends the request under way with `err` and drops the connection. */
  abort(err: Error): void {
    this.#fail(err, false)
  }

  close(): void {
    this.#closed = true
    this.#socket.destroy()
  }

  onHead(status: number, headers: string[], keepAlive: boolean): void {
    this.#status = status
    this.#headers = headers
    this.#keepAlive = keepAlive
  }

  onBody(chunk: Buffer): void {
    this.#chunks.push(this.#shared ? Buffer.from(chunk) : chunk)
    this.#size += chunk.length
  }

  onEnd(): void {
    const resolve = this.#resolve
    if (resolve === undefined) {
      this.#fail(new Error('a response came with no request'))
      return
    }
    const c = this.#chunks
    const bytes =
      c.length === 0 ? NO_BYTES : c.length === 1 ? (c[0] as Buffer) : Buffer.concat(c, this.#size)
    const r: Exchanged = { status: this.#status, headers: this.#headers, bytes }
    this.#clear()
    this.#served++
    if (!this.#keepAlive || this.#closeAfter) this.close()
    resolve(r)
  }

  #data(chunk: Buffer): void {
    this.#received = true
    if (this.#resolve === undefined) {
      // Bytes with no request out (no pipelining here): they would be taken for the next response.
      this.#fail(new Error('the server sent bytes with no request under way'))
      return
    }
    try {
      this.#parser.execute(chunk)
    } catch (err) {
      this.#fail(err as Error)
    }
  }

  #eof(): void {
    try {
      this.#parser.finish()
    } catch (err) {
      this.#fail(err as Error)
      return
    }
    this.#fail(new Error('the server closed the connection'))
  }

  #fail(err: Error, mayBeStale = true): void {
    const reject = this.#reject
    const stale = mayBeStale && this.#served > 0 && !this.#received
    this.#clear()
    this.close()
    reject?.(stale ? new StaleConnectionError(err) : err)
  }

  #gone(): void {
    this.#closed = true
    this.#fail(new Error('the connection closed'))
    this.#onGone(this)
  }

  #clear(): void {
    this.#resolve = undefined
    this.#reject = undefined
    this.deadline = 0
    this.#chunks.length = 0
    this.#size = 0
    this.#headers = NO_HEADERS
  }
}

function isIp(host: string): boolean {
  return /^[\d.]+$/.test(host) || host.includes(':')
}
