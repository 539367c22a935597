import { HotpathError } from '../errors.ts'
import type { CursorCodec, CursorValue, Direction } from './cursor.ts'
import type { KeysetPage, KeysetQuery } from './keyset.ts'
import type { ResolvedListing, SortPlan } from './options.ts'

/**
 * The column, added to each selected row, that carries the sort value as
 * PostgreSQL prints it. Cursors hold that text, so every type comes back
 * exactly: a timestamptz keeps its microseconds (a JS Date would not), a
 * numeric its digits. `envelope` removes it from the rows.
 */
export const SORT_KEY_COLUMN = '__hp_sort'

type Row = Record<string, unknown>

/**
 * Trims the extra row, restores listing order for a previous page, removes the
 * sort key column and signs cursors at the first and last rows shown.
 */
export function envelope<T extends object>(
  listing: ResolvedListing,
  codec: CursorCodec,
  rows: readonly T[],
  query: KeysetQuery,
): KeysetPage<T> {
  const plan =
    query === null || typeof query !== 'object' ? undefined : listing.sorts.get(query.sort)
  if (plan === undefined) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', [
      'the query is not one of this listing',
    ])
  }
  if (!Array.isArray(rows))
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', ['expected an array'])
  if (rows.length > query.fetchLimit) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', [
      `${rows.length} rows, the query fetches at most ${query.fetchLimit}`,
    ])
  }
  const hasMore = rows.length > query.limit
  const count = hasMore ? query.limit : rows.length
  const backwards = query.direction === 'prev'
  const data = new Array<T>(count)
  for (let i = 0; i < count; i++) {
    const row = rows[i] as T
    data[backwards ? count - 1 - i : i] = plan.isPrimaryKey ? row : strip(row)
  }
  let nextCursor: string | null = null
  let prevCursor: string | null = null
  if (count > 0) {
    const first = rows[backwards ? count - 1 : 0] as Row
    const last = rows[backwards ? 0 : count - 1] as Row
    // Beyond the page in the direction of travel: the extra row says. Behind
    // it: rows exist if the query started from a cursor.
    if (backwards ? query.fromCursor : hasMore) {
      nextCursor = cursorAt(listing, codec, plan, query, 'next', last)
    }
    if (backwards ? hasMore : query.fromCursor) {
      prevCursor = cursorAt(listing, codec, plan, query, 'prev', first)
    }
  }
  return { data, pagination: { limit: query.limit, nextCursor, prevCursor, hasMore } }
}

function strip<T extends object>(row: T): T {
  const { [SORT_KEY_COLUMN]: _key, ...rest } = row as Row
  return rest as T
}

function cursorAt(
  listing: ResolvedListing,
  codec: CursorCodec,
  plan: SortPlan,
  query: KeysetQuery,
  direction: Direction,
  row: Row,
): string {
  if (row === null || typeof row !== 'object') {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', ['rows must be objects'])
  }
  const pk = row[listing.primaryKey] as CursorValue | undefined
  if (pk === undefined || pk === null) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', [
      `a row has no primary key "${listing.primaryKey}"`,
    ])
  }
  let key: CursorValue[]
  if (plan.isPrimaryKey) key = [pk]
  else {
    const v = row[SORT_KEY_COLUMN]
    if (v !== null && typeof v !== 'string') {
      throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', [
        `a row has no "${SORT_KEY_COLUMN}" column: pass the rows of this query`,
      ])
    }
    key = [v, pk]
  }
  return codec.encode({ direction, sort: plan.name, order: query.order, key })
}
