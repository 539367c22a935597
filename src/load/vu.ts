import { setTimeout as sleep } from 'node:timers/promises'
import type { Endpoint } from './connection.ts'
import { CookieJar } from './cookies.ts'
import type { DataRows } from './data.ts'
import { type Duration, parseDuration } from './duration.ts'
import { ExchangeResponse, headerValues } from './exchange.ts'
import { createLatencyHistogram, type LatencyHistogram } from './histogram.ts'
import { type Recorder, seriesKey } from './samples.ts'
import { ConnectionLine, type Wire } from './wire.ts'

/**
 * A virtual user: its own cookie jar, headers, state and keep-alive
 * connection, running a scenario's journey again and again. Requests go
 * through the worker's wire (wire.ts); each one is measured and recorded
 * with its tags. Requests never throw for HTTP or network failures (status 0 then),
 * so one failing endpoint does not cut the rest of a journey.
 */

export interface RequestOptions {
  /** The `name` tag; default `METHOD /path` without the query. Name templated URLs (`GET /products/:id`). */
  readonly name?: string
  readonly tags?: Readonly<Record<string, string>>
  readonly headers?: Readonly<Record<string, string>>
  readonly query?: Readonly<Record<string, string | number | boolean>>
  /** Sent as JSON with `content-type: application/json`. */
  readonly json?: unknown
  /** A raw body; `json` wins when both are given. */
  readonly body?: string | Uint8Array
  /** Statuses that count as success for `http_req_failed`. Default 200–399. */
  readonly expect?: readonly number[] | ((status: number) => boolean)
  /** Default 60s. */
  readonly timeout?: Duration
}

export interface Response {
  /** 0 when the request failed before a response (refused, reset, timeout). */
  readonly status: number
  /** Not failed by `expect`. */
  readonly ok: boolean
  readonly headers: Readonly<Record<string, string | string[] | undefined>>
  /** The body as text (decoded on first use). */
  readonly body: string
  json<T = unknown>(): T
  /** Milliseconds from send to the last byte. */
  readonly duration: number
  /** The network error's message, when status is 0. */
  readonly error?: string
}

export interface VU {
  /** 1-based, unique within the scenario across workers. */
  readonly id: number
  /** This VU's iteration number, from 0. */
  readonly iteration: number
  readonly scenario: string
  /** The scenario's data files, shared read-only by the worker's VUs. */
  readonly data: Readonly<Record<string, DataRows>>
  /** Headers this VU sends with every request (set `authorization` after logging in). */
  readonly headers: Record<string, string>
  readonly cookies: CookieJar
  /** Anything the journey keeps between iterations (a session token, a cart id). */
  readonly state: Record<string, unknown>
  readonly signal: AbortSignal
  request(method: string, path: string, options?: RequestOptions): Promise<Response>
  get(path: string, options?: RequestOptions): Promise<Response>
  delete(path: string, options?: RequestOptions): Promise<Response>
  post(path: string, json?: unknown, options?: RequestOptions): Promise<Response>
  put(path: string, json?: unknown, options?: RequestOptions): Promise<Response>
  patch(path: string, json?: unknown, options?: RequestOptions): Promise<Response>
  /** Runs each named check on `value`; records the `checks` rate; true when all pass. */
  check<T>(value: T, checks: Readonly<Record<string, (value: T) => boolean>>): boolean
  /** Runs `fn` as a named group: its requests get a `group` tag, its time `group_duration`. */
  group<T>(name: string, fn: () => Promise<T> | T): Promise<T>
  /** Think time: a duration, or `[min, max]` milliseconds picked uniformly. */
  think(time: Duration | readonly [number, number]): Promise<void>
  /** A uniformly random element. */
  pick<T>(rows: readonly T[]): T
}

/** Thrown inside a journey when the run cuts it (hard stop); not a failure. */
export class Interrupted extends Error {
  constructor() {
    super('iteration interrupted by the end of the run')
    this.name = 'Interrupted'
  }
}

/** The per-second counters of the worker's timeline. */
export interface Second {
  reqs: number
  failed: number
  iterations: number
  dropped: number
  checks: number
  checksFailed: number
  bytesReceived: number
  readonly latency: LatencyHistogram
}

export function newSecond(): Second {
  return {
    reqs: 0,
    failed: 0,
    iterations: 0,
    dropped: 0,
    checks: 0,
    checksFailed: 0,
    bytesReceived: 0,
    latency: createLatencyHistogram(),
  }
}

/** What the VUs of one scenario in one worker share. */
export interface VuContext {
  readonly scenario: string
  readonly baseUrl: string
  readonly origin: string
  readonly basePath: string
  readonly headers: Readonly<Record<string, string>>
  readonly tags: Readonly<Record<string, string>>
  readonly data: Readonly<Record<string, DataRows>>
  readonly open: boolean
  readonly wire: Wire
  /** The endpoint of `origin`. */
  readonly endpoint: Endpoint
  readonly recorder: Recorder
  readonly second: () => Second
}

interface TagSet {
  readonly tags: Readonly<Record<string, string>>
  readonly reqs: string
  readonly duration: string
  readonly uncorrected: string
  readonly failed: string
}

