import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { HotpathError } from '../errors.ts'
import { Metrics } from '../metrics/index.ts'
import { type DashboardFrame, type DashboardSlowQuery, FrameBuilder } from './dashboard-frame.ts'
import { checkPath } from './health.ts'

export type * from './dashboard-frame.ts'

/** A slow statement as the data layer reports it (hotpath/db's `slowQuery` event). */
export interface SlowQueryEvent {
  statement: string
  durationMs: number
  endpoint: string
}

/** Anything that emits `slowQuery` events: a `createDb()`; the dashboard needs no more of it. */
export interface SlowQuerySource {
  on(event: 'slowQuery', listener: (q: SlowQueryEvent) => void): unknown
  off(event: 'slowQuery', listener: (q: SlowQueryEvent) => void): unknown
}

export interface DashboardOptions {
  /** Where the numbers come from (routes, SLOs, and the `cache` and `pool` stats providers). */
  metrics: Metrics
  /** Recent slow queries come from its `slowQuery` events. Default: none. */
  db?: SlowQuerySource
  /** The page; assets under `<path>/assets/`, events at `<path>/events`. Default: '/dashboard'. */
  path?: string
  /** One frame per interval. Default: 1000 (ms). */
  intervalMs?: number
  /** Open event streams at most; beyond, 503. Default: 50. */
  maxClients?: number
  /** The folder with index.html, dashboard.js and dashboard.css. Default: the package's `dashboard/`. */
  dir?: string
}

export const dashboardDefaults = Object.freeze({
  path: '/dashboard',
  intervalMs: 1000,
  maxClients: 50,
  /** Routes per frame, busiest first. */
  maxRoutes: 20,
  slowQueries: 20,
  /** Frames replayed to a client that joins a running sampler (2 minutes at 1 s). */
  history: 120,
  heartbeatMs: 15_000,
  retryMs: 2000,
  /** A client this far behind (bytes buffered) is dropped rather than buffered for. */
  maxBufferedBytes: 1 << 20,
})

export interface DashboardAsset {
  /** `dashboard.3f9a1c2b7e.js` */
  readonly file: string
  readonly body: Buffer
  readonly headers: Readonly<Record<string, string>>
}

/** One open event stream: `write` returns the bytes still buffered for it; `end` closes it. */
export interface DashboardClient {
  write(chunk: string): number
  end(): void
}

