/**
 * Every error hotpath throws, declared once: a stable code, an HTTP status
 * for adapters that turn errors into responses, and a message template.
 * Match on `err.code`, never on the message.
 */
const table = {
  HP_ERR_INVALID_OPTION: { status: 500, message: 'Invalid option %s: %s' },
  HP_ERR_CACHE_INVALID_KEY: { status: 400, message: 'Invalid cache key: %s' },
  HP_ERR_CACHE_INVALID_TTL: { status: 400, message: 'Invalid TTL: %s' },
  HP_ERR_CACHE_UNKNOWN_TIER: { status: 400, message: 'Unknown cache tier "%s" (known: %s)' },
  HP_ERR_CACHE_INVALID_TAG: { status: 400, message: 'Invalid cache tag: %s' },
  HP_ERR_CACHE_INVALID_VALUE: { status: 400, message: 'Value cannot be cached: %s' },
  HP_ERR_CACHE_FACTORY_TIMEOUT: {
    status: 504,
    message: 'Cache factory for "%s" did not finish within %s ms',
  },
  HP_ERR_CACHE_CLOSED: { status: 500, message: 'The cache is closed' },
  // db
  HP_ERR_DB_UNAVAILABLE: { status: 503, message: 'Database %s is unavailable: %s' },
  HP_ERR_DB_POOL_TIMEOUT: {
    status: 503,
    message: 'No connection to %s within %s ms (pool of %s exhausted)',
  },
  HP_ERR_DB_QUERY_TIMEOUT: { status: 504, message: 'Statement exceeded its timeout: %s' },
  HP_ERR_DB_SERIALIZATION: {
    status: 409,
    message: 'Transaction failed after %s attempts (%s)',
  },
  HP_ERR_DB_INVALID_IDENTIFIER: { status: 500, message: 'Invalid SQL identifier: %s' },
  HP_ERR_DB_INVALID_INPUT: { status: 400, message: 'Invalid input: %s' },
  HP_ERR_DB_UNSUPPORTED: { status: 501, message: '%s is not supported by %s' },
  HP_ERR_DB_MIGRATION: { status: 500, message: 'Migration %s failed: %s' },
  HP_ERR_DB_CLOSED: { status: 500, message: 'The database client is closed' },
  // pagination
  HP_ERR_PAGINATION_INVALID_CURSOR: { status: 400, message: 'Invalid cursor: %s' },
  HP_ERR_PAGINATION_INVALID_SORT: { status: 400, message: 'Invalid sort: %s' },
  HP_ERR_PAGINATION_INVALID_LIMIT: {
    status: 400,
    message: 'Invalid limit %s: expected an integer from 1 to %s',
  },
  HP_ERR_PAGINATION_INVALID_PAGE: {
    status: 400,
    message: 'Invalid page %s: expected an integer from 1',
  },
  HP_ERR_PAGINATION_TOO_DEEP: {
    status: 400,
    message: 'Page %s of %s rows goes past the maximum depth of %s rows: use cursor pagination',
  },
  HP_ERR_PAGINATION_INVALID_IDENTIFIER: {
    status: 500,
    message: 'Invalid SQL identifier for %s: %s',
  },
  HP_ERR_PAGINATION_INVALID_FILTER: { status: 500, message: 'Invalid filter fragment: %s' },
  HP_ERR_PAGINATION_INVALID_ROWS: { status: 500, message: 'Rows do not match the query: %s' },
  // http
  HP_ERR_HTTP_BAD_REQUEST: { status: 400, message: '%s' },
  HP_ERR_HTTP_INVALID_JSON: { status: 400, message: 'The request body is not valid JSON: %s' },
  HP_ERR_HTTP_BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than %s bytes' },
  HP_ERR_HTTP_UNKNOWN_FIELD: { status: 400, message: 'Unknown field(s) in fields: %s' },
  HP_ERR_HTTP_RATE_LIMITED: { status: 429, message: 'Too many requests: retry after %s s' },
  HP_ERR_HTTP_OVERLOADED: { status: 503, message: 'The service is overloaded: retry after %s s' },
  HP_ERR_HTTP_NOT_FOUND: { status: 404, message: 'Not found: %s' },
  HP_ERR_HTTP_VALIDATION: { status: 400, message: 'Invalid request: %s' },
  HP_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE: { status: 415, message: 'Unsupported media type: %s' },
  // guide
  HP_ERR_GUIDE_STATE: { status: 500, message: '%s: %s' },
  // load
  HP_ERR_LOAD_INVALID_THRESHOLD: { status: 500, message: 'Invalid threshold "%s": %s' },
  HP_ERR_LOAD_INVALID_SCENARIO: { status: 500, message: 'Invalid scenario %s: %s' },
  HP_ERR_LOAD_SCENARIO_FILE: { status: 500, message: 'Cannot load scenario file %s: %s' },
  HP_ERR_LOAD_INVALID_RESULT: { status: 500, message: 'Not a hotpath load result (%s): %s' },
} as const satisfies Record<string, { status: number; message: string }>

export type ErrorCode = keyof typeof table

export class HotpathError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C
  readonly statusCode: number

  constructor(code: C, args: readonly unknown[] = [], options?: { cause?: unknown }) {
    const def = table[code]
    let i = 0
    super(
      def.message.replace(/%s/g, () => String(args[i++])),
      options?.cause === undefined ? undefined : { cause: options.cause },
    )
    this.name = 'HotpathError'
    this.code = code
    this.statusCode = def.status
  }
}

export function isHotpathError<C extends ErrorCode>(
  err: unknown,
  code?: C,
): err is HotpathError<C> {
  return err instanceof HotpathError && (code === undefined || err.code === code)
}

/** The table itself, read-only: the docs' error list is tested against it. */
export const errorCodes: Readonly<Record<ErrorCode, { status: number; message: string }>> =
  Object.freeze(table)
