import { randomBytes } from 'node:crypto'
import { HotpathError } from '../errors.ts'
import { type Candidate, candidates, misestimated, notes } from './advice.ts'
import type { Db } from './db.ts'
import type { Session } from './endpoint.ts'
import { quoteIdent } from './identifiers.ts'
import { type IndexColumnSpec, indexName, resolveKeys } from './index-keys.ts'
import { splitStatements } from './migrate.ts'
import { num, type PlanNode, usesIndex } from './plan.ts'

export type { PlanNode } from './plan.ts'

export interface AnalyzeOptions {
  /** Statement timeout for the analysed run, in ms. Default: the pool's `statementTimeoutMs`. */
  timeoutMs?: number
  /** Verify index candidates by building each in a rolled-back transaction and re-planning. Default: true. */
  verify?: boolean
  /** Most candidates verified per call (each is one index build). Default: 5. */
  maxCandidates?: number
  /** An index is suggested only if the planner's total cost falls by at least this fraction. Default: 0.2. */
  minImprovement?: number
  /** Scans that read fewer rows than this are not worth an index. Default: 1000. */
  minRows?: number
  /** How long a verification waits for its table lock, in ms. Default: 1000. */
  lockTimeoutMs?: number
  /** How long a verification (index build and re-plan) may take, in ms. Default: 10_000. */
  verifyTimeoutMs?: number
}

export const analyzeDefaults = Object.freeze({
  verify: true,
  maxCandidates: 5,
  minImprovement: 0.2,
  minRows: 1000,
  lockTimeoutMs: 1000,
  verifyTimeoutMs: 10_000,
})

export interface Suggestion {
  kind: 'index' | 'note'
  message: string
  /** For index suggestions: the statement to run. */
  statement?: string
  /** Planner cost before and after the index, from a re-plan with the index created in a rolled-back transaction. */
  costBefore?: number
  costAfter?: number
  /** The `schema.table` the suggestion is about, when there is one. */
  relation?: string
  /** For index suggestions: the same index as `db.createIndex(table, columns, { name, concurrently: true })` arguments. */
  index?: { table: string; columns: IndexColumnSpec[]; name: string }
}

export interface Analysis {
  executionMs: number
  planningMs: number
  /** The executed plan (EXPLAIN ANALYZE, BUFFERS, VERBOSE) as PostgreSQL returns it. */
  plan: PlanNode
  /** Index suggestions first (best first), then notes. */
  suggestions: Suggestion[]
  /** The planner's total cost of the statement. */
  totalCost: number
  /** Rows the top node returned (for writes: usually 0, see the plan). */
  rows: number
  /** Blocks read from shared buffers, from disk (or the OS cache), and temporary files. */
  buffers: {
    sharedHit: number
    sharedRead: number
    sharedDirtied: number
    sharedWritten: number
    tempRead: number
    tempWritten: number
  }
}

type Resolved = Required<Omit<AnalyzeOptions, 'timeoutMs'>> & { timeoutMs: number | undefined }

