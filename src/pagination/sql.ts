import { HotpathError } from '../errors.ts'

/** A piece of SQL with its own `$1…$n` placeholders, numbered from 1: `{ text: 'category_id = $1', values: [7] }`. */
export interface SqlFragment {
  readonly text: string
  readonly values?: readonly unknown[]
}

// Letters, digits and underscore, not starting with a digit, at most 63 bytes
// (PostgreSQL's NAMEDATALEN - 1): nothing that could close a quoted name.
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * Checks a column name and returns it double-quoted. Quoting keeps reserved
 * words (`order`, `user`) usable and the name exact: it is matched
 * case-sensitively, as stored in the catalog.
 */
export function column(name: unknown, what: string): string {
  if (typeof name !== 'string' || !NAME.test(name)) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_IDENTIFIER', [what, show(name)])
  }
  return `"${name}"`
}

/** Checks a table name, with an optional schema (`shop.products`), and returns it quoted. */
export function table(name: unknown): string {
  if (typeof name !== 'string') {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_IDENTIFIER', ['table', show(name)])
  }
  const parts = name.split('.')
  if (parts.length > 2 || !parts.every((p) => NAME.test(p))) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_IDENTIFIER', ['table', show(name)])
  }
  return parts.map((p) => `"${p}"`).join('.')
}

/** A short, printable form of any input, for error messages that may reach a client. */
export function show(value: unknown): string {
  let s: string
  try {
    s = typeof value === 'bigint' ? `${value}n` : (JSON.stringify(value) ?? String(value))
  } catch {
    s = Object.prototype.toString.call(value)
  }
  return s.length > 40 ? `${s.slice(0, 37)}...` : s
}

/**
 * Rewrites `$n` placeholders to `$(n + shift)` so several fragments can share
 * one parameter list. Placeholders inside string literals, quoted names,
 * dollar-quoted bodies and comments are left alone. Every value must be
 * referenced: PostgreSQL cannot type a parameter nobody uses.
 */
export function renumber(fragment: SqlFragment, shift: number): string {
  if (fragment === null || typeof fragment !== 'object' || typeof fragment.text !== 'string') {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_FILTER', ['expected { text, values }'])
  }
  const { text } = fragment
  const count = fragment.values?.length ?? 0
  if (fragment.values !== undefined && !Array.isArray(fragment.values)) {
    throw new HotpathError('HP_ERR_PAGINATION_INVALID_FILTER', ['values must be an array'])
  }
  if (text.trim() === '') throw new HotpathError('HP_ERR_PAGINATION_INVALID_FILTER', ['empty text'])
  const used = new Uint8Array(count + 1)
  let out = ''
  let from = 0
  let i = 0
  const n = text.length
  while (i < n) {
    const c = text.charCodeAt(i)
    if (c === 39 /* ' */) {
      // E'…' strings take backslash escapes; standard strings only ''.
      const escapes = i > 0 && (text[i - 1] === 'E' || text[i - 1] === 'e') && !word(text, i - 2)
      i = skipQuoted(text, i, "'", escapes)
    } else if (c === 34 /* " */) {
      i = skipQuoted(text, i, '"', false)
    } else if (c === 45 /* - */ && text.charCodeAt(i + 1) === 45) {
      const end = text.indexOf('\n', i)
      i = end < 0 ? n : end + 1
    } else if (c === 47 /* / */ && text.charCodeAt(i + 1) === 42 /* * */) {
      i = skipBlockComment(text, i)
    } else if (c === 36 /* $ */ && !word(text, i - 1)) {
      const digits = /^\$(\d+)/.exec(text.slice(i, i + 12))
      if (digits) {
        const index = Number(digits[1])
        if (index < 1 || index > count) {
          throw new HotpathError('HP_ERR_PAGINATION_INVALID_FILTER', [
            `$${index} has no value (${count} given)`,
          ])
        }
        used[index] = 1
        out += `${text.slice(from, i)}$${index + shift}`
        i += digits[0].length
        from = i
      } else {
        const tag = /^\$(?:[A-Za-z_][A-Za-z0-9_]*)?\$/.exec(text.slice(i, i + 80))
        if (tag) {
          const end = text.indexOf(tag[0], i + tag[0].length)
          if (end < 0) throw unterminated('dollar-quoted string')
          i = end + tag[0].length
        } else i++
      }
    } else i++
  }
  for (let k = 1; k <= count; k++) {
    if (used[k] === 0) {
      throw new HotpathError('HP_ERR_PAGINATION_INVALID_FILTER', [
        `value ${k} is never used ($${k})`,
      ])
    }
  }
  return from === 0 ? text : out + text.slice(from)
}

function word(text: string, i: number): boolean {
  return i >= 0 && /[A-Za-z0-9_$]/.test(text[i]!)
}

function unterminated(what: string): HotpathError {
  return new HotpathError('HP_ERR_PAGINATION_INVALID_FILTER', [`unterminated ${what}`])
}

function skipQuoted(text: string, start: number, quote: string, escapes: boolean): number {
  let i = start + 1
  while (i < text.length) {
    const ch = text[i]
    if (escapes && ch === '\\') i += 2
    else if (ch === quote) {
      if (text[i + 1] === quote) i += 2
      else return i + 1
    } else i++
  }
  throw unterminated(quote === "'" ? 'string literal' : 'quoted identifier')
}

function skipBlockComment(text: string, start: number): number {
  // Block comments nest in PostgreSQL.
  let depth = 0
  let i = start
  while (i < text.length) {
    if (text[i] === '/' && text[i + 1] === '*') {
      depth++
      i += 2
    } else if (text[i] === '*' && text[i + 1] === '/') {
      depth--
      i += 2
      if (depth === 0) return i
    } else i++
  }
  throw unterminated('comment')
}

/** Normalizes `where` (one fragment or several) into a list, checked once. */
export function fragments(
  where: SqlFragment | readonly SqlFragment[] | undefined,
): readonly SqlFragment[] {
  if (where === undefined || where === null) return []
  const list = Array.isArray(where) ? (where as readonly SqlFragment[]) : [where as SqlFragment]
  return list
}

/**
 * Joins fragments with AND, each in parentheses, numbering their placeholders
 * one after the other from `$(shift + 1)`. Pushes their values onto `values`.
 */
export function conjunction(list: readonly SqlFragment[], values: unknown[]): string {
  let sql = ''
  for (const f of list) {
    const text = renumber(f, values.length)
    if (f.values) for (const v of f.values) values.push(v)
    sql += sql === '' ? `(${text})` : ` AND (${text})`
  }
  return sql
}
