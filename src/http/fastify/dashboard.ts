import type { OutgoingHttpHeaders } from 'node:http'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HotpathError } from '../../errors.ts'
import {
  adapterDashboard,
  DASHBOARD_RETRY_AFTER_S,
  type DashboardAdapterOptions,
  type DashboardClient,
} from '../dashboard.ts'
import { etagMatches } from '../etag.ts'
import { PROBLEM_TYPE, problem } from '../problem.ts'

export type FastifyDashboardOptions = DashboardAdapterOptions

/**
 * The live dashboard for Fastify: `GET <path>` (the page, `no-cache`),
 * `GET <path>/assets/<name>.<hash>.<ext>` (immutable for a year, ETag; 404
 * for an unknown or stale hash) and `GET <path>/events` (server-sent
 * events, one frame per interval). The event stream is hijacked: written
 * straight to the socket, so no compression, response cache or request
 * timing applies to it. Streams end when the app closes.
 */
const plugin: FastifyPluginAsync<FastifyDashboardOptions> = async (app, options) => {
  const dashboard = adapterDashboard(options)

  app.get(dashboard.path, (req: FastifyRequest, reply: FastifyReply) => {
    const h = dashboard.htmlHeaders
    if (etagMatches(req.headers['if-none-match'], h.etag as string)) {
      reply.code(304).headers({ etag: h.etag, 'cache-control': h['cache-control'] }).send()
      return
    }
    reply.headers(h).send(dashboard.html)
  })

  app.get<{ Params: { file: string } }>(`${dashboard.assetsPath}:file`, (req, reply) => {
    const a = dashboard.asset(req.params.file)
    if (a === undefined) throw new HotpathError('HP_ERR_HTTP_NOT_FOUND', [req.url])
    if (etagMatches(req.headers['if-none-match'], a.headers.etag as string)) {
      reply
        .code(304)
        .headers({ etag: a.headers.etag, 'cache-control': a.headers['cache-control'] })
        .send()
      return
    }
    reply.headers(a.headers).send(a.body)
  })

  app.get(dashboard.eventsPath, { exposeHeadRoute: false }, (_req, reply: FastifyReply) => {
    if (dashboard.clients >= dashboard.maxClients) {
      const e = new HotpathError('HP_ERR_HTTP_OVERLOADED', [DASHBOARD_RETRY_AFTER_S])
      reply
        .code(503)
        .headers({
          'content-type': PROBLEM_TYPE,
          'retry-after': String(DASHBOARD_RETRY_AFTER_S),
          'cache-control': 'no-store',
        })
        .send(JSON.stringify({ ...problem(503, 'Too many dashboard clients'), code: e.code }))
      return
    }
    const res = reply.raw
    reply.hijack()
    // Headers other hooks set on the reply (request id, CORS) still apply.
    res.writeHead(200, {
      ...(reply.getHeaders() as OutgoingHttpHeaders),
      ...dashboard.eventHeaders,
    })
    const client: DashboardClient = {
      write(chunk) {
        if (!res.writableEnded && !res.destroyed) res.write(chunk)
        return res.writableLength
      },
      end() {
        res.end()
      },
    }
    const remove = dashboard.connect(client)
    if (remove === null) res.end()
    else res.once('close', remove)
  })

  // Open streams would hold `close()` for ever.
  app.addHook('preClose', async () => dashboard.close())
}

export const fastifyDashboard = fp(plugin, { fastify: '5.x', name: 'hotpath-dashboard' })
