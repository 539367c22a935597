// JSON schemas of the order and payment routes.
import { bearer, id, price, problem } from './common.ts'

export const MAX_ORDERS_LIMIT = 100

const STATUSES = ['pending', 'paid', 'failed', 'shipped', 'cancelled'] as const
const PAYMENT_STATUSES = ['unpaid', 'processing', 'succeeded', 'failed'] as const

const summaryProperties = {
  id: { type: 'integer' },
  status: { type: 'string', enum: STATUSES },
  paymentStatus: { type: 'string', enum: PAYMENT_STATUSES },
  total: price,
  createdAt: { type: 'string', format: 'date-time' },
  updatedAt: { type: 'string', format: 'date-time' },
} as const

const summary = {
  type: 'object',
  required: ['id', 'status', 'paymentStatus', 'total', 'createdAt', 'updatedAt'],
  properties: summaryProperties,
} as const

const order = {
  type: 'object',
  required: [...summary.required, 'items'],
  properties: {
    ...summaryProperties,
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['productId', 'name', 'quantity', 'unitPrice', 'lineTotal'],
        properties: {
          productId: { type: 'integer' },
          name: { type: 'string' },
          quantity: { type: 'integer' },
          unitPrice: price,
          lineTotal: price,
        },
      },
    },
  },
} as const

const orderParams = { type: 'object', required: ['id'], properties: { id } } as const

/** Visible ASCII, as the IETF draft's examples; a UUID fits. */
const idempotencyKey = {
  type: 'string',
  minLength: 1,
  maxLength: 255,
  pattern: '^[\\x21-\\x7e]+$',
  description: 'a retried request with the same key gets the first result (no second order)',
} as const

export const placeOrderSchema = {
  summary: 'Order the cart: stock reserved, cart emptied, confirmation queued',
  tags: ['orders'],
  headers: {
    type: 'object',
    properties: { ...bearer.headers.properties, 'idempotency-key': idempotencyKey },
  },
  body: {
    type: ['object', 'null'],
    additionalProperties: false,
    properties: {
      expectedTotal: { ...price, description: 'the total the client showed: 409 if it changed' },
    },
  },
  response: {
    201: order,
    400: problem,
    401: problem,
    409: problem,
    413: problem,
    415: problem,
    422: problem,
  },
} as const

export const listOrdersSchema = {
  summary: 'The signed-in user’s orders, newest first (keyset pages)',
  tags: ['orders'],
  ...bearer,
  querystring: {
    type: 'object',
    properties: {
      limit: { type: 'integer', minimum: 1, maximum: MAX_ORDERS_LIMIT, default: 20 },
      cursor: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$' },
    },
  },
  response: {
    200: {
      type: 'object',
      properties: {
        data: { type: 'array', items: summary },
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
    401: problem,
  },
} as const

export const getOrderSchema = {
  summary: 'One of the user’s orders with its items',
  tags: ['orders'],
  ...bearer,
  params: orderParams,
  response: { 200: order, 400: problem, 401: problem, 404: problem },
} as const

export const payOrderSchema = {
  summary: 'Pay a pending order (once: a paid or failed order is a 409)',
  tags: ['orders'],
  ...bearer,
  params: orderParams,
  response: {
    200: order,
    400: problem,
    401: problem,
    402: problem,
    404: problem,
    409: problem,
  },
} as const
