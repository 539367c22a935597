#!/usr/bin/env node
// The `hotpath` command. It only wires the parts together; every line the
// user sees is printed here, never by the library.
import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'
import { inspect } from 'node:util'
import { createCache } from 'hotpath/cache'
import { exitFor, load, report } from './load.ts'
import { slo } from './slo.ts'

const { version } = createRequire(import.meta.url)('hotpath/package.json') as { version: string }

const HELP = `hotpath ${version}: make Node.js HTTP APIs fast and keep them fast

Usage: hotpath <command>

Commands:
  load         run load-test scenarios (hotpath load --help)
  report       HTML report of a load result, or merge results (hotpath report --help)
  slo rules    Prometheus rules from SLO targets (hotpath slo --help)
  demo         a one-minute tour of the tiered cache: cold vs warm reads,
               1,000 concurrent callers sharing one load, tag invalidation,
               stats (L1 only; set REDIS_URL to add L2 on Redis)
  help         show this help

Options:
  -h, --help     show this help
  -v, --version  print the version
`

/** A slow data source: ~100 ms per call, counting its calls. */
let loads = 0
async function loadProduct(id: number): Promise<{ id: number; name: string; price: number }> {
  loads++
  await sleep(100)
  return { id, name: `Product ${id}`, price: 10 + id }
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now()
  const value = await fn()
  return [value, performance.now() - start]
}

function ms(n: number): string {
  return n < 1 ? `${n.toFixed(3)} ms` : `${n.toFixed(1)} ms`
}

async function demo(): Promise<void> {
  const redisUrl = process.env.REDIS_URL
  const cache = createCache({
    namespace: 'hotpath-demo',
    ...(redisUrl ? { l2: { redis: redisUrl } } : {}),
  })
  try {
    if (redisUrl) {
      const shown = redisUrl.replace(/\/\/[^@]*@/, '//')
      const up = await cache.ready(2000)
      console.log(
        up
          ? `cache: L1 in process + L2 on Redis (${shown})`
          : `cache: Redis at ${shown} did not answer; L2 calls are skipped, L1 still works`,
      )
    } else {
      console.log('cache: L1 in process only (set REDIS_URL=redis://127.0.0.1:6379 to add L2)')
    }
    await cache.clear() // start cold, even if an earlier run left values in Redis

    const product = (id: number) =>
      cache.getOrSet(`product:${id}`, () => loadProduct(id), {
        tier: 'warm',
        tags: [`product:${id}`, 'catalog'],
      })

    console.log(
      '\n1. getOrSet: the first read runs the ~100 ms loader, the next one is a cache hit',
    )
    for (const id of [1, 2, 3]) {
      const [, cold] = await timed(() => product(id))
      const [, warm] = await timed(() => product(id))
      console.log(
        `   product:${id}   cold ${ms(cold).padStart(10)}   warm ${ms(warm).padStart(10)}`,
      )
    }

    console.log('\n2. 1,000 concurrent callers of a missing key share one loader call')
    loads = 0
    const [results, took] = await timed(() =>
      Promise.all(Array.from({ length: 1000 }, () => product(4))),
    )
    console.log(`   ${results.length} callers answered in ${ms(took)}; loader calls: ${loads}`)

    console.log(
      "\n3. tag invalidation: invalidateTags(['product:1']) drops what was stored with that tag",
    )
    await cache.invalidateTags(['product:1'])
    loads = 0
    const [, reload] = await timed(() => product(1))
    const [, other] = await timed(() => product(2))
    console.log(`   product:1   reloaded in ${ms(reload)} (loader calls: ${loads})`)
    console.log(`   product:2   still cached: ${ms(other)}`)
    loads = 0
    await cache.invalidateTags(['catalog'])
    await Promise.all([1, 2, 3, 4].map(product))
    console.log(`   invalidateTags(['catalog']) then 4 reads: loader calls: ${loads}`)

    console.log('\n4. cache.stats()')
    for (const [name, value] of Object.entries(cache.stats())) {
      const shown =
        typeof value === 'number'
          ? String(+value.toFixed(3))
          : inspect(value, { breakLength: Infinity })
      console.log(`   ${name}: ${shown}`)
    }
    await cache.clear() // leave no demo values behind in Redis
  } finally {
    await cache.close()
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case undefined:
    case 'help':
    case '-h':
    case '--help':
      process.stdout.write(HELP)
      return 0
    case '-v':
    case '--version':
      console.log(version)
      return 0
    case 'demo':
      if (rest.includes('-h') || rest.includes('--help')) {
        process.stdout.write(HELP)
        return 0
      }
      await demo()
      return 0
    case 'load':
      return load(rest)
    case 'report':
      return report(rest)
    case 'slo':
      return slo(rest)
    default:
      console.error(`hotpath: unknown command "${command}"\n`)
      process.stderr.write(HELP)
      return 2
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    const { message, code } = exitFor(err)
    console.error(`hotpath: ${message}`)
    process.exitCode = code
  },
)
