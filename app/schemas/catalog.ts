// JSON schemas of the catalog routes: Fastify validates requests with them,
// serializes responses with them (fast-json-stringify), and /docs lists them.
export const SORTS = ['created_at', 'price', 'name'] as const
export const MAX_LIMIT = 100
export const MAX_SEARCH_LIMIT = 50
export const MAX_SEARCH_OFFSET = 1000

const problem = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
  },
} as const

const price = { type: 'string', pattern: '^\\d+\\.\\d{2}$', description: 'decimal, 2 places' }

const productSummary = {
  type: 'object',
  required: ['id', 'categoryId', 'name', 'price', 'createdAt'],
  properties: {
    id: { type: 'integer' },
    categoryId: { type: 'integer' },
    name: { type: 'string' },
    price,
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const

const product = {
  type: 'object',
  required: ['id', 'categoryId', 'category', 'name', 'price', 'stock', 'createdAt', 'updatedAt'],
  properties: {
    id: { type: 'integer' },
    categoryId: { type: 'integer' },
    category: { type: 'string' },
    name: { type: 'string' },
    description: { type: ['string', 'null'] },
    price,
    stock: { type: 'integer' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
} as const

const id = { type: 'integer', minimum: 1, maximum: 2_147_483_647 } as const
const amount = { type: 'number', minimum: 0, maximum: 1e10 } as const

export const listCategoriesSchema = {
  summary: 'Every category',
  tags: ['catalog'],
  response: {
    200: {
      type: 'object',
      properties: {
        data: {
          type: 'array',
          items: {
            type: 'object',
            required: ['id', 'slug', 'name'],
            properties: {
              id: { type: 'integer' },
              slug: { type: 'string' },
              name: { type: 'string' },
            },
          },
        },
      },
    },
  },
} as const

export const listProductsSchema = {
  summary: 'Products, keyset-paginated, filtered by category and price range',
  tags: ['catalog'],
  querystring: {
    type: 'object',
    properties: {
      category: { ...id, description: 'category id' },
      minPrice: amount,
      maxPrice: amount,
      sort: { type: 'string', enum: SORTS, description: 'default: created_at, newest first' },
      order: { type: 'string', enum: ['asc', 'desc'] },
      limit: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: 20 },
      cursor: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        data: { type: 'array', items: productSummary },
        pagination: {
          type: 'object',
          properties: {
            limit: { type: 'integer' },
            nextCursor: { type: ['string', 'null'] },
            prevCursor: { type: ['string', 'null'] },
            hasMore: { type: 'boolean' },
          },
        },
      },
    },
    400: problem,
  },
} as const

export const getProductSchema = {
  summary: 'One product with its category and stock',
  tags: ['catalog'],
  params: { type: 'object', required: ['id'], properties: { id } },
  response: { 200: product, 400: problem, 404: problem },
} as const

export const updateProductSchema = {
  summary: 'Change a product’s name, price or description (administrators only)',
  tags: ['catalog'],
  headers: {
    type: 'object',
    properties: {
      authorization: { type: 'string', description: 'Bearer <token> (from POST /auth/login)' },
    },
  },
  params: { type: 'object', required: ['id'], properties: { id } },
  body: {
    type: 'object',
    // At least one known field (Fastify drops unknown ones before this is checked).
    anyOf: [{ required: ['name'] }, { required: ['price'] }, { required: ['description'] }],
    additionalProperties: false,
    properties: {
      name: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
      price: { ...price, pattern: '^\\d{1,10}\\.\\d{2}$' },
      description: { type: ['string', 'null'], maxLength: 5000 },
    },
  },
  response: {
    200: product,
    400: problem,
    401: problem,
    403: problem,
    404: problem,
    413: problem,
    415: problem,
  },
} as const

export const searchProductsSchema = {
  summary: 'Full-text search on name and description, best match first',
  tags: ['catalog'],
  querystring: {
    type: 'object',
    required: ['q'],
    properties: {
      q: { type: 'string', minLength: 1, maxLength: 200, pattern: '\\S' },
      limit: { type: 'integer', minimum: 1, maximum: MAX_SEARCH_LIMIT, default: 20 },
      offset: { type: 'integer', minimum: 0, maximum: MAX_SEARCH_OFFSET, default: 0 },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        data: {
          type: 'array',
          items: {
            ...productSummary,
            properties: { ...productSummary.properties, rank: { type: 'number' } },
          },
        },
        pagination: {
          type: 'object',
          properties: {
            limit: { type: 'integer' },
            offset: { type: 'integer' },
            hasMore: { type: 'boolean' },
          },
        },
      },
    },
    400: problem,
  },
} as const