const TYPES: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
}
const IMMUTABLE = 'public, max-age=31536000, immutable'
const hash = (b: Buffer | string) => createHash('sha256').update(b).digest('hex').slice(0, 10)
const escAttr = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`)

/**
 * The live dashboard, framework-neutral. At creation it reads the page and
 * its assets (uPlot from the installed package), names each asset by a
 * content hash, so it can be cached for ever, and rewrites the page's
 * references. While at least one client listens, a sampler diffs the
 * metrics every `intervalMs` and sends each client one JSON frame.
 */
export class Dashboard {
  readonly path: string
  readonly eventsPath: string
  readonly assetsPath: string
  readonly intervalMs: number
  readonly maxClients: number
  /** The page, references rewritten to hashed asset URLs. */
  readonly html: Buffer
  readonly htmlHeaders: Readonly<Record<string, string>>
  /** Headers of the event stream (no-transform: compressors and proxies leave it alone). */
  readonly eventHeaders: Readonly<Record<string, string>> = Object.freeze({
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store, no-transform',
    'x-accel-buffering': 'no',
  })
  readonly #assets = new Map<string, DashboardAsset>()
  readonly #builder: FrameBuilder
  readonly #metrics: Metrics
  readonly #clients = new Set<DashboardClient>()
  readonly #slow: DashboardSlowQuery[] = []
  readonly #history: string[] = []
  readonly #unsubscribe: () => void
  #timer: NodeJS.Timeout | undefined
  #heartbeat: NodeJS.Timeout | undefined
  #sampling = false

  constructor(o: DashboardOptions) {
    if (!(o.metrics instanceof Metrics))
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['metrics', 'expected createMetrics()'])
    this.#metrics = o.metrics
    const d = dashboardDefaults
    const path = checkPath('path', o.path ?? d.path)
    if (path === false || path.endsWith('/'))
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['path', 'expected a path not ending in /'])
    this.path = path
    this.eventsPath = `${path}/events`
    this.assetsPath = `${path}/assets/`
    this.intervalMs = integer('intervalMs', o.intervalMs ?? d.intervalMs, 50)
    this.maxClients = integer('maxClients', o.maxClients ?? d.maxClients, 1)
    this.#builder = new FrameBuilder(o.metrics, path, d.maxRoutes)

    const dir = o.dir ?? fileURLToPath(new URL('../../dashboard/', import.meta.url))
    const uplot = (f: string) => createRequire(import.meta.url).resolve(`uplot/dist/${f}`)
    const sources: Record<string, string> = {
      'uPlot.js': uplot('uPlot.iife.min.js'),
      'uPlot.css': uplot('uPlot.min.css'),
      'dashboard.js': join(dir, 'dashboard.js'),
      'dashboard.css': join(dir, 'dashboard.css'),
    }
    let html = read(join(dir, 'index.html')).toString('utf8')
    for (const [name, file] of Object.entries(sources)) {
      const body = read(file)
      const h = hash(body)
      const dot = name.lastIndexOf('.')
      const ext = name.slice(dot + 1)
      const hashed = `${name.slice(0, dot)}.${h}.${ext}`
      this.#assets.set(hashed, {
        file: hashed,
        body,
        headers: Object.freeze({
          'content-type': TYPES[ext] as string,
          'cache-control': IMMUTABLE,
          etag: `"${h}"`,
          'x-content-type-options': 'nosniff',
        }),
      })
      // The page names its assets plainly (`src="dashboard.js"`); served, they carry the hash.
      html = html.replaceAll(`"${name}"`, `"${escAttr(this.assetsPath + hashed)}"`)
    }
    html = html.replaceAll('data-events="events"', `data-events="${escAttr(this.eventsPath)}"`)
    this.html = Buffer.from(html)
    this.htmlHeaders = Object.freeze({
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-cache',
      etag: `"${hash(this.html)}"`,
      // The page talks to its own origin only: scripts, styles and the event stream.
      'content-security-policy':
        "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; frame-ancestors 'none'",
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    })

    const db = o.db
    if (db === undefined) this.#unsubscribe = () => {}
    else {
      const onSlow = (q: SlowQueryEvent) => {
        this.#slow.unshift({
          statement: q.statement.length > 500 ? `${q.statement.slice(0, 499)}…` : q.statement,
          ms: Math.round(q.durationMs * 100) / 100,
          at: Date.now(),
          endpoint: q.endpoint,
        })
        if (this.#slow.length > d.slowQueries) this.#slow.length = d.slowQueries
      }
      db.on('slowQuery', onSlow)
      this.#unsubscribe = () => db.off('slowQuery', onSlow)
    }
  }

  /** The asset of a hashed name (`dashboard.3f9a1c2b7e.js`); undefined for unknown or stale names. */
  asset(file: string): DashboardAsset | undefined {
    return this.#assets.get(file)
  }

  /** Every URL the dashboard serves: the page, its events and assets (for load-shedding exemptions). */
  get urls(): string[] {
    return [this.path, this.eventsPath, ...[...this.#assets.keys()].map((f) => this.assetsPath + f)]
  }

  get clients(): number {
    return this.#clients.size
  }

  /** Whether the sampler runs (it does only while a client listens). */
  get running(): boolean {
    return this.#timer !== undefined
  }

  /** Recent slow queries, newest first. */
  slowQueries(): DashboardSlowQuery[] {
    return [...this.#slow]
  }

  /**
   * Adds an event stream, its headers already sent. Returns its removal, or
   * null when `maxClients` are open (answer 503). It gets the retry hint and
   * the recent frames at once, then one frame per interval.
   */
  connect(client: DashboardClient): (() => void) | null {
    if (this.#clients.size >= this.maxClients) return null
    this.#clients.add(client)
    client.write(`retry: ${dashboardDefaults.retryMs}\n\n${this.#history.join('')}`)
    if (this.#timer === undefined) this.#start()
    return () => this.#remove(client)
  }

  #remove(client: DashboardClient): void {
    if (!this.#clients.delete(client)) return
    if (this.#clients.size === 0) this.#stop()
  }

  #start(): void {
    this.#builder.reset(performance.now())
    this.#timer = setInterval(() => void this.#tick(), this.intervalMs)
    this.#timer.unref()
    this.#heartbeat = setInterval(
      () => this.#send(': heartbeat\n\n'),
      dashboardDefaults.heartbeatMs,
    )
    this.#heartbeat.unref()
  }

  #stop(): void {
    clearInterval(this.#timer)
    clearInterval(this.#heartbeat)
    this.#timer = undefined
    this.#heartbeat = undefined
    // A gap in sampling is a gap in the data: the next client starts afresh.
    this.#history.length = 0
  }

  /** One frame now, from the metrics since the previous one. */
  async #frame(): Promise<DashboardFrame> {
    const routes = this.#builder.routes(performance.now())
    const snapshot = await this.#metrics.snapshot()
    return {
      t: Date.now(),
      intervalMs: this.intervalMs,
      ...routes,
      cache: this.#builder.cache(snapshot.cache),
      pool: this.#builder.pool(snapshot.pool),
      slowQueries: this.slowQueries(),
    }
  }

  async #tick(): Promise<void> {
    // A slow stats provider must not pile up reads.
    if (this.#sampling) return
    this.#sampling = true
    try {
      const frame = await this.#frame()
      if (this.#timer === undefined) return
      const chunk = `data: ${JSON.stringify(frame)}\n\n`
      this.#history.push(chunk)
      if (this.#history.length > dashboardDefaults.history) this.#history.shift()
      this.#send(chunk)
    } catch {
      // One lost frame; the next tick tries again. A timer must not crash the process.
    } finally {
      this.#sampling = false
    }
  }

  #send(chunk: string): void {
    for (const c of this.#clients) {
      if (c.write(chunk) > dashboardDefaults.maxBufferedBytes) {
        this.#remove(c)
        c.end()
      }
    }
  }

  /** Ends every stream, stops the sampler and the slow-query listener. */
  close(): void {
    for (const c of [...this.#clients]) c.end()
    this.#clients.clear()
    this.#stop()
    this.#unsubscribe()
  }
}

function integer(name: string, v: unknown, min: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
    throw new HotpathError('HP_ERR_INVALID_OPTION', [name, `expected an integer ≥ ${min}`])
  return v
}

function read(file: string): Buffer {
  try {
    return readFileSync(file)
  } catch (err) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['dir', (err as Error).message], { cause: err })
  }
}

export function createDashboard(options: DashboardOptions): Dashboard {
  return new Dashboard(options)
}

/** What the Fastify plugin and the Express middleware take: a dashboard, or the options to make one. */
export interface DashboardAdapterOptions extends Omit<DashboardOptions, 'metrics'> {
  /** Required unless `dashboard` is given. */
  metrics?: Metrics
  /** Serve this instance (its sampler and clients) instead of creating one. */
  dashboard?: Dashboard
}

/** Seconds a refused event stream is told to wait. */
export const DASHBOARD_RETRY_AFTER_S = 5

export function adapterDashboard(options: DashboardAdapterOptions): Dashboard {
  if (options.dashboard !== undefined) return options.dashboard
  if (options.metrics === undefined)
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['metrics', 'expected createMetrics()'])
  return new Dashboard({ ...options, metrics: options.metrics })
}
