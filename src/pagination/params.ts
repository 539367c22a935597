import { type ErrorCode, HotpathError } from '../errors.ts'
import { MAX_CURSOR_LENGTH } from './cursor.ts'
import { type Order, paginationDefaults, positiveInt } from './options.ts'
import { show } from './sql.ts'

/** Pagination parameters of one request, typed; `undefined` where the query had none. */
export interface PaginationParams {
  cursor: string | undefined
  limit: number | undefined
  sort: string | undefined
  order: Order | undefined
  page: number | undefined
}

export interface ParseOptions {
  /** Largest limit accepted. Default: 100. */
  maxLimit?: number
}

type Query = URLSearchParams | Readonly<Record<string, unknown>>

const SORT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/
const CURSOR = /^[A-Za-z0-9_-]+$/
const DIGITS = /^\d{1,15}$/

/**
 * Reads `cursor`, `limit`, `sort`, `order` and `page` from an HTTP query
 * (`request.query`, `URLSearchParams`, or `Object.fromEntries(url.searchParams)`)
 * and checks their form: empty means absent, a repeated parameter is refused,
 * numbers are plain digits. Whether the sort is allowed, and the cursor
 * genuine, is for `build` to say; both fail with the same 400-class codes.
 */
export function parsePaginationParams(query: Query, options: ParseOptions = {}): PaginationParams {
  const maxLimit = positiveInt('maxLimit', options.maxLimit, paginationDefaults.maxLimit)
  const get =
    query instanceof URLSearchParams
      ? (name: string): unknown => {
          const all = query.getAll(name)
          return all.length > 1 ? all : all[0]
        }
      : (name: string): unknown => (query === null || query === undefined ? undefined : query[name])

  const cursor = one(get('cursor'), 'HP_ERR_PAGINATION_INVALID_CURSOR')
  if (
    cursor !== undefined &&
    (typeof cursor !== 'string' || cursor.length > MAX_CURSOR_LENGTH || !CURSOR.test(cursor))
  ) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_CURSOR', ['not a cursor'])
  }

  const rawLimit = one(get('limit'), 'HP_ERR_PAGINATION_INVALID_LIMIT', maxLimit)
  const limit = integer(rawLimit)
  if (rawLimit !== undefined && (limit === undefined || limit < 1 || limit > maxLimit)) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_LIMIT', [show(rawLimit), maxLimit])
  }

  const rawPage = one(get('page'), 'HP_ERR_PAGINATION_INVALID_PAGE')
  const page = integer(rawPage)
  if (rawPage !== undefined && (page === undefined || page < 1)) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_PAGE', [show(rawPage)])
  }

  const sort = one(get('sort'), 'HP_ERR_PAGINATION_INVALID_SORT')
  if (sort !== undefined && (typeof sort !== 'string' || !SORT.test(sort))) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_SORT', [`unknown sort field ${show(sort)}`])
  }

  const rawOrder = one(get('order'), 'HP_ERR_PAGINATION_INVALID_SORT')
  let order: Order | undefined
  if (rawOrder !== undefined) {
    const o = typeof rawOrder === 'string' ? rawOrder.toLowerCase() : rawOrder
    if (o !== 'asc' && o !== 'desc') {
      throw new HotpathError('HP_ERR_PAGINATION_INVALID_SORT', [
        `order must be 'asc' or 'desc', got ${show(rawOrder)}`,
      ])
    }
    order = o
  }
  return {
    cursor: cursor as string | undefined,
    limit,
    sort: sort as string | undefined,
    order,
    page,
  }
}

/** The single value of a parameter; `undefined` when absent or empty. */
function one(value: unknown, code: ErrorCode, ...args: unknown[]): unknown {
  if (Array.isArray(value)) {
    if (value.length > 1) {
      const why = `${show(value)} (the parameter is repeated)`
      throw new HotpathError(
        code,
        code === 'HP_ERR_PAGINATION_INVALID_LIMIT' ? [why, ...args] : [why],
      )
    }
    value = value[0]
  }
  return value === undefined || value === null || value === '' ? undefined : value
}

function integer(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined
  if (typeof value === 'string' && DIGITS.test(value)) return Number(value)
  return undefined
}
