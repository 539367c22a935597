import { AsyncLocalStorage } from 'node:async_hooks'
import { randomBytes } from 'node:crypto'
import { createCursorCodec, type Direction, type Secret } from '../pagination/cursor.ts'
import {
  createKeyset,
  type KeysetListing,
  type KeysetPage,
  type KeysetQuery,
} from '../pagination/keyset.ts'
import type { Order } from '../pagination/options.ts'
import { parsePaginationParams } from '../pagination/params.ts'
import type { SqlFragment } from '../pagination/sql.ts'
import { performanceConfig } from './config.ts'
import { stateError } from './units.ts'

/** What `parsePaginationParams` reads from `req.query`, with the guides' names. */
export interface GuidePaginationParams {
  cursor: string | undefined
  /** The request's limit, else `defaultLimit` (20). */
  limit: number
  /** `?sort=`; absent: the cursor's sort, else the primary key. */
  sortField: string | undefined
  /** `?order=` (`asc` / `desc`, any case). */
  sortOrder: Order | undefined
  page: number | undefined
}

/** The listing: which table, what is selected, and what a request may sort by. */
export interface ListingShape {
  /** Table or view, optionally `schema.table`; checked and quoted. */
  table: string
  /** Columns selected (must include the primary key). Default: all. */
  columns?: readonly string[]
  /** Columns a request may sort by. Default: `columns`, else only the primary key. */
  allowedSorts?: readonly string[]
  /** The unique tie-breaker. Default: `'id'`. */
  primaryKey?: string
}

export interface CursorRequest {
  /** A cursor from a previous response; absent or empty: the first page. */
  cursor?: string | null
  /** 1 to `maxLimit` (100). Default: `defaultLimit` (20). */
  limit?: number
  /** Default: the cursor's sort, else the primary key. */
  sortField?: string
  /** Default: `'asc'`, or the cursor's order. */
  sortOrder?: Order
  /** Without a cursor, `'prev'` fetches the last page. */
  direction?: Direction
}

export interface CursorQueryOptions extends ListingShape, CursorRequest {
  /** A filter for this request: `{ text: 'status = $1', values: ['active'] }`. */
  where?: SqlFragment | readonly SqlFragment[]
}

export interface CursorQuery {
  /** The SQL: `SELECT … ORDER BY … LIMIT fetchLimit`, names quoted. */
  query: string
  params: unknown[]
  limit: number
  /** `limit + 1`: the extra row says whether there is more. */
  fetchLimit: number
  sortField: string
  sortOrder: Order
  direction: Direction
}

export type ResponseOptions = CursorRequest & Partial<ListingShape>

export interface PaginationSettings {
  /** Signs cursors: ≥ 32 bytes; a list rotates keys. Default: `HOTPATH_CURSOR_SECRET`, else random per process. */
  secret?: Secret | readonly Secret[]
  defaultLimit?: number
  maxLimit?: number
}

const MAX_LISTINGS = 256

/**
 * The guides' `paginationService` over hotpath's keyset listings
 * (`createKeyset`): names checked and quoted, a unique tie-breaker, signed
 * cursors. A listing is made once per table shape and reused.
 */
export class PaginationService {
  #settings: PaginationSettings = {}
  #secret: Secret | readonly Secret[] | null = null
  readonly #listings = new Map<string, KeysetListing>()
  readonly #built = new WeakMap<object, { listing: KeysetListing; query: KeysetQuery }>()
  // The listing of the last buildCursorQuery in this request (async context),
  // for createPaginatedResponse calls that, as in the guides, name no table.
  readonly #last = new AsyncLocalStorage<KeysetListing>()

  /**
   * Sets the cursor secret and limits; listings made before are dropped. Without
   * a secret from here or `HOTPATH_CURSOR_SECRET`, a random one is made per
   * process: cursors then die with the process and fail on other instances.
   */
  configure(settings: PaginationSettings): void {
    if (settings.secret !== undefined) createCursorCodec({ secret: settings.secret }) // checks it
    this.#settings = { ...settings }
    this.#secret = null
    this.#listings.clear()
  }

