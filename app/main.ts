// `npm start`: configuration → migrations → demo data on first start →
// listen → start the mail (outbox) worker → print the URLs. SIGINT/SIGTERM:
// stop accepting, drain in-flight requests, stop the worker, close the
// database and the cache, exit 0. WORKERS=n runs n processes under
// node:cluster sharing the port (the primary migrates and seeds once, before
// forking); each runs a mail worker, which SKIP LOCKED keeps apart.
import cluster from 'node:cluster'
import { ConfigError, loadConfig, type ShopConfig } from './config.ts'
import { migrate, openResources } from './resources.ts'
import { DEMO_COUNTS, isEmpty, seedShop } from './seed/seed.ts'
import { buildServer } from './server.ts'
import { folderMailer } from './services/mailer.ts'
import { createOutbox } from './services/outbox.ts'

/** A shutdown that takes longer than this is cut short (exit 1). */
const SHUTDOWN_MS = 10_000

function log(line: string): void {
  console.log(`shop: ${line}`)
}

function printUrls(config: ShopConfig, port: number): void {
  const host = config.host === '0.0.0.0' || config.host === '::' ? 'localhost' : config.host
  const base = `http://${host}:${port}`
  log(`listening on ${base} (${config.workers} worker${config.workers === 1 ? '' : 's'})`)
  log(`  API      ${base}/api/products`)
  log(`  docs     ${base}/docs`)
  log(`  metrics  ${base}/metrics`)
}

/** Migrations, then the demo shop if the catalog is empty. */
async function prepare(config: ShopConfig): Promise<void> {
  const { db, close } = openResources(config)
  try {
    await prepareDb(db)
  } finally {
    await close()
  }
}

async function prepareDb(db: ReturnType<typeof openResources>['db']): Promise<void> {
  const m = await migrate(db)
  if (m.applied.length > 0) log(`applied migrations: ${m.applied.join(', ')}`)
  if (await isEmpty(db)) {
    const r = await seedShop(db, DEMO_COUNTS)
    log(`seeded demo data (${r.rows.products} products) in ${Math.round(r.ms)} ms`)
  }
}

/** Runs `stop` once on the first SIGINT/SIGTERM; a second signal exits at once. */
function onSignal(stop: () => Promise<void>): void {
  let stopping = false
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1)
    stopping = true
    const timer = setTimeout(() => {
      log(`shutdown took over ${SHUTDOWN_MS} ms, exiting`)
      process.exit(1)
    }, SHUTDOWN_MS)
    timer.unref()
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`shop: error during shutdown after ${signal}:`, err)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', handler)
  process.on('SIGTERM', handler)
}

/** One server process: alone (it prepares the database) or as a cluster worker. */
async function serve(config: ShopConfig, alone: boolean): Promise<void> {
  const resources = openResources(config)
  if (alone) await prepareDb(resources.db)
  const app = await buildServer({ config, db: resources.db, cache: resources.cache })
  // Every process runs the mail worker: SKIP LOCKED keeps them from sharing a job.
  const outbox = createOutbox({
    db: resources.db,
    mailer: folderMailer(config.mailDir),
    publicUrl: config.publicUrl,
    onError: (err) => console.error('shop: outbox run failed:', err),
  })
  onSignal(async () => {
    await app.close() // stops accepting, waits for in-flight requests
    await outbox.stop() // lets a batch in progress finish and mark its jobs
    await resources.close()
  })
  await app.listen({ port: config.port, host: config.host })
  outbox.start()
  const address = app.server.address()
  if (alone && address !== null && typeof address === 'object') printUrls(config, address.port)
}

async function primary(config: ShopConfig): Promise<void> {
  await prepare(config)
  let stopping = false
  let printed = false
  cluster.on('listening', (_worker, address) => {
    if (printed) return
    printed = true
    printUrls(config, address.port)
  })
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return
    log(`worker ${worker.process.pid} died (${signal ?? code}), starting another`)
    cluster.fork()
  })
  for (let i = 0; i < config.workers; i++) cluster.fork()
  onSignal(async () => {
    stopping = true
    const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined)
    await Promise.all(
      workers.map(
        (w) =>
          new Promise<void>((resolve) => {
            if (w.isDead()) return resolve()
            w.once('exit', () => resolve())
            w.process.kill('SIGTERM')
          }),
      ),
    )
  })
}

async function main(): Promise<void> {
  let config: ShopConfig
  try {
    config = loadConfig()
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    console.error(`shop: invalid configuration: ${err.message}`)
    process.exit(1)
  }
  if (cluster.isPrimary && config.workers > 1) await primary(config)
  else await serve(config, cluster.isPrimary)
}

main().catch((err: unknown) => {
  console.error('shop: failed to start:', err)
  process.exit(1)
})
