import { HotpathError } from '../errors.ts'
import { column, conjunction, fragments, type SqlFragment, show, table } from './sql.ts'

export type Order = 'asc' | 'desc'

/** A sort column with its properties; a plain string means `{ column, nullable: true }`. */
export interface SortColumn {
  readonly column: string
  /**
   * Whether the column may hold NULL. Declaring a `NOT NULL` column with
   * `nullable: false` saves the second index probe that fetches the NULL rows.
   * Default: `true`.
   */
  readonly nullable?: boolean
}

/** What both keyset and offset listings are made of. */
export interface ListingOptions {
  /** The table or view, optionally with a schema: `'products'`, `'shop.products'`. Required. */
  table: string
  /** The columns selected, in order. Default: all (`*`). Must include the primary key. */
  columns?: readonly string[]
  /** The columns a request may sort by; the primary key is always allowed. Default: none. */
  allowedSorts?: readonly (string | SortColumn)[]
  /** The unique, non-null column that breaks ties. Default: `'id'`. */
  primaryKey?: string
  /**
   * Order of the tie-breaker: `'same'` follows the sort (one row-value
   * comparison, an index on `(col, pk)` serves both orders); `'asc'` or
   * `'desc'` fix it (an expanded predicate; index on `(col DESC, pk)` for a
   * descending sort). Default: `'same'`.
   */
  primaryKeyOrder?: 'same' | Order
  /** Sort used when a request names none. Default: `[primaryKey, 'asc']`. */
  defaultSort?: string | readonly [string, Order]
  /** Filters every query of this listing gets, ANDed with the request's. Default: none. */
  where?: SqlFragment | readonly SqlFragment[]
  /** Rows per page when a request names no limit. Default: 20. */
  defaultLimit?: number
  /** Largest limit a request may ask for. Default: 100. */
  maxLimit?: number
}

/** Defaults, in one place; the README's option tables are tested against it. */
export const paginationDefaults = Object.freeze({
  primaryKey: 'id',
  primaryKeyOrder: 'same' as 'same' | Order,
  defaultLimit: 20,
  maxLimit: 100,
  maxDepth: 10_000,
  secretBytes: 32,
})

/** One allowed sort column, quoted, with its ORDER BY clauses built once. */
export interface SortPlan {
  readonly name: string
  readonly quoted: string
  readonly nullable: boolean
  /** Sorting by the primary key itself: one key column, no tie-breaker. */
  readonly isPrimaryKey: boolean
  /** ORDER BY for a scan with the sort column going `[column order]` and the key `[pk order]`. */
  readonly orderBy: Readonly<Record<Order, Readonly<Record<Order, string>>>>
}

export interface ResolvedListing {
  readonly table: string
  readonly tableName: string
  readonly columns: readonly string[] | null
  readonly primaryKey: string
  readonly quotedPk: string
  readonly primaryKeyOrder: 'same' | Order
  readonly sorts: ReadonlyMap<string, SortPlan>
  readonly defaultSort: { readonly plan: SortPlan; readonly order: Order }
  /** The listing's own filters, numbered from `$1`, and their values: the same for every query. */
  readonly where: string
  readonly whereValues: readonly unknown[]
  readonly defaultLimit: number
  readonly maxLimit: number
}

export function invalid(name: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [name, why])
}

export function positiveInt(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    throw invalid(name, `expected a positive integer, got ${show(value)}`)
  }
  return value
}

export function isOrder(value: unknown): value is Order {
  return value === 'asc' || value === 'desc'
}

export const flip = (o: Order): Order => (o === 'asc' ? 'desc' : 'asc')

// PostgreSQL's own default: NULL sorts as the largest value, last ascending,
// first descending. A plain index on (col, pk) stores them that way, so it
// serves both orders forwards and backwards without a Sort.
const by = (quoted: string, o: Order): string =>
  o === 'asc' ? `${quoted} ASC NULLS LAST` : `${quoted} DESC NULLS FIRST`

/** The tie-breaker's order for a listing sorted `order`. */
export function pkOrder(listing: ResolvedListing, order: Order): Order {
  return listing.primaryKeyOrder === 'same' ? order : listing.primaryKeyOrder
}

