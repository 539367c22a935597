import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'

export interface BatchInsertOptions {
  /** `'ignore'`, or `{ target: columns, update: columns }` for an upsert. Default: none. */
  onConflict?: 'ignore' | { target: readonly string[]; update?: readonly string[] }
  /** Rows from which COPY is used instead of multi-row INSERT. Default: 1000. */
  copyThreshold?: number
}

export interface BatchInsertResult {
  inserted: number
  method: 'values' | 'copy'
}

export async function batchInsert(
  _db: Db,
  _table: string,
  _columns: readonly string[],
  _rows: readonly (readonly unknown[])[],
  _options: BatchInsertOptions = {},
): Promise<BatchInsertResult> {
  throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['batchInsert', 'this build (in progress)'])
}
