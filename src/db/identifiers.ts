import { HotpathError } from '../errors.ts'

const IDENT = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

/**
 * Quotes a table or column name, optionally schema-qualified (`shop.products`).
 * Only plain identifiers are accepted: quotes, spaces or anything else is a
 * typed error, so a name can never carry SQL.
 */
export function quoteIdent(name: unknown): string {
  if (typeof name !== 'string') {
    throw new HotpathError('HP_ERR_DB_INVALID_IDENTIFIER', [
      `expected a string, got ${typeof name}`,
    ])
  }
  const parts = name.split('.')
  if (parts.length > 2 || !parts.every((p) => IDENT.test(p))) {
    throw new HotpathError('HP_ERR_DB_INVALID_IDENTIFIER', [JSON.stringify(name)])
  }
  return parts.map((p) => `"${p}"`).join('.')
}
