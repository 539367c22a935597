import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { describe, it } from 'node:test'
import { createCache } from 'hotpath/cache'
import { Redis } from 'ioredis'
import { CachePeer } from '../helpers/peer.ts'
import { eventually, REDIS_URL, unless } from '../helpers/services.ts'

const skip = await unless('redis')

describe('cache across processes', { skip }, () => {
  it('the bus drops a changed key from another process’s L1 at once', async () => {
    const ns = `p${randomUUID().slice(0, 8)}`
    const here = createCache({ namespace: ns, l2: { redis: REDIS_URL } })
    await here.ready()
    const peer = await CachePeer.start(REDIS_URL, ns)
    try {
      await here.set('product:1', { price: 10 })
      assert.deepEqual(await peer.call({ op: 'get', key: 'product:1' }), { price: 10 })
      assert.deepEqual(await peer.call({ op: 'get', key: 'product:1' }), { price: 10 })
      const before = await peer.call<{ l1: { hits: number } }>({ op: 'stats' })
      assert.equal(before.l1.hits, 1, 'the peer now serves it from its L1')
      await here.set('product:1', { price: 12 })
      await eventually('the peer to see the change', async () => {
        const v = await peer.call<{ price: number }>({ op: 'get', key: 'product:1' })
        return v.price === 12
      })
      await peer.call({ op: 'set', key: 'product:2', value: 'a' })
      assert.equal(await here.get('product:2'), 'a')
      await peer.call({ op: 'set', key: 'product:2', value: 'b' })
      await eventually(
        'this process to see the change',
        async () => (await here.get('product:2')) === 'b',
      )
    } finally {
      await peer.close()
      await here.close()
    }
  })

  it('with the lock, 4 processes × 250 concurrent cold calls → one factory call', async () => {
    const ns = `p${randomUUID().slice(0, 8)}`
    const peers = await Promise.all([0, 1, 2, 3].map(() => CachePeer.start(REDIS_URL, ns)))
    const redis = new Redis(REDIS_URL)
    const counterKey = `${ns}-factory-calls`
    try {
      const ok = await Promise.all(
        peers.map((p) => p.call({ op: 'stampede', key: 'cold', callers: 250, counterKey })),
      )
      assert.deepEqual(ok, [true, true, true, true])
      assert.equal(await redis.get(counterKey), '1')
    } finally {
      await redis.del(counterKey)
      await redis.quit()
      await Promise.all(peers.map((p) => p.close()))
    }
  })
})
