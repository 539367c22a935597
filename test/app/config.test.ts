import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { ConfigError, loadConfig } from '../../app/config.ts'
import { generateShop } from '../../app/seed/generate.ts'

const dir = mkdtempSync(join(tmpdir(), 'shop-config-'))
after(() => rmSync(dir, { recursive: true, force: true }))

function refused(env: Record<string, string>, variable: string): void {
  assert.throws(
    () => loadConfig({ SHOP_DATA_DIR: dir, ...env }),
    (err: unknown) =>
      err instanceof ConfigError && err.code === 'SHOP_ERR_CONFIG' && err.variable === variable,
    `${JSON.stringify(env)} is refused naming ${variable}`,
  )
}

describe('shop configuration', () => {
  it('runs with no environment: embedded database, L1 only, port 3000, one worker', () => {
    const c = loadConfig({ SHOP_DATA_DIR: dir })
    assert.equal(c.databaseUrl, null)
    assert.equal(c.redisUrl, null)
    assert.equal(c.port, 3000)
    assert.equal(c.workers, 1)
    assert.equal(c.embeddedDir, join(dir, 'shop'))
    assert.equal(c.nodeEnv, 'development')
    assert.ok(Buffer.byteLength(c.cursorSecret) >= 32)
  })

  it('keeps the generated cursor secret across restarts', () => {
    const a = loadConfig({ SHOP_DATA_DIR: dir }).cursorSecret
    assert.equal(loadConfig({ SHOP_DATA_DIR: dir }).cursorSecret, a)
    assert.equal(readFileSync(join(dir, 'cursor-secret'), 'utf8').trim(), a)
    const given = 'x'.repeat(40)
    assert.equal(loadConfig({ SHOP_DATA_DIR: dir, SHOP_CURSOR_SECRET: given }).cursorSecret, given)
  })

  it('reads the services, replicas and workers', () => {
    const c = loadConfig({
      SHOP_DATA_DIR: dir,
      DATABASE_URL: 'postgres://u@db:5432/shop',
      DATABASE_REPLICA_URLS: 'postgres://u@r1/shop, postgres://u@r2/shop',
      REDIS_URL: 'redis://cache:6379',
      PORT: '8080',
      WORKERS: '4',
      NODE_ENV: 'production',
    })
    assert.deepEqual(c.replicaUrls, ['postgres://u@r1/shop', 'postgres://u@r2/shop'])
    assert.equal(c.redisUrl, 'redis://cache:6379')
    assert.equal(c.port, 8080)
    assert.equal(c.workers, 4)
  })

  it('refuses a bad value, naming the variable', () => {
    refused({ PORT: 'abc' }, 'PORT')
    refused({ PORT: '70000' }, 'PORT')
    refused({ WORKERS: '0' }, 'WORKERS')
    refused({ WORKERS: '2' }, 'WORKERS') // several workers cannot share PGlite
    refused({ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL')
    refused({ REDIS_URL: 'localhost:6379' }, 'REDIS_URL')
    refused({ DATABASE_REPLICA_URLS: 'postgres://r/x' }, 'DATABASE_REPLICA_URLS')
    refused(
      { DATABASE_URL: 'postgres://p/x', DATABASE_REPLICA_URLS: 'postgres://r/x,nope' },
      'DATABASE_REPLICA_URLS',
    )
    refused({ SHOP_CURSOR_SECRET: 'short' }, 'SHOP_CURSOR_SECRET')
    refused({ NODE_ENV: 'staging' }, 'NODE_ENV')
    refused({ LOG_LEVEL: 'loud' }, 'LOG_LEVEL')
    refused({ SHOP_CACHE_NAMESPACE: 'a b' }, 'SHOP_CACHE_NAMESPACE')
  })

  it('stops the process with exit code 1 and a message naming the variable', () => {
    const r = spawnSync(process.execPath, ['--conditions=hotpath-source', 'app/main.ts'], {
      env: { ...process.env, SHOP_DATA_DIR: dir, PORT: 'eighty' },
      encoding: 'utf8',
      timeout: 30_000,
    })
    assert.equal(r.status, 1)
    assert.match(r.stderr, /invalid configuration: PORT: expected an integer/)
  })
})

describe('seed generator', () => {
  it('is deterministic and consistent', () => {
    const counts = { products: 200, users: 20, orders: 50 }
    const a = generateShop(counts, 7)
    assert.deepEqual(generateShop(counts, 7), a)
    assert.notDeepEqual(generateShop(counts, 8), a)
    const rows = Object.fromEntries(a.map((t) => [t.table, t.rows]))
    assert.equal(rows.products!.length, 200)
    assert.equal(rows.inventory!.length, 200)
    assert.equal(rows.orders!.length, 50)
    // Each order's total is the sum of its items.
    const sums = new Map<number, number>()
    for (const [order, , quantity, unit] of rows.order_items! as [number, number, number, string][])
      sums.set(order, (sums.get(order) ?? 0) + Math.round(Number(unit) * 100) * quantity)
    for (const [id, , , , total] of rows.orders! as [number, number, string, string, string][])
      assert.equal(Math.round(Number(total) * 100), sums.get(id))
  })
})
