// One process of the cross-process stampede benchmark (forked by
// bench/cache.ts): it connects, says 'ready', waits for 'go', then fires
// `concurrency` cold getOrSet calls on the same key with the distributed
// lock on. The factory counts its calls with INCR on a shared Redis key, so
// the parent reads the total over every process. It stays up (like a
// service instance) until the parent says 'close', once every process is
// done. Nothing goes to stdout.
import { setTimeout as sleep } from 'node:timers/promises'
import { createCache } from 'hotpath/cache'
import { Redis } from 'ioredis'

export interface StampedeConfig {
  redisUrl: string
  namespace: string
  key: string
  counterKey: string
  concurrency: number
  factoryMs: number
}

export type ToWorker = { type: 'go' } | { type: 'close' }
export type FromWorker =
  | { type: 'ready' }
  | {
      type: 'done'
      localFactoryCalls: number
      collapsed: number
      ok: boolean
      ms: number
      /** When each factory call started, in ms after 'go'. */
      factoryStarts: number[]
    }
  | { type: 'error'; message: string }

function send(message: FromWorker): void {
  process.send?.(message)
}

function waitFor(type: ToWorker['type']): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (m: ToWorker) => {
      if (m.type !== type) return
      process.off('message', onMessage)
      resolve()
    }
    process.on('message', onMessage)
  })
}

async function main(): Promise<void> {
  const config = JSON.parse(process.argv[2] ?? '') as StampedeConfig
  const cache = createCache({
    namespace: config.namespace,
    l2: { redis: config.redisUrl },
    lock: { enabled: true },
  })
  const counter = new Redis(config.redisUrl)
  // Both are registered before 'ready', so no message from the parent is missed.
  const go = waitFor('go')
  const close = waitFor('close')
  try {
    if (!(await cache.ready(5000))) throw new Error(`Redis not ready at ${config.redisUrl}`)
    await counter.ping()
    send({ type: 'ready' })
    await go

    const expected = { key: config.key, computedBy: 'factory' }
    const factoryStarts: number[] = []
    const t0 = performance.now()
    const factory = async () => {
      factoryStarts.push(Math.round(performance.now() - t0))
      await counter.incr(config.counterKey)
      await sleep(config.factoryMs)
      return expected
    }
    const values = await Promise.all(
      Array.from({ length: config.concurrency }, () => cache.getOrSet(config.key, factory)),
    )
    const ms = performance.now() - t0
    const ok = values.every((v) => v.key === expected.key && v.computedBy === expected.computedBy)
    const s = cache.stats()
    send({
      type: 'done',
      localFactoryCalls: s.factoryCalls,
      collapsed: s.collapsed,
      ok,
      ms,
      factoryStarts,
    })
    await close
  } finally {
    await cache.close()
    await counter.quit()
  }
}

main().then(
  () => process.disconnect?.(),
  (err: unknown) => {
    send({
      type: 'error',
      message: err instanceof Error ? (err.stack ?? err.message) : String(err),
    })
    process.exitCode = 1
    process.disconnect?.()
  },
)
