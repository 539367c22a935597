/**
 * Reading EXPLAIN (FORMAT JSON) plans: walking the tree, and picking column
 * references out of the expressions PostgreSQL prints (Filter, Sort Key, Hash
 * Cond …). The parsing is deliberately narrow: it recognises a column compared
 * with a constant or another column and nothing else, and returns null for
 * anything it cannot read with certainty. A missed candidate costs a
 * suggestion; a misread one would cost an index build for nothing.
 */

export interface PlanNode {
  'Node Type': string
  'Relation Name'?: string
  'Total Cost'?: number
  Plans?: PlanNode[]
  [key: string]: unknown
}

/** A node with its ancestors, nearest first. */
export interface Visit {
  node: PlanNode
  ancestors: PlanNode[]
}

/** Every node of the tree, depth first, each with its ancestors. */
export function flatten(root: PlanNode): Visit[] {
  const out: Visit[] = []
  const go = (node: PlanNode, ancestors: PlanNode[]) => {
    out.push({ node, ancestors })
    const next = [node, ...ancestors]
    for (const child of node.Plans ?? []) go(child, next)
  }
  go(root, [])
  return out
}

/** Every node under `node` (itself included). */
export function subtree(node: PlanNode): PlanNode[] {
  return flatten(node).map((v) => v.node)
}

/** Whether any node of the plan reads the index of that name. */
export function usesIndex(root: PlanNode, name: string): boolean {
  return subtree(root).some((n) => n['Index Name'] === name)
}

export function num(node: Readonly<Record<string, unknown>>, key: string): number {
  const v = node[key]
  return typeof v === 'number' && Number.isFinite(v) ? v : 0
}

export function str(node: Readonly<Record<string, unknown>>, key: string): string | undefined {
  const v = node[key]
  return typeof v === 'string' ? v : undefined
}

// ---- expressions ------------------------------------------------------------

export interface ColumnRef {
  /** The table alias the column is qualified with (EXPLAIN VERBOSE qualifies every column). */
  alias: string | null
  column: string
}

export interface Predicate extends ColumnRef {
  /** `eq`: equality, IN-list, IS NULL, a bare boolean; `range`: <, <=, >, >=. */
  kind: 'eq' | 'range'
}

const IDENT = `(?:[A-Za-z_][A-Za-z0-9_$]*|"(?:[^"]|"")+")`
const COLUMN = new RegExp(`^(?:(${IDENT})\\.)?(${IDENT})$`)
// A trailing cast: ::integer, ::character varying(10), ::timestamp with time zone, ::integer[]
const CAST = /::(?:"[^"]+"|[A-Za-z_][\w .]*?)(?:\(\d+(?:,\s*\d+)?\))?(?:\[\])?$/
const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/
const STRING = /^'(?:[^']|'')*'$/
const PARAM = /^\$\d+$/
const NOT_COLUMNS = new Set(['true', 'false', 'null'])
const OPERATORS: Record<string, Predicate['kind']> = {
  '=': 'eq',
  '<': 'range',
  '<=': 'range',
  '>': 'range',
  '>=': 'range',
}

function unquote(id: string): string {
  return id.startsWith('"') ? id.slice(1, -1).replace(/""/g, '"') : id
}

/** Calls `fn(char, index, depth)` for each character outside quotes, with its parenthesis depth. */
function scan(s: string, fn: (c: string, i: number, depth: number) => boolean | undefined): void {
  let depth = 0
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === "'" || c === '"') {
      const end = s.indexOf(c, i + 1)
      // A doubled quote inside is two adjacent quoted runs: skipping them one by one is equivalent.
      i = end === -1 ? s.length : end
      continue
    }
    if (c === '(') depth++
    else if (c === ')') depth--
    if (fn(c, i, depth) === true) return
  }
}

/** Removes parentheses that wrap the whole expression: `((a = 1))` → `a = 1`. */
export function stripParens(s: string): string {
  let t = s.trim()
  while (t.startsWith('(') && t.endsWith(')')) {
    let closesAtEnd = true
    scan(t, (_c, i, depth) => {
      if (depth === 0 && i < t.length - 1) {
        closesAtEnd = false
        return true
      }
      return undefined
    })
    if (!closesAtEnd) break
    t = t.slice(1, -1).trim()
  }
  return t
}

/** The top-level operands of an AND chain; the whole expression when it is not one. */
export function conjuncts(expr: string): string[] {
  const s = stripParens(expr)
  const parts: string[] = []
  let start = 0
  scan(s, (_c, i, depth) => {
    if (depth === 0 && s.startsWith(' AND ', i)) {
      parts.push(s.slice(start, i))
      start = i + 5
    }
    return undefined
  })
  parts.push(s.slice(start))
  return parts.map(stripParens)
}

