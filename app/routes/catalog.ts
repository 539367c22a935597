// Catalog routes: thin HTTP over the catalog service. Listings and search
// are response-cached under the `products` tag, one product under its own.
import type { FastifyPluginAsync } from 'fastify'
import { HotpathError } from 'hotpath/errors'
import {
  getProductSchema,
  listCategoriesSchema,
  listProductsSchema,
  searchProductsSchema,
} from '../schemas/catalog.ts'
import { type Catalog, catalogTags, type ProductQuery } from '../services/catalog.ts'

export interface CatalogRoutesOptions {
  catalog: Catalog
}

export const catalogRoutes: FastifyPluginAsync<CatalogRoutesOptions> = async (app, { catalog }) => {
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
}
