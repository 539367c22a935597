import { setTimeout as sleep } from 'node:timers/promises'
import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'
import type { Session } from './endpoint.ts'
import { quoteIdent } from './identifiers.ts'
import {
  column,
  type IndexColumn,
  type IndexMethod,
  indexName,
  invalid,
  type ResolvedKey,
  resolveKeys,
  trustedSql,
} from './index-keys.ts'
import { txOf } from './scope.ts'

export type {
  IndexColumn,
  IndexColumnSpec,
  IndexExpressionSpec,
  IndexMethod,
  ResolvedKey,
} from './index-keys.ts'
export { type IndexReport, type IndexReportOptions, indexReport } from './index-report.ts'

export interface CreateIndexOptions {
  /** Default: false. btree only. */
  unique?: boolean
  /** Default: 'btree'. */
  method?: IndexMethod
  /**
   * Partial index predicate, SQL pasted as is (`"deleted_at IS NULL"`): trusted
   * input written in code, never user input. One expression: a `;` that would
   * start another statement is refused.
   */
  where?: string
  /** Non-key columns stored in the index (btree; gist from PostgreSQL 12). */
  include?: readonly string[]
  /**
   * Build without blocking writes (`CREATE INDEX CONCURRENTLY`), on a connection
   * of its own. Refused inside `db.transaction`: PostgreSQL cannot run it in a
   * transaction block. Default: false.
   */
  concurrently?: boolean
  /** Default: `<table>_<columns>_idx`, cut to 63 bytes with a hash when longer. */
  name?: string
}

export interface CreateIndexResult {
  name: string
  /** False when a valid index of that name and definition already existed. */
  created: boolean
  /** True when an INVALID index of that name (a failed concurrent build) was dropped and built again. */
  rebuilt: boolean
  statement: string
}

const METHODS: readonly IndexMethod[] = ['btree', 'gin', 'gist', 'brin', 'hash']
/** How often to look again at an index another session is building. */
const BUILD_POLL_MS = 250
/** First key of createIndex's advisory locks; the second is the table's oid, hashed. */
const TURN = 0x68706978 // 'hpix'
const TABLE_KEY = 'hashtext(to_regclass($1)::oid::text)'

interface Existing {
  schema: string
  qualified: string | null
  kind: string | null
  same_table: boolean | null
  valid: boolean | null
  unique: boolean | null
  method: string | null
  nkeys: number | null
  partial: boolean | null
  building: boolean | null
  columns: (string | null)[] | null
  definition: string | null
}

const LOOKUP = `
WITH t AS (
  SELECT c.oid, c.relnamespace, n.nspname FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)
)
SELECT t.nspname AS schema, quote_ident(t.nspname) || '.' || quote_ident($2::text) AS qualified,
  x.relkind::text AS kind, i.indrelid = t.oid AS same_table, i.indisvalid AS valid,
  i.indisunique AS unique, am.amname AS method, i.indnkeyatts::int AS nkeys,
  i.indpred IS NOT NULL AS partial, pg_get_indexdef(x.oid) AS definition,
  EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = x.oid) AS building,
  ARRAY(SELECT CASE WHEN k.n = 0 THEN NULL ELSE a.attname::text END
        FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, ord)
        LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
        ORDER BY k.ord) AS columns
FROM t
LEFT JOIN pg_class x ON x.relnamespace = t.relnamespace AND x.relname = $2::text
LEFT JOIN pg_index i ON i.indexrelid = x.oid
LEFT JOIN pg_am am ON am.oid = x.relam`

/**
 * Creates an index unless a valid one of that name already exists
 * (`created: false`). An existing index of that name with another definition
 * (method, uniqueness, columns, INCLUDE, partial or not) is an error rather
 * than silently kept: pass `name` to create both. An INVALID index of that
 * name, left by a failed concurrent build, is dropped and built again; a
 * concurrent build of ours that fails drops what it left behind.
 *
 * Identifiers (table, columns, include, opclass, name) must be plain names and
 * are quoted; `where` and `{ expression }` are SQL from your code, never from
 * users.
 */
