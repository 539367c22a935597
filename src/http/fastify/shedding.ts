import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Shedder, type SheddingOptions } from '../shedding.ts'

export interface FastifySheddingOptions extends SheddingOptions {
  /** Use this shedder (and its sampler) instead of creating one. */
  shedder?: Shedder
}

/**
 * Load shedding for Fastify: an `onRequest` hook that answers 503 with
 * `Retry-After` and a problem+json body while the event loop is over its
 * thresholds, before any parsing or handler work. Register it first, so
 * its hook runs before every other one. The sampler stops on `close()`.
 *
 * Why not `@fastify/under-pressure`: it samples once a second by default on
 * the mean delay (a 300 ms block is averaged away), has no path exemption,
 * and Express needs the same sampler anyway; one core serves both adapters.
 */
const plugin: FastifyPluginAsync<FastifySheddingOptions> = async (app, options) => {
  const own = options.shedder === undefined
  const shedder = options.shedder ?? new Shedder(options)
  const { headers, body } = shedder
  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (shedder.shouldShed(req.url)) {
      reply.code(503).headers(headers).send(body)
      return
    }
    done()
  })
  if (own) app.addHook('onClose', async () => shedder.close())
}

export const fastifyShedding = fp(plugin, { fastify: '5.x', name: 'hotpath-shedding' })
