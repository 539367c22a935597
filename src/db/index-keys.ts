import { createHash } from 'node:crypto'
import { HotpathError } from '../errors.ts'
import { quoteIdent } from './identifiers.ts'
import { splitStatements } from './migrate.ts'

// Index keys: validation, their SQL and the generated index name, shared by createIndex and analyze.

export type IndexMethod = 'btree' | 'gin' | 'gist' | 'brin' | 'hash'

/** A key column with its direction, null ordering and operator class (btree only for the first two). */
export interface IndexColumnSpec {
  column: string
  order?: 'asc' | 'desc'
  nulls?: 'first' | 'last'
  /** An operator class name, e.g. `jsonb_path_ops`, `gin_trgm_ops`, `text_pattern_ops`. */
  opclass?: string
}

/**
 * An expression key, e.g. `{ expression: 'lower(email)' }`. The expression is
 * SQL pasted as is: trusted input written in code, never user input.
 */
export interface IndexExpressionSpec extends Omit<IndexColumnSpec, 'column'> {
  expression: string
}

/** A plain column name, or a spec with direction / operator class, or a (trusted) expression. */
export type IndexColumn = string | IndexColumnSpec | IndexExpressionSpec

const MAX_NAME = 63

export const invalid = (msg: string) => new HotpathError('HP_ERR_DB_INVALID_INPUT', [msg])

/** A column (never schema-qualified), quoted. */
export function column(name: unknown): string {
  if (typeof name === 'string' && name.includes('.')) {
    throw new HotpathError('HP_ERR_DB_INVALID_IDENTIFIER', [`${JSON.stringify(name)} (a column)`])
  }
  return quoteIdent(name)
}

/** SQL written by the caller's code: one expression, never a second statement. */
export function trustedSql(what: string, sql: unknown): string {
  if (typeof sql !== 'string' || sql.trim() === '') throw invalid(`${what} must be non-empty SQL`)
  const parts = splitStatements(sql)
  if (parts.length !== 1) throw invalid(`${what} must be one expression, not several statements`)
  return parts[0]!
}

export interface ResolvedKey {
  sql: string
  /** The column name, or null for an expression. */
  column: string | null
  /** Words for the generated index name. */
  words: string[]
}

/** Validates and renders the key columns. */
export function resolveKeys(columns: readonly IndexColumn[], method: IndexMethod): ResolvedKey[] {
  if (!Array.isArray(columns) || columns.length === 0) {
    throw invalid('columns must be a non-empty array')
  }
  return columns.map((c: IndexColumn) => {
    if (typeof c === 'string') return { sql: column(c), column: c, words: [c] }
    if (c === null || typeof c !== 'object') throw invalid(`bad index column ${String(c)}`)
    let sql: string
    let col: string | null = null
    let words: string[]
    if ('expression' in c) {
      sql = `(${trustedSql('an index expression', c.expression)})`
      words = c.expression.match(/[A-Za-z_][A-Za-z0-9_]*/g)?.slice(0, 4) ?? ['expr']
    } else {
      sql = column(c.column)
      col = c.column
      words = [c.column]
    }
    if (c.opclass !== undefined) {
      if (typeof c.opclass !== 'string' || c.opclass.includes('.')) {
        throw new HotpathError('HP_ERR_DB_INVALID_IDENTIFIER', [`opclass ${String(c.opclass)}`])
      }
      sql += ` ${quoteIdent(c.opclass)}`
    }
    if (c.order !== undefined || c.nulls !== undefined) {
      if (method !== 'btree') throw invalid(`order and nulls need method btree, not ${method}`)
      if (c.order !== undefined && c.order !== 'asc' && c.order !== 'desc') {
        throw invalid(`order must be 'asc' or 'desc', got ${String(c.order)}`)
      }
      if (c.nulls !== undefined && c.nulls !== 'first' && c.nulls !== 'last') {
        throw invalid(`nulls must be 'first' or 'last', got ${String(c.nulls)}`)
      }
      if (c.order === 'desc') {
        sql += ' DESC'
        words.push('desc')
      }
      if (c.nulls !== undefined) sql += ` NULLS ${c.nulls.toUpperCase()}`
    }
    return { sql, column: col, words }
  })
}

/** `<table>_<words>_idx`; past 63 bytes, cut and ended with a hash of the full name. */
export function indexName(table: string, keys: readonly ResolvedKey[]): string {
  const base = table.slice(table.lastIndexOf('.') + 1)
  const name = [base, ...keys.flatMap((k) => k.words), 'idx'].join('_')
  if (Buffer.byteLength(name) <= MAX_NAME) return name
  const hash = createHash('sha1').update(name).digest('hex').slice(0, 8)
  return `${name.slice(0, MAX_NAME - hash.length - 1)}_${hash}`
}
