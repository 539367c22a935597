import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DATABASE_URL, freePort } from './services.ts'

const inCI = process.env.CI === 'true' || process.env.CI === '1'

function binary(): string | null {
  for (const p of ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer']) {
    try {
      execFileSync(p, ['--version'], { stdio: 'ignore' })
      return p
    } catch {}
  }
  return null
}

/** For `describe(…, { skip })`: false when `pgbouncer` is installed, a reason otherwise (CI: throws). */
export function unlessPgbouncer(): false | string {
  if (binary() !== null) return false
  const reason = 'pgbouncer is not installed (Debian package pgbouncer)'
  if (inCI) throw new Error(`CI=true and ${reason}: nothing may be skipped in CI`)
  return reason
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket()
    const done = (ok: boolean) => {
      s.destroy()
      resolve(ok)
    }
    s.setTimeout(200, () => done(false))
    s.once('error', () => done(false))
    s.connect(port, '127.0.0.1', () => done(true))
  })
}

export interface PgbouncerOptions {
  /** Server connections per database/user pair. Default: 3. */
  poolSize?: number
  /** Extra `[pgbouncer]` settings, e.g. `{ ignore_startup_parameters: 'statement_timeout' }`. */
  settings?: Record<string, string | number>
}

/**
 * A throwaway PgBouncer in transaction pooling mode on a spare port, in front
 * of the test database (TESTING.md's recipe). It refuses to run as root, so
 * as root it runs with `-u postgres` from a directory that user owns.
 */
export class ThrowawayPgbouncer {
  readonly port: number
  readonly dir: string
  readonly #proc: ChildProcess

  private constructor(port: number, dir: string, proc: ChildProcess) {
    this.port = port
    this.dir = dir
    this.#proc = proc
  }

  static async start(options: PgbouncerOptions = {}): Promise<ThrowawayPgbouncer> {
    const bin = binary()
    if (bin === null) throw new Error('pgbouncer is not installed')
    const target = new URL(DATABASE_URL)
    const db = target.pathname.slice(1) || 'postgres'
    const user = decodeURIComponent(target.username || 'postgres')
    const port = await freePort()
    const dir = mkdtempSync(join(tmpdir(), 'hp-pgbouncer-'))
    const settings: Record<string, string | number> = {
      listen_addr: '127.0.0.1',
      listen_port: port,
      auth_type: 'trust',
      auth_file: join(dir, 'users.txt'),
      pool_mode: 'transaction',
      default_pool_size: options.poolSize ?? 3,
      max_client_conn: 200,
      unix_socket_dir: '',
      logfile: join(dir, 'pgb.log'),
      pidfile: join(dir, 'pgb.pid'),
      ...options.settings,
    }
    const ini = [
      '[databases]',
      `${db} = host=${target.hostname} port=${target.port || 5432} dbname=${db}`,
      '[pgbouncer]',
      ...Object.entries(settings).map(([k, v]) => `${k} = ${v}`),
      '',
    ].join('\n')
    writeFileSync(join(dir, 'users.txt'), `"${user}" ""\n`)
    writeFileSync(join(dir, 'pgb.ini'), ini)
    const root = process.getuid?.() === 0
    if (root) {
      const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim())
      const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim())
      for (const f of ['', 'users.txt', 'pgb.ini']) chownSync(join(dir, f), uid, gid)
    }
    const proc = spawn(bin, [...(root ? ['-u', 'postgres'] : []), join(dir, 'pgb.ini')], {
      stdio: 'ignore',
    })
    const b = new ThrowawayPgbouncer(port, dir, proc)
    const deadline = Date.now() + 5000
    while (Date.now() < deadline) {
      if (proc.exitCode !== null) break
      if (await listening(port)) return b
      await new Promise((r) => setTimeout(r, 25))
    }
    await b.stop()
    throw new Error(`pgbouncer did not start on port ${port}:\n${b.log()}`)
  }

  /** The test database, through the pooler. */
  get url(): string {
    const u = new URL(DATABASE_URL)
    u.host = `127.0.0.1:${this.port}`
    return u.toString()
  }

  get pid(): number | undefined {
    return this.#proc.pid
  }

  log(): string {
    try {
      return readFileSync(join(this.dir, 'pgb.log'), 'utf8')
    } catch {
      return ''
    }
  }

  /** Stops this pgbouncer by its PID and waits until it has exited. */
  async stop(): Promise<void> {
    const proc = this.#proc
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit')
      proc.kill('SIGTERM')
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000)
      await exited
      clearTimeout(timer)
    }
    rmSync(this.dir, { recursive: true, force: true })
  }
}