  #secretOf(): Secret | readonly Secret[] {
    this.#secret ??= this.#settings.secret ?? (process.env.HOTPATH_CURSOR_SECRET || randomBytes(32))
    return this.#secret
  }

  #listing(shape: ListingShape): KeysetListing {
    const primaryKey = shape.primaryKey ?? performanceConfig.pagination.primaryKey
    const allowedSorts = shape.allowedSorts ?? shape.columns ?? []
    const id = JSON.stringify([shape.table, shape.columns ?? null, allowedSorts, primaryKey])
    let listing = this.#listings.get(id)
    if (listing === undefined) {
      const p = performanceConfig.pagination
      listing = createKeyset({
        table: shape.table,
        ...(shape.columns === undefined ? {} : { columns: shape.columns }),
        allowedSorts: allowedSorts.filter((c) => c !== primaryKey),
        primaryKey,
        defaultSort: [primaryKey, p.sortOrder],
        defaultLimit: this.#settings.defaultLimit ?? p.defaultLimit,
        maxLimit: this.#settings.maxLimit ?? p.maxLimit,
        secret: this.#secretOf(),
      })
      if (this.#listings.size >= MAX_LISTINGS) this.#listings.clear()
      this.#listings.set(id, listing)
    }
    return listing
  }

  /** `{ cursor, limit, sortField, sortOrder, page }` from `req.query`; malformed values are 400-class errors. */
  parsePaginationParams(
    query: Readonly<Record<string, unknown>> | URLSearchParams,
  ): GuidePaginationParams {
    const p = parsePaginationParams(query, {
      maxLimit: this.#settings.maxLimit ?? performanceConfig.pagination.maxLimit,
    })
    return {
      cursor: p.cursor,
      limit: p.limit ?? this.#settings.defaultLimit ?? performanceConfig.pagination.defaultLimit,
      sortField: p.sort,
      sortOrder: p.order,
      page: p.page,
    }
  }

  /** The page's SQL and parameters; run it and hand the rows to `createPaginatedResponse`. */
  buildCursorQuery(options: CursorQueryOptions): CursorQuery {
    const listing = this.#listing(options)
    const q = listing.build({
      cursor: options.cursor,
      limit: options.limit,
      sort: options.sortField,
      order: options.sortOrder,
      direction: options.direction,
      where: options.where,
    })
    const out: CursorQuery = {
      query: q.text,
      params: q.values,
      limit: q.limit,
      fetchLimit: q.fetchLimit,
      sortField: q.sort,
      sortOrder: q.order,
      direction: q.direction,
    }
    this.#built.set(out, { listing, query: q })
    this.#last.enterWith(listing)
    return out
  }

  /**
   * `{ data, pagination: { limit, nextCursor, prevCursor, hasMore } }` from the
   * rows of a built query (or a result with `rows`). `options` is what the
   * query was built from (`{ limit, cursor, sortField, sortOrder }`), or the
   * object `buildCursorQuery` returned. The table is the last one built in
   * this request unless `options.table` names it.
   */
  createPaginatedResponse<T extends object>(
    rows: readonly T[] | { readonly rows: readonly T[] },
    options: ResponseOptions | CursorQuery = {},
  ): KeysetPage<T> {
    const list = Array.isArray(rows) ? rows : (rows as { rows: readonly T[] }).rows
    const exact = this.#built.get(options)
    if (exact !== undefined) return exact.listing.envelope(list, exact.query)
    const o = options as ResponseOptions
    const listing =
      o.table === undefined
        ? this.#last.getStore()
        : this.#listing({
            table: o.table,
            allowedSorts: o.allowedSorts ?? o.columns ?? (o.sortField ? [o.sortField] : []),
            ...(o.primaryKey === undefined ? {} : { primaryKey: o.primaryKey }),
          })
    if (listing === undefined) {
      throw stateError(
        'paginationService.createPaginatedResponse',
        'call buildCursorQuery() first in the same request, or pass { table }',
      )
    }
    const query = listing.build({
      cursor: o.cursor,
      limit: o.limit,
      sort: o.sortField,
      order: o.sortOrder,
      direction: o.direction,
    })
    return listing.envelope(list, query)
  }
}

/** The default instance, as the guides import it. */
export const paginationService = new PaginationService()
