import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { CacheKeys, createCache, createKeys, isHotpathError } from 'hotpath/cache'

const code = (c: string) => (err: unknown) => isHotpathError(err) && err.code === c

describe('cache L1 only', () => {
  it('get, set, has, delete, getMany, setMany', async () => {
    const cache = createCache()
    assert.equal(await cache.get('a'), undefined)
    await cache.set('a', { n: 1 })
    assert.deepEqual(await cache.get('a'), { n: 1 })
    assert.equal(await cache.has('a'), true)
    await cache.setMany([
      { key: 'b', value: 2 },
      { key: 'c', value: null },
    ])
    assert.deepEqual(await cache.getMany(['a', 'b', 'c', 'd']), [{ n: 1 }, 2, null, undefined])
    assert.equal(await cache.has('c'), true, 'null is a cached value')
    await cache.delete('a')
    assert.equal(await cache.has('a'), false)
    await cache.close()
  })

  it('rejects bad keys, TTLs, tiers and undefined with typed errors', async () => {
    const cache = createCache()
    await assert.rejects(cache.get(''), code('HP_ERR_CACHE_INVALID_KEY'))
    await assert.rejects(cache.get(42 as unknown as string), code('HP_ERR_CACHE_INVALID_KEY'))
    await assert.rejects(cache.set('x'.repeat(2000), 1), code('HP_ERR_CACHE_INVALID_KEY'))
    await assert.rejects(cache.set('k', 1, { ttl: 0 }), code('HP_ERR_CACHE_INVALID_TTL'))
    await assert.rejects(cache.set('k', 1, { ttl: -5 }), code('HP_ERR_CACHE_INVALID_TTL'))
    await assert.rejects(cache.set('k', 1, { ttl: Number.NaN }), code('HP_ERR_CACHE_INVALID_TTL'))
    await assert.rejects(cache.set('k', 1, { tier: 'lukewarm' }), code('HP_ERR_CACHE_UNKNOWN_TIER'))
    await assert.rejects(cache.set('k', 1, { ttl: 'lukewarm' }), code('HP_ERR_CACHE_UNKNOWN_TIER'))
    await assert.rejects(cache.set('k', undefined), code('HP_ERR_CACHE_INVALID_VALUE'))
    await assert.rejects(
      cache.set('k', () => 1),
      code('HP_ERR_CACHE_INVALID_VALUE'),
    )
    const circular: Record<string, unknown> = {}
    circular.self = circular
    await assert.rejects(cache.set('k', circular), code('HP_ERR_CACHE_INVALID_VALUE'))
    await assert.rejects(cache.set('k', 1, { tags: [''] }), code('HP_ERR_CACHE_INVALID_TAG'))
    await assert.rejects(
      cache.invalidateTags('x' as unknown as string[]),
      code('HP_ERR_CACHE_INVALID_TAG'),
    )
    assert.equal(await cache.has('k'), false, 'nothing was stored by the bad calls')
    assert.throws(() => createCache({ namespace: 'a b' }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createCache({ l1: { maxBytes: -1 } }), code('HP_ERR_INVALID_OPTION'))
    assert.throws(() => createCache({ defaultTtl: 'nope' }), code('HP_ERR_INVALID_OPTION'))
    await cache.close()
    await assert.rejects(cache.set('k', 1), code('HP_ERR_CACHE_CLOSED'))
  })

  it('TTL tiers: hot 60 s, warm 300 s, cold 3600 s, configurable', async () => {
    const cache = createCache({ tiers: { hot: '50ms', flash: 20 } })
    await cache.set('h', 1, { tier: 'hot' })
    await cache.set('f', 1, { ttl: 'flash' })
    await cache.set('c', 1, { tier: 'cold' })
    await sleep(70)
    assert.equal(await cache.get('h'), undefined)
    assert.equal(await cache.get('f'), undefined)
    assert.equal(await cache.get('c'), 1)
    await cache.close()
  })

  it('L1 entries live no longer than l1.maxTtl', async () => {
    const cache = createCache({ l1: { maxTtl: 30 } })
    await cache.set('k', 1, { tier: 'cold' })
    assert.equal(await cache.get('k'), 1)
    await sleep(50)
    assert.equal(await cache.get('k'), undefined)
    await cache.close()
  })

  it('bounds L1 by items and by bytes, counting evictions', async () => {
    const cache = createCache({ l1: { maxItems: 10 } })
    for (let i = 0; i < 25; i++) await cache.set(`k${i}`, i)
    assert.equal(cache.stats().l1.size, 10)
    assert.equal(cache.stats().l1.evictions, 15)
    const small = createCache({ l1: { maxBytes: 10_000 } })
    for (let i = 0; i < 50; i++) await small.set(`k${i}`, 'x'.repeat(1000))
    assert.ok(small.stats().l1.bytes <= 10_000)
    assert.ok(small.stats().l1.size < 50)
    await cache.close()
    await small.close()
  })

  it('single-flight: 1,000 concurrent callers on a cold key make one factory call', async () => {
    const cache = createCache()
    let calls = 0
    const factory = async () => {
      calls++
      await sleep(20)
      return { v: 42 }
    }
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => cache.getOrSet('cold', factory)),
    )
    assert.equal(calls, 1)
    assert.ok(results.every((r) => r.v === 42))
    assert.equal(cache.stats().collapsed, 999)
    await cache.close()
  })

  it('a failing factory rejects every waiter and caches nothing', async () => {
    const cache = createCache()
    const boom = async () => {
      await sleep(5)
      throw new Error('db down')
    }
    const all = await Promise.allSettled([cache.getOrSet('k', boom), cache.getOrSet('k', boom)])
    assert.ok(
      all.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'db down'),
    )
    assert.equal(await cache.get('k'), undefined)
    assert.equal(await cache.getOrSet('k', () => 'ok'), 'ok')
    await cache.close()
  })

  it('null is cached, undefined is not; the factory may skip caching or change TTL and tags', async () => {
    const cache = createCache()
    let calls = 0
    await cache.getOrSet('n', () => {
      calls++
      return null
    })
    await cache.getOrSet('n', () => {
      calls++
      return null
    })
    assert.equal(calls, 1)
    assert.equal(await cache.getOrSet('u', () => undefined), undefined)
    assert.equal(await cache.has('u'), false)
    assert.equal(
      await cache.getOrSet('s', (ctx) => {
        ctx.skipCache()
        return 7
      }),
      7,
    )
    assert.equal(await cache.has('s'), false)
    await cache.getOrSet('t', (ctx) => {
      ctx.setTtl(20)
      ctx.setTags(['late'])
      return 1
    })
    await cache.getOrSet('t2', () => 2, { tags: ['late'] })
    await cache.invalidateTags(['late'])
    assert.equal(await cache.has('t'), false)
    assert.equal(await cache.has('t2'), false)
    await cache.getOrSet('t', (ctx) => {
      ctx.setTtl('hot')
      ctx.setTtl(20)
      return 1
    })
    await sleep(40)
    assert.equal(await cache.has('t'), false)
    await cache.close()
  })

  it('grace: serves the expired value when the factory throws or times out', async () => {
    const cache = createCache({ grace: '1m' })
    await cache.getOrSet('g', () => 'v1', { ttl: 20 })
    await sleep(30)
    const graced: string[] = []
    cache.on('graced', (e) => graced.push(e.reason))
    assert.equal(
      await cache.getOrSet('g', () => {
        throw new Error('down')
      }),
      'v1',
    )
    assert.equal(
      await cache.getOrSet('g', () => sleep(200).then(() => 'late'), { timeout: { hard: 20 } }),
      'v1',
    )
    assert.deepEqual(graced, ['error', 'timeout'])
    assert.equal(cache.stats().graced, 2)
    // With no stale value, the hard timeout is a typed error.
    await assert.rejects(
      cache.getOrSet('none', () => sleep(200).then(() => 1), { timeout: { hard: 20 } }),
      code('HP_ERR_CACHE_FACTORY_TIMEOUT'),
    )
    await cache.close()
  })

  it('soft timeout returns the stale value early and stores the late result', async () => {
    const cache = createCache({ grace: '1m' })
    await cache.set('s', 'old', { ttl: 10 })
    await sleep(20)
    const t0 = Date.now()
    const v = await cache.getOrSet('s', () => sleep(100).then(() => 'new'), {
      timeout: { soft: 20 },
    })
    assert.equal(v, 'old')
    assert.ok(Date.now() - t0 < 90)
    await sleep(120)
    assert.equal(await cache.get('s'), 'new')
    await cache.close()
  })

  it('stale-while-revalidate: serves stale at once, refreshes once in the background', async () => {
    const cache = createCache({ grace: '1m' })
    await cache.set('w', 'old', { ttl: 10 })
    await sleep(20)
    let calls = 0
    const refresh = async () => {
      calls++
      await sleep(50)
      return 'new'
    }
    const first = await Promise.all(
      Array.from({ length: 20 }, () =>
        cache.getOrSet('w', refresh, { staleWhileRevalidate: true }),
      ),
    )
    assert.ok(first.every((v) => v === 'old'))
    await sleep(80)
    assert.equal(calls, 1)
    assert.equal(await cache.getOrSet('w', refresh, { staleWhileRevalidate: true }), 'new')
    await cache.close()
  })

  it('no stale write-back: an invalidation during a slow factory stops the store', async () => {
    const cache = createCache()
    const slow = (v: string) => async () => {
      await sleep(50)
      return v
    }
    const byKey = cache.getOrSet('p:1', slow('old'))
    await sleep(10)
    await cache.delete('p:1')
    assert.equal(await byKey, 'old', 'the caller still gets its value')
    assert.equal(await cache.has('p:1'), false, 'but it was not stored')

    const byTag = cache.getOrSet('p:2', slow('old'), { tags: ['product:2'] })
    await sleep(10)
    await cache.invalidateTags(['product:2'])
    await byTag
    assert.equal(await cache.has('p:2'), false)

    const lateTag = cache.getOrSet('p:3', async (ctx) => {
      await sleep(50)
      ctx.setTags(['product:3'])
      return 'old'
    })
    await sleep(10)
    await cache.invalidateTags(['product:3'])
    await lateTag
    assert.equal(await cache.has('p:3'), false)

    const byPattern = cache.getOrSet('p:4', slow('old'))
    await sleep(10)
    await cache.deletePattern('p:*')
    await byPattern
    assert.equal(await cache.has('p:4'), false)

    const bySet = cache.getOrSet('p:5', slow('old'))
    await sleep(10)
    await cache.set('p:5', 'newer')
    await bySet
    assert.equal(await cache.get('p:5'), 'newer')
    assert.equal(cache.stats().staleWritesPrevented, 5)
    await cache.close()
  })

  it('tags and patterns invalidate exactly what they name', async () => {
    const cache = createCache()
    await cache.set('user:1', 1, { tags: ['users', 'user:1'] })
    await cache.set('user:2', 2, { tags: ['users', 'user:2'] })
    await cache.set('post:1', 3, { tags: ['posts'] })
    await cache.invalidateTags(['user:1'])
    assert.deepEqual(await cache.getMany(['user:1', 'user:2', 'post:1']), [undefined, 2, 3])
    await cache.set('user:3', 3)
    assert.equal(await cache.deletePattern('user:*'), 2)
    assert.deepEqual(await cache.getMany(['user:2', 'user:3', 'post:1']), [undefined, undefined, 3])
    await cache.clear()
    assert.equal(cache.stats().l1.size, 0)
    await cache.close()
  })

  it('keeps Date, BigInt, Map and Set; L1 values are frozen copies', async () => {
    const cache = createCache()
    const value = {
      at: new Date('2026-01-02T03:04:05.678Z'),
      big: 2n ** 70n,
      m: new Map([['a', 1]]),
      s: new Set([1, 2]),
      $hp: 'a user key that looks like ours',
    }
    await cache.set('v', value)
    const back = await cache.get<typeof value>('v')
    assert.deepEqual(back, value)
    assert.notEqual(back, value, 'L1 holds a copy, not the caller’s object')
    assert.ok(Object.isFrozen(back))
    assert.throws(() => {
      ;(back as { big: bigint }).big = 1n
    })
    value.big = 1n
    assert.equal((await cache.get<typeof value>('v'))?.big, 2n ** 70n)
    await cache.close()
  })

  it('warms entries with bounded concurrency and tracks hot keys', async () => {
    const cache = createCache({ hotKeys: { capacity: 4 } })
    let running = 0
    let peak = 0
    const entries = Array.from({ length: 10 }, (_, i) => ({
      key: `w${i}`,
      factory: async () => {
        running++
        peak = Math.max(peak, running)
        await sleep(5)
        running--
        if (i === 9) throw new Error('nope')
        return i
      },
    }))
    const result = await cache.warm(entries, { concurrency: 3 })
    assert.equal(result.warmed, 9)
    assert.equal(result.failed.length, 1)
    assert.ok(peak <= 3)
    for (let i = 0; i < 50; i++) await cache.get('w1')
    for (let i = 0; i < 20; i++) await cache.get('w2')
    for (let i = 0; i < 9; i++) await cache.get(`w${i}`)
    const top = cache.hotKeys(2)
    assert.deepEqual(
      top.map((t) => t.key),
      ['w1', 'w2'],
    )
    await cache.close()
  })

  it('stats and events', async () => {
    const cache = createCache()
    const seen: string[] = []
    cache.on('hit', (e) => seen.push(`hit:${e.key}`))
    cache.on('miss', (e) => seen.push(`miss:${e.key}`))
    cache.on('set', (e) => seen.push(`set:${e.key}`))
    await cache.get('a')
    await cache.set('a', 1)
    await cache.get('a')
    assert.deepEqual(seen, ['miss:a', 'set:a', 'hit:a'])
    const s = cache.stats()
    assert.equal(s.hits, 1)
    assert.equal(s.misses, 1)
    assert.equal(s.hitRatio, 0.5)
    assert.equal(s.l2.enabled, false)
    await cache.close()
  })
})