const DEFAULT_TIMEOUT_MS = 60_000
const NO_BYTES = new Uint8Array(0)
const NO_RAW_HEADERS: readonly string[] = Object.freeze([])

function defaultExpect(status: number): boolean {
  return status >= 200 && status < 400
}

export class VirtualUser implements VU {
  iteration = -1
  readonly headers: Record<string, string> = {}
  readonly cookies = new CookieJar()
  readonly state: Record<string, unknown> = {}
  #group = ''
  // group → name → status → tags and series keys
  #tagCache = new Map<string, Map<string, Map<number, TagSet>>>()
  #tagCount = 0
  /** The scheduled start of the current iteration; the first request's latency counts from it. */
  #scheduledAt: number | undefined
  readonly #abort = new AbortController()
  readonly #line: ConnectionLine

  readonly id: number
  readonly ctx: VuContext

  constructor(id: number, ctx: VuContext) {
    this.id = id
    this.ctx = ctx
    this.#line = new ConnectionLine(ctx.wire)
  }

  get scenario(): string {
    return this.ctx.scenario
  }
  get data(): Readonly<Record<string, DataRows>> {
    return this.ctx.data
  }
  get signal(): AbortSignal {
    return this.#abort.signal
  }

  /** Cuts whatever the VU is doing now (run end, ramp-down past its grace). */
  interrupt(): void {
    this.#abort.abort(new Interrupted())
    // An interrupted VU never sends again: its connections go too.
    this.#line.abort(new Interrupted())
    this.#line.close()
  }

  /** Called by the executor before each iteration. */
  beginIteration(scheduledAt: number | undefined): void {
    this.iteration++
    this.#group = ''
    this.#scheduledAt = scheduledAt
  }

