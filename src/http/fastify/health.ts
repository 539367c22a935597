import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import fp from 'fastify-plugin'
import { HEALTH_HEADERS, Health, type HealthOptions } from '../health.ts'

export interface FastifyHealthOptions extends HealthOptions {
  /** Use this instance (to call `drain()` on shutdown) instead of creating one. */
  health?: Health
}

/**
 * `GET /health` (liveness: 200 `{ status: 'ok', uptime }`) and `GET /ready`
 * (readiness: 200 when every check passes, 503 with each check's status,
 * latency and error otherwise). The instance drains on `close()`, so
 * readiness fails while Fastify finishes in-flight requests.
 */
const plugin: FastifyPluginAsync<FastifyHealthOptions> = async (app, options) => {
  const health = options.health ?? new Health(options)
  if (health.livenessPath !== false)
    app.get(health.livenessPath, (_req, reply: FastifyReply) => {
      reply.code(200).headers(HEALTH_HEADERS).send(health.liveness())
    })
  if (health.readinessPath !== false)
    app.get(health.readinessPath, async (_req, reply: FastifyReply) => {
      const r = await health.readiness()
      return reply
        .code(r.status === 'ok' ? 200 : 503)
        .headers(HEALTH_HEADERS)
        .send(JSON.stringify(r))
    })
  app.addHook('preClose', async () => health.drain())
}

export const fastifyHealth = fp(plugin, { fastify: '5.x', name: 'hotpath-health' })
