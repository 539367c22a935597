// Orders and their payment. Placing an order is one transaction: the cart's
// row lock, the stock's row locks (in product id order, so two buyers never
// deadlock), the stock taken, the order and its lines written, the cart
// emptied and the confirmation mail queued (the outbox). An Idempotency-Key
// is claimed by inserting it first in that transaction: a concurrent
// duplicate waits on the unique index and then reads the first result.
// Paying moves the order through `transitions` only. HTTP-free.
import { createHash } from 'node:crypto'
import type { TieredCache } from 'hotpath/cache'
import type { Db } from 'hotpath/db'
import { HotpathError } from 'hotpath/errors'
import { createKeyset, type KeysetPage } from 'hotpath/pagination'
import { ShopError } from '../errors.ts'
import { MAX_ORDERS_LIMIT } from '../schemas/orders.ts'
import { cartTags } from './cart.ts'
import { catalogTags } from './catalog.ts'
import type { PaymentProvider } from './payments.ts'

export type OrderStatus = 'pending' | 'paid' | 'failed' | 'shipped' | 'cancelled'
export type PaymentStatus = 'unpaid' | 'processing' | 'succeeded' | 'failed'

/**
 * The order states and the moves allowed between them. `failed` is terminal:
 * a declined payment releases the order's stock, and the customer orders
 * again (a retried charge of a stale order could sell stock twice).
 */
export const transitions: Readonly<Record<OrderStatus, readonly OrderStatus[]>> = Object.freeze({
  pending: ['paid', 'failed', 'cancelled'],
  paid: ['shipped'],
  failed: [],
  shipped: [],
  cancelled: [],
})

export const canMove = (from: OrderStatus, to: OrderStatus): boolean =>
  transitions[from].includes(to)

export interface OrderItem {
  productId: number
  name: string
  quantity: number
  unitPrice: string
  lineTotal: string
}

export interface OrderSummary {
  id: number
  status: OrderStatus
  paymentStatus: PaymentStatus
  total: string
  createdAt: Date | string
  updatedAt: Date | string
}

export interface Order extends OrderSummary {
  items: OrderItem[]
}

/** A placed order, or the first result of its Idempotency-Key; `replayed` tells which. */
export interface Placed {
  statusCode: number
  order: Order
  replayed: boolean
}

export interface PlaceInput {
  /** The Idempotency-Key header, if any. */
  key?: string | undefined
  /** The cart total the client showed; a different one is a 409 (a price changed). */
  expectedTotal?: string | undefined
}

export interface Orders {
  /** 422 empty cart or out of stock; 409 price changed; 422 a key reused for another request. */
  place(userId: number, input: PlaceInput): Promise<Placed>
  list(
    userId: number,
    query: { limit?: number; cursor?: string },
  ): Promise<KeysetPage<OrderSummary>>
  /** The order with its items (one query), or `null` when it is not the user's. */
  get(userId: number, orderId: number): Promise<Order | null>
  /** Charges the order once; 404 not the user's, 409 not payable, 402 declined. */
  pay(userId: number, orderId: number): Promise<Order>
}

export interface OrdersOptions {
  db: Db
  cache: TieredCache
  payments: PaymentProvider
  cursorSecret: string
}

const ORDER_COLUMNS = `o.id, o.status, o.payment_status AS "paymentStatus", o.total,
  o.created_at AS "createdAt", o.updated_at AS "updatedAt"`

// Lines and totals as text: numeric(12,2) keeps its two places ('12.50', not 12.5).
const ORDER_SQL = `SELECT ${ORDER_COLUMNS},
  coalesce(json_agg(json_build_object(
    'productId', oi.product_id, 'name', p.name, 'quantity', oi.quantity,
    'unitPrice', oi.unit_price::text, 'lineTotal', (oi.unit_price * oi.quantity)::text
  ) ORDER BY oi.product_id) FILTER (WHERE oi.product_id IS NOT NULL), '[]') AS items
FROM orders o
LEFT JOIN order_items oi ON oi.order_id = o.id
LEFT JOIN products p ON p.id = oi.product_id
WHERE o.id = $1 AND o.customer_id = $2
GROUP BY o.id`

