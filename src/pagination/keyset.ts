import { HotpathError } from '../errors.ts'
import {
  type CursorCodec,
  type CursorValue,
  createCursorCodec,
  type Direction,
  type Secret,
} from './cursor.ts'
import { envelope, SORT_KEY_COLUMN } from './envelope.ts'
import {
  flip,
  invalid,
  type ListingOptions,
  type Order,
  pkOrder,
  type ResolvedListing,
  resolveListing,
  type SortPlan,
} from './options.ts'
import { checkLimit, resolveSort, type SortRequest, selectList } from './request.ts'
import { conjunction, fragments, type SqlFragment, show } from './sql.ts'

export interface KeysetOptions extends ListingOptions {
  /** HMAC key for cursors, ≥ 32 bytes; a list rotates keys (the first signs). Required. */
  secret: Secret | readonly Secret[]
  /** Binds cursors to this listing: listings of one table with different names refuse each other's cursors. Default: none (the table alone). */
  name?: string
}

export interface KeysetRequest extends SortRequest {
  /** A cursor from a previous envelope; absent, empty or `null` means the first page. */
  cursor?: string | null
  /** Rows per page, 1 to `maxLimit`. Default: `defaultLimit`. */
  limit?: number
  /**
   * Without a cursor, `'prev'` fetches the last page. With one, the cursor's
   * own direction is used and a different one here is an error. Default: `'next'`.
   */
  direction?: Direction
  /** Filters for this request, ANDed with the listing's `where`. */
  where?: SqlFragment | readonly SqlFragment[]
}

/** A query to run (`pool.query(q)` or `pool.query(q.text, q.values)`), and what `envelope` needs. */
export interface KeysetQuery {
  readonly text: string
  readonly values: unknown[]
  /** Rows per page. */
  readonly limit: number
  /** `limit + 1`: the extra row tells whether there is more. */
  readonly fetchLimit: number
  readonly sort: string
  readonly order: Order
  readonly direction: Direction
  /** Whether the query starts from a cursor (there are rows before it, in its direction). */
  readonly fromCursor: boolean
}

export interface PageInfo {
  readonly limit: number
  /** Fetches the rows after this page; `null` on the last page. */
  readonly nextCursor: string | null
  /** Fetches the rows before this page; `null` on the first page. */
  readonly prevCursor: string | null
  /** More rows lie beyond this page in the direction it was fetched. */
  readonly hasMore: boolean
}

export interface KeysetPage<T> {
  readonly data: T[]
  readonly pagination: PageInfo
}

export interface KeysetListing {
  build(request?: KeysetRequest): KeysetQuery
  envelope<T extends object>(rows: readonly T[], query: KeysetQuery): KeysetPage<T>
}

/**
 * A keyset-paginated listing, created once: validates and quotes the names,
 * builds ORDER BY clauses and derives the cursor key up front, so `build`
 * only assembles strings and `envelope` only slices rows.
 */
export function createKeyset(options: KeysetOptions): KeysetListing {
  const listing = resolveListing(options)
  if (options.name !== undefined && (typeof options.name !== 'string' || options.name === '')) {
    throw invalid('name', 'expected a non-empty string')
  }
  const codec = createCursorCodec({
    secret: options.secret,
    // Anything that changes what a position means invalidates old cursors.
    context: `${listing.tableName}\u0000${options.name ?? ''}\u0000${listing.primaryKey}\u0000${listing.primaryKeyOrder}`,
  })
  const selects = new Map<string, string>()
  for (const plan of listing.sorts.values()) {
    const extra = plan.isPrimaryKey ? '' : `, ${plan.quoted}::text AS "${SORT_KEY_COLUMN}"`
    selects.set(plan.name, selectList(listing) + extra)
  }

  return Object.freeze({
    build: (request: KeysetRequest = {}) => build(listing, codec, selects, request),
    envelope: <T extends object>(rows: readonly T[], query: KeysetQuery) =>
      envelope(listing, codec, rows, query),
  })
}

/** One-off form of `createKeyset(options).build(request)`, with its `envelope`. Prefer a listing created once. */
export function keysetPage(
  options: KeysetOptions & KeysetRequest,
): KeysetQuery & { envelope<T extends object>(rows: readonly T[]): KeysetPage<T> } {
  const listing = createKeyset(options)
  // `where` belongs to the listing here: passed to build as well, it would apply twice.
  const { cursor, limit, sort, order, direction } = options
  const query = listing.build({ cursor, limit, sort, order, direction })
  return Object.freeze({
    ...query,
    envelope: <T extends object>(rows: readonly T[]) => listing.envelope(rows, query),
  })
}

