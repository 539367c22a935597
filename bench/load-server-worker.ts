// The server process of the `load` suite (forked by bench/load.ts): a bare
// node:http server answering every request with the same small text body,
// so the load generators compared are the only thing that differs between
// the sides. Its own process gives it its own event loop and core. It
// answers 'stats' (requests served, CPU, event-loop time) so the suite can
// check each generator's count and see whether the server was saturated.
// Nothing goes to stdout.
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type ProcessTimes, processTimes } from './server-process.ts'

const BODY = 'hello world'

export interface ServerStats extends ProcessTimes {
  /** Requests answered since start. */
  served: number
}

export type ToServer = { type: 'stats' } | { type: 'close' }
export type FromServer =
  | { type: 'ready'; port: number; body: string }
  | { type: 'stats'; stats: ServerStats }
  | { type: 'error'; message: string }

function send(message: FromServer): void {
  process.send?.(message)
}

const headers = { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(BODY) }
let served = 0

const server = createServer((_req, res) => {
  served++
  res.writeHead(200, headers)
  res.end(BODY)
})
// Connections stay open between rounds: every generator opens its own at its start anyway.
server.keepAliveTimeout = 60_000

process.on('message', (m: ToServer) => {
  if (m.type === 'stats') {
    send({
      type: 'stats',
      stats: {
        served,
        ...processTimes(),
      },
    })
  } else if (m.type === 'close') {
    server.closeAllConnections()
    server.close(() => process.exit(0))
  }
})

server.on('error', (err) => {
  send({ type: 'error', message: err.stack ?? err.message })
  process.exitCode = 1
  process.disconnect?.()
})
server.listen(0, '127.0.0.1', () => {
  send({ type: 'ready', port: (server.address() as AddressInfo).port, body: BODY })
})
