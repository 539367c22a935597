// The reference shop's users, shared by every profile in this folder: most
// visitors browse (a listing followed a page or two by its keyset cursor, a
// search, a product), one in ten also buys (cart, order, payment) with an
// account registered for that VU. Figures and bars come from the guides.
import { randomUUID } from 'node:crypto'
import { HotpathError } from 'hotpath/errors'
import type { Response, ThresholdsConfig, VU } from 'hotpath/load'

/**
 * Think time after every request (one page view), ms: 6 s on average, so a
 * VU sends about 10 requests a minute and 100 VUs the guides' 1000 req/min
 * (500 → 5000, 1000 → 10,000), whatever the browse/buy mix.
 */
export const THINK_MS: readonly [number, number] = [3000, 9000]

/**
 * `LOAD_THINK_SCALE=0.02` shortens the think times: `--scale` shrinks
 * durations and VUs but not them, so a run of a few seconds needs this to do
 * whole journeys. Read once per worker (workers copy the environment).
 */
const THINK_SCALE = thinkScale(process.env.LOAD_THINK_SCALE)

function thinkScale(raw: string | undefined): number {
  if (raw === undefined || raw.trim() === '') return 1
  const n = Number(raw)
  if (!Number.isFinite(n) || n < 0 || n > 10) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      'LOAD_THINK_SCALE',
      `${JSON.stringify(raw)} is not a number from 0 to 10`,
    ])
  }
  return n
}

/** Route names: one series per route, not one per product or order id. */
export const ROUTES = {
  register: 'POST /auth/register',
  login: 'POST /auth/login',
  me: 'GET /auth/me',
  products: 'GET /api/products',
  search: 'GET /api/products/search',
  product: 'GET /api/products/:id',
  cart: 'GET /api/cart',
  addToCart: 'POST /api/cart/items',
  order: 'POST /api/orders',
  pay: 'POST /api/orders/:id/pay',
} as const

/** Words of the seeded catalogue (app/seed/generate.ts), so searches find something. */
export const SEARCH_TERMS: readonly string[] = [
  'kettle',
  'lamp',
  'wireless speaker',
  'oak',
  'linen',
  'copper',
  'backpack',
  'keyboard',
  'vintage',
  'portable',
  'yoga mat',
  'notebook',
  'tent',
  'ceramic teapot',
] as const
const SORTS = [
  { sort: 'created_at', order: 'desc' },
  { sort: 'price', order: 'asc' },
  { sort: 'price', order: 'desc' },
  { sort: 'name', order: 'asc' },
] as const

interface ProductRow {
  id: number
  name: string
  price: string
}
interface Listing {
  data: ProductRow[]
  pagination: { nextCursor?: string | null; hasMore: boolean }
}
interface Product extends ProductRow {
  stock: number
}
interface Cart {
  count: number
  total: string
}
interface Order {
  id: number
  status: string
  total: string
}

/** A VU's account and session, kept in `vu.state` across iterations. */
interface Session {
  email?: string
  password?: string
  userId?: number
  token?: string
  /** No sign-in attempt before this (epoch ms): after a 429 or a failed registration. */
  retryAt: number
}

/** One VU in ten buys: ids 1, 11, 21…, so even a one-VU scaled run has a buyer. */
export function isBuyer(vu: VU): boolean {
  return vu.id % 10 === 1
}

export function think(vu: VU): Promise<void> {
  return vu.think([THINK_MS[0] * THINK_SCALE, THINK_MS[1] * THINK_SCALE])
}

/** The parsed body, or undefined (a 503 page, a cut body): a bad answer fails a check, not the iteration. */
function body<T>(r: Response): T | undefined {
  try {
    return r.json<T>()
  } catch {
    return undefined
  }
}

function session(vu: VU): Session {
  let s = vu.state.session as Session | undefined
  if (s === undefined) {
    s = { retryAt: 0 }
    vu.state.session = s
  }
  return s
}

/**
 * Only the requests that need the session carry it: a public catalogue
 * request with credentials bypasses the shop's response cache.
 */
function auth(s: Session): Record<string, string> {
  return { authorization: `Bearer ${s.token}` }
}

/** A 401 means the session is gone (expired, logged out): sign in again next time. */
function dropOn401(s: Session, r: Response): void {
  if (r.status === 401) s.token = undefined
}

/**
 * Registers a fresh account once per VU, then logs in and reads the profile.
 * Never throws for an HTTP answer: a buyer that could not sign in browses and
 * tries again later, so a refusal does not turn into a tight retry loop.
 * Every request comes from one address, so past the shop's per-address login
 * limit (30 a minute) logins get 429 with Retry-After: an answer of the shop,
 * not a failure, and the VU waits that long.
 */
