import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pg from 'pg'
import copyStreams from 'pg-copy-streams'
import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'
import type { Result, Session } from './endpoint.ts'
import { quoteIdent } from './identifiers.ts'
import { isUnavailable, mapError } from './pg-errors.ts'
import { storage } from './scope.ts'

export interface BatchInsertOptions {
  /**
   * `'ignore'` (`ON CONFLICT DO NOTHING`), or `{ target, update }` for an
   * upsert: `update` lists the columns set from the new row (default: every
   * inserted column not in `target`; `[]`: do nothing on conflict). Default: none.
   */
  onConflict?: 'ignore' | { target: readonly string[]; update?: readonly string[] }
  /** Rows from which COPY is used instead of multi-row INSERT (measured: COPY wins from a few hundred rows). Default: 500. */
  copyThreshold?: number
  /** Most rows per multi-row INSERT (fewer when 65,535 parameters come first). Default: 1000. */
  maxRowsPerStatement?: number
  /** A stable name for metrics; default: each statement's fingerprint. */
  name?: string
}

export interface BatchInsertResult {
  /** Rows written: with an upsert, inserted or updated; with `'ignore'`, the rows not skipped. */
  inserted: number
  method: 'values' | 'copy'
}

/** A row: values in column order, or an object keyed by column name (missing keys are NULL). */
export type BatchRow = readonly unknown[] | Readonly<Record<string, unknown>>

/** The wire protocol counts a statement's parameters in 16 bits. */
const MAX_PARAMS = 65_535
/** COPY data is handed to the socket in pieces of about this many characters. */
const COPY_CHUNK = 64 * 1024

export const batchDefaults = Object.freeze({ copyThreshold: 500, maxRowsPerStatement: 1000 })

interface Plan {
  target: string
  /** The quoted column list, `"a", "b"`. */
  cols: string
  width: number
  rows: readonly (readonly unknown[])[]
  conflict: string
  copyThreshold: number
  rowsPerStatement: number
  /** Columns holding a JS array somewhere: they need the json lookup. */
  arrayCols: number[]
}

/**
 * Inserts many rows: multi-row parameterized INSERTs (chunked under the
 * parameter limit, all-or-nothing) for small sets, COPY for large ones. Inside
 * `db.transaction` everything runs in that transaction. Input is checked
 * whole before anything is sent.
 */
export async function batchInsert(
  db: Db,
  table: string,
  columns: readonly string[],
  rows: readonly BatchRow[],
  options: BatchInsertOptions = {},
): Promise<BatchInsertResult> {
  const plan = planInsert(table, columns, rows, options)
  // PGlite has no COPY … FROM STDIN (no socket, no pg-copy-streams), so the
  // embedded database always takes multi-row INSERTs. Its own `COPY … FROM
  // '/dev/blob'` with a Blob would work (measured ~3× faster at 20k rows) but
  // needs the whole data as one Blob in memory.
  const method = !db.embedded && plan.rows.length >= plan.copyThreshold ? 'copy' : 'values'
  if (plan.rows.length === 0) return { inserted: 0, method }

  const scope = storage.getStore()
  const { session, endpoint, own } = await db.session()
  const where = own ? endpoint.name : 'tx'
  const run = async (text: string, values?: readonly unknown[]): Promise<Result> => {
    const t0 = performance.now()
    let ok = false
    try {
      const r = await session.query(text, values)
      ok = true
      return r
    } finally {
      db.observer.observe(text, options.name, where, performance.now() - t0, ok, scope)
    }
  }

  const chunks = Math.ceil(plan.rows.length / plan.rowsPerStatement)
  // Several statements are made one by opening a transaction, unless the caller's is open.
  const needTx = own && (method === 'copy' ? plan.conflict !== '' : chunks > 1)
  let inTx = false
  let broken: Error | undefined
  try {
    const json = plan.arrayCols.length > 0 ? await jsonColumns(run, plan) : NO_JSON
    if (needTx) {
      await session.query('BEGIN')
      inTx = true
    }
    const inserted =
      method === 'values'
        ? await insertValues(run, plan, json)
        : await insertCopy(db, session, where, plan, json, own, options.name, run)
    if (inTx) {
      inTx = false
      await session.query('COMMIT')
    }
    return { inserted, method }
  } catch (err) {
    if (inTx) {
      await session.query('ROLLBACK').catch((e: Error) => {
        broken = e
      })
    } else if (own && isUnavailable(err)) {
      broken = err as Error
    }
    throw err
  } finally {
    if (own) {
      session.release(broken)
      // Read-your-writes: later reads in this scope go to the primary.
      if (scope !== undefined) scope.wrote = true
    }
  }
}

