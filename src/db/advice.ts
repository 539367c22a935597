/**
 * What an analysed plan suggests: index candidates (to be verified by a
 * re-plan before anyone sees them) and notes that need no verification
 * (spills to disk, estimates far off, repeated inner loops …).
 */
import type { IndexColumnSpec } from './index-keys.ts'
import {
  columnEquality,
  conjuncts,
  flatten,
  num,
  type PlanNode,
  predicate,
  type SortKey,
  sortKey,
  str,
  subtree,
} from './plan.ts'

export interface Candidate {
  schema: string
  table: string
  columns: IndexColumnSpec[]
  /** Why it was considered: 'filter', 'sort' or 'join'. */
  reason: 'filter' | 'sort' | 'join'
}

export interface Note {
  kind: 'note'
  message: string
  relation?: string
}

/** Equality columns first in an index key, then at most this many of them. */
const MAX_EQ = 3

const isSeqScan = (n: PlanNode) => n['Node Type'] === 'Seq Scan'
const loops = (n: PlanNode) => num(n, 'Actual Loops')
/** Rows a scan read over all its loops (returned plus filtered out). */
const rowsRead = (n: PlanNode) =>
  (num(n, 'Actual Rows') + num(n, 'Rows Removed by Filter')) * loops(n)

export function relationOf(n: PlanNode): string | undefined {
  const schema = str(n, 'Schema')
  const table = str(n, 'Relation Name')
  return table === undefined ? undefined : schema === undefined ? table : `${schema}.${table}`
}

/**
 * The columns a scan's Filter tests against constants (or, inside a nested
 * loop, against the outer side's columns), equality first.
 */
function filterColumns(scan: PlanNode): { eq: string[]; range: string[] } {
  const eq: string[] = []
  const range: string[] = []
  const alias = str(scan, 'Alias') ?? null
  const filter = str(scan, 'Filter')
  if (filter === undefined) return { eq, range }
  const mine = (a: string | null) => a === null || a === alias
  for (const c of conjuncts(filter)) {
    const p = predicate(c)
    if (p !== null) {
      if (!mine(p.alias)) continue
      const list = p.kind === 'eq' ? eq : range
      if (!eq.includes(p.column) && !range.includes(p.column)) list.push(p.column)
      continue
    }
    const pair = columnEquality(c)
    if (pair === null) continue
    const own = pair.filter((r) => r.alias === alias)
    if (own.length === 1 && !eq.includes(own[0]!.column)) eq.push(own[0]!.column)
  }
  return { eq, range }
}

const keySpec = (k: SortKey): IndexColumnSpec => ({
  column: k.column,
  ...(k.order === 'desc' ? { order: 'desc' as const } : {}),
  ...(k.nulls === undefined ? {} : { nulls: k.nulls }),
})

/**
 * Index candidates from the plan, most promising first: sequential scans with
 * a filter (equality columns, then one range column), sorts directly above a
 * sequential scan (filter equalities, then the sort keys), and join
 * conditions whose side is read by a sequential scan. Scans that read fewer
 * than `minRows` rows are not worth an index.
 */
export function candidates(root: PlanNode, minRows: number): Candidate[] {
  const out: Candidate[] = []
  const seen = new Set<string>()
  const add = (scan: PlanNode, columns: IndexColumnSpec[], reason: Candidate['reason']) => {
    const schema = str(scan, 'Schema')
    const table = str(scan, 'Relation Name')
    if (schema === undefined || table === undefined || columns.length === 0) return
    const key = JSON.stringify([schema, table, columns])
    if (seen.has(key)) return
    seen.add(key)
    out.push({ schema, table, columns, reason })
  }
  const visits = flatten(root)
  for (const { node } of visits) {
    if (!isSeqScan(node) || rowsRead(node) < minRows) continue
    const { eq, range } = filterColumns(node)
    add(
      node,
      [...eq.slice(0, MAX_EQ), ...range.slice(0, 1)].map((column) => ({ column })),
      'filter',
    )
  }
  for (const { node } of visits) {
    if (node['Node Type'] !== 'Sort' && node['Node Type'] !== 'Incremental Sort') continue
    const scan = node.Plans?.[0]
    const keys = node['Sort Key']
    if (scan === undefined || !isSeqScan(scan) || rowsRead(scan) < minRows) continue
    if (!Array.isArray(keys) || keys.length === 0) continue
    const alias = str(scan, 'Alias') ?? null
    const parsed = keys.map((k) => (typeof k === 'string' ? sortKey(k) : null))
    if (parsed.some((k) => k === null || (k.alias !== null && k.alias !== alias))) continue
    const sorted = parsed as SortKey[]
    const eq = filterColumns(scan).eq.filter((c) => !sorted.some((k) => k.column === c))
    // An ascending index read backwards gives DESC NULLS FIRST: plain keys then serve both directions.
    const backwards = sorted.every((k) => k.order === 'desc' && k.nulls === undefined)
    const tail = backwards ? sorted.map((k) => ({ column: k.column })) : sorted.map(keySpec)
    add(scan, [...eq.slice(0, MAX_EQ).map((column) => ({ column })), ...tail], 'sort')
  }
  for (const { node } of visits) {
    for (const field of ['Hash Cond', 'Merge Cond', 'Join Filter']) {
      const cond = str(node, field)
      if (cond === undefined) continue
      const below = subtree(node).filter(isSeqScan)
      for (const c of conjuncts(cond)) {
        for (const ref of columnEquality(c) ?? []) {
          const scan = below.find((s) => str(s, 'Alias') === ref.alias)
          if (scan === undefined || rowsRead(scan) < minRows) continue
          const eq = filterColumns(scan).eq.filter((x) => x !== ref.column)
          add(
            scan,
            [ref.column, ...eq.slice(0, MAX_EQ - 1)].map((column) => ({ column })),
            'join',
          )
        }
      }
    }
  }
  return out
}