export function resolveListing(options: ListingOptions): ResolvedListing {
  if (options === null || typeof options !== 'object')
    throw invalid('options', 'expected an object')
  const quotedTable = table(options.table)
  const primaryKey = options.primaryKey ?? paginationDefaults.primaryKey
  const quotedPk = column(primaryKey, 'primaryKey')
  const primaryKeyOrder = options.primaryKeyOrder ?? paginationDefaults.primaryKeyOrder
  if (primaryKeyOrder !== 'same' && !isOrder(primaryKeyOrder)) {
    throw invalid(
      'primaryKeyOrder',
      `expected 'same', 'asc' or 'desc', got ${show(primaryKeyOrder)}`,
    )
  }

  let columns: string[] | null = null
  if (options.columns !== undefined) {
    if (!Array.isArray(options.columns) || options.columns.length === 0) {
      throw invalid('columns', 'expected a non-empty array of column names')
    }
    columns = options.columns.map((c: unknown) => column(c, 'columns'))
    // The envelope reads the primary key from each row to build cursors.
    if (!options.columns.includes(primaryKey)) {
      throw invalid('columns', `must include the primary key "${primaryKey}"`)
    }
  }

  const sorts = new Map<string, SortPlan>()
  const add = (name: string, nullable: boolean) => {
    const quoted = column(name, 'allowedSorts')
    const isPk = name === primaryKey
    const clause = (o: Order, pk: Order) =>
      isPk ? `${quotedPk} ${upper(o)}` : `${by(quoted, o)}, ${quotedPk} ${upper(pk)}`
    sorts.set(
      name,
      Object.freeze({
        name,
        quoted,
        nullable: nullable && !isPk,
        isPrimaryKey: isPk,
        orderBy: Object.freeze({
          asc: Object.freeze({ asc: clause('asc', 'asc'), desc: clause('asc', 'desc') }),
          desc: Object.freeze({ asc: clause('desc', 'asc'), desc: clause('desc', 'desc') }),
        }),
      }),
    )
  }
  add(primaryKey, false)
  if (options.allowedSorts !== undefined && !Array.isArray(options.allowedSorts)) {
    throw invalid('allowedSorts', 'expected an array of column names')
  }
  for (const s of options.allowedSorts ?? []) {
    if (typeof s === 'string') add(s, true)
    else if (s !== null && typeof s === 'object') {
      if (s.nullable !== undefined && typeof s.nullable !== 'boolean') {
        throw invalid(`allowedSorts.${String(s.column)}.nullable`, 'expected a boolean')
      }
      add(s.column, s.nullable ?? true)
    } else throw invalid('allowedSorts', `expected column names, got ${show(s)}`)
  }

  const ds = options.defaultSort ?? [primaryKey, 'asc']
  const [dsName, dsOrder] = typeof ds === 'string' ? [ds, 'asc' as const] : ds
  const dsPlan = sorts.get(dsName)
  if (dsPlan === undefined) throw invalid('defaultSort', `${show(dsName)} is not an allowed sort`)
  if (!isOrder(dsOrder)) throw invalid('defaultSort', `order must be 'asc' or 'desc'`)

  const whereValues: unknown[] = []
  const where = conjunction(fragments(options.where), whereValues)

  const maxLimit = positiveInt('maxLimit', options.maxLimit, paginationDefaults.maxLimit)
  const defaultLimit = positiveInt(
    'defaultLimit',
    options.defaultLimit,
    Math.min(paginationDefaults.defaultLimit, maxLimit),
  )
  if (defaultLimit > maxLimit)
    throw invalid('defaultLimit', `must not exceed maxLimit (${maxLimit})`)

  return Object.freeze({
    table: quotedTable,
    tableName: options.table,
    columns: columns === null ? null : Object.freeze(columns),
    primaryKey,
    quotedPk,
    primaryKeyOrder,
    sorts,
    defaultSort: Object.freeze({ plan: dsPlan, order: dsOrder }),
    where,
    whereValues: Object.freeze(whereValues),
    defaultLimit,
    maxLimit,
  })
}

function upper(o: Order): string {
  return o === 'asc' ? 'ASC' : 'DESC'
}