// ---- input --------------------------------------------------------------

function invalid(message: string): HotpathError {
  return new HotpathError('HP_ERR_DB_INVALID_INPUT', [message])
}

function positiveInt(name: string, v: unknown, fallback: number): number {
  if (v === undefined) return fallback
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [name, `expected an integer ≥ 1, got ${v}`])
  }
  return v
}

function planInsert(
  table: string,
  columns: readonly string[],
  rows: readonly BatchRow[],
  options: BatchInsertOptions,
): Plan {
  const target = quoteIdent(table)
  if (!Array.isArray(columns) || columns.length === 0) {
    throw invalid('columns must be a non-empty array of column names')
  }
  const quoted = columns.map((c) => {
    if (typeof c === 'string' && c.includes('.')) throw invalid(`column ${JSON.stringify(c)}`)
    return quoteIdent(c)
  })
  if (new Set(columns).size !== columns.length) throw invalid('columns has duplicates')
  if (!Array.isArray(rows)) throw invalid('rows must be an array')
  const width = columns.length
  const index = new Map(columns.map((c, i) => [c, i]))
  const arrays = new Set<number>()
  const out: (readonly unknown[])[] = new Array(rows.length)
  for (let i = 0; i < rows.length; i++) {
    let row = rows[i] as unknown
    if (Array.isArray(row)) {
      if (row.length !== width) {
        throw invalid(`row ${i} has ${row.length} values for ${width} columns`)
      }
    } else if (isPlainObject(row)) {
      const obj = row
      for (const k of Object.keys(obj)) {
        if (!index.has(k)) throw invalid(`row ${i} has key ${JSON.stringify(k)}, not a column`)
      }
      row = columns.map((c) => obj[c])
    } else {
      throw invalid(`row ${i} is not an array (nor an object keyed by column)`)
    }
    const values = row as readonly unknown[]
    for (let j = 0; j < width; j++) {
      const v = values[j]
      if (typeof v === 'object' && v !== null) {
        if (Array.isArray(v)) arrays.add(j)
        else if (v instanceof Date && Number.isNaN(v.getTime())) {
          throw invalid(`row ${i}, column ${columns[j]}: invalid Date`)
        }
      } else if (typeof v === 'symbol' || typeof v === 'function') {
        throw invalid(`row ${i}, column ${columns[j]}: a ${typeof v} cannot be stored`)
      }
    }
    out[i] = values
  }
  const maxRows = positiveInt(
    'maxRowsPerStatement',
    options.maxRowsPerStatement,
    batchDefaults.maxRowsPerStatement,
  )
  return {
    target,
    cols: quoted.join(', '),
    width,
    rows: out,
    conflict: conflictClause(options.onConflict, columns),
    copyThreshold: positiveInt('copyThreshold', options.copyThreshold, batchDefaults.copyThreshold),
    rowsPerStatement: Math.max(1, Math.min(maxRows, Math.floor(MAX_PARAMS / width))),
    arrayCols: [...arrays],
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function conflictClause(c: BatchInsertOptions['onConflict'], columns: readonly string[]): string {
  if (c === undefined) return ''
  if (c === 'ignore') return ' ON CONFLICT DO NOTHING'
  if (typeof c !== 'object' || c === null || !Array.isArray(c.target) || c.target.length === 0) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', [
      'onConflict',
      "'ignore' or { target: columns, update?: columns }",
    ])
  }
  const target = c.target.map(quoteIdent).join(', ')
  const update = c.update ?? columns.filter((col) => !c.target.includes(col))
  if (!Array.isArray(update)) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['onConflict.update', 'an array of columns'])
  }
  if (update.length === 0) return ` ON CONFLICT (${target}) DO NOTHING`
  const sets = update.map((col) => {
    // EXCLUDED holds only the inserted columns: any other would silently become its default.
    if (!columns.includes(col)) throw invalid(`onConflict.update: ${col} is not an inserted column`)
    const q = quoteIdent(col)
    return `${q} = EXCLUDED.${q}`
  })
  return ` ON CONFLICT (${target}) DO UPDATE SET ${sets.join(', ')}`
}

