// `npm start` on a fresh machine: no DATABASE_URL, no REDIS_URL. The shop
// runs on the embedded database in its data folder, seeds demo data, serves,
// and exits 0 on SIGTERM; a restart keeps the data and the cursors.
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }
const dataDir = mkdtempSync(join(tmpdir(), 'shop-start-'))
after(() => rmSync(dataDir, { recursive: true, force: true }))

interface Started {
  child: ChildProcess
  base: string
  output: () => string
}

/** The `start` script's command, run with the Node running the tests. */
async function start(): Promise<Started> {
  const [bin, ...args] = pkg.scripts.start.split(' ')
  assert.equal(bin, 'node')
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SHOP_DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
  }
  for (const name of [
    'DATABASE_URL',
    'REDIS_URL',
    'DATABASE_REPLICA_URLS',
    'WORKERS',
    'NODE_OPTIONS',
  ])
    delete env[name]
  const child = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout!.on('data', (d) => {
    out += d
  })
  child.stderr!.on('data', (d) => {
    out += d
  })
  const deadline = Date.now() + 90_000
  for (;;) {
    const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out)
    if (m) return { child, base: m[1]!, output: () => out }
    if (child.exitCode !== null) throw new Error(`exited ${child.exitCode}:\n${out}`)
    if (Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`no URL printed:\n${out}`)
    }
    await sleep(50)
  }
}

/**
 * Waits until the shop serves: right after start-up, the work of starting
 * (PGlite runs on the main thread) can leave the loop over the shedding
 * threshold for a sample or two, and /ready does not say so.
 */
async function ready(base: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const [r, c] = await Promise.all([fetch(`${base}/ready`), fetch(`${base}/api/categories`)])
    if (r.status === 200 && c.status === 200) return
    await sleep(100)
  }
  throw new Error('never ready')
}

async function stop(s: Started): Promise<number | null> {
  const exited = once(s.child, 'exit')
  s.child.kill('SIGTERM')
  const [code] = (await exited) as [number | null]
  return code
}

describe('npm start with no environment (embedded PGlite, L1 only)', () => {
  let cursor = ''

  it('migrates, seeds, prints its URLs, serves and exits 0 on SIGTERM', async () => {
    const s = await start()
    try {
      assert.match(s.output(), /seeded demo data/)
      assert.match(s.output(), /\/docs/)
      assert.match(s.output(), /\/metrics/)
      await ready(s.base)
      assert.equal((await fetch(`${s.base}/health`)).status, 200)
      const res = await fetch(`${s.base}/api/products?limit=5`)
      assert.equal(res.status, 200)
      const body = (await res.json()) as { data: unknown[]; pagination: { nextCursor: string } }
      assert.equal(body.data.length, 5)
      cursor = body.pagination.nextCursor
      assert.equal((await fetch(`${s.base}/api/products/1`)).status, 200)
    } finally {
      assert.equal(await stop(s), 0, s.output())
    }
  })

  it('keeps its data and cursors across a restart, without seeding again', async () => {
    const s = await start()
    try {
      assert.doesNotMatch(s.output(), /seeded demo data/)
      await ready(s.base)
      const res = await fetch(`${s.base}/api/products?limit=5&cursor=${cursor}`)
      assert.equal(res.status, 200, await res.text())
    } finally {
      assert.equal(await stop(s), 0, s.output())
    }
  })
})
