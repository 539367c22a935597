import { HotpathError } from '../errors.ts'
import { isOrder, type Order, type ResolvedListing, type SortPlan } from './options.ts'
import { show } from './sql.ts'

export interface SortRequest {
  /** A column of `allowedSorts` (or the primary key), or `[column, order]`. Default: `defaultSort`. */
  sort?: string | readonly [string, Order]
  /** Default: `'asc'` when `sort` is given, else the order of `defaultSort`. */
  order?: Order
}

/** The sort a request asks for, checked against the listing's whitelist. */
export function resolveSort(
  listing: ResolvedListing,
  request: SortRequest,
  current?: string,
): { plan: SortPlan; order: Order } {
  const { sort, order } = request
  if (order !== undefined && !isOrder(order)) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_SORT', [
      `order must be 'asc' or 'desc', got ${show(order)}`,
    ])
  }
  if (sort === undefined) {
    if (current !== undefined) return { plan: listing.sorts.get(current)!, order: order ?? 'asc' }
    return { plan: listing.defaultSort.plan, order: order ?? listing.defaultSort.order }
  }
  let name: unknown = sort
  let resolved: Order = order ?? 'asc'
  if (Array.isArray(sort)) {
    const [n, o] = sort as readonly unknown[]
    if (!isOrder(o) || (order !== undefined && order !== o)) {
      throw new HotpathError('HP_ERR_PAGINATION_INVALID_SORT', [
        `expected [column, 'asc' | 'desc'], got ${show(sort)}`,
      ])
    }
    name = n
    resolved = o
  }
  const plan = typeof name === 'string' ? listing.sorts.get(name) : undefined
  if (plan === undefined) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_SORT', [
      `unknown sort field ${show(name)} (allowed: ${[...listing.sorts.keys()].join(', ')})`,
    ])
  }
  return { plan, order: resolved }
}

/** The page size: the default when absent, else an integer from 1 to `maxLimit`. */
export function checkLimit(listing: ResolvedListing, limit: unknown): number {
  if (limit === undefined || limit === null) return listing.defaultLimit
  if (
    typeof limit !== 'number' ||
    !Number.isInteger(limit) ||
    limit < 1 ||
    limit > listing.maxLimit
  ) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_LIMIT', [show(limit), listing.maxLimit])
  }
  return limit
}

export function selectList(listing: ResolvedListing): string {
  return listing.columns === null ? '*' : listing.columns.join(', ')
}
