import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { type Metrics, UNMATCHED_ROUTE } from '../../metrics/index.ts'
import { urlPathIs } from '../health.ts'
import { METRICS_JSON_HEADERS, RequestMetrics, type RequestMetricsOptions } from '../metrics.ts'

export type ExpressMetricsOptions = RequestMetricsOptions

const kStart = Symbol('hotpath.metrics.start')
const kRoute = Symbol('hotpath.metrics.route')
const kRouteObject = Symbol('hotpath.metrics.routeObject')

interface Timed {
  [kStart]?: number
  [kRoute]?: string
}

interface Routed {
  baseUrl?: string
  [kRoute]?: string
  [kRouteObject]?: unknown
}

/**
 * `req.route`, kept as Express sets it, and the template noted at that
 * moment: the router restores `req.baseUrl` when an error leaves a mounted
 * router, so reading it when the response closes would label `/api/fail`
 * as `/fail`. The mount path is right only when the route is matched.
 */
const routeProperty: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: Routed) {
    return this[kRouteObject]
  },
  set(this: Routed, route: { path?: unknown } | undefined) {
    this[kRouteObject] = route
    this[kRoute] = route?.path === undefined ? undefined : (this.baseUrl ?? '') + String(route.path)
  },
}

/**
 * Names the route of a response that middleware answers without an
 * Express route (health probes), for the request metrics. Free when
 * request metrics are off.
 */
export function labelRoute(res: Response, route: string): void {
  ;(res as Response & Timed)[kRoute] = route
}

/**
 * Request metrics for Express: mount it first. Each request is counted in
 * flight until its response closes; a completed one is observed under its
 * route template (`req.baseUrl + req.route.path`, noted when the route
 * matches, mount path included), or `unmatched` when no route served it (404s,
 * plain middleware such as static files). Serves `GET /metrics`,
 * `GET /metrics.json` and `GET /slo`.
 */
export function expressMetrics(
  options?: ExpressMetricsOptions,
): RequestHandler & { readonly metrics: Metrics } {
  const core = new RequestMetrics(options)
  const m = core.metrics
  const textPath = core.path
  const jsonPath = core.jsonPath
  const sloPath = core.sloPath

  // One listener for every response: `this` is the response.
  function closed(this: Response & Timed): void {
    m.requestFinished()
    if (!this.writableFinished) return // aborted by the client: in flight no more, not a response
    const req = this.req as Request & Routed
    m.observe(
      req.method,
      this[kRoute] ?? req[kRoute] ?? UNMATCHED_ROUTE,
      this.statusCode,
      (performance.now() - this[kStart]!) / 1000,
    )
  }

  const mw = (req: Request, res: Response & Timed, next: NextFunction): void => {
    res[kStart] = performance.now()
    Object.defineProperty(req, 'route', routeProperty)
    m.requestStarted()
    res.on('close', closed)
    const method = req.method
    if (method !== 'GET' && method !== 'HEAD') {
      next()
      return
    }
    const url = req.url
    if (textPath !== false && urlPathIs(url, textPath)) {
      res[kRoute] = textPath
      core.text().then((body) => {
        res.writeHead(200, core.textHeaders)
        res.end(method === 'HEAD' ? undefined : body)
      }, next)
      return
    }
    if (jsonPath !== false && urlPathIs(url, jsonPath)) {
      res[kRoute] = jsonPath
      core.json().then((body) => {
        res.writeHead(200, METRICS_JSON_HEADERS)
        res.end(method === 'HEAD' ? undefined : body)
      }, next)
      return
    }
    if (sloPath !== false && urlPathIs(url, sloPath)) {
      res[kRoute] = sloPath
      res.writeHead(200, METRICS_JSON_HEADERS)
      res.end(method === 'HEAD' ? undefined : core.slo())
      return
    }
    next()
  }
  return Object.assign(mw as RequestHandler, { metrics: m })
}