const EXPLAINABLE = /^\s*(?:\(\s*)*(select|insert|update|delete|merge|values|table|with)\b/i
const LEADING_COMMENT = /^\s*(?:--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)/

/**
 * Runs `EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON)` of one statement on
 * the primary, always inside a transaction that is rolled back (a savepoint
 * inside `db.transaction`), so writes leave nothing behind. Side effects
 * outside the database (e.g. dblink, sequences' `nextval`) are not undone.
 *
 * Index candidates read from the plan (filtered sequential scans, sorts above
 * them, join keys) are each verified: the index is created in a transaction,
 * the statement re-planned (plain EXPLAIN), and the transaction rolled back.
 * Only an index the new plan uses and that lowers the planner's total cost by
 * `minImprovement` (20 %) is suggested. While it builds, a verification holds
 * a SHARE lock that blocks writes to the table (at most `verifyTimeoutMs`), so
 * analyse on a quiet or non-production database; pass `verify: false` to skip.
 * PostgreSQL updates the table's `reltuples` / `relpages` in place when it
 * builds an index, so those statistics stay refreshed after the rollback.
 */
export async function analyze(
  db: Db,
  text: string,
  values: readonly unknown[] = [],
  options: AnalyzeOptions = {},
): Promise<Analysis> {
  const sql = statementOf(text)
  if (!Array.isArray(values)) throw invalid('values must be an array')
  const o = resolve(options ?? {})
  const { session, own } = await db.session()
  const state: { broken?: Error } = {}
  try {
    const top = await rolledBack(session, own, state, async () => {
      if (o.timeoutMs !== undefined) {
        await session.query(`SET LOCAL statement_timeout = ${o.timeoutMs}`)
      }
      return explain(session, `EXPLAIN (ANALYZE, BUFFERS, VERBOSE, FORMAT JSON) ${sql}`, values)
    })
    const plan = top.Plan as PlanNode
    const found: Suggestion[] = []
    const failures: Suggestion[] = []
    if (o.verify) {
      const unreliable = misestimated(plan)
      const list = candidates(plan, o.minRows).filter(
        (c) => !unreliable.has(`${c.schema}.${c.table}`),
      )
      for (const c of list.slice(0, o.maxCandidates)) {
        const s = await verify(session, own, state, sql, values, c, o)
        if (s !== null) (s.kind === 'index' ? found : failures).push(s)
      }
    }
    const best = bestPerRelation(found)
    const indexed = new Set(best.map((s) => s.relation!))
    return {
      executionMs: num(top, 'Execution Time'),
      planningMs: num(top, 'Planning Time'),
      plan,
      suggestions: [...best, ...failures, ...notes(plan, top, indexed, o.verify)],
      totalCost: num(plan, 'Total Cost'),
      rows: num(plan, 'Actual Rows'),
      buffers: {
        sharedHit: num(plan, 'Shared Hit Blocks'),
        sharedRead: num(plan, 'Shared Read Blocks'),
        sharedDirtied: num(plan, 'Shared Dirtied Blocks'),
        sharedWritten: num(plan, 'Shared Written Blocks'),
        tempRead: num(plan, 'Temp Read Blocks'),
        tempWritten: num(plan, 'Temp Written Blocks'),
      },
    }
  } finally {
    if (own) session.release(state.broken)
  }
}

const invalid = (msg: string) => new HotpathError('HP_ERR_DB_INVALID_INPUT', [msg])

/** The one explainable statement in `text`, without its trailing semicolon. */
export function statementOf(text: unknown): string {
  if (typeof text !== 'string') throw invalid('analyze takes the statement as a string')
  const parts = splitStatements(text)
  if (parts.length === 0) throw invalid('the statement is empty')
  if (parts.length > 1) throw invalid(`analyze takes one statement, got ${parts.length}`)
  let head = parts[0]!
  while (LEADING_COMMENT.test(head)) head = head.replace(LEADING_COMMENT, '')
  if (!EXPLAINABLE.test(head)) {
    throw invalid(
      'analyze explains SELECT, INSERT, UPDATE, DELETE, MERGE, VALUES, TABLE or WITH statements',
    )
  }
  return parts[0]!
}

/** Runs `fn` in a transaction (or a savepoint inside the caller's) that is always rolled back. */
async function rolledBack<T>(
  session: Session,
  own: boolean,
  state: { broken?: Error },
  fn: () => Promise<T>,
): Promise<T> {
  await session.query(own ? 'BEGIN' : 'SAVEPOINT hotpath_analyze')
  let result: T
  try {
    result = await fn()
  } catch (err) {
    await undo(session, own, state).catch(() => {})
    throw err
  }
  await undo(session, own, state)
  return result
}

async function undo(session: Session, own: boolean, state: { broken?: Error }): Promise<void> {
  try {
    if (own) await session.query('ROLLBACK')
    else {
      await session.query('ROLLBACK TO SAVEPOINT hotpath_analyze')
      await session.query('RELEASE SAVEPOINT hotpath_analyze')
    }
  } catch (err) {
    // A connection that could not roll back must not return to the pool.
    state.broken = err as Error
    throw err
  }
}

async function explain(
  session: Session,
  text: string,
  values: readonly unknown[],
): Promise<Record<string, unknown>> {
  const r = await session.query<Record<string, unknown>>(text, values)
  const cell = r.rows[0]?.['QUERY PLAN']
  const doc: unknown = typeof cell === 'string' ? JSON.parse(cell) : cell
  const top = (Array.isArray(doc) ? doc[0] : doc) as Record<string, unknown> | undefined
  if (top === undefined || typeof top.Plan !== 'object' || top.Plan === null) {
    throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['this EXPLAIN output', 'analyze'])
  }
  return top
}

