import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { sendProblem } from '../problem.ts'
import {
  createRateLimiter,
  Decision,
  type RateLimiter,
  type RateLimitOptions,
  type RateLimitPolicy,
  type RateLimitPolicyOptions,
} from '../rate-limit.ts'

export interface ExpressRateLimitOptions extends RateLimitOptions<Request> {
  /** Use this limiter (not closed by `close()`) instead of creating one from these options. */
  limiter?: RateLimiter<Request>
}

export interface ExpressRateLimit extends RequestHandler {
  readonly limiter: RateLimiter<Request>
  /**
   * A route-level limit: mount it on a route (`app.post('/login', rl.route({ limit: 5 }), h)`).
   * It has its own bucket per route and client, and counts in addition to an
   * app-level limiter (which ran before routing, so cannot know the route).
   */
  route(options: RateLimitPolicyOptions<Request>): RequestHandler
  /** Closes the limiter's Redis connection if this middleware created it. */
  close(): Promise<void>
}

function finish(
  res: Response,
  policy: RateLimitPolicy<Request>,
  d: Decision,
  next: NextFunction,
): void {
  policy.writeHeaders(res, d)
  if (d.allowed) next()
  else sendProblem(res, policy.problem(d))
}

function middleware(
  limiter: RateLimiter<Request>,
  policy: RateLimitPolicy<Request>,
): RequestHandler {
  return function hotpathRateLimit(req: Request, res: Response, next: NextFunction): void {
    // The route template is known only once routing matched (route-level mounts).
    const route = req.route as { path?: unknown } | undefined
    const prefix =
      policy.perRoute && route !== undefined
        ? `${policy.keyPrefix}${req.method} ${req.baseUrl}${String(route.path)}:`
        : policy.keyPrefix
    let r: Decision | Promise<Decision>
    try {
      r = limiter.hit(policy, prefix + limiter.clientKey(policy, req, req))
    } catch (err) {
      next(err)
      return
    }
    if (r instanceof Decision) finish(res, policy, r, next)
    else r.then((d) => finish(res, policy, d, next), next)
  }
}

/**
 * Rate limiting for Express: `app.use(rl)` for the global limit, `rl.route({…})`
 * on a route for a route-level one. The same buckets as the Fastify plugin
 * (same Redis keys), so mixed fleets share their limits.
 */
export function expressRateLimit(options: ExpressRateLimitOptions = {}): ExpressRateLimit {
  const own = options.limiter === undefined
  const limiter = options.limiter ?? createRateLimiter<Request>(options)
  const mw = middleware(limiter, limiter.defaultPolicy)
  return Object.assign(mw, {
    limiter,
    route: (p: RateLimitPolicyOptions<Request>) => middleware(limiter, limiter.policy(p, true)),
    close: () => (own ? limiter.close() : Promise.resolve()),
  })
}
