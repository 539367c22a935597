import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A local HTTP server for the load runner's tests: its handler can be swapped, its requests counted. */
export interface Target {
  readonly url: string
  handler: (req: IncomingMessage, res: ServerResponse) => void
  served: number
  close(): Promise<void>
}

export async function startTarget(
  handler: Target['handler'] = (_req, res) => res.end('ok'),
): Promise<Target> {
  const server = createServer((req, res) => {
    target.served++
    target.handler(req, res)
  })
  server.keepAliveTimeout = 60_000
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const target: Target = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    handler,
    served: 0,
    async close() {
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    },
  }
  return target
}
