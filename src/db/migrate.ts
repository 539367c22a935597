import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'
import type { Session } from './endpoint.ts'
import { quoteIdent } from './identifiers.ts'
import { txOf } from './scope.ts'

export interface MigrateOptions {
  /** A folder of `*.sql` files, applied in file-name order (code-point order: zero-pad numbers). */
  dir?: string
  /** Or the migrations themselves, in order. */
  migrations?: readonly { name: string; sql: string }[]
  /** The table that records applied migrations, optionally schema-qualified. Default: `hotpath_migrations`. */
  table?: string
  /**
   * Statement timeout while migrating, in ms, for each migration and for the
   * wait on the lock (0: none). It replaces the pool's `statementTimeoutMs`,
   * which is sized for requests, not for DDL. Default: 0.
   */
  statementTimeoutMs?: number
}

export interface MigrateResult {
  /** Migrations this call applied, in order. */
  applied: string[]
  /** Migrations found already applied (by an earlier run or by a concurrent process). */
  skipped: string[]
}

/** First line that makes a file run outside a transaction (e.g. `CREATE INDEX CONCURRENTLY`). */
export const NO_TRANSACTION = '-- hotpath:no-transaction'

interface Migration {
  name: string
  sql: string
  checksum: string
  transactional: boolean
}

interface Resolved {
  table: string
  /** The advisory lock key: one per migrations table, the same in every process. */
  key: string
  timeoutMs: number
}

/**
 * Applies pending migrations in order. Each runs in its own transaction that
 * first takes a transaction-level advisory lock and re-checks the table, so
 * concurrent processes never apply one twice, and it holds behind PgBouncer in
 * transaction mode (a session-level lock would not). A migration whose recorded
 * checksum no longer matches its file is an error, never re-applied; a failing
 * migration is rolled back and stops the run.
 *
 * A file whose first line is `-- hotpath:no-transaction` runs statement by
 * statement outside a transaction, under a session-level advisory lock on one
 * dedicated connection: that case is not safe behind PgBouncer in transaction
 * mode (point `migrate` at the server directly), and a failure part-way leaves
 * the statements before it applied, so write such files to be re-runnable
 * (`CREATE INDEX CONCURRENTLY IF NOT EXISTS`).
 */
