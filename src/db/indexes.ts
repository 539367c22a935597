import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'

export type IndexMethod = 'btree' | 'gin' | 'gist' | 'brin' | 'hash'

export interface CreateIndexOptions {
  unique?: boolean
  method?: IndexMethod
  /** Partial index predicate, SQL. */
  where?: string
  include?: readonly string[]
  concurrently?: boolean
  name?: string
}

export interface CreateIndexResult {
  name: string
  created: boolean
  statement: string
}

export interface IndexReport {
  unused: { schema: string; table: string; index: string; sizeBytes: number; scans: number }[]
  duplicate: {
    schema: string
    table: string
    index: string
    coveredBy: string
    sizeBytes: number
  }[]
  invalid: { schema: string; table: string; index: string }[]
  seqScans: {
    schema: string
    table: string
    seqScans: number
    seqRows: number
    indexScans: number
    rows: number
  }[]
}

export async function createIndex(
  _db: Db,
  _table: string,
  _columns: readonly string[],
  _options: CreateIndexOptions = {},
): Promise<CreateIndexResult> {
  throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['createIndex', 'this build (in progress)'])
}

export async function indexReport(
  _db: Db,
  _options: { schema?: string } = {},
): Promise<IndexReport> {
  throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['indexReport', 'this build (in progress)'])
}
