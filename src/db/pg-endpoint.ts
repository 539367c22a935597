import { createHash } from 'node:crypto'
import pg from 'pg'
import type { Endpoint, PoolCounts, Result, Session } from './endpoint.ts'
import type { ResolvedDbOptions } from './options.ts'
import { mapError, sqlState } from './pg-errors.ts'

/** Statement texts given names, bounded: past this, statements run unnamed. */
const MAX_NAMED = 5000

/**
 * A PostgreSQL server through a node-postgres pool. Repeated statements are
 * prepared once per connection under a name derived from their text; where
 * the server refuses named statements (PgBouncer in transaction mode before
 * 1.21) and the option is 'auto', naming turns itself off and the statement
 * is retried unnamed.
 */
export class PgEndpoint implements Endpoint {
  readonly name: string
  readonly kind = 'pg' as const
  readonly #pool: pg.Pool
  readonly #o: ResolvedDbOptions
  readonly #names = new Map<string, string>()
  #prepare: boolean

  constructor(name: string, url: string, o: ResolvedDbOptions) {
    this.name = name
    this.#o = o
    this.#prepare = o.preparedStatements !== false
    this.#pool = new pg.Pool({
      connectionString: url,
      max: o.pool.max,
      min: o.pool.min,
      idleTimeoutMillis: o.pool.idleTimeoutMs,
      connectionTimeoutMillis: o.pool.connectTimeoutMs,
      application_name: o.applicationName,
      // Sent at connection start-up; behind PgBouncer set it on the role instead.
      ...(o.statementTimeoutMs > 0 && !o.pgbouncer
        ? { statement_timeout: o.statementTimeoutMs }
        : {}),
    })
    // An idle client's error (server restart) must not crash the process; the pool drops it.
    this.#pool.on('error', () => {})
  }

  /** Opens `min` connections now, so the first requests do not pay for them. */
  async warm(): Promise<void> {
    const clients = await Promise.allSettled(
      Array.from({ length: this.#o.pool.min }, () => this.#pool.connect()),
    )
    for (const c of clients) if (c.status === 'fulfilled') c.value.release()
  }

  get preparing(): boolean {
    return this.#prepare
  }

  #nameOf(text: string): string | undefined {
    let name = this.#names.get(text)
    if (name === undefined && this.#names.size < MAX_NAMED) {
      name = `hp_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}`
      this.#names.set(text, name)
    }
    return name
  }

  async query<R>(
    text: string,
    values: readonly unknown[] | undefined,
    prepare: boolean,
  ): Promise<Result<R>> {
    const name = prepare && this.#prepare ? this.#nameOf(text) : undefined
    try {
      // pg copies a config object on every query; text and values skip that copy where no name is needed.
      const r =
        name === undefined
          ? await this.#pool.query(text, values as unknown[])
          : await this.#pool.query({ name, text, values: values as unknown[] })
      return r as unknown as Result<R>
    } catch (err) {
      const code = sqlState(err)
      // 26000: prepared statement does not exist; 42P05: already exists — a pooler swapped connections.
      if (
        name !== undefined &&
        this.#o.preparedStatements === 'auto' &&
        (code === '26000' || code === '42P05')
      ) {
        this.#prepare = false
        return this.query(text, values, false)
      }
      throw this.#map(err)
    }
  }

  async connect(): Promise<Session> {
    let client: pg.PoolClient
    try {
      client = await this.#pool.connect()
    } catch (err) {
      throw this.#map(err)
    }
    let released = false
    const map = (err: unknown) => this.#map(err)
    return {
      native: client,
      async query<R>(text: string, values?: readonly unknown[]): Promise<Result<R>> {
        try {
          return (await client.query({ text, values: values as unknown[] })) as unknown as Result<R>
        } catch (err) {
          throw map(err)
        }
      },
      release(err?: Error) {
        if (released) return
        released = true
        client.release(err)
      },
    }
  }

  #map(err: unknown): unknown {
    const mapped = mapError(err, this.name, this.#o.pool.max, this.#o.pool.connectTimeoutMs)
    // A connect timeout while the pool is not full means the server did not answer, not exhaustion.
    if (
      mapped instanceof Error &&
      (mapped as { code?: string }).code === 'HP_ERR_DB_POOL_TIMEOUT' &&
      this.#pool.totalCount < this.#o.pool.max
    ) {
      return mapError(
        Object.assign(new Error('connection timeout'), { code: 'ETIMEDOUT' }),
        this.name,
        0,
        0,
      )
    }
    return mapped
  }

  counts(): PoolCounts {
    return {
      total: this.#pool.totalCount,
      idle: this.#pool.idleCount,
      waiting: this.#pool.waitingCount,
      max: this.#o.pool.max,
    }
  }

  async end(): Promise<void> {
    await this.#pool.end()
  }
}