// The cart row is locked: a concurrent add-to-cart (which upserts it) waits.
const LINES_SQL = `SELECT ci.product_id AS "productId", p.name, ci.quantity, p.price
FROM carts c
JOIN cart_items ci ON ci.cart_id = c.id
JOIN products p ON p.id = ci.product_id
WHERE c.user_id = $1
ORDER BY ci.product_id
FOR UPDATE OF c`

const LOCK_STOCK_SQL = `SELECT product_id AS "productId", quantity FROM inventory
WHERE product_id = ANY($1::int[])
ORDER BY product_id
FOR UPDATE`

const TAKE_STOCK_SQL = `UPDATE inventory i SET quantity = i.quantity - l.q, updated_at = now()
FROM unnest($1::int[], $2::int[]) AS l(id, q)
WHERE i.product_id = l.id`

const RELEASE_STOCK_SQL = `UPDATE inventory i SET quantity = i.quantity + oi.quantity, updated_at = now()
FROM order_items oi
WHERE oi.order_id = $1 AND i.product_id = oi.product_id
RETURNING i.product_id AS "productId"`

const INSERT_ORDER_SQL = `INSERT INTO orders (customer_id, total) VALUES ($1, $2)
RETURNING id, status, payment_status AS "paymentStatus", total,
  created_at AS "createdAt", updated_at AS "updatedAt"`

const INSERT_ITEMS_SQL = `INSERT INTO order_items (order_id, product_id, quantity, unit_price)
SELECT $1, l.id, l.q, l.p FROM unnest($2::int[], $3::int[], $4::numeric[]) AS l(id, q, p)`

const EMPTY_CART_SQL = `DELETE FROM cart_items ci USING carts c
WHERE c.id = ci.cart_id AND c.user_id = $1`

const CONFIRMATION_JOB_SQL = `INSERT INTO jobs (kind, payload)
SELECT 'order-confirmation', json_build_object(
  'orderId', $1::int, 'userId', u.id, 'email', u.email, 'name', u.name, 'total', $2::text)
FROM users u WHERE u.id = $3`

const CLAIM_KEY_SQL = `INSERT INTO idempotency_keys (user_id, key, scope, request_hash)
VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, scope, key) DO NOTHING`

const STORE_KEY_SQL = `UPDATE idempotency_keys SET status_code = $4, response = $5
WHERE user_id = $1 AND scope = $2 AND key = $3`

const READ_KEY_SQL = `SELECT request_hash AS "requestHash", status_code AS "statusCode", response
FROM idempotency_keys WHERE user_id = $1 AND scope = $2 AND key = $3`

// The claim: one request only moves an order from unpaid to processing.
const CLAIM_PAYMENT_SQL = `UPDATE orders SET payment_status = 'processing', updated_at = now()
WHERE id = $1 AND customer_id = $2 AND status = 'pending' AND payment_status = 'unpaid'
RETURNING total`

const SCOPE = 'POST /api/orders'

/** "12.34" → 1234: money summed in integer cents, never in floats. */
const cents = (s: string): number => {
  const [whole = '0', frac = ''] = s.split('.')
  return Number(whole) * 100 + Number(frac.padEnd(2, '0').slice(0, 2))
}
const decimal = (c: number): string => `${Math.trunc(c / 100)}.${String(c % 100).padStart(2, '0')}`

const requestHash = (input: PlaceInput): string =>
  createHash('sha256')
    .update(JSON.stringify({ expectedTotal: input.expectedTotal ?? null }))
    .digest('hex')

const notFound = (id: number) => new HotpathError('HP_ERR_HTTP_NOT_FOUND', [`order ${id}`])

