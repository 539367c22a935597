import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache, type TieredCache } from 'hotpath/cache'
import { Redis } from 'ioredis'
import { ThrowawayRedis, unless } from '../helpers/services.ts'

const skip = await unless('redis')

async function waitFor(what: string, test: () => boolean | Promise<boolean>, ms = 10_000) {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await test()) return
    await sleep(25)
  }
  assert.fail(`timed out waiting for ${what}`)
}

describe('cache during a Redis outage', { skip }, () => {
  let redis: ThrowawayRedis
  let cache: TieredCache
  let peer: TieredCache

  before(async () => {
    redis = await ThrowawayRedis.start()
    const options = {
      namespace: 'outage',
      grace: '1m' as const,
      l2: { redis: redis.url, commandTimeout: 100, breakerThreshold: 3, breakerDuration: 200 },
    }
    cache = createCache(options)
    peer = createCache(options)
    assert.ok(await cache.ready())
    assert.ok(await peer.ready())
  })
  after(async () => {
    await cache.close()
    await peer.close()
    await redis.stop()
  })

  it('keeps answering while Redis is killed mid-run and recovers when it is back', async () => {
    await cache.set('warm', 'w', { ttl: 100 })
    const errors: unknown[] = []
    let ops = 0
    let stop = false
    const worker = async (id: number) => {
      for (let i = 0; !stop; i++) {
        try {
          const key = `k${id}:${i % 50}`
          await cache.getOrSet(key, async () => `v${i}`)
          await cache.get(`missing:${i}`)
          await cache.set(`s${id}`, i)
          await cache.delete(`d${id}`)
          ops++
        } catch (err) {
          errors.push(err)
        }
        await sleep(1)
      }
    }
    const workers = [1, 2, 3, 4].map(worker)
    await sleep(200)
    await redis.kill()
    await sleep(150)
    // While down: the warm entry's TTL passed; a failing factory gets the graced value.
    assert.equal(
      await cache.getOrSet('warm', () => {
        throw new Error('db down too')
      }),
      'w',
    )
    assert.equal(await cache.get('never-set'), undefined)
    await cache.set('during', 1) // counted, not thrown
    const down = cache.stats()
    assert.ok(down.l2.errors > 0, 'L2 errors counted')
    assert.ok(down.l2.writeFailures > 0, 'failed writes counted')
    assert.equal(down.l2.circuitOpen, true, 'circuit open')
    const opsDown = ops
    await sleep(300)
    assert.ok(ops > opsDown + 20, `reads and writes go on while Redis is down (${ops - opsDown})`)
    await redis.start()
    await waitFor(
      'the circuit to close',
      () => !cache.stats().l2.circuitOpen && cache.stats().l2.connected,
    )
    const hitsBefore = cache.stats().l2.hits
    await peer.set('after', 'back')
    await waitFor('an L2 hit after recovery', async () => (await cache.get('after')) === 'back')
    assert.ok(cache.stats().l2.hits > hitsBefore)
    stop = true
    await Promise.all(workers)
    assert.deepEqual(errors, [], 'no call threw because of L2')
    await waitFor('the bus to resubscribe', () => cache.stats().bus.reconnects >= 1)
  })

  it('the bus reconnect clears L1 (invalidations may have been missed)', async () => {
    await cache.set('l1', 1)
    await sleep(20)
    const admin = new Redis(redis.url)
    admin.on('error', () => {})
    await admin.client('KILL', 'TYPE', 'pubsub')
    await admin.quit()
    const before = cache.stats().bus.reconnects
    await waitFor('a bus reconnect', () => cache.stats().bus.reconnects > before)
    assert.equal(cache.stats().l1.size, 0)
  })

  it('invalidations that Redis missed are replayed when it answers again', async () => {
    await cache.set('gone', 'stale-if-replay-fails', { tier: 'cold' })
    const admin = new Redis(redis.url)
    admin.on('error', () => {})
    assert.ok(await admin.exists('outage:gone'))
    process.kill(redis.pid!, 'SIGSTOP') // a frozen server: commands time out, data survives
    try {
      for (let i = 0; i < 4; i++) await cache.get(`x${i}`)
      await cache.delete('gone')
      await cache.invalidateTags(['some-tag'])
      assert.ok(cache.stats().l2.writeFailures > 0)
    } finally {
      process.kill(redis.pid!, 'SIGCONT')
    }
    await waitFor('the replayed delete', async () => (await admin.exists('outage:gone')) === 0)
    await waitFor(
      'the replayed tag bump',
      async () => (await admin.get('outage#t:some-tag')) === '1',
    )
    await admin.quit()
  })
})
