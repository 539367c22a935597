import { mkdirSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import { HotpathError } from '../errors.ts'
import type { Endpoint, PoolCounts, Result, Session } from './endpoint.ts'

/**
 * The embedded default: a real PostgreSQL compiled to WASM (PGlite), persisted
 * in a data directory. It has one connection, so a session (a transaction or
 * cursor) holds it exclusively and other statements wait their turn.
 */
export class EmbeddedEndpoint implements Endpoint {
  readonly name = 'embedded'
  readonly kind = 'embedded' as const
  readonly #ready: Promise<PGlite>
  #tail: Promise<void> = Promise.resolve()
  #waiting = 0
  #busy = false

  constructor(dir: string) {
    this.#ready = (async () => {
      if (dir !== 'memory://') mkdirSync(dir, { recursive: true })
      return PGlite.create(dir === 'memory://' ? undefined : dir)
    })()
    this.#ready.catch(() => {})
  }

  /** Runs `fn` alone on the connection; returns a release function through `fn`'s promise. */
  async #lock(): Promise<() => void> {
    this.#waiting++
    let release!: () => void
    const next = new Promise<void>((r) => {
      release = r
    })
    const prev = this.#tail
    this.#tail = prev.then(() => next)
    await prev
    this.#waiting--
    this.#busy = true
    return () => {
      this.#busy = false
      release()
    }
  }

  async #db(): Promise<PGlite> {
    try {
      return await this.#ready
    } catch (err) {
      throw new HotpathError('HP_ERR_DB_UNAVAILABLE', ['embedded', (err as Error).message], {
        cause: err,
      })
    }
  }

  async query<R>(text: string, values: readonly unknown[] | undefined): Promise<Result<R>> {
    const db = await this.#db()
    const unlock = await this.#lock()
    try {
      return toResult<R>(await db.query<R>(text, values as unknown[] | undefined))
    } finally {
      unlock()
    }
  }

  async connect(): Promise<Session> {
    const db = await this.#db()
    const unlock = await this.#lock()
    let released = false
    return {
      native: db,
      async query<R>(text: string, values?: readonly unknown[]): Promise<Result<R>> {
        return toResult<R>(await db.query<R>(text, values as unknown[] | undefined))
      },
      release() {
        if (released) return
        released = true
        unlock()
      },
    }
  }

  counts(): PoolCounts {
    return { total: 1, idle: this.#busy ? 0 : 1, waiting: this.#waiting, max: 1 }
  }

  async end(): Promise<void> {
    const db = await this.#ready.catch(() => null)
    await db?.close()
  }
}

function toResult<R>(r: {
  rows: R[]
  affectedRows?: number
  fields: { name: string; dataTypeID: number }[]
}): Result<R> {
  // PGlite reports affectedRows 0 for reads: a statement with columns counts its rows.
  return {
    rows: r.rows,
    rowCount: r.fields.length > 0 ? r.rows.length : (r.affectedRows ?? 0),
    fields: r.fields,
  }
}
