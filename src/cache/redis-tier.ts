import { Cluster, Redis, type RedisOptions } from 'ioredis'
import type { RedisTarget } from './options.ts'

const UNLOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

type Client = Redis | Cluster

/**
 * The Redis tier: single node or Cluster behind one small surface. It knows
 * commands, not policy: timeouts and the circuit breaker live in `remote.ts`.
 * Commands are auto-pipelined, and fail at once while disconnected (no
 * offline queue), so a write never lands late after the cache gave up on it.
 */
export class RedisTier {
  readonly client: Client
  readonly owned: boolean
  readonly isCluster: boolean
  #ready = false

  constructor(target: RedisTarget) {
    // No commandTimeout here: Remote enforces it with one shared timer, not one per command.
    const ours: RedisOptions = {
      enableAutoPipelining: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // A stalled server's socket is destroyed at once, so its commands fail at the timeout, not 2 s later.
      disconnectTimeout: 0,
    }
    if (target instanceof Redis || target instanceof Cluster) {
      this.client = target
      this.owned = false
    } else if (typeof target === 'string') {
      this.client = new Redis(target, ours)
      this.owned = true
    } else if ('cluster' in target) {
      this.client = new Cluster(target.cluster, {
        enableAutoPipelining: true,
        enableOfflineQueue: false,
        redisOptions: { ...target.options, ...ours },
      })
      this.owned = true
    } else {
      this.client = new Redis({ ...target, ...ours })
      this.owned = true
    }
    this.isCluster = this.client instanceof Cluster
    this.#ready = this.client.status === 'ready'
    this.client.on('ready', () => {
      this.#ready = true
    })
    // Errors surface through the commands that fail; an unhandled 'error' event would crash.
    this.client.on('error', () => {})
    this.client.defineCommand('hpUnlock', { numberOfKeys: 1, lua: UNLOCK })
  }

  /** True once the client has connected at least once (before that, L2 is skipped, not failed). */
  get started(): boolean {
    return this.#ready
  }

  get connected(): boolean {
    return this.client.status === 'ready'
  }

  ready(timeoutMs: number): Promise<boolean> {
    if (this.connected) return Promise.resolve(true)
    return new Promise((resolve) => {
      const done = (ok: boolean) => {
        clearTimeout(timer)
        this.client.off('ready', onReady)
        resolve(ok)
      }
      const onReady = () => done(true)
      const timer = setTimeout(() => done(false), timeoutMs)
      this.client.on('ready', onReady)
    })
  }

  /** Reads a value as a Buffer when the serializer is binary, else as a string. */
  binary = false

  get(key: string): Promise<string | Buffer | null> {
    return this.binary ? this.client.getBuffer(key) : this.client.get(key)
  }

  async set(key: string, value: string | Buffer, ttlMs: number): Promise<void> {
    await this.client.set(key, value, 'PX', Math.max(1, Math.ceil(ttlMs)))
  }

  async unlink(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0
    if (!this.isCluster || keys.length === 1) return this.client.unlink(...keys)
    // Cluster: multi-key commands must stay in one slot, so one UNLINK per key (auto-pipelined).
    const counts = await Promise.all(keys.map((k) => this.client.unlink(k)))
    return counts.reduce((a, b) => a + b, 0)
  }

  /** SCAN + UNLINK in batches over every master; never KEYS. */
  async scanDelete(match: string, batch: number): Promise<number> {
    const nodes: Redis[] =
      this.client instanceof Cluster ? this.client.nodes('master') : [this.client]
    let deleted = 0
    for (const node of nodes) {
      let cursor = '0'
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', match, 'COUNT', batch)
        cursor = next
        if (keys.length > 0) {
          if (this.isCluster) {
            const p = node.pipeline()
            for (const k of keys) p.unlink(k)
            const res = await p.exec()
            for (const [err, n] of res ?? []) if (!err) deleted += n as number
          } else deleted += await node.unlink(...keys)
        }
      } while (cursor !== '0')
    }
    return deleted
  }

  incr(keys: readonly string[]): Promise<number[]> {
    return Promise.all(keys.map((k) => this.client.incr(k)))
  }

  async readInts(keys: readonly string[]): Promise<number[]> {
    const values = await Promise.all(keys.map((k) => this.client.get(k)))
    return values.map((v) => (v === null ? 0 : Number(v)))
  }

  async tryLock(key: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.client.set(key, token, 'PX', ttlMs, 'NX')) === 'OK'
  }

  async unlock(key: string, token: string): Promise<boolean> {
    const c = this.client as Client & { hpUnlock(key: string, token: string): Promise<number> }
    return (await c.hpUnlock(key, token)) === 1
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(channel, message)
  }

  /** A dedicated connection for the bus (a subscribed connection can do nothing else). */
  duplicate(): Client {
    return this.client.duplicate()
  }

  async close(): Promise<void> {
    if (!this.owned) return
    // Not connected: drop the reconnect timers at once instead of waiting for them.
    if (this.client.status !== 'ready') return this.client.disconnect()
    try {
      await this.client.quit()
    } catch {
      this.client.disconnect()
    }
  }
}
