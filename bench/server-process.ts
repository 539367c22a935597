// A benchmark's server in a child process of its own (its own event loop and
// core), talked to over IPC: messages are `{ type, … }`, an `{ type: 'error',
// message }` from the child fails whatever is awaited, `{ type: 'close' }`
// asks it to exit. Shared by the http, load and shop suites.
import { type ChildProcess, fork } from 'node:child_process'

interface Message {
  type: string
}

export interface ServerProcessOptions {
  /** For messages: `<name> server: …`. */
  name: string
  /** The module the child runs (an absolute path). */
  file: string
  args?: string[]
  execArgv?: string[]
  env?: NodeJS.ProcessEnv
}

type StatsOf<From> = From extends { type: 'stats'; stats: infer S } ? S : never

export class ServerProcess<From extends Message, To extends Message> {
  readonly child: ChildProcess
  readonly name: string

  constructor(o: ServerProcessOptions) {
    this.name = o.name
    this.child = fork(o.file, o.args ?? [], {
      execArgv: o.execArgv ?? ['--conditions=hotpath-source'],
      ...(o.env === undefined ? {} : { env: o.env }),
      // stdout is the suite's JSON channel: the server's output goes to stderr.
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    })
    this.child.stdout?.pipe(process.stderr)
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  send(m: To): void {
    this.child.send(m)
  }

  /** The next message of `type`; rejects on an error message, an exit or the timeout. */
  next<T extends From['type']>(type: T, timeoutMs: number): Promise<Extract<From, { type: T }>> {
    const child = this.child
    return new Promise((resolve, reject) => {
      const cleanup = () => {
        clearTimeout(timer)
        child.off('message', onMessage)
        child.off('exit', onExit)
      }
      const onMessage = (m: From & { message?: string }) => {
        if (m.type === 'error') {
          cleanup()
          reject(new Error(`${this.name} server: ${m.message}`))
        } else if (m.type === type) {
          cleanup()
          resolve(m as Extract<From, { type: T }>)
        }
      }
      const onExit = (code: number | null) => {
        cleanup()
        reject(new Error(`${this.name} server exited (${code}) before '${type}'`))
      }
      const timer = setTimeout(() => {
        cleanup()
        reject(new Error(`${this.name} server: no '${type}' within ${timeoutMs} ms`))
      }, timeoutMs)
      child.on('message', onMessage)
      child.on('exit', onExit)
    })
  }

  /** Sends `ask` and waits for the answer of type `answer`. */
  async request<T extends From['type']>(
    ask: To,
    answer: T,
    timeoutMs = 5000,
  ): Promise<Extract<From, { type: T }>> {
    const reply = this.next(answer, timeoutMs)
    this.send(ask)
    return reply
  }

  /** The counters of the suite's server: every one answers `{ type: 'stats' }` with `{ type: 'stats', stats }`. */
  async stats(): Promise<StatsOf<From>> {
    const m = await this.request({ type: 'stats' } as To, 'stats' as From['type'])
    return (m as unknown as { stats: StatsOf<From> }).stats
  }

  /** Asks it to close (it drains and closes what it holds); SIGKILL after 10 s. */
  async close(): Promise<void> {
    const c = this.child
    if (!this.alive) return
    const exited = new Promise((r) => c.once('exit', r))
    if (c.connected) c.send({ type: 'close' })
    const timer = setTimeout(() => c.kill('SIGKILL'), 10_000)
    await exited
    clearTimeout(timer)
  }
}

/** What every server process reports of its own cost: CPU, and event-loop time since start. */
export interface ProcessTimes {
  /** CPU time of the process (every thread), µs. */
  cpuMicros: number
  /** Event-loop time since start, ms: busy and idle. */
  loopActiveMs: number
  loopIdleMs: number
}

/** Read in the server process, for its `stats` answer. */
export function processTimes(): ProcessTimes {
  const cpu = process.cpuUsage()
  const loop = performance.eventLoopUtilization()
  return { cpuMicros: cpu.user + cpu.system, loopActiveMs: loop.active, loopIdleMs: loop.idle }
}
