// JSON schemas of the cart routes.
import { MAX_QUANTITY } from '../services/cart.ts'
import { bearer, id, price, problem } from './common.ts'

const quantity = { type: 'integer', minimum: 1, maximum: MAX_QUANTITY } as const

const cart = {
  type: 'object',
  required: ['items', 'count', 'total'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['productId', 'name', 'price', 'quantity', 'lineTotal'],
        properties: {
          productId: { type: 'integer' },
          name: { type: 'string' },
          price,
          quantity: { type: 'integer' },
          lineTotal: price,
        },
      },
    },
    count: { type: 'integer', description: 'units over every line' },
    total: price,
  },
} as const

const productParams = {
  type: 'object',
  required: ['productId'],
  properties: { productId: id },
} as const

const errors = { 400: problem, 401: problem, 404: problem } as const
const bodyErrors = { ...errors, 413: problem, 415: problem, 422: problem } as const

export const viewCartSchema = {
  summary: 'The signed-in user’s cart, with names, prices and totals',
  tags: ['cart'],
  ...bearer,
  response: { 200: cart, 401: problem },
} as const

export const addItemSchema = {
  summary: 'Add a product to the cart (adds to its line if there is one)',
  tags: ['cart'],
  ...bearer,
  body: {
    type: 'object',
    required: ['productId', 'quantity'],
    properties: { productId: id, quantity },
  },
  response: { 200: cart, ...bodyErrors },
} as const

export const setQuantitySchema = {
  summary: 'Change the quantity of a product in the cart',
  tags: ['cart'],
  ...bearer,
  params: productParams,
  body: { type: 'object', required: ['quantity'], properties: { quantity } },
  response: { 200: cart, ...bodyErrors },
} as const

export const removeItemSchema = {
  summary: 'Remove a product from the cart',
  tags: ['cart'],
  ...bearer,
  params: productParams,
  response: { 204: { type: 'null', description: 'No Content' }, ...errors },
} as const
