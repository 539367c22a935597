import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'

/** A child process running test/fixtures/cache-peer.ts, with request/response over IPC. */
export class CachePeer {
  readonly #child: ChildProcess
  #next = 1
  readonly #waiting = new Map<number, (v: unknown) => void>()

  private constructor(child: ChildProcess) {
    this.#child = child
    child.on('message', (m: { id?: number; result?: unknown }) => {
      if (m.id === undefined) return
      this.#waiting.get(m.id)?.(m.result)
      this.#waiting.delete(m.id)
    })
  }

  static async start(redisUrl: string, namespace: string): Promise<CachePeer> {
    const child = fork(
      new URL('../fixtures/cache-peer.ts', import.meta.url),
      [redisUrl, namespace],
      {
        execArgv: ['--conditions=hotpath-source'],
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    )
    const [first] = (await once(child, 'message')) as [{ ready?: boolean }]
    if (!first.ready) throw new Error('peer did not start')
    return new CachePeer(child)
  }

  call<T>(msg: Record<string, unknown>): Promise<T> {
    const id = this.#next++
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve as (v: unknown) => void)
      this.#child.send({ id, ...msg })
    })
  }

  async close(): Promise<void> {
    const exited = once(this.#child, 'exit')
    await this.call({ op: 'close' })
    await exited
  }
}
