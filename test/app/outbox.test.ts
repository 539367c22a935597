import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, beforeEach, describe, it } from 'node:test'
import type { Db } from 'hotpath/db'
import { loadConfig } from '../../app/config.ts'
import { migrate, openResources, type Resources } from '../../app/resources.ts'
import { folderMailer, type Mailer, type MailMessage } from '../../app/services/mailer.ts'
import { createOutbox, type OutboxOptions } from '../../app/services/outbox.ts'
import { eventually, unless } from '../helpers/services.ts'
import { createTestDatabase } from './shop.ts'

const skip = await unless('postgres')
const URL_ = 'https://shop.example'

/** `n` order confirmations, ids in order; returns their ids. */
async function queue(db: Db, n: number): Promise<number[]> {
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO jobs (kind, payload)
     SELECT 'order-confirmation', json_build_object(
       'orderId', g, 'email', 'buyer' || g || '@example.org', 'name', 'Buyer', 'total', '9.99')
     FROM generate_series(1, $1) g
     RETURNING id`,
    [n],
  )
  return rows.map((r) => Number(r.id))
}

interface JobRow {
  id: string
  attempts: number
  done: boolean
  failed: boolean
  last_error: string | null
  payload: Record<string, unknown>
}

async function jobs(db: Db): Promise<JobRow[]> {
  const { rows } = await db.query<JobRow>(
    `SELECT id, attempts, done_at IS NOT NULL AS done, failed_at IS NOT NULL AS failed,
       last_error, payload FROM jobs ORDER BY id`,
    [],
    { primary: true },
  )
  return rows
}

/** A mailer that records what it sends, and fails where `fail` says. */
function recorder(fail: (m: MailMessage, n: number) => boolean = () => false) {
  const sent: MailMessage[] = []
  let n = 0
  const mailer: Mailer = {
    async send(m) {
      await new Promise((r) => setTimeout(r, 1))
      if (fail(m, ++n)) throw new Error(`refused ${m.to}`)
      sent.push(m)
    },
  }
  return { mailer, sent }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('shop outbox worker and mailer (PostgreSQL)', { skip }, () => {
  let database: Awaited<ReturnType<typeof createTestDatabase>>
  let resources: Resources
  let db: Db
  let dataDir: string
  const outbox = (o: Partial<OutboxOptions> & Pick<OutboxOptions, 'mailer'>) =>
    createOutbox({ db, publicUrl: URL_, ...o })

  before(async () => {
    database = await createTestDatabase()
    dataDir = mkdtempSync(join(tmpdir(), 'shop-outbox-'))
    resources = openResources(
      loadConfig({ DATABASE_URL: database.url, SHOP_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }),
    )
    db = resources.db
    await migrate(db)
  })
  after(async () => {
    await resources?.close()
    await database?.drop()
    rmSync(dataDir, { recursive: true, force: true })
  })
  beforeEach(async () => {
    await db.query('DELETE FROM jobs')
  })

  it('renders both kinds into the mail folder, marks them done and forgets the token', async () => {
    const token = 'T'.repeat(43)
    await db.query(`INSERT INTO jobs (kind, payload) VALUES ('verify-email', $1)`, [
      JSON.stringify({ userId: 1, email: 'new@example.org', name: 'New', token }),
    ])
    await queue(db, 1)
    const dir = join(dataDir, 'mail')
    const r = await outbox({ mailer: folderMailer(dir) }).runOnce()
    assert.deepEqual(r, { claimed: 2, sent: 2, failed: 0 })
    const files = readdirSync(dir).sort()
    assert.equal(files.length, 2)
    assert.ok(files.every((f) => f.endsWith('.eml')))
    const mails = files.map((f) => readFileSync(join(dir, f), 'utf8'))
    const verify = mails.find((m) => m.includes('Subject: Confirm your e-mail address'))
    assert.ok(verify?.includes('To: new@example.org\r\n'))
    assert.ok(verify?.includes(`${URL_}/verify-email?token=${token}`))
    const order = mails.find((m) => m.includes('Subject: Your order 1'))
    assert.ok(order?.includes('To: buyer1@example.org\r\n'))
    assert.ok(order?.includes('total 9.99'))

    const rows = await jobs(db)
    assert.ok(rows.every((j) => j.done && j.attempts === 1))
    assert.equal(rows[0]!.payload.token, undefined, 'the sent token is not kept')
    assert.equal(rows[0]!.payload.email, 'new@example.org')
    assert.deepEqual(await outbox({ mailer: folderMailer(dir) }).runOnce(), {
      claimed: 0,
      sent: 0,
      failed: 0,
    })
  })

  it('keeps a job whose send failed mid-batch, retries it after a backoff, then sends it', async () => {
    await queue(db, 3)
    const bad = recorder((m) => m.to === 'buyer2@example.org')
    const r = await outbox({ mailer: bad.mailer, backoffMs: 150 }).runOnce()
    assert.deepEqual(r, { claimed: 3, sent: 2, failed: 1 })
    let rows = await jobs(db)
    assert.deepEqual(
      rows.map((j) => [j.done, j.attempts]),
      [
        [true, 1],
        [false, 1],
        [true, 1],
      ],
    )
    assert.equal(rows[1]!.last_error, 'refused buyer2@example.org')
    const good = recorder()
    assert.equal((await outbox({ mailer: good.mailer }).runOnce()).claimed, 0, 'backing off')
    await sleep(200)
    assert.equal((await outbox({ mailer: good.mailer }).runOnce()).sent, 1)
    assert.deepEqual(
      good.sent.map((m) => m.to),
      ['buyer2@example.org'],
    )
    rows = await jobs(db)
    assert.ok(rows.every((j) => j.done))
    assert.equal(rows[1]!.attempts, 2)
    assert.equal(rows[1]!.last_error, null)
  })

  it('loses nothing when the process dies after the claim: the lease runs out, another run sends', async () => {
    await queue(db, 4)
    // A worker that claims, then never finishes (its process is gone).
    let started = 0
    const dead: Mailer = {
      send: () => {
        started++
        return new Promise<void>(() => {})
      },
    }
    void outbox({ mailer: dead, leaseMs: 300 }).runOnce()
    await eventually('the dead worker to claim', () => started === 1)
    let rows = await jobs(db)
    assert.ok(
      rows.every((j) => !j.done && j.attempts === 1),
      'pending, attempts counted',
    )
    const next = recorder()
    assert.equal((await outbox({ mailer: next.mailer }).runOnce()).claimed, 0, 'still leased')
    await sleep(350)
    assert.deepEqual(await outbox({ mailer: next.mailer }).runOnce(), {
      claimed: 4,
      sent: 4,
      failed: 0,
    })
    rows = await jobs(db)
    assert.ok(rows.every((j) => j.done && j.attempts === 2))
    assert.equal(next.sent.length, 4)
  })

  it('never sends a job twice when workers run at once', async () => {
    const ids = await queue(db, 60)
    const seen: string[] = []
    const mailer: Mailer = {
      async send(m) {
        await new Promise((r) => setTimeout(r, Math.random() * 3))
        seen.push(m.to)
      },
    }
    const workers = Array.from({ length: 4 }, () => outbox({ mailer, batchSize: 5 }))
    await Promise.all(
      workers.map(async (w) => {
        while ((await w.runOnce()).claimed > 0);
      }),
    )
    assert.equal(seen.length, ids.length)
    assert.equal(new Set(seen).size, ids.length)
    assert.ok((await jobs(db)).every((j) => j.done && j.attempts === 1))
  })

  it('sets a job aside after its last attempt', async () => {
    await queue(db, 1)
    const bad = recorder(() => true)
    const w = outbox({ mailer: bad.mailer, maxAttempts: 2, backoffMs: 1 })
    assert.equal((await w.runOnce()).failed, 1)
    await sleep(20)
    assert.equal((await w.runOnce()).failed, 1)
    await sleep(20)
    assert.equal((await w.runOnce()).claimed, 0)
    const [j] = await jobs(db)
    assert.deepEqual([j!.done, j!.failed, j!.attempts], [false, true, 2])
    assert.equal(j!.last_error, 'refused buyer1@example.org')
  })

  it('runs on a timer until stopped', async () => {
    const { mailer, sent } = recorder()
    const w = outbox({ mailer, intervalMs: 20, batchSize: 2 })
    w.start()
    await queue(db, 5)
    await eventually('the timer to send every job', () => sent.length === 5)
    await w.stop()
    await queue(db, 1)
    await sleep(60)
    assert.equal(sent.length, 5, 'stopped')
  })

  it('refuses bad options', () => {
    const { mailer } = recorder()
    for (const o of [{ batchSize: 0 }, { leaseMs: 1.5 }, { maxAttempts: -1 }])
      assert.throws(() => outbox({ mailer, ...o }), RangeError)
  })
})

describe('shop outbox worker on the embedded database (PGlite)', () => {
  it('claims with SKIP LOCKED and sends', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shop-outbox-pglite-'))
    const resources = openResources(loadConfig({ SHOP_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }))
    try {
      await migrate(resources.db)
      await queue(resources.db, 3)
      const { mailer, sent } = recorder()
      const w = createOutbox({ db: resources.db, mailer, publicUrl: URL_, batchSize: 2 })
      assert.deepEqual(await w.runOnce(), { claimed: 2, sent: 2, failed: 0 })
      assert.deepEqual(await w.runOnce(), { claimed: 1, sent: 1, failed: 0 })
      assert.equal(sent.length, 3)
      assert.ok((await jobs(resources.db)).every((j) => j.done))
    } finally {
      await resources.close()
      rmSync(dataDir, { recursive: true, force: true })
    }
  })
})
