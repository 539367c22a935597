import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
} from 'fastify'
import fp from 'fastify-plugin'
import { HotpathError } from '../../errors.ts'
import { PROBLEM_TYPE } from '../problem.ts'
import {
  createRateLimiter,
  Decision,
  type RateLimiter,
  type RateLimitOptions,
  type RateLimitPolicy,
  type RateLimitPolicyOptions,
} from '../rate-limit.ts'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** This route's own limit (its own bucket per client), or `false` to exempt the route. */
    rateLimit?: RateLimitPolicyOptions<FastifyRequest> | false
  }
  interface FastifyInstance {
    /** The rate limiter of `fastifyRateLimit`: `stats()`, events, `ready()`. */
    rateLimiter: RateLimiter<FastifyRequest>
  }
}

export interface FastifyRateLimitOptions extends RateLimitOptions<FastifyRequest> {
  /** Use this limiter (not closed with the app) instead of creating one from these options. */
  limiter?: RateLimiter<FastifyRequest>
  /** The hook that counts: `'onRequest'` (before parsing: cheapest) or `'preHandler'` (after auth that runs in `preValidation`, for `keyBy` a user). Default: `'onRequest'`. */
  hook?: 'onRequest' | 'preHandler'
}

type Hook = (
  this: FastifyInstance,
  request: FastifyRequest,
  reply: FastifyReply,
  done: HookHandlerDoneFunction,
) => void

function finish(
  reply: FastifyReply,
  policy: RateLimitPolicy<FastifyRequest>,
  d: Decision,
  done: HookHandlerDoneFunction,
): void {
  policy.writeHeaders(reply.raw, d)
  if (d.allowed) {
    done()
    return
  }
  // Answered from the hook: onSend / onResponse hooks (metrics) still run.
  reply
    .code(429)
    .header('content-type', PROBLEM_TYPE)
    .send(JSON.stringify(policy.problem(d)))
}

/** One hook per route, built when the route is added: the bucket prefix is precomputed. */
function hookFor(
  limiter: RateLimiter<FastifyRequest>,
  policy: RateLimitPolicy<FastifyRequest>,
  route: string,
): Hook {
  const prefix = policy.bucketPrefix(route)
  return function hotpathRateLimit(request, reply, done) {
    let r: Decision | Promise<Decision>
    try {
      r = limiter.hit(policy, prefix + limiter.clientKey(policy, request, request.raw))
    } catch (err) {
      done(err as Error)
      return
    }
    if (r instanceof Decision) finish(reply, policy, r, done)
    else r.then((d) => finish(reply, policy, d, done), done)
  }
}

/**
 * Rate limiting for Fastify. Every route added after the plugin gets a hook
 * for its policy: the global one, or its own from `config.rateLimit` (which
 * replaces the global one on that route); `config: { rateLimit: false }`
 * exempts a route. Requests no route matches count against the global limit.
 * Register it before the routes.
 */
const plugin: FastifyPluginAsync<FastifyRateLimitOptions> = async (app, options) => {
  const own = options.limiter === undefined
  const limiter = options.limiter ?? createRateLimiter<FastifyRequest>(options)
  const hookName = options.hook ?? 'onRequest'
  if (hookName !== 'onRequest' && hookName !== 'preHandler')
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      'rateLimit.hook',
      "expected 'onRequest' or 'preHandler'",
    ])
  const global = limiter.defaultPolicy
  if (!app.hasDecorator('rateLimiter')) app.decorate('rateLimiter', limiter)
  if (own) app.addHook('onClose', () => limiter.close())

  app.addHook('onRoute', (route) => {
    const config = route.config?.rateLimit
    if (config === false) return
    const policy = config === undefined ? global : limiter.policy(config, true)
    const method = Array.isArray(route.method) ? route.method.join(',') : route.method
    const hook = hookFor(limiter, policy, `${method} ${route.url}`)
    // After the route's own hooks: an auth hook there has set the user `keyBy` reads.
    const prev = route[hookName]
    route[hookName] =
      prev === undefined ? [hook] : Array.isArray(prev) ? [...prev, hook] : [prev, hook]
  })

  const notFound = hookFor(limiter, global, '404')
  const onNotFound: Hook = function (request, reply, done) {
    if (request.is404) notFound.call(this, request, reply, done)
    else done()
  }
  if (hookName === 'onRequest') app.addHook('onRequest', onNotFound)
  else app.addHook('preHandler', onNotFound)
}

export const fastifyRateLimit = fp(plugin, { fastify: '5.x', name: 'hotpath-rate-limit' })
