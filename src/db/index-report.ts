import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'

export interface IndexReportOptions {
  /** Schemas to report on. Default: every schema but pg_catalog, information_schema, toast and temp ones. */
  schema?: string | readonly string[]
  /** An index scanned at most this many times counts as unused. Default: 0. */
  maxScans?: number
  /** Tables with fewer live rows are never reported for sequential scans. Default: 10_000. */
  minRows?: number
  /** Nor tables with fewer sequential scans than this (too little data). Default: 10. */
  minSeqScans?: number
  /**
   * Reported when sequential scans are more than this share (0–1) of the
   * table's scans. Default: 0.05 (PgHero: the index is used less than 95% of the time).
   */
  seqScanShare?: number
}

export const indexReportDefaults = Object.freeze({
  maxScans: 0,
  minRows: 10_000,
  minSeqScans: 10,
  seqScanShare: 0.05,
})

interface IndexEntry {
  schema: string
  table: string
  index: string
  sizeBytes: number
  definition: string
  /** `DROP INDEX CONCURRENTLY …`, to review before running. */
  drop: string
}

export interface IndexReport {
  /** Never used since the statistics were reset; unique, primary-key and exclusion indexes are left out (they enforce constraints). */
  unused: (IndexEntry & { scans: number })[]
  /** Indexes whose key columns are a leading prefix of another index's on the same table, with the same method, expressions and predicate. */
  duplicate: (IndexEntry & { coveredBy: string; coveredByDefinition: string })[]
  /** `pg_index.indisvalid = false`: a failed (or still running) concurrent build. Never used by queries, still maintained on writes. */
  invalid: IndexEntry[]
  /** Tables read mostly by sequential scans. */
  seqScans: {
    schema: string
    table: string
    seqScans: number
    seqRows: number
    indexScans: number
    rows: number
    seqScanShare: number
  }[]
  /** When the statistics the counts come from were last reset (null: never). */
  statsSince: Date | null
}

interface Row extends IndexEntry {
  method: string
  unique: boolean
  primary: boolean
  valid: boolean
  exclusion: boolean
  constraint: boolean
  nkeys: number
  indkey: string
  indclass: string
  indcollation: string
  indoption: string
  exprs: string | null
  pred: string | null
  scans: number
}

const DEFAULT_SCHEMAS = `n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'`

const INDEXES = (filter: string) => `
SELECT n.nspname AS schema, t.relname AS "table", c.relname AS index, am.amname AS method,
  i.indisunique AS unique, i.indisprimary AS primary, i.indisvalid AS valid,
  i.indisexclusion AS exclusion,
  EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid) AS constraint,
  i.indnkeyatts::int AS nkeys, i.indkey::text AS indkey, i.indclass::text AS indclass,
  i.indcollation::text AS indcollation, i.indoption::text AS indoption,
  pg_get_expr(i.indexprs, i.indrelid) AS exprs, pg_get_expr(i.indpred, i.indrelid) AS pred,
  coalesce(pg_relation_size(c.oid), 0)::float8 AS "sizeBytes",
  coalesce(s.idx_scan, 0)::float8 AS scans,
  pg_get_indexdef(c.oid) AS definition,
  format('DROP INDEX CONCURRENTLY %I.%I', n.nspname, c.relname) AS drop
FROM pg_index i
JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_class t ON t.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_am am ON am.oid = c.relam
LEFT JOIN pg_stat_user_indexes s ON s.indexrelid = i.indexrelid
WHERE ${filter}
ORDER BY n.nspname, t.relname, c.relname`

const SEQ_SCANS = (filter: string) => `
SELECT s.schemaname AS schema, s.relname AS "table", s.seq_scan::float8 AS "seqScans",
  coalesce(s.seq_tup_read, 0)::float8 AS "seqRows", coalesce(s.idx_scan, 0)::float8 AS "indexScans",
  s.n_live_tup::float8 AS rows,
  s.seq_scan::float8 / (s.seq_scan + coalesce(s.idx_scan, 0)) AS "seqScanShare"
FROM pg_stat_user_tables s
JOIN pg_class c ON c.oid = s.relid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE ${filter} AND s.n_live_tup >= $1::float8 AND s.seq_scan >= $2::float8
  AND s.seq_scan::float8 / (s.seq_scan + coalesce(s.idx_scan, 0)) > $3::float8
ORDER BY s.seq_tup_read DESC, s.relname`

/**
 * Unused, duplicate and invalid indexes, and tables read mostly by
 * sequential scans, in the manner of PgHero. Counts come from the statistics
 * of the server the report runs on (the primary): scans served by replicas
 * are not counted there, so check them too before dropping an "unused" index.
 */
