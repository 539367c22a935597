/** What a query returns, whatever the driver. */
export interface Result<R = Record<string, unknown>> {
  rows: R[]
  rowCount: number
  fields: readonly { name: string; dataTypeID?: number }[]
}

/** One checked-out connection: transactions and cursors run on it. */
export interface Session {
  query<R = Record<string, unknown>>(text: string, values?: readonly unknown[]): Promise<Result<R>>
  /** Pass an error to discard the connection instead of returning it to the pool. */
  release(err?: Error): void
  /** The driver's own client, for cursors and COPY; null where the driver has none. */
  readonly native: unknown
}

export interface PoolCounts {
  total: number
  idle: number
  waiting: number
  max: number
}

/**
 * One database server behind one small surface (a pg pool, or the embedded
 * PGlite). Routing, caching and observation live above it in `db.ts`.
 */
export interface Endpoint {
  readonly name: string
  readonly kind: 'pg' | 'embedded'
  /** Runs one statement; `prepare` asks for a named prepared statement where supported. */
  query<R = Record<string, unknown>>(
    text: string,
    values: readonly unknown[] | undefined,
    prepare: boolean,
  ): Promise<Result<R>>
  connect(): Promise<Session>
  counts(): PoolCounts
  end(): Promise<void>
}
