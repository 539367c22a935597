// Catalog reads: categories, the keyset-paginated product listing, one
// product (read-through cache), full-text search. HTTP-free: routes call it.
import { CacheKeys, type TieredCache } from 'hotpath/cache'
import type { Db } from 'hotpath/db'
import { HotpathError } from 'hotpath/errors'
import { createKeyset, type KeysetPage } from 'hotpath/pagination'
import { MAX_LIMIT, type SORTS } from '../schemas/catalog.ts'

export interface Category {
  id: number
  slug: string
  name: string
}

export interface ProductSummary {
  id: number
  categoryId: number
  name: string
  price: string
  createdAt: Date
}

export interface Product extends ProductSummary {
  category: string
  description: string | null
  stock: number
  updatedAt: Date
}

export interface ProductQuery {
  category?: number
  minPrice?: number
  maxPrice?: number
  sort?: (typeof SORTS)[number]
  order?: 'asc' | 'desc'
  limit?: number
  cursor?: string
}

export interface SearchPage {
  data: (ProductSummary & { rank: number })[]
  pagination: { limit: number; offset: number; hasMore: boolean }
}

/** The fields an update may change; an absent one is kept. */
export interface ProductChanges {
  name?: string
  price?: string
  description?: string | null
}

export interface Catalog {
  categories(): Promise<Category[]>
  listProducts(query: ProductQuery): Promise<KeysetPage<ProductSummary>>
  /** `null` when there is no such product. */
  getProduct(id: number): Promise<Product | null>
  search(q: string, limit: number, offset: number): Promise<SearchPage>
  /** Changes a product and invalidates it and every listing; `null` when there is none. */
  updateProduct(id: number, changes: ProductChanges): Promise<Product | null>
}

interface SummaryRow {
  id: number
  category_id: number
  name: string
  price: string
  created_at: Date
}

/** Tags a write to the catalog invalidates: every listing, and the product itself. */
export const catalogTags = {
  listings: 'products',
  categories: 'categories',
  product: (id: number): string => `product:${id}`,
} as const

const summary = (r: SummaryRow): ProductSummary => ({
  id: r.id,
  categoryId: r.category_id,
  name: r.name,
  price: r.price,
  createdAt: r.created_at,
})

const PRODUCT_SQL = `SELECT p.id, p.category_id AS "categoryId", c.name AS category, p.name,
  p.description, p.price, coalesce(i.quantity, 0) AS stock,
  p.created_at AS "createdAt", p.updated_at AS "updatedAt"
FROM products p
JOIN categories c ON c.id = p.category_id
LEFT JOIN inventory i ON i.product_id = p.id
WHERE p.id = $1`

// The rank column is computed once per match; the GIN index finds the matches.
const SEARCH_SQL = `SELECT p.id, p.category_id, p.name, p.price, p.created_at,
  ts_rank(p.search, q) AS rank
FROM products p, websearch_to_tsquery('english', $1) q
WHERE p.search @@ q
ORDER BY rank DESC, p.id
LIMIT $2 OFFSET $3`

// $5: whether the description was given (a null one clears it).
const UPDATE_SQL = `UPDATE products SET name = coalesce($2, name), price = coalesce($3::numeric, price),
  description = CASE WHEN $5 THEN $4 ELSE description END, updated_at = now()
WHERE id = $1`

export interface CatalogOptions {
  db: Db
  cache: TieredCache
  /** HMAC key of the listing's cursors (≥ 32 bytes). */
  cursorSecret: string
}

export function createCatalog({ db, cache, cursorSecret }: CatalogOptions): Catalog {
  const listing = createKeyset({
    table: 'products',
    name: 'products',
    columns: ['id', 'category_id', 'name', 'price', 'created_at'],
    allowedSorts: [
      { column: 'created_at', nullable: false },
      { column: 'price', nullable: false },
      { column: 'name', nullable: false },
    ],
    defaultSort: ['created_at', 'desc'],
    maxLimit: MAX_LIMIT,
    secret: cursorSecret,
  })

  return {
    async categories() {
      return cache.getOrSet(
        CacheKeys.of('categories'),
        async () => {
          const { rows } = await db.query<Category>(
            'SELECT id, slug, name FROM categories ORDER BY name',
          )
          return rows
        },
        { tier: 'cold', tags: [catalogTags.categories] },
      )
    },

    async listProducts(query) {
      const where: { text: string; values: unknown[] }[] = []
      if (query.category !== undefined)
        where.push({ text: 'category_id = $1', values: [query.category] })
      if (query.minPrice !== undefined)
        where.push({ text: 'price >= $1', values: [query.minPrice] })
      if (query.maxPrice !== undefined)
        where.push({ text: 'price <= $1', values: [query.maxPrice] })
      if (
        query.minPrice !== undefined &&
        query.maxPrice !== undefined &&
        query.minPrice > query.maxPrice
      ) {
        throw new HotpathError('HP_ERR_HTTP_BAD_REQUEST', ['minPrice is greater than maxPrice'])
      }
      // A cursor carries its sort: build refuses one sent with a different sort (400).
      const q = listing.build({
        cursor: query.cursor,
        limit: query.limit,
        sort: query.sort,
        order: query.order,
        where,
      })
      const { rows } = await db.query<SummaryRow>(q.text, q.values, { name: 'products.list' })
      const page = listing.envelope(rows, q)
      return { data: page.data.map(summary), pagination: page.pagination }
    },

    async getProduct(id) {
      const product = await cache.getOrSet<Product | null>(
        CacheKeys.product(id),
        async (ctx) => {
          const { rows } = await db.query<Product>(PRODUCT_SQL, [id], { name: 'products.get' })
          // A miss is not stored: the product may be created a moment later.
          if (rows[0] === undefined) ctx.skipCache()
          return rows[0] ?? null
        },
        { tier: 'warm', tags: [catalogTags.product(id)] },
      )
      return product ?? null
    },

    async updateProduct(id, changes) {
      return db.transaction(async (tx) => {
        // The tags are invalidated after COMMIT, in data and response caches, on every instance.
        const { rowCount } = await tx.query(
          UPDATE_SQL,
          [
            id,
            changes.name ?? null,
            changes.price ?? null,
            changes.description ?? null,
            changes.description !== undefined,
          ],
          { name: 'products.update', invalidates: [catalogTags.product(id), catalogTags.listings] },
        )
        if (rowCount === 0) return null
        // Read in the transaction: the answer is the row this write made.
        const { rows } = await tx.query<Product>(PRODUCT_SQL, [id], { name: 'products.get' })
        return rows[0] ?? null
      })
    },

    async search(q, limit, offset) {
      const { rows } = await db.query<SummaryRow & { rank: number }>(
        SEARCH_SQL,
        [q, limit + 1, offset],
        { name: 'products.search' },
      )
      const hasMore = rows.length > limit
      const data = rows.slice(0, limit).map((r) => ({ ...summary(r), rank: r.rank }))
      return { data, pagination: { limit, offset, hasMore } }
    },
  }
}