describe('cache keys', () => {
  it('builds the guides’ keys, sorts queries, hashes SQL and long keys', () => {
    assert.equal(CacheKeys.user(1), 'user:1')
    assert.equal(CacheKeys.allUsers(), 'users:all')
    assert.equal(CacheKeys.rateLimit('1.2.3.4'), 'ratelimit:1.2.3.4')
    assert.equal(
      CacheKeys.apiResponse('/api/users', 'sort=desc&limit=20'),
      CacheKeys.apiResponse('/api/users', 'limit=20&sort=desc'),
    )
    assert.equal(
      CacheKeys.apiResponse('/api/users', { limit: 20, sort: 'desc' }),
      'api:/api/users?limit=20&sort=desc',
    )
    const q = CacheKeys.queryResult('SELECT * FROM users WHERE id = $1', [1])
    assert.match(q, /^query:[0-9a-f]{40}$/)
    assert.equal(q, CacheKeys.queryResult('SELECT *  FROM users\n WHERE id = $1', [1]))
    assert.notEqual(q, CacheKeys.queryResult('SELECT * FROM users WHERE id = $1', [2]))
    const keys = createKeys({ prefix: 'shop', hashAbove: 64 })
    assert.equal(keys.user(7), 'shop:user:7')
    const long = keys.apiResponse('/x', { q: 'y'.repeat(500) })
    assert.equal(long.length, 64)
    assert.notEqual(long, keys.apiResponse('/x', { q: 'z'.repeat(500) }))
  })
})
