import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { HEALTH_HEADERS, Health, type HealthOptions, urlPathIs } from '../health.ts'
import { labelRoute } from './metrics.ts'

export interface ExpressHealthOptions extends HealthOptions {
  /** Use this instance (to call `drain()` on shutdown) instead of creating one. */
  health?: Health
}

/**
 * `GET /health` (liveness) and `GET /ready` (readiness) for Express, as one
 * middleware: mount it before the others (after shedding, which exempts
 * these paths) so probes do not pay for the rest of the stack.
 */
export function expressHealth(
  options: ExpressHealthOptions = {},
): RequestHandler & { readonly health: Health } {
  const health = options.health ?? new Health(options)
  const live = health.livenessPath
  const ready = health.readinessPath
  const mw = (req: Request, res: Response, next: NextFunction): void => {
    const method = req.method
    if (method !== 'GET' && method !== 'HEAD') {
      next()
      return
    }
    const url = req.url
    if (live !== false && urlPathIs(url, live)) {
      labelRoute(res, live)
      res.writeHead(200, HEALTH_HEADERS)
      res.end(method === 'HEAD' ? undefined : health.liveness())
      return
    }
    if (ready !== false && urlPathIs(url, ready)) {
      labelRoute(res, ready)
      health.readiness().then((r) => {
        res.writeHead(r.status === 'ok' ? 200 : 503, HEALTH_HEADERS)
        res.end(method === 'HEAD' ? undefined : JSON.stringify(r))
      }, next)
      return
    }
    next()
  }
  return Object.assign(mw as RequestHandler, { health })
}
