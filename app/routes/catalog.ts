// Catalog routes: thin HTTP over the catalog service. Listings and search
// are response-cached under the `products` tag, one product under its own.
import type { FastifyPluginAsync } from 'fastify'
import { HotpathError } from 'hotpath/errors'
import { ShopError } from '../errors.ts'
import {
  getProductSchema,
  listCategoriesSchema,
  listProductsSchema,
  searchProductsSchema,
  updateProductSchema,
} from '../schemas/catalog.ts'
import type { Auth } from '../services/auth.ts'
import {
  type Catalog,
  catalogTags,
  type ProductChanges,
  type ProductQuery,
} from '../services/catalog.ts'
import { authenticate, userOf } from './authenticate.ts'

export interface CatalogRoutesOptions {
  catalog: Catalog
  auth: Auth
}

const BODY_LIMIT = 16_384

export const catalogRoutes: FastifyPluginAsync<CatalogRoutesOptions> = async (
  app,
  { catalog, auth },
) => {
  app.get(
    '/api/categories',
    {
      schema: listCategoriesSchema,
      config: { cache: { ttl: '5m', tags: [catalogTags.categories] } },
    },
    async () => ({ data: await catalog.categories() }),
  )

  app.get<{ Querystring: ProductQuery }>(
    '/api/products',
    {
      schema: listProductsSchema,
      config: { cache: { ttl: '1m', tags: [catalogTags.listings] } },
    },
    (request) => catalog.listProducts(request.query),
  )

  // Static before parametric: find-my-way matches /search before /:id.
  app.get<{ Querystring: { q: string; limit: number; offset: number } }>(
    '/api/products/search',
    {
      schema: searchProductsSchema,
      config: { cache: { ttl: '1m', tags: [catalogTags.listings] } },
    },
    (request) => {
      const { q, limit, offset } = request.query
      return catalog.search(q.trim(), limit, offset)
    },
  )

  app.get<{ Params: { id: number } }>(
    '/api/products/:id',
    {
      schema: getProductSchema,
      config: {
        cache: {
          ttl: '5m',
          tags: (request) => [catalogTags.product(Number((request.params as { id: string }).id))],
        },
      },
    },
    async (request) => {
      const product = await catalog.getProduct(request.params.id)
      if (product === null) {
        throw new HotpathError('HP_ERR_HTTP_NOT_FOUND', [`product ${request.params.id}`])
      }
      return product
    },
  )

  app.put<{ Params: { id: number }; Body: ProductChanges }>(
    '/api/products/:id',
    { schema: updateProductSchema, bodyLimit: BODY_LIMIT, onRequest: authenticate(auth) },
    async (request, reply) => {
      reply.header('cache-control', 'no-store')
      if (!(await auth.isAdmin(userOf(request).id)))
        throw new ShopError('SHOP_ERR_FORBIDDEN', 'Only administrators may change products')
      const product = await catalog.updateProduct(request.params.id, request.body)
      if (product === null) {
        throw new HotpathError('HP_ERR_HTTP_NOT_FOUND', [`product ${request.params.id}`])
      }
      return product
    },
  )
}