// ---- json columns ---------------------------------------------------------

type Run = (text: string, values?: readonly unknown[]) => Promise<Result>
const NO_JSON: ReadonlySet<number> = new Set()

/**
 * A JS array means a PostgreSQL array, except in a json/jsonb column where it
 * means a JSON array: node-postgres sends it as `{…}` there, which fails. So
 * when a batch holds arrays, one catalog query says which columns are json.
 */
async function jsonColumns(run: Run, plan: Plan): Promise<ReadonlySet<number>> {
  const r = await run(
    `SELECT attname FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 0 AND NOT attisdropped
        AND atttypid IN ('json'::regtype, 'jsonb'::regtype)`,
    [plan.target],
  )
  const names = new Set(r.rows.map((x) => `"${String(x.attname)}"`))
  const cols = plan.cols.split(', ')
  return new Set(plan.arrayCols.filter((j) => names.has(cols[j]!)))
}

// ---- multi-row INSERT ---------------------------------------------------------

async function insertValues(run: Run, plan: Plan, json: ReadonlySet<number>): Promise<number> {
  const { rows, width, rowsPerStatement: per } = plan
  const texts = new Map<number, string>()
  let inserted = 0
  for (let start = 0; start < rows.length; start += per) {
    const n = Math.min(per, rows.length - start)
    let text = texts.get(n)
    if (text === undefined) {
      text = valuesStatement(plan, n)
      texts.set(n, text)
    }
    const params: unknown[] = new Array(n * width)
    for (let i = 0; i < n; i++) {
      const row = rows[start + i]!
      for (let j = 0; j < width; j++) {
        const v = row[j]
        params[i * width + j] = json.has(j) && Array.isArray(v) ? JSON.stringify(v) : v
      }
    }
    inserted += (await run(text, params)).rowCount
  }
  return inserted
}

function valuesStatement(plan: Plan, n: number): string {
  const tuples: string[] = new Array(n)
  let p = 1
  for (let i = 0; i < n; i++) {
    const ps: string[] = new Array(plan.width)
    for (let j = 0; j < plan.width; j++) ps[j] = `$${p++}`
    tuples[i] = `(${ps.join(', ')})`
  }
  return `INSERT INTO ${plan.target} (${plan.cols}) VALUES ${tuples.join(', ')}${plan.conflict}`
}

// ---- COPY ---------------------------------------------------------------------

/**
 * COPY … FROM STDIN in text format. COPY has no ON CONFLICT: with one, rows
 * go to a temporary table (dropped at COMMIT, so nothing outlives the
 * transaction — safe behind PgBouncer) and from there INSERT … SELECT … ON CONFLICT.
 */
async function insertCopy(
  db: Db,
  session: Session,
  where: string,
  plan: Plan,
  json: ReadonlySet<number>,
  own: boolean,
  name: string | undefined,
  run: Run,
): Promise<number> {
  if (plan.conflict === '') return copyInto(db, session, where, plan.target, plan, json, name)
  const tmp = quoteIdent(`hp_batch_${randomBytes(6).toString('hex')}`)
  await run(
    `CREATE TEMP TABLE ${tmp} ON COMMIT DROP AS SELECT ${plan.cols} FROM ${plan.target} WITH NO DATA`,
  )
  await copyInto(db, session, where, tmp, plan, json, name)
  const r = await run(
    `INSERT INTO ${plan.target} (${plan.cols}) SELECT ${plan.cols} FROM ${tmp}${plan.conflict}`,
  )
  // In the caller's transaction, more statements may follow before COMMIT.
  if (!own) await run(`DROP TABLE ${tmp}`)
  return r.rowCount
}