/** `t.customer_id`, `(t.status)::text` → a column reference; anything else → null. */
export function columnRef(expr: string): ColumnRef | null {
  let s = stripParens(expr)
  for (let i = 0; i < 3 && CAST.test(s); i++) s = stripParens(s.replace(CAST, ''))
  const m = COLUMN.exec(s)
  if (m === null || NOT_COLUMNS.has(s.toLowerCase())) return null
  return { alias: m[1] === undefined ? null : unquote(m[1]), column: unquote(m[2]!) }
}

/** A constant or a parameter, possibly cast: 42, '-5'::integer, 'x'::text, $1, ANY ('{1,2}'::integer[]). */
export function isConstant(expr: string): boolean {
  let s = stripParens(expr)
  if (/^ANY \(/.test(s)) s = stripParens(s.slice(4))
  for (let i = 0; i < 3 && CAST.test(s); i++) s = stripParens(s.replace(CAST, ''))
  return NUMBER.test(s) || STRING.test(s) || PARAM.test(s) || NOT_COLUMNS.has(s.toLowerCase())
}

/** Splits `lhs op rhs` at its one top-level comparison operator. */
function comparison(s: string): { lhs: string; op: string; rhs: string } | null {
  let found: { lhs: string; op: string; rhs: string } | null = null
  let count = 0
  scan(s, (c, i, depth) => {
    if (depth !== 0 || s[i - 1] !== ' ') return undefined
    if (c !== '<' && c !== '>' && c !== '=' && c !== '~' && c !== '!') return undefined
    const m = /^(<=|>=|<>|!=|=|<|>|~~\*?|!~~\*?|~\*?|!~\*?)(?= )/.exec(s.slice(i, i + 5))
    if (m === null) return undefined
    count++
    found = { lhs: s.slice(0, i - 1), op: m[1]!, rhs: s.slice(i + m[1]!.length + 1) }
    return undefined
  })
  return count === 1 ? found : null
}

/** One conjunct of a Filter: a column compared with a constant, or null. */
export function predicate(conjunct: string): Predicate | null {
  const s = stripParens(conjunct)
  const isNull = /^(.*) IS NULL$/.exec(s)
  if (isNull !== null) {
    const ref = columnRef(isNull[1]!)
    return ref === null ? null : { ...ref, kind: 'eq' }
  }
  // A bare boolean column (`t.active`, `NOT t.active`) is an equality on it.
  const bare = columnRef(s.replace(/^NOT /, ''))
  if (bare !== null) return { ...bare, kind: 'eq' }
  const cmp = comparison(s)
  if (cmp === null) return null
  const kind = OPERATORS[cmp.op]
  if (kind === undefined) return null
  const left = columnRef(cmp.lhs)
  const right = columnRef(cmp.rhs)
  if (left !== null && right === null && isConstant(cmp.rhs)) return { ...left, kind }
  if (right !== null && left === null && isConstant(cmp.lhs) && !cmp.rhs.startsWith('ANY ')) {
    return { ...right, kind }
  }
  return null
}

/** A join condition `a.x = b.y` between two columns, or null. */
export function columnEquality(conjunct: string): [ColumnRef, ColumnRef] | null {
  const cmp = comparison(stripParens(conjunct))
  if (cmp === null || cmp.op !== '=') return null
  const left = columnRef(cmp.lhs)
  const right = columnRef(cmp.rhs)
  return left === null || right === null ? null : [left, right]
}

export interface SortKey extends ColumnRef {
  order: 'asc' | 'desc'
  nulls?: 'first' | 'last'
}

/** One Sort Key entry: `t.created_at DESC`, `t.name NULLS FIRST`; expressions → null. */
export function sortKey(key: string): SortKey | null {
  const m = /^(.*?)(?: (ASC|DESC))?(?: NULLS (FIRST|LAST))?$/.exec(key.trim())
  if (m === null) return null
  const ref = columnRef(m[1]!)
  if (ref === null) return null
  const order = m[2] === 'DESC' ? 'desc' : 'asc'
  const nulls = m[3] === undefined ? undefined : (m[3].toLowerCase() as 'first' | 'last')
  // The default for each direction (ASC NULLS LAST, DESC NULLS FIRST) is left implicit.
  const implicit = nulls === (order === 'asc' ? 'last' : 'first')
  return nulls === undefined || implicit ? { ...ref, order } : { ...ref, order, nulls }
}