export async function createIndex(
  db: Db,
  table: string,
  columns: readonly IndexColumn[],
  options: CreateIndexOptions = {},
): Promise<CreateIndexResult> {
  const o = options ?? {}
  const method = o.method ?? 'btree'
  if (!METHODS.includes(method)) throw invalid(`method must be one of ${METHODS.join(', ')}`)
  const qtable = quoteIdent(table)
  const keys = resolveKeys(columns, method)
  const unique = o.unique ?? false
  const concurrently = o.concurrently ?? false
  if (typeof unique !== 'boolean' || typeof concurrently !== 'boolean') {
    throw invalid('unique and concurrently must be booleans')
  }
  if (unique && method !== 'btree')
    throw invalid(`a unique index needs method btree, not ${method}`)
  if (method === 'hash' && keys.length > 1) throw invalid('a hash index takes one column')
  const include = o.include ?? []
  if (!Array.isArray(include)) throw invalid('include must be an array of column names')
  if (include.length > 0 && method !== 'btree' && method !== 'gist') {
    throw invalid(`include needs method btree or gist, not ${method}`)
  }
  const where = o.where === undefined ? undefined : trustedSql('where', o.where)
  const name = o.name ?? indexName(table, keys)
  if (name.includes('.'))
    throw invalid('name is created in the table’s schema: give it unqualified')
  const qname = quoteIdent(name)

  if (concurrently && txOf(db)) {
    throw new HotpathError('HP_ERR_DB_UNSUPPORTED', [
      'createIndex({ concurrently: true })',
      'an open transaction (CONCURRENTLY cannot run in a transaction block)',
    ])
  }
  const statement =
    `CREATE ${unique ? 'UNIQUE ' : ''}INDEX ${concurrently ? 'CONCURRENTLY ' : ''}IF NOT EXISTS ` +
    `${qname} ON ${qtable} USING ${method} (${keys.map((k) => k.sql).join(', ')})` +
    (include.length > 0 ? ` INCLUDE (${include.map(column).join(', ')})` : '') +
    (where === undefined ? '' : ` WHERE ${where}`)

  const { session, own } = await db.session()
  let broken: Error | undefined
  let locked = false
  try {
    if (concurrently && !own) {
      throw new HotpathError('HP_ERR_DB_UNSUPPORTED', [
        'createIndex({ concurrently: true })',
        'a transaction',
      ])
    }
    // Two concurrent builds on one table deadlock in PostgreSQL: ours take turns.
    if (concurrently) locked = await takeTurn(session, qtable)
    if (method === 'gist' && include.length > 0) await needVersion(session, 120000, 'gist INCLUDE')
    const want: Wanted = { method, unique, partial: where !== undefined, keys, include }
    for (let attempt = 1; ; attempt++) {
      const found = await settled(session, qtable, name, table)
      let rebuilt = false
      if (found.kind !== null) {
        check(found, name, want)
        if (found.valid === true) return { name, created: false, rebuilt: false, statement }
        const how = concurrently ? 'CONCURRENTLY ' : ''
        await session.query(`DROP INDEX ${how}IF EXISTS ${found.qualified}`)
        rebuilt = true
      }
      try {
        await session.query(statement)
      } catch (err) {
        // Another process created the same name between our look and our build: look again.
        if (attempt === 1 && nameClash(err)) continue
        if (concurrently) await dropIfInvalid(session, found.qualified!)
        throw err
      }
      // IF NOT EXISTS may have deferred to another session's build: wait for it to finish.
      if (concurrently) await settled(session, qtable, name, table)
      return { name, created: true, rebuilt, statement }
    }
  } catch (err) {
    if (own && isBroken(err)) broken = err as Error
    throw err
  } finally {
    if (locked) {
      // A connection that cannot unlock must not go back to the pool still holding the lock.
      broken = (await endTurn(session, qtable)) ?? broken
    }
    if (own) session.release(broken)
  }
}

async function endTurn(session: Session, qtable: string): Promise<Error | undefined> {
  try {
    const r = await session.query<{ ok: boolean }>(
      `SELECT pg_advisory_unlock(${TURN}, ${TABLE_KEY}) AS ok`,
      [qtable],
    )
    return r.rows[0]?.ok === true ? undefined : new Error('advisory lock not held')
  } catch (err) {
    return err as Error
  }
}