/** A scan whose planned rows are 10× off the actual ones (and by 1000 rows or more). */
function misestimate(n: PlanNode): { planned: number; actual: number; ratio: number } | undefined {
  if (relationOf(n) === undefined || loops(n) === 0) return undefined
  const planned = num(n, 'Plan Rows')
  const actual = num(n, 'Actual Rows')
  const ratio = Math.max(planned, actual) / Math.max(Math.min(planned, actual), 1)
  return ratio >= 10 && Math.abs(planned - actual) >= 1000 ? { planned, actual, ratio } : undefined
}

/**
 * Relations the planner misjudges: a re-plan with a candidate index would
 * rest on the same wrong numbers, so it confirms nothing there.
 */
export function misestimated(root: PlanNode): Set<string> {
  const out = new Set<string>()
  for (const { node } of flatten(root)) if (misestimate(node)) out.add(relationOf(node)!)
  return out
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')

/**
 * Observations from the executed plan. `indexed` holds the relations an index
 * suggestion already covers, so their scans are not reported twice;
 * `verified` says whether index candidates were verified at all.
 */
export function notes(
  root: PlanNode,
  top: Record<string, unknown>,
  indexed: Set<string>,
  verified: boolean,
): Note[] {
  const out: Note[] = []
  const once = new Set<string>()
  const push = (key: string, message: string, relation?: string) => {
    if (once.has(key)) return
    once.add(key)
    out.push(
      relation === undefined ? { kind: 'note', message } : { kind: 'note', message, relation },
    )
  }
  for (const { node } of flatten(root)) {
    const type = node['Node Type']
    const rel = relationOf(node)
    const removed = num(node, 'Rows Removed by Filter') * loops(node)
    const kept = num(node, 'Actual Rows') * loops(node)
    if (rel !== undefined && removed >= 10_000 && removed >= 9 * kept && !indexed.has(rel)) {
      push(
        `removed:${rel}`,
        `${type} on ${rel} discarded ${fmt(removed)} of the ${fmt(removed + kept)} rows it read; ${verified ? 'no index was confirmed to help (try a partial or composite index, or rewrite the filter)' : 'index candidates were not verified (verify: false)'}`,
        rel,
      )
    }
    const method = str(node, 'Sort Method') ?? ''
    if (method.includes('external') || node['Sort Space Type'] === 'Disk') {
      push(
        `sort:${method}`,
        `Sort spilled to disk (${method}, ${fmt(num(node, 'Sort Space Used'))} kB): raise work_mem for this statement (SET LOCAL work_mem) or index the sort keys`,
      )
    }
    if (num(node, 'Hash Batches') > 1) {
      push(
        'hash',
        `Hash used ${num(node, 'Hash Batches')} batches (spilled to disk, ${fmt(num(node, 'Peak Memory Usage'))} kB in memory): raise work_mem for this statement`,
      )
    }
    if (type === 'Nested Loop') {
      const inner = node.Plans?.[1]
      if (inner !== undefined && loops(inner) >= 1000) {
        push(
          'loop',
          `Nested Loop ran its inner ${inner['Node Type']}${relationOf(inner) ? ` on ${relationOf(inner)}` : ''} ${fmt(loops(inner))} times`,
          relationOf(inner),
        )
      }
    }
    const off = rel === undefined ? undefined : misestimate(node)
    if (off !== undefined) {
      push(
        `estimate:${rel}`,
        `Row estimate on ${rel} is off ${Math.round(off.ratio)}× (planned ${fmt(off.planned)}, got ${fmt(off.actual)}): run ANALYZE ${rel} (or raise its statistics target, or CREATE STATISTICS for correlated columns); index advice for it is withheld until the estimates hold`,
        rel,
      )
    }
    if (type === 'Index Only Scan' && rel !== undefined) {
      const fetches = num(node, 'Heap Fetches')
      if (fetches >= 1000 && fetches * 2 >= kept) {
        push(
          `vacuum:${rel}`,
          `Index Only Scan on ${rel} fetched ${fmt(fetches)} heap rows: VACUUM ${rel} to refresh its visibility map`,
          rel,
        )
      }
    }
  }
  const exec = typeof top['Execution Time'] === 'number' ? top['Execution Time'] : 0
  for (const t of Array.isArray(top.Triggers) ? top.Triggers : []) {
    const trig = t as Record<string, unknown>
    const time = typeof trig.Time === 'number' ? trig.Time : 0
    if (time >= 1 && time >= exec * 0.2) {
      push(
        `trigger:${String(trig['Trigger Name'])}`,
        `Trigger ${String(trig['Trigger Name'])} on ${String(trig.Relation)} took ${time.toFixed(1)} ms over ${String(trig.Calls)} calls (foreign-key checks on unindexed referencing columns are a common cause)`,
      )
    }
  }
  return out
}
