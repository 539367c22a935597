// Deterministic shop data: every table's rows as arrays in the column order
// given next to them, ready for db.batchInsert (COPY on PostgreSQL).
import { createPrng } from './prng.ts'

export interface SeedCounts {
  products: number
  users: number
  orders: number
}

export interface Table {
  table: string
  columns: readonly string[]
  rows: unknown[][]
}

/**
 * argon2id (m=19456, t=2, p=1: @node-rs/argon2's defaults) of "password".
 * Hashing 100,000 passwords would take minutes by design, so every seeded
 * user shares this one precomputed hash: they all log in with "password".
 */
export const SEED_PASSWORD = 'password'
export const SEED_PASSWORD_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$aG90cGF0aC1zaG9wLXNlZWQ$wIIY3M6LNdCK1r2Lu2KtDlOz7DwDMv1j+1g1SY0mT5s'

/** Seeded rows are dated within the year before this instant, so runs are identical. */
const EPOCH = Date.UTC(2026, 0, 1)
const YEAR_MS = 365 * 24 * 3600 * 1000

const CATEGORIES = [
  ['kitchen', 'Kitchen'],
  ['garden', 'Garden'],
  ['books', 'Books'],
  ['audio', 'Audio'],
  ['computers', 'Computers'],
  ['toys', 'Toys'],
  ['sports', 'Sports'],
  ['outdoor', 'Outdoor'],
  ['office', 'Office'],
  ['bath', 'Bath'],
  ['lighting', 'Lighting'],
  ['travel', 'Travel'],
] as const

const ADJECTIVES = [
  'Compact',
  'Classic',
  'Wireless',
  'Bamboo',
  'Steel',
  'Ceramic',
  'Rugged',
  'Smart',
  'Vintage',
  'Foldable',
  'Organic',
  'Portable',
  'Quiet',
  'Heavy-duty',
  'Minimal',
  'Deluxe',
]
const MATERIALS = ['oak', 'linen', 'copper', 'glass', 'wool', 'aluminium', 'cotton', 'walnut']
const NOUNS: Record<string, readonly string[]> = {
  kitchen: ['Kettle', 'Teapot', 'Knife', 'Skillet', 'Grinder', 'Blender'],
  garden: ['Trowel', 'Planter', 'Hose', 'Shears', 'Birdhouse', 'Rake'],
  books: ['Cookbook', 'Novel', 'Atlas', 'Notebook', 'Almanac', 'Journal'],
  audio: ['Headphones', 'Speaker', 'Turntable', 'Amplifier', 'Microphone', 'Radio'],
  computers: ['Keyboard', 'Mouse', 'Monitor', 'Dock', 'Webcam', 'Router'],
  toys: ['Puzzle', 'Kite', 'Robot', 'Train', 'Yo-yo', 'Blocks'],
  sports: ['Racket', 'Football', 'Bottle', 'Helmet', 'Jump rope', 'Yoga mat'],
  outdoor: ['Tent', 'Lantern', 'Backpack', 'Hammock', 'Compass', 'Stove'],
  office: ['Stapler', 'Desk lamp', 'Pen', 'Organizer', 'Chair', 'Whiteboard'],
  bath: ['Towel', 'Soap dish', 'Mirror', 'Bathrobe', 'Sponge', 'Scale'],
  lighting: ['Lamp', 'Bulb', 'Candle', 'Sconce', 'Pendant', 'String lights'],
  travel: ['Suitcase', 'Pillow', 'Adapter', 'Wallet', 'Duffel', 'Tag'],
}
const FIRST = ['Ada', 'Linus', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Margaret', 'Dennis']
const LAST = ['Lovelace', 'Torvalds', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Thompson']
const ORDER_STATES = [
  ['paid', 'succeeded'],
  ['paid', 'succeeded'],
  ['shipped', 'succeeded'],
  ['pending', 'unpaid'],
  ['failed', 'failed'],
  ['cancelled', 'unpaid'],
] as const

const money = (cents: number): string => (cents / 100).toFixed(2)
const at = (ms: number): string => new Date(ms).toISOString()

/** The whole shop for `counts` and `seed`, in insert order (parents first). */
export function generateShop(counts: SeedCounts, seed = 42): Table[] {
  const rnd = createPrng(seed)
  const categories: unknown[][] = CATEGORIES.map(([slug, name], i) => [i + 1, slug, name])

  const products: unknown[][] = []
  const inventory: unknown[][] = []
  const priceCents: number[] = [0]
  for (let id = 1; id <= counts.products; id++) {
    const c = rnd.int(0, CATEGORIES.length - 1)
    const slug = CATEGORIES[c]![0]
    const noun = rnd.pick(NOUNS[slug]!)
    const name = `${rnd.pick(ADJECTIVES)} ${noun} ${id}`
    const material = rnd.pick(MATERIALS)
    const description = `A ${name.toLowerCase()} in ${material}, from our ${slug} range.`
    const cents = rnd.int(199, 49_999)
    priceCents.push(cents)
    const created = at(EPOCH - rnd.next() * YEAR_MS)
    products.push([id, c + 1, name, description, money(cents), created, created])
    // About one product in ten is out of stock (the partial index skips them).
    inventory.push([id, rnd.next() < 0.1 ? 0 : rnd.int(1, 500)])
  }

  const users: unknown[][] = []
  for (let id = 1; id <= counts.users; id++) {
    const name = `${rnd.pick(FIRST)} ${rnd.pick(LAST)}`
    users.push([id, `user${id}@example.com`, SEED_PASSWORD_HASH, name, rnd.next() < 0.8])
  }

  const orders: unknown[][] = []
  const items: unknown[][] = []
  const payments: unknown[][] = []
  if (counts.users > 0 && counts.products > 0) {
    for (let id = 1; id <= counts.orders; id++) {
      const lines = new Map<number, number>()
      const n = rnd.int(1, Math.min(4, counts.products))
      while (lines.size < n) lines.set(rnd.int(1, counts.products), rnd.int(1, 3))
      let total = 0
      for (const [productId, quantity] of lines) {
        const unit = priceCents[productId]!
        total += unit * quantity
        items.push([id, productId, quantity, money(unit)])
      }
      const [status, paymentStatus] = rnd.pick(ORDER_STATES)
      const created = at(EPOCH - rnd.next() * YEAR_MS)
      const customer = rnd.int(1, counts.users)
      orders.push([id, customer, status, paymentStatus, money(total), created, created])
      if (paymentStatus !== 'unpaid') {
        payments.push([id, 'simulator', `sim_${id}`, money(total), paymentStatus, created])
      }
    }
  }

  return [
    { table: 'categories', columns: ['id', 'slug', 'name'], rows: categories },
    {
      table: 'products',
      columns: ['id', 'category_id', 'name', 'description', 'price', 'created_at', 'updated_at'],
      rows: products,
    },
    { table: 'inventory', columns: ['product_id', 'quantity'], rows: inventory },
    {
      table: 'users',
      columns: ['id', 'email', 'password_hash', 'name', 'verified'],
      rows: users,
    },
    {
      table: 'orders',
      columns: [
        'id',
        'customer_id',
        'status',
        'payment_status',
        'total',
        'created_at',
        'updated_at',
      ],
      rows: orders,
    },
    {
      table: 'order_items',
      columns: ['order_id', 'product_id', 'quantity', 'unit_price'],
      rows: items,
    },
    {
      table: 'payments',
      columns: ['order_id', 'provider', 'provider_ref', 'amount', 'status', 'created_at'],
      rows: payments,
    },
  ]
}
