import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const inCI = process.env.CI === 'true' || process.env.CI === '1'

function reachable(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url)
  return new Promise((resolve) => {
    const s = new Socket()
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(timeoutMs, () => done(false))
    s.once('error', () => done(false))
    s.connect(Number(u.port || 6379), u.hostname, () => done(true))
  })
}

/**
 * For `describe(name, { skip: await unless('redis') }, …)`: false when the
 * service answers; a reason to skip otherwise. In CI nothing may be skipped,
 * so a missing service throws instead.
 */
export async function unless(service: 'redis' | 'postgres'): Promise<false | string> {
  const url = service === 'redis' ? REDIS_URL : DATABASE_URL
  if (await reachable(url)) return false
  const reason = `${service} not reachable at ${url.replace(/\/\/[^@]*@/, '//')}`
  if (inCI) throw new Error(`CI=true and ${reason}: nothing may be skipped in CI`)
  return reason
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer()
    srv.once('error', reject)
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    })
  })
}

/** A throwaway redis-server on a spare port, to kill and restart in a test. */
export class ThrowawayRedis {
  readonly port: number
  readonly dir: string
  #proc: ReturnType<typeof spawn> | null = null

  private constructor(port: number) {
    this.port = port
    this.dir = mkdtempSync(join(tmpdir(), 'hp-redis-'))
  }

  readonly #extra: string[] = []

  static async start(extra: string[] = []): Promise<ThrowawayRedis> {
    const r = new ThrowawayRedis(await freePort())
    r.#extra.push(...extra)
    await r.start()
    return r
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`
  }

  get pid(): number | undefined {
    return this.#proc?.pid
  }

  async start(): Promise<void> {
    const proc = spawn(
      'redis-server',
      [
        '--port',
        String(this.port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--dir',
        this.dir,
        ...this.#extra,
      ],
      { stdio: 'ignore' },
    )
    this.#proc = proc
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      if (await reachable(this.url, 200)) return
      await new Promise((r) => setTimeout(r, 25))
    }
    throw new Error(`redis-server did not start on port ${this.port}`)
  }

  /** kill -9 and wait until the process has gone (the port is free only then). */
  async kill(): Promise<void> {
    const proc = this.#proc
    if (proc === null || proc.exitCode !== null || proc.signalCode !== null) return
    const exited = once(proc, 'exit')
    proc.kill('SIGKILL')
    await exited
    this.#proc = null
  }

  async stop(): Promise<void> {
    await this.kill()
    rmSync(this.dir, { recursive: true, force: true })
  }
}

/** Three redis-server masters in cluster mode on spare ports (TESTING.md's recipe). */
export class ThrowawayCluster {
  readonly nodes: ThrowawayRedis[]

  private constructor(nodes: ThrowawayRedis[]) {
    this.nodes = nodes
  }

  static async start(): Promise<ThrowawayCluster> {
    const nodes = await Promise.all(
      [0, 1, 2].map(() => ThrowawayRedis.start(['--cluster-enabled', 'yes'])),
    )
    const c = new ThrowawayCluster(nodes)
    const create = spawn(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { stdio: 'ignore' },
    )
    const [code] = await once(create, 'exit')
    if (code !== 0) throw new Error(`redis-cli --cluster create exited ${code}`)
    // Wait until every node reports the cluster ok.
    const deadline = Date.now() + 15_000
    for (const n of nodes) {
      for (;;) {
        const info = spawn('redis-cli', ['-p', String(n.port), 'cluster', 'info'])
        let out = ''
        info.stdout.on('data', (d) => {
          out += d
        })
        await once(info, 'exit')
        if (out.includes('cluster_state:ok')) break
        if (Date.now() > deadline) throw new Error('cluster did not become ok')
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    return c
  }

  get startupNodes(): { host: string; port: number }[] {
    return this.nodes.map((n) => ({ host: '127.0.0.1', port: n.port }))
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.stop()))
  }
}

/** Polls `check` until it returns true (for effects that cross a connection, like the bus). */
export async function eventually(
  what: string,
  check: () => boolean | Promise<boolean>,
  ms = 5000,
): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}