export async function indexReport(db: Db, options: IndexReportOptions = {}): Promise<IndexReport> {
  const o = resolve(options ?? {})
  const schemas = o.schemas === null ? [] : [o.schemas]
  const filter = o.schemas === null ? DEFAULT_SCHEMAS : 'n.nspname = ANY($1::text[])'
  const seqFilter = o.schemas === null ? DEFAULT_SCHEMAS : 'n.nspname = ANY($4::text[])'
  const q = { primary: true, name: 'hotpath:indexReport' }
  const [indexes, seq, reset] = await Promise.all([
    db.query<Row>(INDEXES(filter), schemas, q),
    db.query<IndexReport['seqScans'][number]>(
      SEQ_SCANS(seqFilter),
      [o.minRows, o.minSeqScans, o.seqScanShare, ...schemas],
      q,
    ),
    db.query<{ reset: Date | null }>(
      'SELECT stats_reset AS reset FROM pg_stat_database WHERE datname = current_database()',
      [],
      q,
    ),
  ])
  const rows = indexes.rows
  const entry = (r: Row): IndexEntry => ({
    schema: r.schema,
    table: r.table,
    index: r.index,
    sizeBytes: r.sizeBytes,
    definition: r.definition,
    drop: r.drop,
  })
  const bySize = <T extends { sizeBytes: number }>(a: T, b: T) => b.sizeBytes - a.sizeBytes
  return {
    unused: rows
      .filter((r) => r.valid && !r.unique && !r.exclusion && !r.constraint && r.scans <= o.maxScans)
      .map((r) => ({ ...entry(r), scans: r.scans }))
      .sort(bySize),
    duplicate: duplicates(rows),
    invalid: rows.filter((r) => !r.valid).map(entry),
    seqScans: seq.rows,
    statsSince: reset.rows[0]?.reset ?? null,
  }
}

/**
 * PgHero's rule, kept conservative: an index is redundant when another valid
 * index on the same table, with the same method, expressions and predicate,
 * starts with the same key columns under the same operator classes,
 * collations and orderings, and also holds its INCLUDE columns. A unique index
 * is redundant only against a unique index on exactly the same keys (a wider
 * unique index enforces less); a primary key or an index a constraint uses is
 * never reported. Between two identical indexes, the later name is reported.
 */
function duplicates(rows: readonly Row[]): IndexReport['duplicate'] {
  const out: IndexReport['duplicate'] = []
  const byTable = new Map<string, Row[]>()
  for (const r of rows) {
    if (!r.valid) continue
    const key = `${r.schema}\u0000${r.table}`
    const group = byTable.get(key)
    if (group === undefined) byTable.set(key, [r])
    else group.push(r)
  }
  for (const group of byTable.values()) {
    for (const dup of group) {
      if (dup.primary || dup.constraint || dup.exclusion) continue
      const cover = group.find((other) => covers(other, dup))
      if (cover === undefined) continue
      out.push({
        schema: dup.schema,
        table: dup.table,
        index: dup.index,
        sizeBytes: dup.sizeBytes,
        definition: dup.definition,
        drop: dup.drop,
        coveredBy: cover.index,
        coveredByDefinition: cover.definition,
      })
    }
  }
  return out.sort((a, b) => b.sizeBytes - a.sizeBytes)
}

function covers(big: Row, small: Row): boolean {
  if (big.index === small.index || big.method !== small.method) return false
  if (big.exprs !== small.exprs || big.pred !== small.pred) return false
  const n = small.nkeys
  if (n > big.nkeys) return false
  for (const field of ['indkey', 'indclass', 'indcollation', 'indoption'] as const) {
    const b = big[field].split(' ')
    const s = small[field].split(' ')
    for (let i = 0; i < n; i++) if (b[i] !== s[i]) return false
  }
  // The small index's INCLUDE columns must be in the big one too (as keys or included).
  const bk = big.indkey.split(' ')
  const sk = small.indkey.split(' ')
  if (!sk.slice(n).every((col) => bk.includes(col))) return false
  // A unique index enforces something: only a unique index on exactly the same keys replaces it.
  if (small.unique && (!big.unique || n !== big.nkeys)) return false
  if (n < big.nkeys) return true
  // Identical keys: keep the one a constraint uses, the unique one, the one with more INCLUDE
  // columns, then the earlier name.
  if (big.primary || big.constraint) return true
  if (big.unique !== small.unique) return big.unique
  if (bk.length !== sk.length) return bk.length > sk.length
  return small.index > big.index
}

function resolve(o: IndexReportOptions) {
  const d = indexReportDefaults
  const number = (key: keyof typeof d, v: unknown, max = Number.POSITIVE_INFINITY): number => {
    if (v === undefined) return d[key]
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0 || v > max) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', [
        key,
        `expected a number ≥ 0, got ${String(v)}`,
      ])
    }
    return v
  }
  let schemas: string[] | null = null
  if (o.schema !== undefined) {
    schemas = typeof o.schema === 'string' ? [o.schema] : [...o.schema]
    if (schemas.length === 0 || !schemas.every((s) => typeof s === 'string' && s !== '')) {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['schema', 'expected schema name(s)'])
    }
  }
  return {
    schemas,
    maxScans: number('maxScans', o.maxScans),
    minRows: number('minRows', o.minRows),
    minSeqScans: number('minSeqScans', o.minSeqScans),
    seqScanShare: number('seqScanShare', o.seqScanShare, 1),
  }
}
