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
  session: Session
  invalidate: string[]
}

export const storage = new AsyncLocalStorage<Scope>()
