import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'

export interface CursorOptions {
  /** Rows fetched per round trip. Default: 1000. */
  batchSize?: number
}

export async function* cursor<R>(
  _db: Db,
  _text: string,
  _values: readonly unknown[] = [],
  _options: CursorOptions = {},
): AsyncGenerator<R, void, undefined> {
  throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['cursor', 'this build (in progress)'])
}
