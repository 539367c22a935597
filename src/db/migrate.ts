import { HotpathError } from '../errors.ts'
import type { Db } from './db.ts'

export interface MigrateOptions {
  /** A folder of `*.sql` files, applied in file-name order. */
  dir?: string
  /** Or the migrations themselves, in order. */
  migrations?: readonly { name: string; sql: string }[]
  /** The table that records applied migrations. Default: `hotpath_migrations`. */
  table?: string
}

export interface MigrateResult {
  applied: string[]
  skipped: string[]
}

export async function migrate(_db: Db, _options: MigrateOptions): Promise<MigrateResult> {
  throw new HotpathError('HP_ERR_DB_UNSUPPORTED', ['migrate', 'this build (in progress)'])
}
