import { AsyncLocalStorage } from 'node:async_hooks'
import type { Session } from './endpoint.ts'

/**
 * What one request (or job) did with the database: whether it wrote (later
 * reads then go to the primary: read-your-writes), how often each statement
 * ran (N+1 detection), and the open transaction, if any.
 */
export class Scope {
  wrote = false
  readonly counts: Map<string, number>
  readonly warned: Set<string>
  tx: TxState | null = null

  /** A transaction's scope shares its request's statement counts. */
  constructor(parent?: Scope) {
    this.counts = parent?.counts ?? new Map()
    this.warned = parent?.warned ?? new Set()
  }
}

export interface TxState {
  /** The Db whose transaction this is: another Db in the same request must not join it. */
  owner: object
  session: Session
  invalidate: string[]
}

export const storage = new AsyncLocalStorage<Scope>()

/** The open transaction of `owner` in this async context, if any. */
export function txOf(owner: object): TxState | null {
  const tx = storage.getStore()?.tx
  return tx != null && tx.owner === owner ? tx : null
}
