import { randomUUID } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import { HotpathError } from '../errors.ts'
import { type BusMessage, InvalidationBus } from './bus.ts'
import { decodeEntry, Entry, encodeEntry } from './entry.ts'
import { Context, Flight } from './flight.ts'
import { deepFreeze } from './freeze.ts'
import { globToRegExp } from './glob.ts'
import { HotKeys } from './hot-keys.ts'
import { InvalidationLog } from './invalidation-log.ts'
import { checkKey, checkTags } from './keys.ts'
import { L1Store } from './l1.ts'
import { type CacheOptions, type ResolvedOptions, resolveOptions, resolveTtl } from './options.ts'
import { type Plan, Plans } from './plan.ts'
import { RedisTier } from './redis-tier.ts'
import { FAILED, type Failed, Remote } from './remote.ts'
import { Counters, snapshot } from './stats.ts'
import type { CacheEvents, CacheStats, Factory, GetOrSetOptions, SetOptions, Ttl } from './types.ts'
import { runWarm, type WarmEntry, type WarmResult } from './warm.ts'

type Invalidation = { k?: string[]; t?: string[]; p?: string; c?: 1 }

const GET = (t: RedisTier, key: string) => t.get(key)

const FACTORY_FAILED: unique symbol = Symbol('hotpath.factory.failed')

/** Invalidations L2 missed while down, replayed when it is back; past this, clear instead. */
const MAX_PENDING = 10_000

/**
 * The tiered cache: L1 in process, optional L2 on Redis, one factory call per
 * key, grace and stale-while-revalidate, tags, and L1 kept coherent across
 * instances by the invalidation bus. Create it with `createCache`.
 */
export class TieredCache extends EventEmitter<CacheEvents> {
  readonly namespace: string
  readonly #o: ResolvedOptions
  readonly #l1: L1Store
  readonly #remote: Remote | null
  readonly #bus: InvalidationBus | null
  readonly #plans: Plans
  readonly #log = new InvalidationLog()
  readonly #flights = new Map<string, Flight>()
  readonly #c = new Counters()
  readonly #hot: HotKeys | null
  readonly #prefix: string
  readonly #tagPrefix: string
  readonly #lockPrefix: string
  #pending: Invalidation[] = []
  #pendingOverflow = false
  #watchHits = false
  #closed = false
  readonly #background = new Set<Promise<unknown>>()

