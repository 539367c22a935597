// The shop's Fastify app: hotpath's plugin first (errors, shedding, metrics,
// health, response cache, compression, db scope), then the routes.
import Fastify, { type FastifyInstance } from 'fastify'
import type { TieredCache } from 'hotpath/cache'
import type { Db } from 'hotpath/db'
import { fastify as hotpath } from 'hotpath/http'
import type { ShopConfig } from './config.ts'
import { collectOpenApi } from './openapi.ts'
import { catalogRoutes } from './routes/catalog.ts'
import { docsRoutes } from './routes/docs.ts'
import { createCatalog } from './services/catalog.ts'

export interface ServerDeps {
  config: Pick<ShopConfig, 'cursorSecret' | 'logLevel'>
  db: Db
  cache: TieredCache
  /**
   * Load shedding (on by default). Tests that run the client in the server's
   * own process turn it off: the client's work counts as the server's load.
   */
  shedding?: boolean
}

export async function buildServer({
  config,
  db,
  cache,
  shedding = true,
}: ServerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    logger: config.logLevel === 'silent' ? false : { level: config.logLevel },
    // Behind a load balancer, keep-alive outlives the balancer's idle timeout.
    keepAliveTimeout: 72_000,
  })
  const openapi = collectOpenApi(app, { title: 'hotpath shop', version: '0.1.0' })
  await app.register(hotpath, { cache, db, ...(shedding ? {} : { shedding: false }) })
  await app.register(catalogRoutes, {
    catalog: createCatalog({ db, cache, cursorSecret: config.cursorSecret }),
  })
  await app.register(docsRoutes, { openapi })
  return app
}
