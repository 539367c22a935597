// The server processes of the `shop` suite (forked by bench/shop.ts), one per
// role, each on its own port and event loop:
//
//   shop  the shop as app/main.ts serves it with WORKERS=1 (config from the
//         environment, app/server.ts with its own shedding on event-loop
//         delay, the outbox's mail worker).
//   bare  Fastify's hello world, nothing else.
//
// Each sends its port once listening and answers 'stats' (CPU and event-loop
// time) so the suite can tell what a request cost the server. It exits on
// 'close' (the shop draining in-flight requests and closing its pools first)
// or when the suite goes away. Nothing goes to stdout.
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { loadConfig } from '../app/config.ts'
import { openResources } from '../app/resources.ts'
import { buildServer } from '../app/server.ts'
import { folderMailer } from '../app/services/mailer.ts'
import { createOutbox } from '../app/services/outbox.ts'
import { type ProcessTimes, processTimes } from './server-process.ts'

export type Role = 'shop' | 'bare'

export type ServerStats = ProcessTimes

export type ToServer = { type: 'stats' } | { type: 'close' }
export type FromServer =
  | { type: 'ready'; port: number }
  | { type: 'stats'; stats: ServerStats }
  | { type: 'error'; message: string }

function send(message: FromServer): void {
  process.send?.(message)
}

/** A listening app and what closes it and everything it holds. */
interface Started {
  app: FastifyInstance
  close(): Promise<void>
}

async function bare(): Promise<Started> {
  const app = Fastify()
  app.get('/', () => ({ hello: 'world' }))
  await app.listen({ port: 0, host: '127.0.0.1' })
  return { app, close: () => app.close() }
}

/** app/main.ts's serve(); the suite has migrated and seeded the database. */
async function shop(): Promise<Started> {
  const config = loadConfig()
  const resources = openResources(config)
  const app = await buildServer({
    config,
    db: resources.db,
    cache: resources.cache,
  })
  const outbox = createOutbox({
    db: resources.db,
    mailer: folderMailer(config.mailDir),
    publicUrl: config.publicUrl,
    onError: (err) => console.error('shop: outbox run failed:', err),
  })
  await app.listen({ port: config.port, host: config.host })
  outbox.start()
  return {
    app,
    async close() {
      await app.close()
      await outbox.stop()
      await resources.close()
    },
  }
}

async function main(): Promise<void> {
  const role = process.argv[2] as Role
  if (role !== 'shop' && role !== 'bare') throw new Error(`unknown role ${process.argv[2]}`)
  const started = role === 'shop' ? await shop() : await bare()
  let closing = false
  const close = async () => {
    if (closing) return
    closing = true
    await started.close()
    process.exit(0)
  }
  process.on('message', (m: ToServer) => {
    if (m.type === 'stats') {
      send({
        type: 'stats',
        stats: {
          ...processTimes(),
        },
      })
    } else if (m.type === 'close') void close()
  })
  // An orphan must not keep its port and pools: the suite died without saying 'close'.
  process.on('disconnect', () => void close())
  send({ type: 'ready', port: (started.app.server.address() as AddressInfo).port })
}

main().catch((err: unknown) => {
  send({ type: 'error', message: err instanceof Error ? (err.stack ?? err.message) : String(err) })
  process.exitCode = 1
  process.disconnect?.()
})
