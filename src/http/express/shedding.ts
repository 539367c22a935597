import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { Shedder, type SheddingOptions } from '../shedding.ts'

export interface ExpressSheddingOptions extends SheddingOptions {
  /** Use this shedder (and its sampler) instead of creating one. */
  shedder?: Shedder
}

/**
 * Load shedding for Express: mount it first. While the event loop is over
 * its thresholds, every request but the exempt paths gets a prebuilt 503
 * with `Retry-After` and a problem+json body, before any other middleware
 * runs. `close()` stops the sampler (it is unref'd either way).
 */
export function expressShedding(
  options?: ExpressSheddingOptions,
): RequestHandler & { readonly shedder: Shedder; close(): void } {
  const shedder = options?.shedder ?? new Shedder(options)
  const { rawHeaders, body } = shedder
  const mw = (req: Request, res: Response, next: NextFunction): void => {
    if (shedder.shouldShed(req.url)) {
      res.writeHead(503, rawHeaders)
      res.end(req.method === 'HEAD' ? undefined : body)
      return
    }
    next()
  }
  return Object.assign(mw as RequestHandler, { shedder, close: () => shedder.close() })
}