function build(
  listing: ResolvedListing,
  codec: CursorCodec,
  selects: ReadonlyMap<string, string>,
  request: KeysetRequest,
): KeysetQuery {
  if (request === null || typeof request !== 'object') {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['request', 'expected an object'])
  }
  const limit = checkLimit(listing, request.limit)
  const fetchLimit = limit + 1
  if (
    request.direction !== undefined &&
    request.direction !== 'next' &&
    request.direction !== 'prev'
  ) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['direction', `expected 'next' or 'prev'`])
  }
  const cursor = request.cursor
  let plan: SortPlan
  let order: Order
  let direction: Direction
  let position: readonly CursorValue[] | null = null
  if (cursor === undefined || cursor === null || cursor === '') {
    ;({ plan, order } = resolveSort(listing, request))
    direction = request.direction ?? 'next'
  } else {
    const payload = codec.decode(cursor)
    const p = listing.sorts.get(payload.sort)
    if (p === undefined) throw badCursor(`sort ${show(payload.sort)} is no longer allowed`)
    plan = p
    order = payload.order
    direction = payload.direction
    // A cursor is a position in one ordering: asking for another one with it is a client bug.
    if (request.sort !== undefined || request.order !== undefined) {
      // Only what the request names is compared: `?sort=x&cursor=…` keeps the cursor's order.
      const asked = resolveSort(
        listing,
        {
          sort: request.sort,
          order: request.order ?? (Array.isArray(request.sort) ? undefined : order),
        },
        plan.name,
      )
      if (asked.plan !== plan || asked.order !== order) {
        throw badCursor(`it was made for sort ${plan.name} ${order}`)
      }
    }
    if (request.direction !== undefined && request.direction !== direction) {
      throw badCursor(`it fetches the ${direction} page`)
    }
    const arity = plan.isPrimaryKey ? 1 : 2
    const pk = payload.key[arity - 1]
    if (payload.key.length !== arity || pk === null || pk === undefined) {
      throw badCursor('malformed key')
    }
    if (!plan.isPrimaryKey && payload.key[0] !== null && typeof payload.key[0] !== 'string') {
      throw badCursor('malformed key')
    }
    position = payload.key
  }

  // The listing's filters take $1…$n; the request's are numbered after them.
  const values = [...listing.whereValues]
  const extra = conjunction(fragments(request.where), values)
  const filter = listing.where && extra ? `${listing.where} AND ${extra}` : listing.where || extra

  // A previous page is the next page of the reversed ordering, read back to front.
  const sortDir = direction === 'next' ? order : flip(order)
  const pkDir = direction === 'next' ? pkOrder(listing, order) : flip(pkOrder(listing, order))
  const orderBy = plan.orderBy[sortDir][pkDir]
  const select = selects.get(plan.name)!

  let range = ''
  let rest = ''
  if (position !== null) {
    ;[range, rest] = predicate(listing, plan, position, sortDir, pkDir, values)
  }

  let text: string
  if (rest === '') {
    const conds = filter && range ? `${filter} AND ${range}` : filter || range
    text = `SELECT ${select} FROM ${listing.table}${conds ? ` WHERE ${conds}` : ''} ORDER BY ${orderBy} LIMIT ${fetchLimit}`
  } else {
    // Two index ranges, each cut at fetchLimit, merged in order: PostgreSQL
    // plans a Merge Append of two short index scans. One OR-ed predicate
    // would scan the index from its start, or sort every row that follows.
    const branch = (cond: string) =>
      `(SELECT * FROM ${listing.table} WHERE ${filter ? `${filter} AND ` : ''}${cond} ORDER BY ${orderBy} LIMIT ${fetchLimit})`
    text = `SELECT ${select} FROM (${branch(range)} UNION ALL ${branch(rest)}) AS "__hp_page" ORDER BY ${orderBy} LIMIT ${fetchLimit}`
  }

  return Object.freeze({
    text,
    values,
    limit,
    fetchLimit,
    sort: plan.name,
    order,
    direction,
    fromCursor: position !== null,
  })
}

/**
 * The rows after `position` in the scan order, as two disjoint conditions:
 * the rest of the position's own zone (non-NULL or NULL sort values), and the
 * whole zone that follows it, if any. NULL sorts as the largest value, so an
 * ascending scan meets the NULL zone last and a descending scan first.
 */
function predicate(
  listing: ResolvedListing,
  plan: SortPlan,
  position: readonly CursorValue[],
  sortDir: Order,
  pkDir: Order,
  values: unknown[],
): [range: string, rest: string] {
  const pk = listing.quotedPk
  const pkOp = pkDir === 'asc' ? '>' : '<'
  if (plan.isPrimaryKey) {
    values.push(position[0])
    return [`${pk} ${sortDir === 'asc' ? '>' : '<'} $${values.length}`, '']
  }
  const col = plan.quoted
  const v = position[0]
  if (v === null) {
    values.push(position[1])
    return [
      `${col} IS NULL AND ${pk} ${pkOp} $${values.length}`,
      sortDir === 'desc' ? `${col} IS NOT NULL` : '',
    ]
  }
  values.push(v, position[1])
  const $v = `$${values.length - 1}`
  const $k = `$${values.length}`
  const op = sortDir === 'asc' ? '>' : '<'
  const range =
    sortDir === pkDir
      ? `(${col}, ${pk}) ${op} (${$v}, ${$k})`
      : // Mixed directions: no row comparison fits. The outer bound gives the
        // index a start; the rest filters the few rows equal to the cursor's.
        `${col} ${op}= ${$v} AND (${col} ${op} ${$v} OR ${pk} ${pkOp} ${$k})`
  return [range, sortDir === 'asc' && plan.nullable ? `${col} IS NULL` : '']
}

function badCursor(why: string): HotpathError {
  return new HotpathError('HP_ERR_PAGINATION_INVALID_CURSOR', [why])
}