  #tagSet(
    name: string,
    method: string,
    status: number,
    extra?: Readonly<Record<string, string>>,
  ): TagSet {
    // Nested maps, not a joined string key: no string built per request.
    let byName = extra === undefined ? this.#tagCache.get(this.#group) : undefined
    const cached = byName?.get(name)?.get(status)
    if (cached !== undefined && cached.tags.method === method) return cached
    const tags: Record<string, string> = {
      ...this.ctx.tags,
      scenario: this.ctx.scenario,
      name,
      method,
      status: String(status),
    }
    if (this.#group !== '') tags.group = this.#group
    if (extra !== undefined) Object.assign(tags, extra)
    const set: TagSet = {
      tags,
      reqs: seriesKey('http_reqs', tags),
      duration: seriesKey('http_req_duration', tags),
      uncorrected: seriesKey('http_req_duration_uncorrected', tags),
      failed: seriesKey('http_req_failed', tags),
    }
    // Bounded: a journey with a distinct name per request must not grow it forever.
    if (extra === undefined && cached === undefined && this.#tagCount < 1000) {
      if (byName === undefined) {
        byName = new Map()
        this.#tagCache.set(this.#group, byName)
      }
      let byStatus = byName.get(name)
      if (byStatus === undefined) {
        byStatus = new Map()
        byName.set(name, byStatus)
      }
      byStatus.set(status, set)
      this.#tagCount++
    }
    return set
  }

  async request(method: string, path: string, o: RequestOptions = {}): Promise<Response> {
    if (this.#abort.signal.aborted) throw new Interrupted()
    const m = method.toUpperCase()
    const absolute = path.charCodeAt(0) !== 47 && /^https?:\/\//i.test(path) // not '/…'
    // The common request (relative path, no query, no cookies yet) needs no URL object.
    let url: URL | undefined
    let endpoint: Endpoint
    let target: string
    if (!absolute && o.query === undefined && this.cookies.empty) {
      endpoint = this.ctx.endpoint
      target =
        this.ctx.basePath === '' && path.charCodeAt(0) === 47
          ? path
          : `${this.ctx.basePath}${path.startsWith('/') ? '' : '/'}${path}`
    } else {
      url = new URL(
        absolute ? path : `${this.ctx.baseUrl}${path.startsWith('/') ? '' : '/'}${path}`,
      )
      if (o.query !== undefined) {
        for (const [k, v] of Object.entries(o.query)) url.searchParams.set(k, String(v))
      }
      endpoint =
        url.origin === this.ctx.origin ? this.ctx.endpoint : this.ctx.wire.endpoint(url.origin)
      target = `${url.pathname}${url.search}`
    }
    let headers: Record<string, string> | undefined
    if (
      o.headers !== undefined ||
      o.json !== undefined ||
      url !== undefined ||
      this.#hasHeaders()
    ) {
      headers = { ...this.ctx.headers, ...this.headers, ...o.headers }
      const cookie = url === undefined ? undefined : this.cookies.header(url)
      if (cookie !== undefined) headers.cookie = cookie
    }
    let body: string | Uint8Array | undefined = o.body
    if (o.json !== undefined) {
      body = JSON.stringify(o.json)
      ;(headers as Record<string, string>)['content-type'] = 'application/json'
    }
    let name = o.name
    if (name === undefined) {
      const p = url !== undefined && absolute ? url.pathname : path
      const q = p.indexOf('?')
      name = `${m} ${q < 0 ? p : p.slice(0, q)}`
    }
    const timeoutMs =
      o.timeout === undefined
        ? DEFAULT_TIMEOUT_MS
        : (parseDuration(o.timeout) ?? DEFAULT_TIMEOUT_MS)

    const sentAt = performance.now()
    let status = 0
    let error: string | undefined
    let resHeaders: readonly string[] = NO_RAW_HEADERS
    let bytes: Uint8Array = NO_BYTES
    try {
      const r = await this.ctx.wire.send(this.#line, endpoint, {
        method: m,
        target,
        headers,
        body,
        timeoutMs,
      })
      status = r.status
      resHeaders = r.headers
      bytes = r.bytes
    } catch (err) {
      if (this.#abort.signal.aborted) throw new Interrupted()
      status = 0
      error = (err as Error).message
    }
    const doneAt = performance.now()
    if (resHeaders.length > 0) {
      const setCookie = headerValues(resHeaders, 'set-cookie')
      if (setCookie !== undefined) {
        this.cookies.store(url ?? new URL(`${this.ctx.origin}${target}`), setCookie)
      }
    }

    const expect = o.expect
    const ok =
      status !== 0 &&
      (expect === undefined
        ? defaultExpect(status)
        : typeof expect === 'function'
          ? expect(status)
          : expect.includes(status))
    const uncorrected = doneAt - sentAt
    const scheduled = this.#scheduledAt
    this.#scheduledAt = undefined
    const corrected =
      scheduled !== undefined && scheduled < sentAt ? doneAt - scheduled : uncorrected
    const t = this.#tagSet(name, m, status, o.tags)
    const rec = this.ctx.recorder
    rec.add(t.reqs, 'http_reqs', t.tags)
    rec.trend(t.duration, 'http_req_duration', t.tags, corrected)
    if (this.ctx.open)
      rec.trend(t.uncorrected, 'http_req_duration_uncorrected', t.tags, uncorrected)
    rec.rate(t.failed, 'http_req_failed', t.tags, !ok)
    const sec = this.ctx.second()
    sec.reqs++
    if (!ok) sec.failed++
    sec.bytesReceived += bytes.byteLength
    sec.latency.record(corrected)

    return new ExchangeResponse(status, ok, resHeaders, bytes, uncorrected, error)
  }

  #hasHeaders(): boolean {
    for (const _ in this.ctx.headers) return true
    for (const _ in this.headers) return true
    return false
  }

  get(path: string, o?: RequestOptions): Promise<Response> {
    return this.request('GET', path, o)
  }
  delete(path: string, o?: RequestOptions): Promise<Response> {
    return this.request('DELETE', path, o)
  }
  post(path: string, json?: unknown, o?: RequestOptions): Promise<Response> {
    return this.request('POST', path, json === undefined ? o : { ...o, json })
  }
  put(path: string, json?: unknown, o?: RequestOptions): Promise<Response> {
    return this.request('PUT', path, json === undefined ? o : { ...o, json })
  }
  patch(path: string, json?: unknown, o?: RequestOptions): Promise<Response> {
    return this.request('PATCH', path, json === undefined ? o : { ...o, json })
  }

  check<T>(value: T, checks: Readonly<Record<string, (value: T) => boolean>>): boolean {
    let all = true
    const sec = this.ctx.second()
    for (const [check, fn] of Object.entries(checks)) {
      let pass: boolean
      try {
        pass = fn(value) === true
      } catch {
        pass = false
      }
      const tags: Record<string, string> = { ...this.ctx.tags, scenario: this.ctx.scenario, check }
      if (this.#group !== '') tags.group = this.#group
      this.ctx.recorder.rate(seriesKey('checks', tags), 'checks', tags, pass)
      sec.checks++
      if (!pass) {
        sec.checksFailed++
        all = false
      }
    }
    return all
  }

  async group<T>(name: string, fn: () => Promise<T> | T): Promise<T> {
    const parent = this.#group
    this.#group = `${parent}::${name}`
    const start = performance.now()
    try {
      return await fn()
    } finally {
      const tags: Record<string, string> = {
        ...this.ctx.tags,
        scenario: this.ctx.scenario,
        group: this.#group,
      }
      this.ctx.recorder.trend(
        seriesKey('group_duration', tags),
        'group_duration',
        tags,
        performance.now() - start,
      )
      this.#group = parent
    }
  }

  async think(time: Duration | readonly [number, number]): Promise<void> {
    const ms = Array.isArray(time)
      ? (time[0] as number) + Math.random() * ((time[1] as number) - (time[0] as number))
      : (parseDuration(time) ?? 0)
    if (ms <= 0) return
    try {
      await sleep(ms, undefined, { signal: this.#abort.signal })
    } catch {
      throw new Interrupted()
    }
  }

  pick<T>(rows: readonly T[]): T {
    if (rows.length === 0) throw new RangeError('pick() from an empty list')
    return rows[Math.floor(Math.random() * rows.length)] as T
  }
}