/**
 * A session-level advisory lock per table, polled with pg_try_advisory_lock
 * so the waiting session holds no snapshot: a blocking wait would itself be
 * waited for by the running build. False (no lock) when the table does not
 * exist: the lookup then says so.
 */
async function takeTurn(session: Session, qtable: string): Promise<boolean> {
  for (;;) {
    const r = await session.query<{ ok: boolean | null }>(
      `SELECT pg_try_advisory_lock(${TURN}, ${TABLE_KEY}) AS ok`,
      [qtable],
    )
    const ok = r.rows[0]?.ok ?? null
    if (ok !== false) return ok === true
    await sleep(BUILD_POLL_MS)
  }
}

interface Wanted {
  method: IndexMethod
  unique: boolean
  partial: boolean
  keys: readonly ResolvedKey[]
  include: readonly string[]
}

/** An index of that name must be this very index (on this table, same shape), or it is an error. */
function check(found: Existing, name: string, want: Wanted): void {
  if (found.kind !== 'i' && found.kind !== 'I') {
    throw invalid(`"${name}" already exists in schema ${found.schema} and is not an index`)
  }
  if (found.same_table !== true) {
    throw invalid(`index "${name}" already exists on another table; pass another name`)
  }
  const nkeys = found.nkeys ?? 0
  const same =
    found.method === want.method &&
    found.unique === want.unique &&
    found.partial === want.partial &&
    sameList(
      found.columns?.slice(0, nkeys),
      want.keys.map((k) => k.column),
    ) &&
    sameList(found.columns?.slice(nkeys), want.include)
  if (!same) {
    throw invalid(
      `index "${name}" already exists with another definition (${found.definition}); pass another name`,
    )
  }
}

/**
 * The index of that name as it stands once no other session is building it
 * (a second process starting up): its outcome decides, its half-built index is
 * never dropped. Seeing other roles' builds needs pg_read_all_stats.
 */
async function settled(
  session: Session,
  qtable: string,
  name: string,
  table: string,
): Promise<Existing> {
  for (;;) {
    const found = await lookup(session, qtable, name, table)
    if (found.valid !== false || found.building !== true) return found
    await sleep(BUILD_POLL_MS)
  }
}

/** The name was taken by a concurrent CREATE (duplicate relation, or pg_class's unique index). */
function nameClash(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null
  return (
    e?.code === '42P07' || (e?.code === '23505' && e.constraint === 'pg_class_relname_nsp_index')
  )
}

async function lookup(session: Session, qtable: string, name: string, table: string) {
  const found = (await session.query<Existing>(LOOKUP, [qtable, name])).rows[0]
  if (found === undefined) throw invalid(`table ${table} does not exist`)
  return found
}

function sameList(
  a: readonly (string | null)[] | undefined,
  b: readonly (string | null)[],
): boolean {
  return a !== undefined && a.length === b.length && a.every((x, i) => x === b[i])
}

async function needVersion(session: Session, min: number, what: string): Promise<void> {
  const r = await session.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")
  const v = Number(r.rows[0]?.v)
  if (v < min) throw new HotpathError('HP_ERR_DB_UNSUPPORTED', [what, `PostgreSQL ${v}`])
}

/** A failed CONCURRENTLY build leaves an INVALID index behind: ours to remove (best effort). */
async function dropIfInvalid(session: Session, qualified: string): Promise<void> {
  try {
    const r = await session.query<{ valid: boolean }>(
      `SELECT i.indisvalid AS valid FROM pg_index i WHERE i.indexrelid = to_regclass($1)
       AND NOT EXISTS (SELECT 1 FROM pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid)`,
      [qualified],
    )
    if (r.rows[0]?.valid === false)
      await session.query(`DROP INDEX CONCURRENTLY IF EXISTS ${qualified}`)
  } catch {
    // The build's own error is the one to report.
  }
}

/** Errors that leave the connection unusable (as opposed to SQL errors). */
function isBroken(err: unknown): boolean {
  return err instanceof HotpathError && err.code === 'HP_ERR_DB_UNAVAILABLE'
}