/** Builds the candidate in a rolled-back transaction and re-plans: a suggestion, a note, or null. */
async function verify(
  session: Session,
  own: boolean,
  state: { broken?: Error },
  sql: string,
  values: readonly unknown[],
  c: Candidate,
  o: Resolved,
): Promise<Suggestion | null> {
  const relation = `${c.schema}.${c.table}`
  let qtable: string
  let keys: string
  try {
    qtable = quoteIdent(relation)
    keys = resolveKeys(c.columns, 'btree')
      .map((k) => k.sql)
      .join(', ')
  } catch {
    return null // a name we cannot quote safely: no suggestion
  }
  const tmp = `hotpath_candidate_${randomBytes(6).toString('hex')}`
  let cost: { before: number; after: number; used: boolean }
  try {
    cost = await rolledBack(session, own, state, async () => {
      await session.query(`SET LOCAL lock_timeout = ${o.lockTimeoutMs}`)
      await session.query(`SET LOCAL statement_timeout = ${o.verifyTimeoutMs}`)
      const before = (await explain(session, `EXPLAIN (FORMAT JSON) ${sql}`, values)).Plan
      await session.query(`CREATE INDEX ${tmp} ON ${qtable} (${keys})`)
      const after = (await explain(session, `EXPLAIN (FORMAT JSON) ${sql}`, values)).Plan
      return {
        before: num(before as PlanNode, 'Total Cost'),
        after: num(after as PlanNode, 'Total Cost'),
        used: usesIndex(after as PlanNode, tmp),
      }
    })
  } catch (err) {
    if (state.broken !== undefined) throw err
    return {
      kind: 'note',
      relation,
      message: `Could not verify an index on ${relation} (${keys}): ${(err as Error).message}`,
    }
  }
  if (!cost.used || cost.after > cost.before * (1 - o.minImprovement)) return null
  const resolved = resolveKeys(c.columns, 'btree')
  const name = indexName(c.table, resolved)
  const drop = cost.before > 0 ? (1 - cost.after / cost.before) * 100 : 0
  return {
    kind: 'index',
    relation,
    message: `Index on ${relation} (${keys}) for the ${c.reason}: planner cost ${fmtCost(cost.before)} → ${fmtCost(cost.after)} (−${drop.toFixed(1)} %)`,
    statement: `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${quoteIdent(name)} ON ${qtable} (${keys})`,
    costBefore: cost.before,
    costAfter: cost.after,
    index: { table: relation, columns: c.columns, name },
  }
}

const fmtCost = (n: number) => (n >= 100 ? Math.round(n).toString() : n.toFixed(2))

/** One index per table: the cheapest plan, then the fewest columns. */
function bestPerRelation(found: Suggestion[]): Suggestion[] {
  const sorted = [...found].sort(
    (a, b) => a.costAfter! - b.costAfter! || a.index!.columns.length - b.index!.columns.length,
  )
  const seen = new Set<string>()
  return sorted.filter((s) => !seen.has(s.relation!) && seen.add(s.relation!))
}

function resolve(o: AnalyzeOptions): Resolved {
  const d = analyzeDefaults
  const int = (key: string, v: unknown, fallback: number | undefined, min: number) => {
    if (v === undefined) return fallback
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', [
        key,
        `expected an integer ≥ ${min}, got ${String(v)}`,
      ])
    }
    return v
  }
  const m = o.minImprovement ?? d.minImprovement
  if (typeof m !== 'number' || !(m >= 0 && m < 1)) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      'minImprovement',
      `expected 0 ≤ x < 1, got ${String(m)}`,
    ])
  }
  if (o.verify !== undefined && typeof o.verify !== 'boolean') {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['verify', 'expected a boolean'])
  }
  return {
    timeoutMs: int('timeoutMs', o.timeoutMs, undefined, 1),
    verify: o.verify ?? d.verify,
    maxCandidates: int('maxCandidates', o.maxCandidates, d.maxCandidates, 0)!,
    minImprovement: m,
    minRows: int('minRows', o.minRows, d.minRows, 0)!,
    lockTimeoutMs: int('lockTimeoutMs', o.lockTimeoutMs, d.lockTimeoutMs, 1)!,
    verifyTimeoutMs: int('verifyTimeoutMs', o.verifyTimeoutMs, d.verifyTimeoutMs, 1)!,
  }
}
