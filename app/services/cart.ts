// The signed-in user's cart: one per account (carts.user_id is unique), so
// it follows the user across sessions and devices. The view is one query
// (lines, names, prices and totals: no N+1), read through the cache under
// the tag `cart:<userId>`, which every write invalidates. HTTP-free.
import { CacheKeys, type TieredCache } from 'hotpath/cache'
import type { Db } from 'hotpath/db'
import { HotpathError } from 'hotpath/errors'
import { ShopError } from '../errors.ts'

/** The most of one product a cart line (and so an order) may hold. */
export const MAX_QUANTITY = 99

export interface CartLine {
  productId: number
  name: string
  price: string
  quantity: number
  lineTotal: string
}

export interface CartView {
  items: CartLine[]
  /** Units over every line. */
  count: number
  total: string
}

export interface Cart {
  view(userId: number): Promise<CartView>
  /** Adds `quantity` to the product's line (creating it); 404 no such product, 422 over the limit or the stock. */
  add(userId: number, productId: number, quantity: number): Promise<CartView>
  /** Sets a line's quantity; 404 when the product is not in the cart. */
  setQuantity(userId: number, productId: number, quantity: number): Promise<CartView>
  /** Removes a line; 404 when the product is not in the cart. */
  remove(userId: number, productId: number): Promise<void>
}

export const cartTags = { cart: (userId: number): string => `cart:${userId}` } as const

// Totals by window functions over the same rows: one statement, one round trip.
const VIEW_SQL = `SELECT ci.product_id AS "productId", p.name, p.price, ci.quantity,
  p.price * ci.quantity AS "lineTotal",
  sum(ci.quantity) OVER () AS count, sum(p.price * ci.quantity) OVER () AS total
FROM carts c
JOIN cart_items ci ON ci.cart_id = c.id
JOIN products p ON p.id = ci.product_id
WHERE c.user_id = $1
ORDER BY ci.added_at, ci.product_id`

const ADD_SQL = `WITH c AS (
  INSERT INTO carts (user_id) VALUES ($1)
  ON CONFLICT (user_id) DO UPDATE SET updated_at = now()
  RETURNING id
)
INSERT INTO cart_items (cart_id, product_id, quantity)
SELECT c.id, $2, $3 FROM c
ON CONFLICT (cart_id, product_id) DO UPDATE SET quantity = cart_items.quantity + EXCLUDED.quantity
RETURNING quantity`

const SET_SQL = `UPDATE cart_items ci SET quantity = $3
FROM carts c
WHERE c.id = ci.cart_id AND c.user_id = $1 AND ci.product_id = $2
RETURNING ci.quantity`

const REMOVE_SQL = `DELETE FROM cart_items ci USING carts c
WHERE c.id = ci.cart_id AND c.user_id = $1 AND ci.product_id = $2`

export interface CartOptions {
  db: Db
  cache: TieredCache
}

const notInCart = (productId: number) =>
  new HotpathError('HP_ERR_HTTP_NOT_FOUND', [`product ${productId} in the cart`])

export function createCart({ db, cache }: CartOptions): Cart {
  async function view(userId: number): Promise<CartView> {
    return cache.getOrSet(
      CacheKeys.of('cart', userId),
      async () => {
        // The primary: the read right after a write (another request) must see it.
        const { rows } = await db.query<CartLine & { count: string; total: string }>(
          VIEW_SQL,
          [userId],
          { primary: true, name: 'cart.view' },
        )
        const items = rows.map(({ productId, name, price, quantity, lineTotal }) => ({
          productId,
          name,
          price,
          quantity,
          lineTotal,
        }))
        return { items, count: Number(rows[0]?.count ?? 0), total: rows[0]?.total ?? '0.00' }
      },
      { tier: 'hot', tags: [cartTags.cart(userId)] },
    )
  }

  /** The product's stock, or 404 when there is no such product. */
  async function stockOf(productId: number): Promise<number> {
    const { rows } = await db.query<{ stock: number }>(
      `SELECT coalesce(i.quantity, 0) AS stock
       FROM products p LEFT JOIN inventory i ON i.product_id = p.id WHERE p.id = $1`,
      [productId],
      { primary: true, name: 'cart.stock' },
    )
    if (rows[0] === undefined)
      throw new HotpathError('HP_ERR_HTTP_NOT_FOUND', [`product ${productId}`])
    return rows[0].stock
  }

  /** Refuses a line quantity over the limit or over the stock; the transaction rolls back. */
  function check(productId: number, quantity: number, stock: number): void {
    if (quantity > MAX_QUANTITY)
      throw new ShopError('SHOP_ERR_QUANTITY', `At most ${MAX_QUANTITY} of one product per order`)
    if (quantity > stock)
      throw new ShopError('SHOP_ERR_OUT_OF_STOCK', `Only ${stock} of product ${productId} in stock`)
  }

  const invalidates = (userId: number) => ({ invalidates: [cartTags.cart(userId)] })

  return {
    view,

    async add(userId, productId, quantity) {
      await db.transaction(async (tx) => {
        const stock = await stockOf(productId)
        const { rows } = await tx.query<{ quantity: number }>(
          ADD_SQL,
          [userId, productId, quantity],
          { name: 'cart.add', ...invalidates(userId) },
        )
        check(productId, rows[0]!.quantity, stock)
      })
      return view(userId)
    },

    async setQuantity(userId, productId, quantity) {
      await db.transaction(async (tx) => {
        const stock = await stockOf(productId)
        const { rows } = await tx.query(SET_SQL, [userId, productId, quantity], {
          name: 'cart.set',
          ...invalidates(userId),
        })
        if (rows.length === 0) throw notInCart(productId)
        check(productId, quantity, stock)
      })
      return view(userId)
    },

    async remove(userId, productId) {
      const r = await db.query(REMOVE_SQL, [userId, productId], {
        name: 'cart.remove',
        ...invalidates(userId),
      })
      if (r.rowCount === 0) throw notInCart(productId)
    },
  }
}
