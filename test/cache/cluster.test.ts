import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache, type TieredCache } from 'hotpath/cache'
import { Cluster } from 'ioredis'
import { eventually, ThrowawayCluster, unless } from '../helpers/services.ts'

const skip = await unless('redis')

describe('cache on a Redis Cluster of three masters', { skip }, () => {
  let cluster: ThrowawayCluster
  let a: TieredCache
  let b: TieredCache
  let raw: Cluster

  before(async () => {
    cluster = await ThrowawayCluster.start()
    const l2 = { redis: { cluster: cluster.startupNodes } }
    a = createCache({ namespace: 'cl', l2 })
    b = createCache({ namespace: 'cl', l2 })
    raw = new Cluster(cluster.startupNodes)
    assert.ok(await a.ready(10_000))
    assert.ok(await b.ready(10_000))
  })
  after(async () => {
    await a?.close()
    await b?.close()
    await raw?.quit()
    await cluster?.stop()
  })

  it('spreads keys over every master and reads them back through L2', async () => {
    await a.setMany(
      Array.from({ length: 200 }, (_, i) => ({
        key: `user:${i}`,
        value: i,
        options: { tags: [`g${i % 2}`] },
      })),
    )
    const counts = await Promise.all(raw.nodes('master').map((n) => n.dbsize()))
    assert.ok(
      counts.every((n) => n > 0),
      `keys on every master: ${counts}`,
    )
    const values = await b.getMany(Array.from({ length: 200 }, (_, i) => `user:${i}`))
    assert.deepEqual(
      values,
      Array.from({ length: 200 }, (_, i) => i),
    )
  })

  it('tags invalidate across slots and nodes', async () => {
    await a.invalidateTags(['g0'])
    await eventually('the bus to reach b', async () => (await b.get('user:0')) === undefined)
    const fresh = createCache({ namespace: 'cl', l2: { redis: { cluster: cluster.startupNodes } } })
    await fresh.ready(10_000)
    const values = await fresh.getMany(['user:0', 'user:1', 'user:2', 'user:3'])
    assert.deepEqual(values, [undefined, 1, undefined, 3])
    assert.deepEqual(await b.getMany(['user:0', 'user:1']), [undefined, 1], 'the bus reached b')
    await fresh.close()
  })

  it('deletePattern scans every master; clear() empties the namespace', async () => {
    await a.set('post:1', 'p')
    assert.equal(await a.deletePattern('user:*'), 200)
    const left = await Promise.all(
      raw.nodes('master').map((n) => n.scan('0', 'MATCH', 'cl:user:*', 'COUNT', 1000)),
    )
    assert.ok(left.every(([, keys]) => keys.length === 0))
    assert.equal(await b.get('post:1'), 'p')
    await a.clear()
    await eventually('the clear to reach b', async () => (await b.get('post:1')) === undefined)
  })

  it('the lock works on a cluster', async () => {
    let calls = 0
    const f = async () => {
      calls++
      await sleep(40)
      return 1
    }
    await Promise.all([a.getOrSet('L', f, { lock: true }), b.getOrSet('L', f, { lock: true })])
    assert.equal(calls, 1)
  })
})