async function copyInto(
  db: Db,
  session: Session,
  where: string,
  into: string,
  plan: Plan,
  json: ReadonlySet<number>,
  name: string | undefined,
): Promise<number> {
  const text = `COPY ${into} (${plan.cols}) FROM STDIN`
  const client = session.native as pg.PoolClient
  const t0 = performance.now()
  let ok = false
  try {
    const stream = client.query(copyStreams.from(text))
    await pipeline(Readable.from(copyData(plan, json)), stream)
    ok = true
    return stream.rowCount
  } catch (err) {
    const o = db.options
    throw mapError(err, where, o.pool.max, o.pool.connectTimeoutMs)
  } finally {
    db.observer.observe(text, name, where, performance.now() - t0, ok, storage.getStore())
  }
}

function* copyData(plan: Plan, json: ReadonlySet<number>): Generator<string> {
  const { rows, width } = plan
  let buf = ''
  for (let i = 0; i < rows.length; i++) {
    const row = rows[i]!
    for (let j = 0; j < width; j++) {
      const v = row[j]
      if (j > 0) buf += '\t'
      const text =
        v === null || v === undefined
          ? null
          : json.has(j) && Array.isArray(v)
            ? JSON.stringify(v)
            : toText(v)
      buf += text === null ? '\\N' : escapeCopy(text)
    }
    buf += '\n'
    if (buf.length >= COPY_CHUNK) {
      yield buf
      buf = ''
    }
  }
  if (buf !== '') yield buf
}

const COPY_SPECIAL = /[\\\n\r\t]/
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** COPY text format: backslash, newline, carriage return and tab are escaped. */
function escapeCopy(s: string): string {
  return COPY_SPECIAL.test(s) ? s.replace(/[\\\n\r\t]/g, (c) => COPY_ESCAPES[c]!) : s
}

/**
 * A value as the text PostgreSQL parses, with node-postgres's own conventions
 * (its `prepareValue`), so a row reads back the same whichever method wrote it:
 * Dates in local time with their offset (UTC with `pg.defaults.parseInputDatesAsUTC`),
 * Buffers as bytea hex, arrays as array literals, other objects as JSON.
 */
function toText(v: unknown): string | null {
  switch (typeof v) {
    case 'string':
      return v
    case 'number':
    case 'bigint':
      return String(v)
    case 'boolean':
      return v ? 'true' : 'false'
    case 'object': {
      if (v instanceof Date) return dateText(v)
      if (ArrayBuffer.isView(v)) return `\\x${bytes(v).toString('hex')}`
      if (Array.isArray(v)) return arrayLiteral(v)
      const o = v as { toPostgres?: (prepare: (x: unknown) => unknown) => unknown }
      if (typeof o.toPostgres === 'function') {
        const inner = o.toPostgres((x) => (x == null ? null : toText(x)))
        return inner == null ? null : toText(inner)
      }
      return JSON.stringify(v)
    }
    default:
      throw invalid(`a ${typeof v} cannot be stored`)
  }
}

function bytes(v: ArrayBufferView): Buffer {
  return Buffer.isBuffer(v) ? v : Buffer.from(v.buffer, v.byteOffset, v.byteLength)
}

function arrayLiteral(a: readonly unknown[]): string {
  let s = '{'
  for (let i = 0; i < a.length; i++) {
    if (i > 0) s += ','
    const x = a[i]
    if (x === null || x === undefined) s += 'NULL'
    else if (Array.isArray(x)) s += arrayLiteral(x)
    else if (ArrayBuffer.isView(x)) s += `\\\\x${bytes(x).toString('hex')}`
    else {
      const t = toText(x)
      s += t === null ? 'NULL' : `"${t.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`
    }
  }
  return `${s}}`
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0')

function dateText(d: Date): string {
  const utc = pg.defaults.parseInputDatesAsUTC === true
  let year = utc ? d.getUTCFullYear() : d.getFullYear()
  const bc = year < 1
  if (bc) year = 1 - year
  const s = utc
    ? `${pad(year, 4)}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}.${pad(d.getUTCMilliseconds(), 3)}+00:00`
    : `${pad(year, 4)}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}${offset(d)}`
  return bc ? `${s} BC` : s
}

function offset(d: Date): string {
  const m = -d.getTimezoneOffset()
  const a = Math.abs(m)
  return `${m < 0 ? '-' : '+'}${pad(Math.floor(a / 60))}:${pad(a % 60)}`
}
