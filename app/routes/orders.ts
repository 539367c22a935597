// Order and payment routes: every one behind the session check (401 first).
import type { FastifyPluginAsync } from 'fastify'
import { HotpathError } from 'hotpath/errors'
import {
  getOrderSchema,
  listOrdersSchema,
  payOrderSchema,
  placeOrderSchema,
} from '../schemas/orders.ts'
import type { Auth } from '../services/auth.ts'
import type { Orders } from '../services/orders.ts'
import { authenticate, userOf } from './authenticate.ts'

export interface OrdersRoutesOptions {
  auth: Auth
  orders: Orders
}

const BODY_LIMIT = 4096

export const ordersRoutes: FastifyPluginAsync<OrdersRoutesOptions> = async (
  app,
  { auth, orders },
) => {
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store') // a user's own: no shared cache may keep it
  })
  app.addHook('onRequest', authenticate(auth))

  app.post<{
    Headers: { 'idempotency-key'?: string }
    Body: { expectedTotal?: string } | null
  }>('/api/orders', { schema: placeOrderSchema, bodyLimit: BODY_LIMIT }, async (request, reply) => {
    const placed = await orders.place(userOf(request).id, {
      key: request.headers['idempotency-key'],
      expectedTotal: request.body?.expectedTotal,
    })
    if (placed.replayed) reply.header('idempotent-replayed', 'true')
    return reply.code(placed.statusCode).send(placed.order)
  })

  app.get<{ Querystring: { limit: number; cursor?: string } }>(
    '/api/orders',
    { schema: listOrdersSchema },
    (request) => orders.list(userOf(request).id, request.query),
  )

  app.get<{ Params: { id: number } }>(
    '/api/orders/:id',
    { schema: getOrderSchema },
    async (request) => {
      // Another user's order is as absent as a missing one: ids are not probed.
      const order = await orders.get(userOf(request).id, request.params.id)
      if (order === null)
        throw new HotpathError('HP_ERR_HTTP_NOT_FOUND', [`order ${request.params.id}`])
      return order
    },
  )

  app.post<{ Params: { id: number } }>(
    '/api/orders/:id/pay',
    { schema: payOrderSchema, bodyLimit: BODY_LIMIT },
    (request) => orders.pay(userOf(request).id, request.params.id),
  )
}
