import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { UNMATCHED_ROUTE } from '../../metrics/index.ts'
import { METRICS_JSON_HEADERS, RequestMetrics, type RequestMetricsOptions } from '../metrics.ts'

export type FastifyMetricsOptions = RequestMetricsOptions

/**
 * Request metrics for Fastify: every request is counted in flight from
 * `onRequest` until its socket response closes, and its duration
 * (Fastify's own `reply.elapsedTime`, no second clock) is observed in
 * `onResponse` under the route template (`request.routeOptions.url`), or
 * `unmatched` for 404s. Serves `GET /metrics`, `GET /metrics.json` and `GET /slo`.
 * Its hooks are global: they apply to routes registered before it too.
 */
const plugin: FastifyPluginAsync<FastifyMetricsOptions> = async (app, options) => {
  const core = new RequestMetrics(options)
  const m = core.metrics
  // One listener function for every response: nothing allocated per request.
  const finished = () => m.requestFinished()

  app.addHook('onRequest', (_req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    m.requestStarted()
    reply.raw.on('close', finished)
    done()
  })
  app.addHook('onResponse', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    m.observe(
      req.raw.method ?? 'GET',
      req.routeOptions.url ?? UNMATCHED_ROUTE,
      reply.raw.statusCode,
      reply.elapsedTime / 1000,
    )
    done()
  })

  if (core.path !== false)
    app.get(core.path, async (_req, reply) => {
      const body = await core.text()
      return reply.headers(core.textHeaders).send(body)
    })
  if (core.jsonPath !== false)
    app.get(core.jsonPath, async (_req, reply) => {
      const body = await core.json()
      return reply.headers(METRICS_JSON_HEADERS).send(body)
    })
  if (core.sloPath !== false)
    app.get(core.sloPath, async (_req, reply) =>
      reply.headers(METRICS_JSON_HEADERS).send(core.slo()),
    )
}

export const fastifyMetrics = fp(plugin, { fastify: '5.x', name: 'hotpath-metrics' })
