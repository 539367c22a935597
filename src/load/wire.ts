import {
  Connection,
  type Encoded,
  type Endpoint,
  type Exchanged,
  StaleConnectionError,
} from './connection.ts'

/**
 * A worker's HTTP/1.1 wire: endpoints, the bytes of requests, every open
 * connection, and one sweep for their timeouts. The request a journey sends
 * again and again (same method and path, no headers or body of its own) is
 * encoded once per endpoint and written as the same Buffer every time.
 *
 * hotpath sends through its own connections rather than undici's: with
 * undici's dispatch() one generating thread spent ~13.6 µs of CPU per
 * request and reached 0.78 of autocannon's rate; with these, ~10 µs and
 * 1.04 (BENCHMARKS.md, `load`).
 */

/** Checked this often: a request's timeout holds to within it, with no timer per request. */
export const SWEEP_MS = 100
/** Prebuilt requests kept per endpoint: a journey with a new path each time does not grow it. */
const MAX_CACHED = 1000

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/
const PLAIN_TARGET = /^[\x21-\x7e]*$/
/** What a header value may not hold (RFC 9110 field-value: HTAB, visible ASCII, obs-text), as Node checks. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'TRACE'])
/** Methods that announce an empty body (`content-length: 0`) when they have none, as browsers do. */
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH'])

interface EndpointState extends Endpoint {
  readonly plain: Map<string, Map<string, Encoded>>
  cached: number
}

export interface Outgoing {
  readonly method: string
  /** Origin-form: path and query. */
  readonly target: string
  readonly headers: Readonly<Record<string, string>> | undefined
  readonly body: string | Uint8Array | undefined
  readonly timeoutMs: number
}

export class Wire {
  readonly #open = new Set<Connection>()
  readonly #endpoints = new Map<string, EndpointState>()
  readonly #gone = (c: Connection) => {
    this.#open.delete(c)
  }
  #sweep: NodeJS.Timeout | undefined

  /** The endpoint of an origin (`http://host:port`), parsed once. */
  endpoint(origin: string): Endpoint {
    let ep = this.#endpoints.get(origin)
    if (ep === undefined) {
      const url = new URL(origin)
      const tls = url.protocol === 'https:'
      ep = {
        host: url.hostname.replace(/^\[|\]$/g, ''),
        port: url.port === '' ? (tls ? 443 : 80) : Number(url.port),
        tls,
        authority: url.host,
        plain: new Map(),
        cached: 0,
      }
      this.#endpoints.set(origin, ep)
    }
    return ep
  }

  connect(endpoint: Endpoint): Connection {
    const c = new Connection(endpoint, this.#gone)
    this.#open.add(c)
    this.#sweep ??= setInterval(() => this.#timeouts(), SWEEP_MS).unref()
    return c
  }

  /**
   * Sends on one of `line`'s connections (a new one when none is free). A
   * request that meets a keep-alive connection the server had just closed is
   * sent once more on a new one when its method is idempotent.
   */
  send(line: ConnectionLine, endpoint: Endpoint, o: Outgoing): Promise<Exchanged> {
    const request = this.#encode(endpoint as EndpointState, o)
    const noBody = o.method === 'HEAD'
    // One deadline for the request, a second attempt included.
    const deadline = performance.now() + o.timeoutMs
    return new Promise((resolve, reject) => {
      const c = line.take(endpoint)
      c.send(
        request,
        noBody,
        deadline,
        o.timeoutMs,
        resolve,
        IDEMPOTENT.has(o.method)
          ? (err) => {
              if (!(err instanceof StaleConnectionError)) return reject(err)
              line
                .fresh(endpoint)
                .send(request, noBody, deadline, o.timeoutMs, resolve, (e) => reject(unwrap(e)))
            }
          : (err) => reject(unwrap(err)),
      )
    })
  }

  /** Closes every connection: the run is over. */
  close(): void {
    if (this.#sweep !== undefined) clearInterval(this.#sweep)
    this.#sweep = undefined
    for (const c of this.#open) c.close()
    this.#open.clear()
  }

  #timeouts(): void {
    const now = performance.now()
    for (const c of this.#open) {
      if (c.deadline !== 0 && c.deadline <= now) {
        c.abort(new Error(`timeout: no complete response within ${c.timeoutMs} ms`))
      }
    }
  }

  #encode(ep: EndpointState, o: Outgoing): Encoded {
    if (o.headers !== undefined || o.body !== undefined) return encode(ep, o)
    let byTarget = ep.plain.get(o.method)
    let encoded = byTarget?.get(o.target)
    if (encoded !== undefined) return encoded
    encoded = encode(ep, o)
    if (ep.cached < MAX_CACHED) {
      if (byTarget === undefined) {
        byTarget = new Map()
        ep.plain.set(o.method, byTarget)
      }
      byTarget.set(o.target, encoded)
      ep.cached++
    }
    return encoded
  }
}