export async function signIn(vu: VU): Promise<boolean> {
  const s = session(vu)
  if (s.token !== undefined) return true
  if (Date.now() < s.retryAt) return false
  return vu.group('sign-in', async () => {
    if (s.email === undefined) {
      const email = `load-${randomUUID()}@example.org`
      const password = `Hp-${randomUUID()}`
      const r = await vu.post(
        '/auth/register',
        { email, password, name: `Load VU ${vu.id}` },
        { name: ROUTES.register, expect: [201] },
      )
      const user = body<{ id: number }>(r)
      const ok = vu.check(r, { 'registered (201)': (x) => x.status === 201 && user !== undefined })
      if (!ok || user === undefined) {
        s.retryAt = Date.now() + 30_000
        return false
      }
      Object.assign(s, { email, password, userId: user.id })
    }
    const r = await vu.post(
      '/auth/login',
      { email: s.email, password: s.password },
      { name: ROUTES.login, expect: [200, 429] },
    )
    if (r.status === 429) {
      const after = Number(r.headers['retry-after'])
      s.retryAt = Date.now() + (Number.isFinite(after) && after > 0 ? after : 60) * 1000
      return false
    }
    const login = body<{ token: string; user: { id: number } }>(r)
    const ok = vu.check(r, {
      'logged in (200)': (x) => x.status === 200,
      'login returns a token': () => typeof login?.token === 'string',
    })
    if (!ok || login === undefined) {
      s.retryAt = Date.now() + 30_000
      return false
    }
    s.token = login.token
    const me = await vu.get('/auth/me', { name: ROUTES.me, headers: auth(s) })
    vu.check(me, {
      'profile (200)': (x) => x.status === 200,
      'profile is the user': () => body<{ id: number }>(me)?.id === s.userId,
    })
    dropOn401(s, me)
    return s.token !== undefined
  })
}

/** `init` of the shop's VU scenarios: buyers sign in before their first iteration. */
export async function init(vu: VU): Promise<void> {
  if (isBuyer(vu)) await signIn(vu)
}

/**
 * A visitor: a listing in some order, followed by its cursor a page or two,
 * a search, one product. Returns the products seen, for a buyer to choose from.
 */
export async function browse(vu: VU): Promise<ProductRow[]> {
  return vu.group('browse', async () => {
    const seen: ProductRow[] = []
    const order = vu.pick(SORTS)
    const pages = 1 + Math.floor(Math.random() * 3)
    let cursor: string | undefined
    for (let page = 1; page <= pages; page++) {
      const r = await vu.get('/api/products', {
        name: ROUTES.products,
        query: { ...order, limit: 20, ...(cursor === undefined ? {} : { cursor }) },
      })
      const listing = body<Listing>(r)
      vu.check(r, {
        'products listed (200)': (x) => x.status === 200,
        'a page of products': () => Array.isArray(listing?.data) && listing.data.length > 0,
      })
      await think(vu)
      if (listing === undefined || !Array.isArray(listing.data)) break
      seen.push(...listing.data)
      cursor = listing.pagination?.nextCursor ?? undefined
      if (!listing.pagination?.hasMore || cursor === undefined) break
    }

    const q = vu.pick(SEARCH_TERMS)
    const found = await vu.get('/api/products/search', {
      name: ROUTES.search,
      query: { q, limit: 20 },
    })
    const hits = body<Listing>(found)
    vu.check(found, {
      'search answered (200)': (x) => x.status === 200,
      'search returns a list': () => Array.isArray(hits?.data),
    })
    if (Array.isArray(hits?.data)) seen.push(...hits.data)
    await think(vu)

    if (seen.length > 0) await viewProduct(vu, vu.pick(seen).id)
    return seen
  })
}

async function viewProduct(vu: VU, id: number): Promise<Product | undefined> {
  const r = await vu.get(`/api/products/${id}`, { name: ROUTES.product })
  const product = body<Product>(r)
  vu.check(r, {
    'product shown (200)': (x) => x.status === 200,
    'the product asked for': () => product?.id === id,
  })
  await think(vu)
  return r.status === 200 ? product : undefined
}

