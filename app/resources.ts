// The shop's connections: the tiered cache (L1, plus Redis when configured)
// and the database (PostgreSQL with replicas, or the embedded PGlite).
import { fileURLToPath } from 'node:url'
import { createCache, type TieredCache } from 'hotpath/cache'
import { createDb, type Db, type MigrateResult } from 'hotpath/db'
import type { ShopConfig } from './config.ts'

export interface Resources {
  cache: TieredCache
  db: Db
  /** Closes the database, then the cache. */
  close(): Promise<void>
}

export const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations', import.meta.url))

export function openResources(config: ShopConfig): Resources {
  const cache = createCache({
    namespace: config.cacheNamespace,
    ...(config.redisUrl === null ? {} : { l2: { redis: config.redisUrl } }),
    grace: '10m',
  })
  const db = createDb({
    ...(config.databaseUrl === null
      ? { embedded: true, embeddedDir: config.embeddedDir }
      : { primary: config.databaseUrl, replicas: config.replicaUrls }),
    cache,
    applicationName: 'hotpath-shop',
  })
  return {
    cache,
    db,
    async close() {
      await db.close()
      await cache.close()
    },
  }
}

/** Applies app/migrations (safe when several processes start together). */
export function migrate(db: Db): Promise<MigrateResult> {
  return db.migrate({ dir: MIGRATIONS_DIR })
}