export function createOrders({ db, cache, payments, cursorSecret }: OrdersOptions): Orders {
  const listing = createKeyset({
    table: 'orders',
    name: 'orders',
    columns: ['id', 'status', 'payment_status', 'total', 'created_at', 'updated_at'],
    allowedSorts: [{ column: 'created_at', nullable: false }],
    defaultSort: ['created_at', 'desc'],
    maxLimit: MAX_ORDERS_LIMIT,
    secret: cursorSecret,
  })

  async function get(userId: number, orderId: number): Promise<Order | null> {
    // The primary: an order is read right after it is placed or paid.
    const { rows } = await db.query<Order>(ORDER_SQL, [orderId, userId], {
      primary: true,
      name: 'orders.get',
    })
    return rows[0] ?? null
  }

  /** Everything but the key: the order from the locked cart and stock. */
  async function create(tx: Db, userId: number, input: PlaceInput): Promise<Order> {
    const { rows: lines } = await tx.query<{
      productId: number
      name: string
      quantity: number
      price: string
    }>(LINES_SQL, [userId], { name: 'orders.cartLines' })
    if (lines.length === 0) throw new ShopError('SHOP_ERR_EMPTY_CART', 'The cart is empty')
    const ids = lines.map((l) => l.productId)
    const { rows: stock } = await tx.query<{ productId: number; quantity: number }>(
      LOCK_STOCK_SQL,
      [ids],
      { name: 'orders.lockStock' },
    )
    const left = new Map(stock.map((s) => [s.productId, s.quantity]))
    for (const l of lines) {
      const have = left.get(l.productId) ?? 0
      if (have < l.quantity) {
        throw new ShopError(
          'SHOP_ERR_OUT_OF_STOCK',
          `Only ${have} of product ${l.productId} in stock`,
        )
      }
    }
    const total = lines.reduce((sum, l) => sum + cents(l.price) * l.quantity, 0)
    if (input.expectedTotal !== undefined && cents(input.expectedTotal) !== total) {
      throw new ShopError(
        'SHOP_ERR_PRICE_CHANGED',
        `The cart's total is ${decimal(total)}, not ${input.expectedTotal}`,
      )
    }
    // Stock changes reach the product pages and the listings after COMMIT.
    await tx.query(TAKE_STOCK_SQL, [ids, lines.map((l) => l.quantity)], {
      name: 'orders.takeStock',
      invalidates: [...ids.map(catalogTags.product), catalogTags.listings],
    })
    const { rows } = await tx.query<OrderSummary>(INSERT_ORDER_SQL, [userId, decimal(total)], {
      name: 'orders.insert',
    })
    const order = rows[0]!
    await tx.query(
      INSERT_ITEMS_SQL,
      [order.id, ids, lines.map((l) => l.quantity), lines.map((l) => l.price)],
      { name: 'order_items.insert' },
    )
    await tx.query(EMPTY_CART_SQL, [userId], {
      name: 'orders.emptyCart',
      invalidates: [cartTags.cart(userId)],
    })
    // The outbox: the confirmation is mailed by a worker after COMMIT, or never
    // if the order rolls back.
    await tx.query(CONFIRMATION_JOB_SQL, [order.id, order.total, userId], { name: 'jobs.insert' })
    const items = lines.map((l) => ({
      productId: l.productId,
      name: l.name,
      quantity: l.quantity,
      unitPrice: l.price,
      lineTotal: decimal(cents(l.price) * l.quantity),
    }))
    return { ...order, items }
  }

  async function place(userId: number, input: PlaceInput): Promise<Placed> {
    const { key } = input
    if (key === undefined) {
      const order = await db.transaction((tx) => create(tx, userId, input))
      return { statusCode: 201, order, replayed: false }
    }
    const hash = requestHash(input)
    return db.transaction(async (tx) => {
      // Insert first: a concurrent request with the key blocks here until this
      // transaction ends, then finds the stored result (or the key free again
      // if this one rolled back: failures are not stored, a retry runs again).
      const claim = await tx.query(CLAIM_KEY_SQL, [userId, key, SCOPE, hash], {
        name: 'idempotency.claim',
      })
      if (claim.rowCount === 0) {
        const { rows } = await tx.query<{
          requestHash: string
          statusCode: number | null
          response: Order | null
        }>(READ_KEY_SQL, [userId, SCOPE, key], { name: 'idempotency.read' })
        const first = rows[0]!
        if (first.requestHash !== hash) {
          throw new ShopError(
            'SHOP_ERR_IDEMPOTENCY_KEY_REUSED',
            'This Idempotency-Key was used for a different request',
          )
        }
        // Written in the claiming transaction, so never null once visible.
        return { statusCode: first.statusCode ?? 201, order: first.response!, replayed: true }
      }
      const order = await create(tx, userId, input)
      await tx.query(STORE_KEY_SQL, [userId, SCOPE, key, 201, JSON.stringify(order)], {
        name: 'idempotency.store',
      })
      return { statusCode: 201, order, replayed: false }
    })
  }

  /** Why an order cannot be paid now: 404, or 409 naming its state. */
  async function refusal(userId: number, orderId: number): Promise<Error> {
    const order = await get(userId, orderId)
    if (order === null) return notFound(orderId)
    if (order.paymentStatus === 'processing')
      return new ShopError('SHOP_ERR_ORDER_STATE', `Order ${orderId} is being paid`)
    return new ShopError('SHOP_ERR_ORDER_STATE', `Order ${orderId} is ${order.status}`)
  }

  async function settle(
    orderId: number,
    paymentId: number,
    result: { ok: boolean; reference: string; reason?: string },
  ): Promise<void> {
    const to: OrderStatus = result.ok ? 'paid' : 'failed'
    if (!canMove('pending', to)) throw new Error(`pending → ${to} is not a transition`)
    const released = await db.transaction(async (tx) => {
      await tx.query(
        'UPDATE payments SET status = $2, provider_ref = $3, error = $4 WHERE id = $1',
        [paymentId, result.ok ? 'succeeded' : 'failed', result.reference, result.reason ?? null],
        { name: 'payments.settle' },
      )
      await tx.query(
        `UPDATE orders SET status = $2, payment_status = $3, updated_at = now()
         WHERE id = $1 AND status = 'pending' AND payment_status = 'processing'`,
        [orderId, to, result.ok ? 'succeeded' : 'failed'],
        { name: 'orders.settle' },
      )
      if (result.ok) return []
      // A failed order is final: its stock goes back on sale.
      const { rows } = await tx.query<{ productId: number }>(RELEASE_STOCK_SQL, [orderId], {
        name: 'orders.releaseStock',
      })
      return rows.map((r) => r.productId)
    })
    // The ids are known only from the UPDATE's rows, so the tags go after COMMIT here.
    if (released.length > 0)
      await cache.invalidateTags([...released.map(catalogTags.product), catalogTags.listings])
  }

  return {
    place,
    get,

    async list(userId, query) {
      const q = listing.build({
        cursor: query.cursor,
        limit: query.limit,
        where: { text: 'customer_id = $1', values: [userId] },
      })
      const { rows } = await db.query<{
        id: number
        status: OrderStatus
        payment_status: PaymentStatus
        total: string
        created_at: Date
        updated_at: Date
      }>(q.text, q.values, { primary: true, name: 'orders.list' })
      const page = listing.envelope(rows, q)
      const data = page.data.map((r) => ({
        id: r.id,
        status: r.status,
        paymentStatus: r.payment_status,
        total: r.total,
        createdAt: r.created_at,
        updatedAt: r.updated_at,
      }))
      return { data, pagination: page.pagination }
    },

    async pay(userId, orderId) {
      // Claim and record the attempt in one transaction: from here on exactly
      // one request owns the charge, and a crash leaves a 'processing' row.
      const claimed = await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ total: string }>(CLAIM_PAYMENT_SQL, [orderId, userId], {
          name: 'orders.claimPayment',
        })
        if (rows[0] === undefined) return null
        const { rows: p } = await tx.query<{ id: number }>(
          `INSERT INTO payments (order_id, provider, amount, status)
           VALUES ($1, $2, $3, 'processing') RETURNING id`,
          [orderId, payments.name, rows[0].total],
          { name: 'payments.insert' },
        )
        return { total: rows[0].total, paymentId: p[0]!.id }
      })
      if (claimed === null) throw await refusal(userId, orderId)
      let result: { ok: boolean; reference: string; reason?: string }
      try {
        // One key per order: a repeated charge (after a crash, a retry) is the same charge.
        result = await payments.charge({
          orderId,
          amountCents: cents(claimed.total),
          idempotencyKey: `order-${orderId}`,
        })
      } catch (err) {
        // The outcome is unknown: the order stays 'processing' for a
        // reconciliation to settle with the provider, never charged again blindly.
        await db.query(
          'UPDATE payments SET error = $2 WHERE id = $1',
          [claimed.paymentId, String((err as Error)?.message ?? err).slice(0, 500)],
          { name: 'payments.error' },
        )
        throw err
      }
      await settle(orderId, claimed.paymentId, result)
      const order = await get(userId, orderId)
      if (order === null) throw notFound(orderId)
      if (!result.ok) {
        throw new ShopError(
          'SHOP_ERR_PAYMENT_DECLINED',
          `The payment was declined (${result.reason ?? 'no reason given'}); order ${orderId} is failed`,
        )
      }
      return order
    },
  }
}
