import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'
import type { Result, Session } from './endpoint.ts'
import { isRead } from './fingerprint.ts'
import { isUnavailable } from './pg-errors.ts'
import { type Scope, storage, txOf } from './scope.ts'

export interface CursorOptions {
  /** Rows fetched per round trip. Default: 1000. */
  batchSize?: number
  /** Read from the primary even when replicas exist. Default: false. */
  primary?: boolean
  /** A stable name for metrics; default: the statement's fingerprint. */
  name?: string
}

export const cursorDefaults = Object.freeze({ batchSize: 1000 })

let nextId = 0

/**
 * Rows of one SELECT through a server-side cursor, `batchSize` at a time.
 *
 * SQL cursors (`DECLARE … CURSOR` / `FETCH n`) rather than pg-cursor's
 * protocol portal, measured against both:
 * - a portal keeps its statement open until the last row, so a loop body slower
 *   than `statement_timeout` in total is cancelled; each FETCH is its own statement;
 * - a portal occupies its connection, so inside `db.transaction` a query in the
 *   loop body (same connection) would wait for the cursor forever; a FETCH
 *   leaves the connection free between batches;
 * - a cursor lives in a transaction (opened here unless the caller's is), so it
 *   works behind PgBouncer in transaction pooling mode and on PGlite alike.
 *
 * The connection goes back to the pool when the loop ends, breaks or throws
 * (the generator's `finally`). Its own transaction commits when the rows are
 * exhausted and rolls back otherwise (a break or throw in the loop body look
 * the same to a generator). The statement is recorded once, with the time
 * spent in the server.
 *
 * An open cursor holds its connection (behind PgBouncer, a server connection)
 * until its loop ends; a query in the loop body outside a transaction needs
 * another one. As many cursors open at once as there are connections, each
 * querying in its body, wait for each other until the pool times out.
 */
export function cursor<R>(
  db: Db,
  text: string,
  values: readonly unknown[] = [],
  options: CursorOptions = {},
): AsyncGenerator<R, void, undefined> {
  // Checked now, not on the first `next()`: a bad call fails where it is made.
  if (typeof text !== 'string' || text.trim() === '') {
    throw new HotpathError('HP_ERR_DB_INVALID_INPUT', ['the statement must be a non-empty string'])
  }
  if (!Array.isArray(values)) {
    throw new HotpathError('HP_ERR_DB_INVALID_INPUT', ['values must be an array'])
  }
  const batch = options.batchSize ?? cursorDefaults.batchSize
  if (!Number.isInteger(batch) || batch < 1) {
    throw new HotpathError('HP_ERR_DB_INVALID_INPUT', [
      `batchSize must be a positive integer, got ${batch}`,
    ])
  }
  const sql = text.replace(/[\s;]+$/, '')
  const c: Cursor = { sql, values, batch, name: options.name, primary: options.primary === true }
  const scope = storage.getStore()
  return db.embedded && txOf(db) === null ? held<R>(db, c, scope) : inTransaction<R>(db, c, scope)
}

interface Cursor {
  sql: string
  values: readonly unknown[]
  batch: number
  name: string | undefined
  primary: boolean
}

async function* inTransaction<R>(
  db: Db,
  c: Cursor,
  scope: Scope | undefined,
): AsyncGenerator<R, void, undefined> {
  // db.session falls back to the primary when the replica cannot be reached.
  const { session, endpoint, own } = await db.session(!c.primary && isRead(c.sql))
  const where = own ? endpoint.name : 'tx'
  const cursorName = `hp_cursor_${++nextId}`
  let serverMs = 0
  let failed: unknown
  let done = false
  const q = async (text: string, values?: readonly unknown[]): Promise<Result<R>> => {
    const t0 = performance.now()
    try {
      return await session.query<R>(text, values)
    } catch (err) {
      failed = err
      throw err
    } finally {
      serverMs += performance.now() - t0
    }
  }
  try {
    if (own) await q('BEGIN')
    await q(`DECLARE ${cursorName} NO SCROLL CURSOR FOR ${c.sql}`, c.values)
    for (;;) {
      const r = await q(`FETCH ${c.batch} FROM ${cursorName}`)
      for (const row of r.rows) yield row
      if (r.rows.length < c.batch) break
    }
    done = true
  } finally {
    if (own) await finish(session, done ? 'COMMIT' : 'ROLLBACK', failed)
    else if (failed === undefined) {
      // The caller's transaction goes on: free the cursor now (it fails only if
      // the loop body already broke that transaction, which its owner will see).
      await session.query(`CLOSE ${cursorName}`).catch(() => {})
    }
    db.observer.observe(c.sql, c.name, where, serverMs, failed === undefined, scope)
  }
}

/** Ends the cursor's own transaction and returns the connection, discarding it if broken. */
async function finish(session: Session, end: string, failed: unknown): Promise<void> {
  let broken: Error | undefined
  if (isUnavailable(failed)) broken = failed as Error
  else {
    await session.query(end).catch((e: Error) => {
      broken = e
    })
  }
  session.release(broken)
}

/**
 * The embedded database outside a transaction. PGlite has one connection: a
 * cursor holding it across yields would make any query in the loop body wait
 * for the loop itself — a deadlock. A `WITH HOLD` cursor outlives its
 * (implicit) transaction, so each FETCH takes the connection only for itself.
 * The trade-off: at DECLARE the server runs the whole query and keeps the
 * result in a tuplestore (memory up to `work_mem`, then PGlite's file
 * system), and the first row comes only once the last is computed; the
 * JavaScript heap still holds one batch at a time.
 */
async function* held<R>(
  db: Db,
  c: Cursor,
  scope: Scope | undefined,
): AsyncGenerator<R, void, undefined> {
  const endpoint = db.router.primary
  const cursorName = `hp_cursor_${++nextId}`
  let serverMs = 0
  let failed: unknown
  const q = async (text: string, values?: readonly unknown[]): Promise<Result<R>> => {
    const t0 = performance.now()
    try {
      return await endpoint.query<R>(text, values, false)
    } catch (err) {
      failed = err
      throw err
    } finally {
      serverMs += performance.now() - t0
    }
  }
  try {
    await q(`DECLARE ${cursorName} NO SCROLL CURSOR WITH HOLD FOR ${c.sql}`, c.values)
    try {
      for (;;) {
        const r = await q(`FETCH ${c.batch} FROM ${cursorName}`)
        for (const row of r.rows) yield row
        if (r.rows.length < c.batch) break
      }
    } finally {
      await endpoint.query(`CLOSE ${cursorName}`, undefined, false).catch(() => {})
    }
  } finally {
    db.observer.observe(c.sql, c.name, endpoint.name, serverMs, failed === undefined, scope)
  }
}
