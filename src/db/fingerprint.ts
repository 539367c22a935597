/**
 * A statement's shape without its values: literals become `?`, IN-lists and
 * VALUES rows collapse, whitespace and comments go. Equal shapes are the same
 * statement for N+1 detection, slow-query reports and metrics.
 */
export function fingerprint(sql: string): string {
  return sql
    .replace(/--[^\n]*/g, ' ')
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\$\d+/g, '?')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\(\s*\?(?:\s*,\s*\?)+\s*\)/g, '(?+)')
    .replace(/(\(\?\+\)|\(\?\))(?:\s*,\s*(?:\(\?\+\)|\(\?\)))+/g, '$1, …')
    .replace(/\s+/g, ' ')
    .trim()
}

const READ = /^\s*(?:\(\s*)*(select|show|explain|values|table)\b/i
const WITH = /^\s*with\b/i
const MODIFYING = /\b(insert|update|delete|merge)\b/i
const LOCKING = /\bfor\s+(update|no\s+key\s+update|share|key\s+share)\b/i

/**
 * Whether a statement only reads and may go to a replica. Data-modifying CTEs,
 * locking reads and anything that is not a plain read go to the primary.
 */
export function isRead(sql: string): boolean {
  if (LOCKING.test(sql)) return false
  // SELECT … INTO creates a table: anything naming INTO goes to the primary, to be safe.
  if (READ.test(sql)) return !/\binto\b/i.test(sql)
  if (WITH.test(sql)) return !MODIFYING.test(sql)
  return false
}
