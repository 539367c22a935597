import { HotpathError } from '../errors.ts'

const UNAVAILABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ETIMEDOUT',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000',
  '08003',
  '08006',
  '08001',
  '08004',
])

export function sqlState(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : undefined
}

/** A connection-level failure: the server is down or unreachable, not the statement at fault. */
export function isUnavailable(err: unknown): boolean {
  if (err instanceof HotpathError) return err.code === 'HP_ERR_DB_UNAVAILABLE'
  const code = sqlState(err)
  if (code !== undefined && UNAVAILABLE.has(code)) return true
  const msg = (err as Error | null)?.message ?? ''
  return /Connection terminated|connection timeout|Client has encountered a connection error|not queryable/i.test(
    msg,
  )
}

/**
 * Maps driver errors to hotpath's typed errors where the cause is ours to name
 * (unavailable server, exhausted pool, statement timeout); SQL errors pass
 * through with their SQLSTATE `code` untouched.
 */
export function mapError(
  err: unknown,
  endpoint: string,
  poolMax: number,
  connectTimeoutMs: number,
): unknown {
  if (err instanceof HotpathError) return err
  const msg = (err as Error | null)?.message ?? String(err)
  if (/timeout exceeded when trying to connect/i.test(msg)) {
    return new HotpathError('HP_ERR_DB_POOL_TIMEOUT', [endpoint, connectTimeoutMs, poolMax], {
      cause: err,
    })
  }
  if (sqlState(err) === '57014') {
    return new HotpathError('HP_ERR_DB_QUERY_TIMEOUT', [msg], { cause: err })
  }
  if (sqlState(err) === '08P01' && /startup parameter/i.test(msg)) {
    return new HotpathError(
      'HP_ERR_DB_UNAVAILABLE',
      [endpoint, `${msg} (behind PgBouncer, create the db with { pgbouncer: true })`],
      { cause: err },
    )
  }
  if (isUnavailable(err)) {
    return new HotpathError('HP_ERR_DB_UNAVAILABLE', [endpoint, msg], { cause: err })
  }
  return err
}
