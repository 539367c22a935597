import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { ErrorMapper, type ErrorsOptions, errorChannel, errorsDefaults } from '../errors.ts'
import { PROBLEM_TYPE, type Problem } from '../problem.ts'

export interface FastifyErrorsOptions extends ErrorsOptions {
  /** Answer unmatched routes with a 404 problem (`setNotFoundHandler`). Default: `true`. */
  notFound?: boolean
}

function send(reply: FastifyReply, p: Problem, headers?: Record<string, string>): FastifyReply {
  // A string body skips the route's response schema, which knows nothing of problems.
  if (headers !== undefined) reply.headers(headers)
  return reply.code(p.status).header('content-type', PROBLEM_TYPE).send(JSON.stringify(p))
}

/**
 * One error shape for Fastify: `setErrorHandler` maps every error to
 * application/problem+json (see `ErrorMapper`), `setNotFoundHandler`
 * answers 404 problems. 5xx are logged with `request.log.error` and
 * published on `hotpath:http:error`; 4xx at `info`, as Fastify does.
 */
const plugin: FastifyPluginAsync<FastifyErrorsOptions> = async (app, options) => {
  const mapper = new ErrorMapper(options)
  app.setErrorHandler((err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const m = mapper.map(err, { headers: req.headers, bodyLimit: req.routeOptions.bodyLimit })
    if (m.serverError) {
      req.log.error({ err }, 'request failed')
      if (errorChannel.hasSubscribers)
        errorChannel.publish({ error: err, problem: m.problem, request: req })
    } else req.log.info({ err }, 'request rejected')
    return send(reply, m.problem, m.headers)
  })
  if (options.notFound ?? errorsDefaults.notFound)
    app.setNotFoundHandler((req: FastifyRequest, reply: FastifyReply) =>
      send(reply, mapper.notFound(req.method, req.url)),
    )
}

export const fastifyErrors = fp(plugin, { fastify: '5.x', name: 'hotpath-errors' })
