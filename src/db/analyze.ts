import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'

export interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Total Cost'?: number
  Plans?: PlanNode[]
  [key: string]: unknown
}

export interface Suggestion {
  kind: 'index' | 'note'
  message: string
  /** For index suggestions: the statement to run. */
  statement?: string
  /** Planner cost before and after the index, from a re-plan with the index created in a rolled-back transaction. */
  costBefore?: number
  costAfter?: number
}

export interface Analysis {
  executionMs: number
  planningMs: number
  plan: PlanNode
  suggestions: Suggestion[]
}

export async function analyze(
  _db: Db,
  _text: string,
  _values: readonly unknown[] = [],
): Promise<Analysis> {
  throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['analyze', 'this build (in progress)'])
}