export async function migrate(db: Db, options: MigrateOptions): Promise<MigrateResult> {
  if (txOf(db)) {
    // Each migration commits on its own: inside a caller's transaction it could not.
    throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['migrate', 'an open transaction'])
  }
  const o = resolve(options)
  const migrations = await load(options)
  const recorded = await db.transaction(
    async () => {
      await lock(db, o)
      await db.query(
        `CREATE TABLE IF NOT EXISTS ${o.table} (name text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
      )
      const r = await db.query<{ name: string; checksum: string }>(
        `SELECT name, checksum FROM ${o.table}`,
      )
      return new Map(r.rows.map((row) => [row.name, row.checksum]))
    },
    { isolation: 'read committed' },
  )
  // Every applied file is checked before anything runs: an edited history stops the run whole.
  for (const m of migrations) {
    const sum = recorded.get(m.name)
    if (sum !== undefined) verify(m, sum)
  }
  const result: MigrateResult = { applied: [], skipped: [] }
  for (const m of migrations) {
    if (recorded.has(m.name)) {
      result.skipped.push(m.name)
      continue
    }
    const done = m.transactional ? await applyInTransaction(db, o, m) : await applyAlone(db, o, m)
    ;(done ? result.applied : result.skipped).push(m.name)
  }
  return result
}

// ---- applying --------------------------------------------------------------

/** True when this call applied `m`; false when another process had, meanwhile. */
async function applyInTransaction(db: Db, o: Resolved, m: Migration): Promise<boolean> {
  try {
    return await db.transaction(
      async () => {
        await lock(db, o)
        // Read committed: this statement sees every commit made before the lock was granted.
        if (await isRecorded(db, o, m)) return false
        const { session } = await db.session() // the transaction's own connection
        await runScript(db, session, m.sql)
        await db.query(`INSERT INTO ${o.table} (name, checksum) VALUES ($1, $2)`, [
          m.name,
          m.checksum,
        ])
        return true
      },
      { isolation: 'read committed' },
    )
  } catch (err) {
    throw failure(m, err)
  }
}

/** A no-transaction migration: one connection, a session-level lock, statement by statement. */
async function applyAlone(db: Db, o: Resolved, m: Migration): Promise<boolean> {
  let session: Session
  try {
    session = (await db.session()).session
  } catch (err) {
    throw failure(m, err)
  }
  let broken: Error | undefined
  let locked = false
  try {
    await session.query(`SET statement_timeout = ${o.timeoutMs}`)
    await session.query('SELECT pg_advisory_lock($1)', [o.key])
    locked = true
    const r = await session.query<{ checksum: string }>(
      `SELECT checksum FROM ${o.table} WHERE name = $1`,
      [m.name],
    )
    if (r.rows[0] !== undefined) {
      verify(m, r.rows[0].checksum)
      return false
    }
    for (const statement of splitStatements(m.sql)) await session.query(statement)
    await session.query(`INSERT INTO ${o.table} (name, checksum) VALUES ($1, $2)`, [
      m.name,
      m.checksum,
    ])
    return true
  } catch (err) {
    throw failure(m, err)
  } finally {
    try {
      if (locked) await session.query('SELECT pg_advisory_unlock($1)', [o.key])
      await session.query('RESET statement_timeout')
    } catch (err) {
      // A connection that cannot unlock must not go back to the pool still holding the lock.
      broken = err as Error
    }
    session.release(broken)
  }
}

async function lock(db: Db, o: Resolved): Promise<void> {
  // Before the lock: waiting for another process's long migration must not time out.
  await db.query(`SET LOCAL statement_timeout = ${o.timeoutMs}`)
  await db.query('SELECT pg_advisory_xact_lock($1)', [o.key])
}

async function isRecorded(db: Db, o: Resolved, m: Migration): Promise<boolean> {
  const r = await db.query<{ checksum: string }>(
    `SELECT checksum FROM ${o.table} WHERE name = $1`,
    [m.name],
  )
  if (r.rows[0] === undefined) return false
  verify(m, r.rows[0].checksum)
  return true
}

/**
 * Runs a whole file in one round trip. node-postgres uses the simple query
 * protocol when a query has no values, and that protocol accepts several
 * statements; PGlite's `query` always prepares, so its `exec` does the same job.
 */
async function runScript(db: Db, session: Session, sql: string): Promise<void> {
  if (db.embedded) {
    await (session.native as { exec(sql: string): Promise<unknown> }).exec(sql)
  } else {
    await session.query(sql)
  }
}

function verify(m: Migration, recorded: string): void {
  if (recorded === m.checksum) return
  throw new HotpathError('HP_ERR_DB_MIGRATION', [
    m.name,
    `it was applied with checksum ${recorded.slice(0, 12)}… and its content has changed since (now ${m.checksum.slice(0, 12)}…); add a new migration instead of editing an applied one`,
  ])
}

function failure(m: Migration, err: unknown): HotpathError {
  if (err instanceof HotpathError && err.code === 'HP_ERR_DB_MIGRATION') return err
  const reason = (err as Error | null)?.message ?? String(err)
  const code = (err as { code?: unknown } | null)?.code
  const detail = typeof code === 'string' ? `${reason} (${code})` : reason
  return new HotpathError(
    'HP_ERR_DB_MIGRATION',
    [m.name, m.transactional ? `${detail}; rolled back` : detail],
    { cause: err },
  )
}

// ---- options and sources ---------------------------------------------------

function resolve(options: MigrateOptions): Resolved {
  const name = options.table ?? 'hotpath_migrations'
  const table = quoteIdent(name)
  const t = options.statementTimeoutMs ?? 0
  if (!Number.isInteger(t) || t < 0) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      'statementTimeoutMs',
      `expected an integer ≥ 0, got ${String(t)}`,
    ])
  }
  // A signed 64-bit key from the table's name: stable across processes and releases.
  const key = createHash('sha256').update(`hotpath:migrate:${name}`).digest().readBigInt64BE(0)
  return { table, key: key.toString(), timeoutMs: t }
}

async function load(options: MigrateOptions): Promise<Migration[]> {
  if ((options.dir === undefined) === (options.migrations === undefined)) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['dir / migrations', 'give exactly one'])
  }
  let list: { name: string; sql: string }[]
  if (options.dir !== undefined) {
    const dir = options.dir
    let names: string[]
    try {
      names = (await readdir(dir, { withFileTypes: true }))
        .filter((e) => e.isFile() && e.name.endsWith('.sql'))
        .map((e) => e.name)
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    } catch (err) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['dir', (err as Error).message], {
        cause: err,
      })
    }
    list = await Promise.all(
      names.map(async (name) => ({ name, sql: await readFile(join(dir, name), 'utf8') })),
    )
  } else {
    if (!Array.isArray(options.migrations)) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['migrations', 'expected an array'])
    }
    list = [...options.migrations]
  }
  const seen = new Set<string>()
  return list.map((m, i) => {
    if (typeof m?.name !== 'string' || m.name === '' || typeof m.sql !== 'string') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', [
        `migrations[${i}]`,
        'expected { name: non-empty string, sql: string }',
      ])
    }
    if (seen.has(m.name)) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['migrations', `"${m.name}" appears twice`])
    }
    seen.add(m.name)
    // Line endings and a byte-order mark are not content: a checkout on Windows must not look edited.
    const sql = m.sql.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n')
    const nl = sql.indexOf('\n')
    const first = (nl === -1 ? sql : sql.slice(0, nl)).trim()
    return {
      name: m.name,
      sql,
      checksum: createHash('sha256').update(sql).digest('hex'),
      transactional: first !== NO_TRANSACTION,
    }
  })
}

// ---- statement splitting (no-transaction files only) ------------------------

const DOLLAR = /\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/y

/**
 * Splits a script at top-level semicolons, skipping quoted strings and
 * identifiers, dollar-quoted bodies and comments. Several statements sent in
 * one simple query form an implicit transaction, which `CONCURRENTLY` refuses:
 * a no-transaction file therefore goes statement by statement. Not handled:
 * SQL-standard `BEGIN ATOMIC … END` bodies (use a dollar-quoted body there).
 */
export function splitStatements(sql: string): string[] {
  const out: string[] = []
  let start = 0
  let content = false // the current piece holds more than whitespace and comments
  let i = 0
  const n = sql.length
  const push = (end: number) => {
    if (content) out.push(sql.slice(start, end).trim())
    start = end + 1
    content = false
  }
  while (i < n) {
    const c = sql[i]!
    const next = sql[i + 1]
    if (c === '-' && next === '-') {
      const nl = sql.indexOf('\n', i)
      i = nl === -1 ? n : nl + 1
    } else if (c === '/' && next === '*') {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (sql[i] === '/' && sql[i + 1] === '*') {
          depth++
          i += 2
        } else if (sql[i] === '*' && sql[i + 1] === '/') {
          depth--
          i += 2
        } else i++
      }
    } else if (c === "'" || c === '"') {
      content = true
      const escapes = c === "'" && /[eE]/.test(sql[i - 1] ?? '') && !/\w/.test(sql[i - 2] ?? '')
      i++
      while (i < n) {
        if (escapes && sql[i] === '\\') i += 2
        else if (sql[i] === c && sql[i + 1] === c) i += 2
        else if (sql[i] === c) break
        else i++
      }
      i++
    } else if (c === '$' && !/\w/.test(sql[i - 1] ?? '')) {
      DOLLAR.lastIndex = i
      const m = DOLLAR.exec(sql)
      content = true
      if (m === null) i++
      else {
        const end = sql.indexOf(m[0], i + m[0].length)
        i = end === -1 ? n : end + m[0].length
      }
    } else if (c === ';') {
      push(i)
      i++
    } else {
      if (!/\s/.test(c)) content = true
      i++
    }
  }
  push(n)
  return out
}