/** A VU's connections, by endpoint: one each, more only while its journey sends concurrently. */
export class ConnectionLine {
  readonly #wire: Wire
  readonly #by = new Map<Endpoint, Connection[]>()

  constructor(wire: Wire) {
    this.#wire = wire
  }

  take(endpoint: Endpoint): Connection {
    const list = this.#by.get(endpoint)
    if (list !== undefined) {
      for (let i = 0; i < list.length; i++) {
        const c = list[i] as Connection
        if (c.ready) return c
      }
    }
    return this.fresh(endpoint)
  }

  /** A new connection, whatever the line holds. */
  fresh(endpoint: Endpoint): Connection {
    let list = this.#by.get(endpoint)
    if (list === undefined) {
      list = []
      this.#by.set(endpoint, list)
    }
    // Drop the closed ones before adding: a server that closes after every response must not grow the list.
    for (let i = list.length - 1; i >= 0; i--) if ((list[i] as Connection).closed) list.splice(i, 1)
    const c = this.#wire.connect(endpoint)
    list.push(c)
    return c
  }

  /** Ends whatever is under way with `err` (the run cuts the VU). */
  abort(err: Error): void {
    for (const list of this.#by.values()) for (const c of list) if (c.busy) c.abort(err)
  }

  close(): void {
    for (const list of this.#by.values()) for (const c of list) c.close()
    this.#by.clear()
  }
}

function unwrap(err: Error): Error {
  return err instanceof StaleConnectionError ? (err.cause as Error) : err
}

/** The request's bytes; a TypeError for what cannot be sent (the VU records it as status 0). */
function encode(ep: Endpoint, o: Outgoing): Encoded {
  if (!TOKEN.test(o.method)) throw new TypeError(`invalid method ${JSON.stringify(o.method)}`)
  let target = o.target
  if (!PLAIN_TARGET.test(target)) {
    // Spaces and non-ASCII in a journey's path: percent-encoded, as a browser would.
    const url = new URL(target, 'http://x')
    target = `${url.pathname}${url.search}`
  }
  let lines = ''
  let host = false
  let close = false
  const headers = o.headers
  if (headers !== undefined) {
    for (const name in headers) {
      const value = String(headers[name])
      if (!TOKEN.test(name)) throw new TypeError(`invalid header name ${JSON.stringify(name)}`)
      if (BAD_VALUE.test(value)) throw new TypeError(`invalid value of header ${name}`)
      const lower = name.toLowerCase()
      // The framing is the wire's own.
      if (lower === 'content-length' || lower === 'transfer-encoding') continue
      if (lower === 'host') host = true
      else if (lower === 'connection' && /(?:^|[\s,])close(?:$|[\s,])/i.test(value)) close = true
      lines += `${name}: ${value}\r\n`
    }
  }
  const body =
    o.body === undefined ? undefined : typeof o.body === 'string' ? Buffer.from(o.body) : o.body
  if (body !== undefined || BODY_METHODS.has(o.method)) {
    lines += `content-length: ${body?.byteLength ?? 0}\r\n`
  }
  const head = Buffer.from(
    `${o.method} ${target} HTTP/1.1\r\n${host ? '' : `host: ${ep.authority}\r\n`}${lines}\r\n`,
    'latin1',
  )
  const bytes = body === undefined || body.byteLength === 0 ? head : Buffer.concat([head, body])
  return { bytes, close }
}