  constructor(options: CacheOptions = {}) {
    super()
    const o = resolveOptions(options)
    this.#o = o
    this.namespace = o.namespace
    this.#prefix = `${o.namespace}:`
    this.#tagPrefix = `${o.namespace}#t:`
    this.#lockPrefix = `${o.namespace}#l:`
    this.#l1 = new L1Store(o.l1.maxBytes, o.l1.maxItems)
    this.#plans = new Plans(o)
    this.#hot = o.hotKeys ? new HotKeys(o.hotKeys.capacity, o.hotKeys.halfLife) : null
    // Hit events cost nothing until someone listens.
    const self = this as EventEmitter
    self.on('newListener', (name: string) => {
      if (name === 'hit') this.#watchHits = true
    })
    self.on('removeListener', (name: string) => {
      if (name === 'hit') this.#watchHits = this.listenerCount('hit') > 0
    })
    if (o.l2 === null) {
      this.#remote = null
      this.#bus = null
      return
    }
    const tier = new RedisTier(o.l2.redis)
    tier.binary = o.serializer.binary
    this.#remote = new Remote(
      tier,
      o.l2.breakerThreshold,
      o.l2.breakerDuration,
      o.l2.commandTimeout,
      {
        onError: (error) => this.emit('l2:error', { error }),
        onOpen: () => this.emit('circuit:open'),
        onRecover: () => {
          this.emit('circuit:close')
          void this.#replay()
        },
      },
    )
    this.#bus = o.bus
      ? new InvalidationBus(tier.duplicate(), `hotpath:${o.namespace}:bus`, randomUUID(), {
          onMessage: (m) => this.#onBus(m),
          onReconnect: () => {
            this.#c.busReconnects++
            this.#log.clear()
            this.#l1.clear()
            this.emit('bus:reconnect')
          },
        })
      : null
  }

  /** Resolves true once Redis answers and the bus is subscribed (at once without L2), false after `timeoutMs`. */
  async ready(timeoutMs = 5000): Promise<boolean> {
    if (this.#remote === null) return true
    const [l2, bus] = await Promise.all([
      this.#remote.tier.ready(timeoutMs),
      this.#bus === null ? true : this.#bus.ready(timeoutMs),
    ])
    return l2 && bus
  }

  #assertOpen(): void {
    if (this.#closed) throw new HotpathError('HP_ERR_CACHE_CLOSED')
  }

  // ---- reads -------------------------------------------------------------

  async get<T = unknown>(key: string): Promise<T | undefined> {
    checkKey(key, this.#o.maxKeyLength)
    const e = this.#l1.get(key)
    if (e !== undefined) {
      const now = Date.now()
      if (now < e.expiresAt && now < e.l1Until) return this.#l1Hit(key, e, now) as T
    }
    this.#c.l1Misses++
    this.#assertOpen()
    if (this.#remote === null) return this.#miss(key)
    const r = await this.#readL2(key, this.#log.begin(), true)
    if (r instanceof Entry && Date.now() < r.expiresAt) return r.value as T
    return this.#miss(key)
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined
  }

  async getMany<T = unknown>(keys: readonly string[]): Promise<(T | undefined)[]> {
    for (const key of keys) checkKey(key, this.#o.maxKeyLength)
    // Every L2 read is issued in the same tick, so auto-pipelining sends them as one batch.
    return Promise.all(keys.map((key) => this.get<T>(key)))
  }

  async getOrSet<T>(key: string, factory: Factory<T>, options?: GetOrSetOptions): Promise<T> {
    checkKey(key, this.#o.maxKeyLength)
    const e = this.#l1.get(key)
    if (e !== undefined) {
      const now = Date.now()
      if (now < e.expiresAt && now < e.l1Until) return this.#l1Hit(key, e, now) as T
    }
    if (typeof factory !== 'function') {
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['factory', 'expected a function'])
    }
    return this.#slow(key, factory, this.#plans.of(options), e)
  }

  #l1Hit(key: string, e: Entry, now: number): unknown {
    this.#c.l1Hits++
    if (this.#hot !== null) this.#hot.record(key, now)
    if (this.#watchHits) this.emit('hit', { key, tier: 'l1' })
    return e.value
  }

  #miss(key: string): undefined {
    this.#c.misses++
    if (this.listenerCount('miss') > 0) this.emit('miss', { key })
    return undefined
  }

  /** Reads and validates an L2 entry; fills L1 unless an invalidation landed meanwhile. */
  async #readL2(key: string, start: number, end: boolean): Promise<Entry | null | Failed> {
    const remote = this.#remote!
    try {
      const raw = await remote.read(GET, this.#prefix + key)
      if (raw === FAILED) return FAILED
      const d = raw === null ? null : decodeEntry(raw)
      const now = Date.now()
      if (d === null || now >= d.staleUntil) {
        this.#c.l2Misses++
        return null
      }
      if (d.tags !== null) {
        const current = await remote.read((t) =>
          t.readInts(d.tags!.map((x) => this.#tagPrefix + x)),
        )
        if (current === FAILED) return FAILED
        const seen = d.versions ?? []
        if (current.some((v, i) => v !== seen[i])) {
          this.#c.l2Misses++
          return null
        }
      }
      let value: unknown
      try {
        value = this.#o.serializer.deserialize(d.payload)
      } catch {
        this.#c.l2Misses++
        return null
      }
      if (this.#o.l1.freeze) deepFreeze(value)
      const entry = new Entry(value, d.expiresAt, d.staleUntil, d.tags, d.versions, raw!.length)
      if (now < d.expiresAt) {
        this.#c.l2Hits++
        if (this.#watchHits) this.emit('hit', { key, tier: 'l2' })
      }
      if (!this.#log.touched(start, key, d.tags)) this.#fillL1(key, entry, now)
      return entry
    } finally {
      if (end) this.#log.end(start)
    }
  }

  #fillL1(key: string, entry: Entry, now: number): void {
    entry.l1Until = Math.min(now + this.#o.l1.maxTtl, entry.staleUntil)
    this.#l1.set(key, entry)
  }

  // ---- getOrSet slow path -------------------------------------------------

  #slow<T>(key: string, factory: Factory<T>, plan: Plan, l1: Entry | undefined): Promise<T> {
    this.#assertOpen()
    this.#c.l1Misses++
    const now = Date.now()
    const stale = l1 !== undefined && now < l1.staleUntil && now < l1.l1Until ? l1 : undefined
    const running = this.#flights.get(key)
    if (running !== undefined) {
      this.#c.collapsed++
      if (stale !== undefined && plan.swr) {
        this.#c.staleServed++
        return Promise.resolve(stale.value as T)
      }
      return running.promise as Promise<T>
    }
    const flight = new Flight()
    this.#flights.set(key, flight)
    this.#track(this.#run(flight, key, factory, plan, stale)).then(
      () => this.#flights.delete(key),
      (err) => {
        this.#flights.delete(key)
        flight.reject(err)
      },
    )
    return flight.promise as Promise<T>
  }

  async #run<T>(
    flight: Flight,
    key: string,
    factory: Factory<T>,
    plan: Plan,
    l1Stale: Entry | undefined,
  ): Promise<void> {
    const start = this.#log.begin()
    let lockToken: string | null = null
    try {
      let stale = l1Stale
      let versions: readonly number[] | null | Failed = null
      let l2Up = this.#remote !== null
      if (this.#remote !== null) {
        const [r, v] = await Promise.all([
          this.#readL2(key, start, false),
          plan.tags === null ? null : this.#readVersions(plan.tags),
        ])
        versions = v
        if (r === FAILED) l2Up = false
        else if (r !== null) {
          if (Date.now() < r.expiresAt) return flight.resolve(r.value as T)
          stale = r
        }
      }
      if (stale !== undefined && plan.swr) {
        this.#c.staleServed++
        flight.resolve(stale.value as T)
      }
      if (plan.lock && l2Up) {
        const got = await this.#acquire(key, start)
        if (got instanceof Entry) return flight.resolve(got.value as T)
        lockToken = got
      }
      if (!flight.settled) this.#c.misses++
      const ctx = new Context<T>(
        key,
        stale?.value as T | undefined,
        plan.ttl,
        plan.tags,
        (t: Ttl) => resolveTtl(t, this.#o.tiers),
      )
      const value = await this.#callFactory(flight, ctx, factory, plan, stale)
      if (value === FACTORY_FAILED) return
      if (value === undefined || ctx.skipped) return flight.resolve(value)
      // A value computed before an invalidation of its key or tags must not be stored.
      if (this.#log.touched(start, key, ctx.tags)) {
        this.#c.staleWritesPrevented++
        return flight.resolve(value)
      }
      if (ctx.tags !== null && this.#remote !== null) {
        // Re-read the versions: another process may have invalidated a tag before its bus message arrives.
        const now = await this.#readVersions(ctx.tags)
        if (ctx.tags === plan.tags && Array.isArray(versions) && Array.isArray(now)) {
          if (now.some((v, i) => v !== (versions as readonly number[])[i])) {
            this.#c.staleWritesPrevented++
            return flight.resolve(value)
          }
        }
        versions = now
      } else if (ctx.tags === null) versions = null
      await this.#store(key, value, ctx.ttl, plan.grace, ctx.tags, versions, start, flight)
    } finally {
      if (lockToken !== null) {
        const token = lockToken
        void this.#remote!.write((t) => t.unlock(this.#lockPrefix + key, token))
      }
      this.#log.end(start)
    }
  }

  /** Calls the factory under the soft and hard timeouts; returns its value, or FACTORY_FAILED. */
  async #callFactory<T>(
    flight: Flight,
    ctx: Context<T>,
    factory: Factory<T>,
    plan: Plan,
    stale: Entry | undefined,
  ): Promise<T | typeof FACTORY_FAILED> {
    this.#c.factoryCalls++
    let soft: NodeJS.Timeout | undefined
    let hard: NodeJS.Timeout | undefined
    if (stale !== undefined && plan.soft > 0 && !flight.settled) {
      soft = setTimeout(() => this.#grace(flight, ctx.key, stale, 'soft-timeout'), plan.soft)
    }
    if (plan.hard > 0) {
      hard = setTimeout(() => {
        const err = new HotpathError('HP_ERR_CACHE_FACTORY_TIMEOUT', [ctx.key, plan.hard])
        ctx.abort(err)
        if (flight.settled) return
        this.#c.factoryTimeouts++
        if (stale !== undefined) this.#grace(flight, ctx.key, stale, 'timeout')
        else flight.reject(err)
      }, plan.hard)
    }
    try {
      return await factory(ctx)
    } catch (err) {
      this.#c.factoryErrors++
      if (stale !== undefined) this.#grace(flight, ctx.key, stale, 'error')
      else flight.reject(err)
      return FACTORY_FAILED
    } finally {
      clearTimeout(soft)
      clearTimeout(hard)
    }
  }

  #grace(flight: Flight, key: string, stale: Entry, reason: 'error' | 'timeout' | 'soft-timeout') {
    if (flight.settled) return
    this.#c.graced++
    flight.resolve(stale.value)
    if (this.listenerCount('graced') > 0) this.emit('graced', { key, reason })
  }

  /**
   * The distributed lock: returns the token if this process owns the lock,
   * an Entry if the owner stored the value meanwhile, or null to go on
   * without a lock (Redis failed, or waiting ran out).
   */
  async #acquire(key: string, start: number): Promise<string | Entry | null> {
    const remote = this.#remote!
    const lockKey = this.#lockPrefix + key
    const token = randomUUID()
    const deadline = Date.now() + this.#o.lock.wait
    let delay = 5
    for (;;) {
      const got = await remote.read((t) => t.tryLock(lockKey, token, this.#o.lock.ttl))
      if (got === FAILED) return null
      if (got) {
        // Double-check: the previous owner may have stored the value just before releasing.
        const r = await this.#readL2(key, start, false)
        if (r instanceof Entry && Date.now() < r.expiresAt) {
          void remote.write((t) => t.unlock(lockKey, token))
          return r
        }
        return token
      }
      if (Date.now() >= deadline) return null
      await sleep(delay)
      delay = Math.min(delay * 1.5, 100)
      const r = await this.#readL2(key, start, false)
      if (r === FAILED) return null
      if (r !== null && Date.now() < r.expiresAt) return r
    }
  }

  async #readVersions(tags: readonly string[]): Promise<readonly number[] | Failed> {
    return this.#remote!.read((t) => t.readInts(tags.map((x) => this.#tagPrefix + x)))
  }

  // ---- writes -------------------------------------------------------------

  /** Builds the entry (a frozen copy through the serializer, so L1 and L2 read back alike) and stores it. */
  async #store(
    key: string,
    value: unknown,
    ttl: number,
    grace: number,
    tags: readonly string[] | null,
    versions: readonly number[] | null | Failed,
    start: number,
    flight: Flight | null,
  ): Promise<void> {
    let payload: string | Uint8Array
    let copy: unknown
    try {
      payload = this.#o.serializer.serialize(value)
      copy = this.#o.serializer.deserialize(payload)
    } catch (err) {
      const e =
        err instanceof HotpathError
          ? err
          : new HotpathError('HP_ERR_CACHE_INVALID_VALUE', [(err as Error).message], { cause: err })
      if (flight === null) throw e
      flight.reject(e)
      return
    }
    if (this.#o.l1.freeze) deepFreeze(copy)
    const now = Date.now()
    const expiresAt = now + ttl
    const staleUntil = expiresAt + grace
    const entry = new Entry(copy, expiresAt, staleUntil, tags, null, payload.length)
    flight?.resolve(copy)
    this.#c.sets++
    if (this.listenerCount('set') > 0) this.emit('set', { key })
    if (this.#log.touched(start, key, tags)) {
      this.#c.staleWritesPrevented++
      return
    }
    this.#fillL1(key, entry, now)
    if (this.#remote === null) return
    if (versions === FAILED) {
      this.#c.l2WriteFailures++
      return
    }
    const raw = encodeEntry(payload, expiresAt, staleUntil, tags, versions)
    const ok = await this.#remote.write((t) => t.set(this.#prefix + key, raw, staleUntil - now))
    if (!ok) this.#c.l2WriteFailures++
  }

  async set(key: string, value: unknown, options?: SetOptions): Promise<void> {
    this.#assertOpen()
    checkKey(key, this.#o.maxKeyLength)
    if (value === undefined) {
      throw new HotpathError('HP_ERR_CACHE_INVALID_VALUE', ['undefined is not cacheable (null is)'])
    }
    const plan = this.#plans.of(options)
    const versions =
      plan.tags !== null && this.#remote !== null ? await this.#readVersions(plan.tags) : null
    // A set is newer than any factory result for this key still under way.
    this.#log.key(key)
    const start = this.#log.begin()
    try {
      await this.#store(key, value, plan.ttl, plan.grace, plan.tags, versions, start, null)
    } finally {
      this.#log.end(start)
    }
    await this.#publish({ k: [key] })
  }

  async setMany(
    entries: readonly { key: string; value: unknown; options?: SetOptions }[],
  ): Promise<void> {
    for (const e of entries) checkKey(e.key, this.#o.maxKeyLength)
    await Promise.all(entries.map((e) => this.set(e.key, e.value, e.options)))
  }

  // ---- invalidation -------------------------------------------------------

  async delete(key: string): Promise<void> {
    this.#assertOpen()
    checkKey(key, this.#o.maxKeyLength)
    this.#c.deletes++
    this.#applyLocal({ k: [key] }, false)
    await this.#applyRemote({ k: [key] })
  }

  /** O(1) per tag: bumps the tag's version in Redis; entries stored under an older version are dead. */
  async invalidateTags(tags: readonly string[]): Promise<void> {
    this.#assertOpen()
    const list = [...new Set(checkTags(tags))]
    if (list.length === 0) return
    this.#applyLocal({ t: list }, false)
    await this.#applyRemote({ t: list })
  }

  /** Deletes keys matching a Redis glob in this namespace (SCAN + UNLINK); returns the L2 count. */
  async deletePattern(glob: string): Promise<number> {
    this.#assertOpen()
    if (typeof glob !== 'string' || glob.length === 0 || glob.length > this.#o.maxKeyLength) {
      throw new HotpathError('HP_ERR_CACHE_INVALID_KEY', [`bad pattern ${String(glob)}`])
    }
    const n = this.#applyLocal({ p: glob }, false)
    return (await this.#applyRemote({ p: glob })) ?? n
  }

  /** Empties this namespace in both tiers (other namespaces in the same Redis are untouched). */
  async clear(): Promise<void> {
    this.#assertOpen()
    this.#applyLocal({ c: 1 }, false)
    await this.#applyRemote({ c: 1 })
  }

  #applyLocal(m: Invalidation, remote: boolean): number {
    let n = 0
    if (m.c) {
      this.#log.clear()
      n = this.#l1.size
      this.#l1.clear()
    }
    if (m.k)
      for (const key of m.k) {
        this.#log.key(key)
        if (this.#l1.delete(key)) n++
      }
    if (m.t) {
      this.#log.tags(m.t)
      n += this.#l1.deleteTags(m.t)
    }
    if (m.p !== undefined) {
      this.#log.pattern(m.p)
      const re = globToRegExp(m.p)
      n += this.#l1.deleteMatching((k) => re.test(k))
    }
    if (this.listenerCount('invalidate') > 0) {
      this.emit('invalidate', { keys: m.k, tags: m.t, pattern: m.p, clear: m.c === 1, remote })
    }
    return n
  }

  /** Applies an invalidation to L2 and tells the other instances; remembers it if Redis is down. */
  async #applyRemote(m: Invalidation): Promise<number | undefined> {
    const remote = this.#remote
    if (remote === null) return undefined
    let count = 0
    const ok = await remote.write(async (t) => {
      if (m.k) count += await t.unlink(m.k.map((k) => this.#prefix + k))
      if (m.t) await t.incr(m.t.map((x) => this.#tagPrefix + x))
      if (m.p !== undefined) count += await t.scanDelete(this.#prefix + m.p, this.#o.l2!.scanBatch)
      if (m.c) count += await t.scanDelete(`${this.#prefix}*`, this.#o.l2!.scanBatch)
    })
    if (!ok) {
      this.#c.l2WriteFailures++
      if (this.#pending.length < MAX_PENDING) this.#pending.push(m)
      else this.#pendingOverflow = true
      return undefined
    }
    await this.#publish(m)
    return count
  }

  async #publish(m: Invalidation): Promise<void> {
    if (this.#bus === null) return
    const text = this.#bus.encode(m)
    const channel = this.#bus.channel
    if (await this.#remote!.write((t) => t.publish(channel, text))) this.#c.busSent++
  }

  async #replay(): Promise<void> {
    if (this.#pending.length === 0 && !this.#pendingOverflow) return
    const pending = this.#pendingOverflow ? [{ c: 1 } as Invalidation] : this.#pending
    this.#pending = []
    this.#pendingOverflow = false
    for (const m of pending) await this.#applyRemote(m)
  }

  #onBus(m: BusMessage): void {
    this.#c.busReceived++
    const inv: Invalidation = {}
    if (Array.isArray(m.k)) inv.k = m.k.filter((k) => typeof k === 'string')
    if (Array.isArray(m.t)) inv.t = m.t.filter((t) => typeof t === 'string')
    if (typeof m.p === 'string') inv.p = m.p
    if (m.c === 1) inv.c = 1
    this.#applyLocal(inv, true)
  }

  // ---- warming, stats, lifecycle -----------------------------------------

  warm(entries: Iterable<WarmEntry>, options: { concurrency?: number } = {}): Promise<WarmResult> {
    return runWarm(this, entries, options.concurrency ?? 4)
  }

  /** The most-hit keys of late (needs `hotKeys: true`), to persist and warm at the next start. */
  hotKeys(n = 20): { key: string; hits: number }[] {
    return this.#hot === null ? [] : this.#hot.top(n)
  }

  stats(): CacheStats {
    return snapshot(this.#c, this.#l1, this.#remote, this.#bus)
  }

  /** Background work (factories finishing after their callers, lock releases) that close() waits for. */
  #track<T>(p: Promise<T>): Promise<T> {
    this.#background.add(p)
    const done = () => this.#background.delete(p)
    p.then(done, done)
    return p
  }

  /**
   * Waits (bounded) for factories still running and for the writes, lock
   * releases and bus messages under way, then closes the connections it opened.
   */
  async close(): Promise<void> {
    if (this.#closed) return
    this.#closed = true
    const bound = Math.max(1000, (this.#o.l2?.commandTimeout ?? 0) * 4)
    if (this.#background.size > 0) {
      await Promise.race([
        Promise.allSettled([...this.#background]),
        sleep(bound, undefined, { ref: false }),
      ])
    }
    await this.#remote?.drain(bound)
    this.#remote?.close()
    await this.#bus?.close()
    await this.#remote?.tier.close()
    this.#l1.clear()
  }
}

/** Creates a tiered cache. Nothing is shared between caches: create one per namespace you need. */
export function createCache(options: CacheOptions = {}): TieredCache {
  return new TieredCache(options)
}