/** Cart, order (with an Idempotency-Key and the total the user saw), payment. */
async function buy(vu: VU, s: Session, seen: readonly ProductRow[]): Promise<void> {
  await vu.group('buy', async () => {
    // The product page shows the stock: a user buys one that has some.
    let product: Product | undefined
    for (let tries = 0; tries < 3 && product === undefined && seen.length > 0; tries++) {
      const p = await viewProduct(vu, vu.pick(seen).id)
      if (p !== undefined && p.stock > 0) product = p
    }
    if (product === undefined) return

    const added = await vu.post(
      '/api/cart/items',
      { productId: product.id, quantity: 1 },
      { name: ROUTES.addToCart, headers: auth(s) },
    )
    vu.check(added, { 'added to cart (200)': (x) => x.status === 200 })
    dropOn401(s, added)
    await think(vu)
    if (!added.ok) return

    const viewed = await vu.get('/api/cart', { name: ROUTES.cart, headers: auth(s) })
    const cart = body<Cart>(viewed)
    vu.check(viewed, {
      'cart shown (200)': (x) => x.status === 200,
      'cart holds the item': () => (cart?.count ?? 0) >= 1,
    })
    dropOn401(s, viewed)
    await think(vu)
    if (!viewed.ok || cart === undefined) return

    const placed = await vu.post(
      '/api/orders',
      { expectedTotal: cart.total },
      {
        name: ROUTES.order,
        headers: { ...auth(s), 'idempotency-key': `load-${vu.id}-${randomUUID()}` },
        expect: [201],
      },
    )
    const order = body<Order>(placed)
    vu.check(placed, {
      'order placed (201)': (x) => x.status === 201,
      'order is pending at the cart total': () =>
        order?.status === 'pending' && order.total === cart.total,
    })
    dropOn401(s, placed)
    await think(vu)
    if (placed.status !== 201 || order === undefined) return

    // 402 is the provider declining (SHOP_PAYMENT_FAILURE_RATE): an answer, not a failure.
    const paid = await vu.post(`/api/orders/${order.id}/pay`, undefined, {
      name: ROUTES.pay,
      headers: auth(s),
      expect: [200, 402],
    })
    vu.check(paid, {
      'payment settled (200 paid or 402 declined)': (x) =>
        (x.status === 200 && body<Order>(x)?.status === 'paid') || x.status === 402,
    })
    dropOn401(s, paid)
    await think(vu)
  })
}

/** The journey of the shop's VU scenarios: everyone browses; buyers with a session buy. */
export async function shopper(vu: VU): Promise<void> {
  const seen = await browse(vu)
  if (!isBuyer(vu)) return
  // A buyer refused at sign-in (429) has browsed meanwhile and tries again once allowed.
  if (!(await signIn(vu))) return
  await buy(vu, session(vu), seen)
}

/** The arrival-rate journey: one listing and one product, no think (the rate paces it). */
export async function glance(vu: VU): Promise<void> {
  const r = await vu.get('/api/products', { name: ROUTES.products, query: { limit: 20 } })
  const listing = body<Listing>(r)
  vu.check(r, {
    'products listed (200)': (x) => x.status === 200,
    'a page of products': () => Array.isArray(listing?.data) && listing.data.length > 0,
  })
  const first = listing?.data?.[0]
  if (first === undefined) return
  const p = await vu.get(`/api/products/${first.id}`, { name: ROUTES.product })
  vu.check(p, {
    'product shown (200)': (x) => x.status === 200,
    'the product asked for': () => body<Product>(p)?.id === first.id,
  })
}

/**
 * p95 bars per route, ms. 001: get_product 200, search 300, create_order
 * 2000, process_payment 3000; 003: API responses 200 (the listing).
 */
export const ROUTE_P95: Readonly<Record<string, number>> = {
  [ROUTES.products]: 200,
  [ROUTES.product]: 200,
  [ROUTES.search]: 300,
  [ROUTES.order]: 2000,
  [ROUTES.pay]: 3000,
}

/**
 * 004's auth targets, "at normal load", timed to the successful answer
 * ("time to return 201", "… session token"): register 500, login 200, me 100.
 */
export const AUTH_P95: Readonly<Record<string, number>> = {
  [`${ROUTES.register},status:201`]: 500,
  [`${ROUTES.login},status:200`]: 200,
  [`${ROUTES.me},status:200`]: 100,
}

export interface ShopThresholdOptions {
  /** http_req_failed bar: 000's 1 % by default; 004 asks < 0.1 % at peak. */
  readonly errorRate?: number
  /** p95 bars by route name (a `,tag:value` suffix adds a filter). */
  readonly routes?: Readonly<Record<string, number>>
}

/**
 * The guides' bars: p95 < 500 ms overall (000, 001), under 1 % failed
 * requests (000), 99 % of checks passing, and a p95 bar per route.
 */
export function shopThresholds(o: ShopThresholdOptions = {}): Record<string, string[]> {
  const out: Record<string, string[]> = {
    http_req_duration: ['p(95)<500'],
    http_req_failed: [`rate<${o.errorRate ?? 0.01}`],
    checks: ['rate>0.99'],
  }
  for (const [route, ms] of Object.entries(o.routes ?? ROUTE_P95)) {
    out[`http_req_duration{name:${route}}`] = [`p(95)<${ms}`]
  }
  return out
}

/** 004's spike bar: graceful degradation, no 500 at all. */
export const NO_500: ThresholdsConfig = { 'http_reqs{status:500}': ['count<1'] }
