import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDb, type Db } from 'hotpath/db'
import { ThrowawayPostgres, unlessPostgresBinaries } from '../helpers/postgres.ts'

const skip = await unlessPostgresBinaries()
const RETRY_MS = 1000

// A real primary and two streaming replicas started from the installed binaries:
// routing is proven by asking each answer where it came from.
describe('primary and streaming replicas', { skip }, () => {
  let primary: ThrowawayPostgres
  let r0: ThrowawayPostgres
  let r1: ThrowawayPostgres
  let db: Db
  const down: string[] = []

  /** The port of the server that answered a plain read. */
  const readPort = async () =>
    (await db.query<{ port: number }>('SELECT inet_server_port() AS port')).rows[0]!.port
  const inRecovery = async () =>
    (await db.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r')).rows[0]!.r
  const upOf = () => Object.fromEntries(db.stats().replicas.map((r) => [r.name, r.up]))

  before(async () => {
    primary = await ThrowawayPostgres.start()
    r0 = await primary.startReplica()
    r1 = await primary.startReplica()
    db = createDb({
      primary: primary.url(),
      replicas: [r0.url(), r1.url()],
      replicaRetryMs: RETRY_MS,
      pool: { min: 0, max: 4, connectTimeoutMs: 2000 },
    })
    db.on('replicaDown', (e) => down.push(e.endpoint))
    await db.query('CREATE TABLE items (id int PRIMARY KEY, v text)')
    await db.query("INSERT INTO items VALUES (1, 'one')")
    await Promise.all([primary.waitForReplica(r0), primary.waitForReplica(r1)])
  })
  after(async () => {
    await db?.close()
    await primary?.destroy()
  })

  it('plain reads go round-robin to the replicas', async () => {
    for (let i = 0; i < 4; i++) assert.equal(await inRecovery(), true)
    const ports = [await readPort(), await readPort(), await readPort(), await readPort()]
    assert.deepEqual(new Set(ports), new Set([r0.port, r1.port]))
    assert.notEqual(ports[0], ports[1])
    assert.equal(ports[0], ports[2])
    assert.equal(ports[1], ports[3])
    const r = await db.query<{ v: string }>('SELECT v FROM items WHERE id = $1', [1])
    assert.deepEqual(r.rows, [{ v: 'one' }]) // replicated data, read from a replica
  })

  it('writes, locking reads and everything inside a transaction go to the primary', async () => {
    // A replica would refuse this write (read-only transaction): success proves the primary.
    await db.query("INSERT INTO items VALUES (2, 'two')")
    const locking = await db.query<{ port: number }>(
      'SELECT inet_server_port() AS port FROM items WHERE id = 1 FOR UPDATE',
    )
    assert.equal(locking.rows[0]!.port, primary.port)
    const forced = await db.query<{ r: boolean }>('SELECT pg_is_in_recovery() AS r', [], {
      primary: true,
    })
    assert.equal(forced.rows[0]!.r, false)

    await db.transaction(async () => {
      assert.equal(await inRecovery(), false)
      assert.equal(await readPort(), primary.port)
      await db.query("UPDATE items SET v = 'uno' WHERE id = 1")
      const r = await db.query<{ v: string }>('SELECT v FROM items WHERE id = 1')
      assert.deepEqual(r.rows, [{ v: 'uno' }]) // its own uncommitted write: the primary's connection
    })
    await db.transaction(async () => assert.equal(await inRecovery(), false), { readOnly: true })
  })

  it('read-your-writes: in a scope that wrote, later reads go to the primary', async () => {
    await db.scope(async () => {
      assert.equal(await inRecovery(), true) // nothing written yet: a replica
      await db.query("INSERT INTO items VALUES (3, 'three')")
      assert.equal(await inRecovery(), false)
      const r = await db.query<{ v: string }>('SELECT v FROM items WHERE id = 3')
      assert.deepEqual(r.rows, [{ v: 'three' }])
    })
    // A scope that only read, and reads outside any scope, stay on the replicas.
    await db.scope(async () => assert.equal(await inRecovery(), true))
    assert.equal(await inRecovery(), true)
    // A committed transaction counts as a write for its request.
    await db.scope(async () => {
      await db.transaction(async () => {
        await db.query("UPDATE items SET v = 'tres' WHERE id = 3")
      })
      assert.equal(await inRecovery(), false)
    })
  })

  it('a stopped replica is taken out, reads fall back, and it is used again once back', async () => {
    assert.deepEqual(upOf(), { replica0: true, replica1: true })
    await r0.stop('immediate')
    const ports: number[] = []
    for (let i = 0; i < 6; i++) ports.push(await readPort())
    assert.ok(!ports.includes(r0.port), `no read answered by the stopped replica: ${ports}`)
    assert.ok(ports.includes(r1.port), 'the other replica keeps serving reads')
    assert.ok(ports.every((p) => p === r1.port || p === primary.port))
    // Within replicaRetryMs of the failure: out, and reported once per attempt on it.
    assert.deepEqual(upOf(), { replica0: false, replica1: true })
    assert.deepEqual(down, ['replica0'])

    await r0.start()
    const t0 = Date.now()
    let back = false
    while (!back && Date.now() - t0 < 5000) {
      back = (await readPort()) === r0.port
      if (!back) await sleep(50)
    }
    assert.ok(back, 'reads reach the restarted replica again')
    assert.deepEqual(upOf(), { replica0: true, replica1: true })
  })

  it('with every replica down, reads are answered by the primary', async () => {
    down.length = 0
    await Promise.all([r0.stop('immediate'), r1.stop('immediate')])
    for (let i = 0; i < 4; i++) assert.equal(await inRecovery(), false)
    assert.deepEqual(down.sort(), ['replica0', 'replica1'])
    assert.deepEqual(upOf(), { replica0: false, replica1: false })
    const health = Object.fromEntries((await db.health(500)).map((h) => [h.name, h.ok]))
    assert.deepEqual(health, { primary: true, replica0: false, replica1: false })
  })

  it('db.session(true) falls back to the primary when its replica is down', async () => {
    await sleep(RETRY_MS + 50) // both replicas due for a retry, both still stopped
    const { session, endpoint } = await db.session(true)
    session.release()
    assert.equal(endpoint.name, 'primary')
  })

  it('a read forced to the primary does not send the rest of its scope there', async () => {
    await Promise.all([r0.start(), r1.start()])
    await sleep(RETRY_MS + 50)
    await db.scope(async () => {
      await db.query('SELECT 1', [], { primary: true })
      assert.equal(await inRecovery(), true)
    })
  })
})
