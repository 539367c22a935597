import { HotpathError } from '../errors.ts'
import {
  invalid,
  type ListingOptions,
  type Order,
  paginationDefaults,
  pkOrder,
  positiveInt,
  type ResolvedListing,
  resolveListing,
} from './options.ts'
import { checkLimit, resolveSort, type SortRequest, selectList } from './request.ts'
import { conjunction, fragments, type SqlFragment, show } from './sql.ts'

export interface OffsetOptions extends ListingOptions {
  /** The deepest row a page may reach (`page × limit`); deeper pages are refused. Default: 10_000. */
  maxDepth?: number
}

export interface OffsetRequest extends SortRequest {
  /** 1-based page number. Default: 1. */
  page?: number
  /** Rows per page, 1 to `maxLimit`. Default: `defaultLimit`. */
  limit?: number
  /** Filters for this request, ANDed with the listing's `where`. */
  where?: SqlFragment | readonly SqlFragment[]
}

export interface OffsetQuery {
  readonly text: string
  readonly values: unknown[]
  readonly page: number
  readonly limit: number
  /** `limit + 1`: the extra row tells whether there is more. */
  readonly fetchLimit: number
  readonly offset: number
  readonly sort: string
  readonly order: Order
  /** `SELECT count(*) AS "total"` under the same filters, for a total-aware envelope. */
  readonly count: { readonly text: string; readonly values: unknown[] }
}

export interface OffsetPageInfo {
  readonly page: number
  readonly limit: number
  readonly hasMore: boolean
  /** Rows matching the filters, when a count was passed to `envelope`; else `null`. */
  readonly total: number | null
  /** `ceil(total / limit)`, or `null` without a count. */
  readonly totalPages: number | null
  /** The last page `maxDepth` allows at this limit. */
  readonly maxPage: number
}

export interface OffsetPage<T> {
  readonly data: T[]
  readonly pagination: OffsetPageInfo
}

export interface OffsetListing {
  build(request?: OffsetRequest): OffsetQuery
  /** `total` is the count query's result: a number, or the string pg returns for `bigint`. */
  envelope<T extends object>(
    rows: readonly T[],
    query: OffsetQuery,
    total?: number | bigint | string,
  ): OffsetPage<T>
}

/**
 * Page-number pagination for small sets (admin tables, short lists): the
 * database still reads and discards every skipped row, so depth is bounded.
 */
export function createOffset(options: OffsetOptions): OffsetListing {
  const listing = resolveListing(options)
  const maxDepth = positiveInt('maxDepth', options.maxDepth, paginationDefaults.maxDepth)
  // Deeper limits fail per request; the default one must at least reach page 1.
  if (maxDepth < listing.defaultLimit) {
    throw invalid('maxDepth', `must be at least defaultLimit (${listing.defaultLimit})`)
  }
  const select = selectList(listing)
  return Object.freeze({
    build: (request: OffsetRequest = {}) => build(listing, maxDepth, select, request),
    envelope: <T extends object>(
      rows: readonly T[],
      query: OffsetQuery,
      total?: number | bigint | string,
    ) => envelope(maxDepth, rows, query, total),
  })
}

/** One-off form of `createOffset(options).build(request)`, with its `envelope`. */
export function offsetPage(options: OffsetOptions & OffsetRequest): OffsetQuery & {
  envelope<T extends object>(rows: readonly T[], total?: number | bigint | string): OffsetPage<T>
} {
  const listing = createOffset(options)
  // `where` belongs to the listing here: passed to build as well, it would apply twice.
  const { page, limit, sort, order } = options
  const query = listing.build({ page, limit, sort, order })
  return Object.freeze({
    ...query,
    envelope: <T extends object>(rows: readonly T[], total?: number | bigint | string) =>
      listing.envelope(rows, query, total),
  })
}

function build(
  listing: ResolvedListing,
  maxDepth: number,
  select: string,
  request: OffsetRequest,
): OffsetQuery {
  if (request === null || typeof request !== 'object') {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['request', 'expected an object'])
  }
  const limit = checkLimit(listing, request.limit)
  const page = request.page ?? 1
  if (typeof page !== 'number' || !Number.isSafeInteger(page) || page < 1) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_PAGE', [show(page)])
  }
  if (page * limit > maxDepth) {
    throw new HotpathError('HP_ERR_PAGINATION_TOO_DEEP', [page, limit, maxDepth])
  }
  const { plan, order } = resolveSort(listing, request)
  // The listing's filters take $1…$n; the request's are numbered after them.
  const values = [...listing.whereValues]
  const extra = conjunction(fragments(request.where), values)
  const filter = listing.where && extra ? `${listing.where} AND ${extra}` : listing.where || extra
  const from = `${listing.table}${filter ? ` WHERE ${filter}` : ''}`
  const offset = (page - 1) * limit
  const orderBy = plan.orderBy[order][pkOrder(listing, order)]
  return Object.freeze({
    text: `SELECT ${select} FROM ${from} ORDER BY ${orderBy} LIMIT ${limit + 1} OFFSET ${offset}`,
    values,
    page,
    limit,
    fetchLimit: limit + 1,
    offset,
    sort: plan.name,
    order,
    count: Object.freeze({ text: `SELECT count(*) AS "total" FROM ${from}`, values: [...values] }),
  })
}

function envelope<T extends object>(
  maxDepth: number,
  rows: readonly T[],
  query: OffsetQuery,
  total: number | bigint | string | undefined,
): OffsetPage<T> {
  if (!Array.isArray(rows))
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', ['expected an array'])
  if (rows.length > query.fetchLimit) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', [
      `${rows.length} rows, the query fetches at most ${query.fetchLimit}`,
    ])
  }
  let count: number | null = null
  if (total !== undefined && total !== null) {
    count = Number(total)
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', [
        `total ${show(total)} is not a count`,
      ])
    }
  }
  const hasMore = rows.length > query.limit
  return {
    data: hasMore ? rows.slice(0, query.limit) : rows.slice(),
    pagination: {
      page: query.page,
      limit: query.limit,
      hasMore,
      total: count,
      totalPages: count === null ? null : Math.ceil(count / query.limit),
      maxPage: Math.floor(maxDepth / query.limit),
    },
  }
}
