// The shop's own client errors. hotpath's error mapper turns any error with a
// 4xx `statusCode` into problem+json with its `code`, message and `headers`,
// so these need no handler of their own.
const STATUS = {
  /** No session, an expired or revoked one, or a failed login: the same answer for all. */
  SHOP_ERR_UNAUTHORIZED: 401,
  /** Signed in, but not allowed (a catalog change by someone who is not an administrator). */
  SHOP_ERR_FORBIDDEN: 403,
  SHOP_ERR_EMAIL_TAKEN: 409,
  SHOP_ERR_WEAK_PASSWORD: 422,
  /** An e-mail verification token that is unknown, used or expired. */
  SHOP_ERR_INVALID_TOKEN: 422,
  /** A cart line would go over the most one order may hold. */
  SHOP_ERR_QUANTITY: 422,
  SHOP_ERR_OUT_OF_STOCK: 422,
  SHOP_ERR_EMPTY_CART: 422,
  /** An Idempotency-Key sent again with a different request. */
  SHOP_ERR_IDEMPOTENCY_KEY_REUSED: 422,
  /** The cart's total is not the `expectedTotal` the client showed (a price changed). */
  SHOP_ERR_PRICE_CHANGED: 409,
  /** A transition the order's state does not allow (paying a paid order, a payment in progress). */
  SHOP_ERR_ORDER_STATE: 409,
  SHOP_ERR_PAYMENT_DECLINED: 402,
} as const

export type ShopErrorCode = keyof typeof STATUS

export class ShopError extends Error {
  readonly code: ShopErrorCode
  readonly statusCode: number
  readonly headers: Record<string, string>
  constructor(code: ShopErrorCode, message: string, headers: Record<string, string> = {}) {
    super(message)
    this.name = 'ShopError'
    this.code = code
    this.statusCode = STATUS[code]
    this.headers = headers
  }
}

/**
 * A 401 with its `WWW-Authenticate`. A failed login always gets the same
 * message, whether the e-mail is unknown or the password wrong.
 */
export function unauthorized(message = 'Authentication required'): ShopError {
  return new ShopError('SHOP_ERR_UNAUTHORIZED', message, { 'www-authenticate': 'Bearer' })
}
