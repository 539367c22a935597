// Cart routes: every one behind the session check (401 without a session).
import type { FastifyPluginAsync } from 'fastify'
import {
  addItemSchema,
  removeItemSchema,
  setQuantitySchema,
  viewCartSchema,
} from '../schemas/cart.ts'
import type { Auth } from '../services/auth.ts'
import type { Cart } from '../services/cart.ts'
import { authenticate, userOf } from './authenticate.ts'

export interface CartRoutesOptions {
  auth: Auth
  cart: Cart
}

const BODY_LIMIT = 4096

export const cartRoutes: FastifyPluginAsync<CartRoutesOptions> = async (app, { auth, cart }) => {
  // Encapsulated: the hooks apply to these routes only.
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store') // a user's own: no shared cache may keep it
  })
  app.addHook('onRequest', authenticate(auth))

  app.get('/api/cart', { schema: viewCartSchema }, (request) => cart.view(userOf(request).id))

  app.post<{ Body: { productId: number; quantity: number } }>(
    '/api/cart/items',
    { schema: addItemSchema, bodyLimit: BODY_LIMIT },
    (request) => cart.add(userOf(request).id, request.body.productId, request.body.quantity),
  )

  app.patch<{ Params: { productId: number }; Body: { quantity: number } }>(
    '/api/cart/items/:productId',
    { schema: setQuantitySchema, bodyLimit: BODY_LIMIT },
    (request) =>
      cart.setQuantity(userOf(request).id, request.params.productId, request.body.quantity),
  )

  app.delete<{ Params: { productId: number } }>(
    '/api/cart/items/:productId',
    { schema: removeItemSchema },
    async (request, reply) => {
      await cart.remove(userOf(request).id, request.params.productId)
      return reply.code(204).send()
    },
  )
}
