import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { after, describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  type CacheOptions,
  createCache,
  registerCacheMetrics,
  type Serializer,
  type TieredCache,
} from 'hotpath/cache'
import { Redis } from 'ioredis'
import { pack, unpack } from 'msgpackr'
import { Registry } from 'prom-client'
import { eventually, REDIS_URL, unless } from '../helpers/services.ts'

const skip = await unless('redis')

describe('cache with Redis L2', { skip }, () => {
  const raw = skip ? null : new Redis(REDIS_URL)
  const open: TieredCache[] = []
  const make = async (o: CacheOptions = {}, ns = `t${randomUUID().slice(0, 8)}`) => {
    const c = createCache({ namespace: ns, l2: { redis: REDIS_URL }, ...o })
    open.push(c)
    assert.equal(await c.ready(), true)
    return c
  }
  after(async () => {
    for (const c of open) await c.close()
    await raw?.quit()
  })

  it('an L2 hit fills L1 with the remaining TTL, capped by l1.maxTtl', async () => {
    const ns = `t${randomUUID().slice(0, 8)}`
    const a = await make({}, ns)
    const b = await make({ l1: { maxTtl: 10_000 } }, ns)
    await a.set('k', { v: 1 }, { ttl: 300 })
    const pttl = await raw!.pttl(`${ns}:k`)
    assert.ok(pttl > 200 && pttl <= 300, `L2 TTL ${pttl}`)
    await sleep(150)
    assert.deepEqual(await b.get('k'), { v: 1 })
    assert.equal(b.stats().l2.hits, 1)
    assert.deepEqual(await b.get('k'), { v: 1 })
    assert.equal(b.stats().l1.hits, 1, 'second read served by L1')
    await sleep(170)
    assert.equal(
      await b.get('k'),
      undefined,
      'L1 copy expired with the L2 remainder, not a fresh 300 ms',
    )
  })

  it('getMany and setMany are pipelined over both tiers', async () => {
    const a = await make()
    const b = await make({}, a.namespace)
    await a.setMany(Array.from({ length: 100 }, (_, i) => ({ key: `m${i}`, value: i })))
    const keys = Array.from({ length: 101 }, (_, i) => `m${i}`)
    const values = await b.getMany(keys)
    assert.deepEqual(values, [...Array.from({ length: 100 }, (_, i) => i), undefined])
    assert.equal(b.stats().l2.hits, 100)
  })

  it('reads back Date, BigInt, Map, Set the same from L1 and from L2', async () => {
    const a = await make()
    const b = await make({}, a.namespace)
    const value = {
      at: new Date(1_700_000_000_123),
      n: 12345678901234567890n,
      m: new Map([[1, 'x']]),
      s: new Set(['a']),
    }
    await a.set('v', value)
    assert.deepEqual(await a.get('v'), value)
    assert.deepEqual(await b.get('v'), value)
    assert.equal(b.stats().l2.hits, 1)
  })

  it('a pluggable serializer (msgpackr) works in both tiers', async () => {
    const msgpack: Serializer = {
      name: 'msgpack',
      binary: true,
      serialize: (v) => pack(v),
      deserialize: (d) => unpack(d as Buffer),
    }
    const a = await make({ serializer: msgpack })
    const b = await make({ serializer: msgpack }, a.namespace)
    const value = { at: new Date(1_700_000_000_000), list: [1, 'two', null] }
    await a.set('v', value)
    assert.deepEqual(await b.get('v'), value)
    assert.equal(b.stats().l2.hits, 1)
  })

  it('single-flight collapses L2 reads and factory calls', async () => {
    const a = await make()
    let calls = 0
    const vals = await Promise.all(
      Array.from({ length: 1000 }, () =>
        a.getOrSet('cold', async () => {
          calls++
          await sleep(20)
          return 'v'
        }),
      ),
    )
    assert.equal(calls, 1)
    assert.ok(vals.every((v) => v === 'v'))
    assert.equal(a.stats().l2.misses, 1, 'one L2 read for 1,000 callers')
  })

  it('tags invalidate across instances in O(1) per tag (a version, not a scan)', async () => {
    const a = await make()
    const b = await make({ bus: false }, a.namespace)
    await a.set('p:1', 'one', { tags: ['product:1', 'products'] })
    await a.set('p:2', 'two', { tags: ['product:2', 'products'] })
    assert.equal(await b.get('p:1'), 'one')
    await a.invalidateTags(['product:1'])
    assert.equal(await raw!.get(`${a.namespace}#t:product:1`), '1')
    // b has no bus: its L1 copy lives until l1.maxTtl, but a fresh reader sees the new version.
    const c = await make({ bus: false }, a.namespace)
    assert.equal(await c.get('p:1'), undefined)
    assert.equal(await c.get('p:2'), 'two')
    assert.equal(await a.get('p:1'), undefined)
  })

  it('no stale write-back through L2: a tag invalidated during the factory wins', async () => {
    const a = await make()
    const b = await make({}, a.namespace)
    const pending = a.getOrSet(
      'slow',
      async () => {
        await sleep(80)
        return 'old'
      },
      { tags: ['t'] },
    )
    await sleep(20)
    await b.invalidateTags(['t'])
    assert.equal(await pending, 'old')
    const fresh = await make({}, a.namespace)
    assert.equal(await fresh.get('slow'), undefined)
    assert.equal(await a.get('slow'), undefined)
  })

  it('deletePattern uses SCAN + UNLINK in batches; clear() leaves other namespaces alone', async () => {
    const a = await make({ l2: { redis: REDIS_URL, scanBatch: 7 } })
    const other = await make()
    await other.set('user:1', 'keep')
    for (let i = 0; i < 50; i++) await a.set(`user:${i}`, i)
    await a.set('post:1', 'p')
    assert.equal(await a.deletePattern('user:*'), 50)
    assert.equal(await raw!.exists(`${a.namespace}:user:3`), 0)
    assert.equal(await a.get('post:1'), 'p')
    await a.clear()
    assert.equal(await raw!.exists(`${a.namespace}:post:1`), 0)
    assert.equal(await other.get('user:1'), 'keep')
  })

  it('the bus keeps L1 coherent: keys, tags, patterns and clear reach the other instance', async () => {
    const a = await make()
    const b = await make({}, a.namespace)
    const seen: string[] = []
    b.on('invalidate', (e) => {
      if (e.remote) seen.push(JSON.stringify({ k: e.keys, t: e.tags, p: e.pattern, c: e.clear }))
    })
    await a.set('x', 1, { tags: ['tx'] })
    await a.set('y', 1)
    await a.set('z:1', 1)
    await a.set('w', 1)
    await sleep(50)
    for (const k of ['x', 'y', 'z:1', 'w']) assert.equal(await b.get(k), 1)
    await a.set('y', 2) // a set is an invalidation for the others' L1
    await a.invalidateTags(['tx'])
    await a.deletePattern('z:*')
    await eventually('only w left in b’s L1', () => b.stats().l1.size === 1)
    assert.equal(await b.get('y'), 2)
    await a.clear()
    await eventually('b’s L1 cleared', () => b.stats().l1.size === 0)
    assert.ok(seen.length >= 4)
    assert.equal(a.stats().bus.received, 0, 'own messages are ignored')
    assert.ok(b.stats().bus.received >= 5)
  })

  it('the distributed lock: waiters poll L2 and the factory runs once', async () => {
    const ns = `t${randomUUID().slice(0, 8)}`
    const caches = await Promise.all([0, 1, 2].map(() => make({ lock: { enabled: true } }, ns)))
    let calls = 0
    const vals = await Promise.all(
      caches.map((c) =>
        c.getOrSet('locked', async () => {
          calls++
          await sleep(60)
          return 'v'
        }),
      ),
    )
    assert.deepEqual(vals, ['v', 'v', 'v'])
    assert.equal(calls, 1)
    assert.equal(await raw!.exists(`${ns}#l:locked`), 0, 'the lock is released')
  })

  it('close() waits for the value’s write and the lock release under way', async () => {
    const ns = `t${randomUUID().slice(0, 8)}`
    for (let round = 0; round < 5; round++) {
      const a = createCache({ namespace: ns, l2: { redis: REDIS_URL }, lock: { enabled: true } })
      await a.ready()
      assert.equal(await a.getOrSet(`k${round}`, async () => 'v'), 'v')
      await a.close()
      assert.equal(await raw!.exists(`${ns}#l:k${round}`), 0, 'lock released')
      assert.equal(await raw!.exists(`${ns}:k${round}`), 1, 'value written')
    }
  })

  it('a lock whose owner died expires, and the next caller computes', async () => {
    const c = await make({ lock: { enabled: true, ttl: 150, wait: 2000 } })
    await raw!.set(`${c.namespace}#l:orphan`, 'someone-else', 'PX', 150)
    const t0 = Date.now()
    assert.equal(await c.getOrSet('orphan', () => 'mine'), 'mine')
    assert.ok(Date.now() - t0 >= 100)
  })

  it('ignores foreign or corrupt values in L2', async () => {
    const c = await make()
    await raw!.set(`${c.namespace}:junk`, 'not an entry')
    await raw!.set(`${c.namespace}:junk2`, '[1,99999999999999]\n0{broken')
    assert.equal(await c.get('junk'), undefined)
    assert.equal(await c.get('junk2'), undefined)
    assert.equal(await c.getOrSet('junk', () => 'fixed'), 'fixed')
  })

  it('exposes stats as Prometheus metrics', async () => {
    const c = await make()
    await c.set('a', 1)
    await c.get('a')
    await c.get('nope')
    const registry = new Registry()
    registerCacheMetrics(c, { registry })
    const text = await registry.metrics()
    assert.match(
      text,
      new RegExp(`hotpath_cache_hits_total\\{namespace="${c.namespace}",tier="l1"\\} 1`),
    )
    assert.match(text, /hotpath_cache_misses_total\{[^}]*\} 1/)
    assert.match(text, /# TYPE hotpath_cache_entries gauge/)
    const again = await registry.metrics()
    assert.match(
      again,
      new RegExp(`hotpath_cache_hits_total\\{namespace="${c.namespace}",tier="l1"\\} 1`),
    )
  })
})
