import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { skipCompression } from '../compression.ts'
import {
  adapterDashboard,
  DASHBOARD_RETRY_AFTER_S,
  type Dashboard,
  type DashboardAdapterOptions,
} from '../dashboard.ts'
import { etagMatches } from '../etag.ts'
import { urlPathIs } from '../health.ts'
import { problem, sendProblem } from '../problem.ts'
import { labelRoute } from './metrics.ts'

export type ExpressDashboardOptions = DashboardAdapterOptions

function fresh(req: Request, res: Response, headers: Readonly<Record<string, string>>): boolean {
  const etag = headers.etag as string
  if (!etagMatches(req.headers['if-none-match'], etag)) return false
  res.writeHead(304, { etag, 'cache-control': headers['cache-control'] as string })
  res.end()
  return true
}

/**
 * The live dashboard for Express, as one middleware: `GET <path>`, the
 * hashed assets under `<path>/assets/` and the event stream at
 * `<path>/events` (see `fastifyDashboard`). Add `dashboard.urls` to the
 * shedder's `exempt` to keep it reachable under load. Streams are cut (not
 * ended) on `dashboard.close()`, so request metrics never time them.
 */
export function expressDashboard(
  options: ExpressDashboardOptions,
): RequestHandler & { readonly dashboard: Dashboard } {
  const dashboard = adapterDashboard(options)
  const assets = dashboard.assetsPath

  const mw = (req: Request, res: Response, next: NextFunction): void => {
    const method = req.method
    if (method !== 'GET' && method !== 'HEAD') {
      next()
      return
    }
    const url = req.url
    if (urlPathIs(url, dashboard.path)) {
      labelRoute(res, dashboard.path)
      if (fresh(req, res, dashboard.htmlHeaders)) return
      res.writeHead(200, { ...dashboard.htmlHeaders, 'content-length': dashboard.html.length })
      res.end(method === 'HEAD' ? undefined : dashboard.html)
      return
    }
    if (url.startsWith(assets)) {
      labelRoute(res, `${assets}:file`)
      const q = url.indexOf('?')
      const a = dashboard.asset(url.slice(assets.length, q < 0 ? undefined : q))
      if (a === undefined) {
        sendProblem(res, problem(404, `Not found: ${url}`, { code: 'HP_ERR_HTTP_NOT_FOUND' }))
        return
      }
      if (fresh(req, res, a.headers)) return
      res.writeHead(200, { ...a.headers, 'content-length': a.body.length })
      res.end(method === 'HEAD' ? undefined : a.body)
      return
    }
    if (method === 'GET' && urlPathIs(url, dashboard.eventsPath)) {
      labelRoute(res, dashboard.eventsPath)
      if (dashboard.clients >= dashboard.maxClients) {
        sendProblem(
          res,
          problem(503, 'Too many dashboard clients', { code: 'HP_ERR_HTTP_OVERLOADED' }),
          { 'retry-after': String(DASHBOARD_RETRY_AFTER_S), 'cache-control': 'no-store' },
        )
        return
      }
      skipCompression(res)
      res.writeHead(200, dashboard.eventHeaders)
      const remove = dashboard.connect({
        write(chunk) {
          if (!res.writableEnded && !res.destroyed) res.write(chunk)
          return res.writableLength
        },
        end() {
          res.destroy()
        },
      })
      if (remove === null) res.destroy()
      else res.once('close', remove)
      return
    }
    next()
  }
  return Object.assign(mw as RequestHandler, { dashboard })
}
