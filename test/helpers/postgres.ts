// Throwaway PostgreSQL servers from the installed binaries (TESTING.md's
// recipe): a primary on a spare port and streaming replicas cloned from it
// with pg_basebackup, each stopped by the test, killed by PID if it is left
// running, and removed with its temporary directory.
import { execFile } from 'node:child_process'
import { appendFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from './services.ts'

const exec = promisify(execFile)
const inCI = process.env.CI === 'true' || process.env.CI === '1'
const asRoot = process.getuid?.() === 0

/** The newest installed server binaries: `PG_BIN`, else Debian's /usr/lib/postgresql/<version>/bin. */
export function postgresBin(): string | null {
  if (process.env.PG_BIN) return process.env.PG_BIN
  const base = '/usr/lib/postgresql'
  if (!existsSync(base)) return null
  const versions = readdirSync(base)
    .filter((v) => /^\d+$/.test(v) && existsSync(join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))
  return versions[0] === undefined ? null : join(base, versions[0], 'bin')
}

/** For `describe(…, { skip })`: false when throwaway servers can run here, a reason otherwise. */
export async function unlessPostgresBinaries(): Promise<false | string> {
  let reason: string | null = null
  if (postgresBin() === null) reason = 'PostgreSQL server binaries not found (set PG_BIN)'
  else if (asRoot) {
    // The server refuses root: it runs as `postgres`, which must exist.
    reason = await exec('id', ['-u', 'postgres']).then(
      () => null,
      () => 'running as root and there is no postgres user to run the server as',
    )
  }
  if (reason === null) return false
  if (inCI) throw new Error(`CI=true and ${reason}: nothing may be skipped in CI`)
  return reason
}

/** Servers still running, killed by PID if the process exits without stopping them. */
const live = new Set<ThrowawayPostgres>()
let hooked = false
function track(pgs: ThrowawayPostgres): void {
  live.add(pgs)
  if (hooked) return
  hooked = true
  process.once('exit', () => {
    for (const s of live) s.killNow()
  })
}

/** A PostgreSQL server in a temporary directory, on a spare port. */
export class ThrowawayPostgres {
  readonly port: number
  readonly dataDir: string
  readonly #bin: string
  /** The temporary directory holding the primary and its replicas; owned by `postgres`. */
  readonly #root: string
  readonly #replicas: ThrowawayPostgres[] = []
  readonly #isReplica: boolean

  private constructor(bin: string, root: string, name: string, port: number, isReplica: boolean) {
    this.#bin = bin
    this.#root = root
    this.dataDir = join(root, name)
    this.port = port
    this.#isReplica = isReplica
  }

  /** initdb, a replication-ready configuration, then `pg_ctl -w start`. */
  static async start(): Promise<ThrowawayPostgres> {
    const bin = postgresBin()
    if (bin === null) throw new Error('PostgreSQL server binaries not found (set PG_BIN)')
    const root = mkdtempSync(join(tmpdir(), 'hp-pg-'))
    if (asRoot) await exec('chown', ['postgres:', root])
    const p = new ThrowawayPostgres(bin, root, 'primary', await freePort(), false)
    try {
      // --no-sync and fsync=off: nothing here outlives the test, and a crash of the
      // server alone (immediate stop) still recovers from the WAL in the OS cache.
      await p.#run('initdb', [
        '-D',
        p.dataDir,
        '-A',
        'trust',
        '-U',
        'postgres',
        '-E',
        'UTF8',
        '--locale=C',
        '--no-sync',
      ])
      appendFileSync(
        join(p.dataDir, 'postgresql.conf'),
        [
          '',
          `port=${p.port}`,
          "listen_addresses='127.0.0.1'",
          `unix_socket_directories='${root}'`,
          'wal_level=replica',
          'max_wal_senders=10',
          'max_connections=50',
          'shared_buffers=16MB',
          'fsync=off',
          'full_page_writes=off',
          '',
        ].join('\n'),
      )
      appendFileSync(join(p.dataDir, 'pg_hba.conf'), '\nhost replication all 127.0.0.1/32 trust\n')
      await p.start()
    } catch (err) {
      await p.destroy()
      throw err
    }
    return p
  }

  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`
  }

  /** The postmaster's PID from its pid file, or null when it is not running. */
  get pid(): number | null {
    try {
      const pid = Number(readFileSync(join(this.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
      if (!Number.isInteger(pid) || pid <= 0) return null
      process.kill(pid, 0)
      return pid
    } catch {
      return null
    }
  }

  /** A streaming replica of this primary: `pg_basebackup -R` into the same temporary root, own port. */
  async startReplica(): Promise<ThrowawayPostgres> {
    if (this.#isReplica) throw new Error('startReplica: clone the primary, not a replica')
    const name = `replica${this.#replicas.length}`
    const r = new ThrowawayPostgres(this.#bin, this.#root, name, await freePort(), true)
    this.#replicas.push(r)
    await this.#run('pg_basebackup', [
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-U',
      'postgres',
      '-D',
      r.dataDir,
      '-R',
      '-X',
      'stream',
      '-c',
      'fast',
      '--no-sync',
    ])
    // The later setting wins: the copied configuration still names the primary's port.
    appendFileSync(join(r.dataDir, 'postgresql.conf'), `\nport=${r.port}\n`)
    await r.start()
    return r
  }

  /** (Re)starts the server and waits until it accepts connections (a standby: read-only ones). */
  async start(): Promise<void> {
    const log = `${this.dataDir}.log`
    try {
      await this.#run('pg_ctl', ['-D', this.dataDir, '-l', log, '-w', '-t', '30', 'start'])
    } catch (err) {
      const tail = existsSync(log)
        ? readFileSync(log, 'utf8').split('\n').slice(-15).join('\n')
        : ''
      throw new Error(`${(err as Error).message}\n${tail}`)
    }
    track(this)
  }

  /** `pg_ctl stop`: 'immediate' is a crash (no shutdown checkpoint, clients cut off). */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    if (this.pid === null) return
    await this.#run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', 'stop'])
    live.delete(this)
  }

  /** Replicas first, then this server; kills by PID whatever does not stop, and removes the directory. */
  async destroy(): Promise<void> {
    for (const r of this.#replicas) await r.stop('immediate').catch(() => r.killNow())
    await this.stop('immediate').catch(() => this.killNow())
    if (!this.#isReplica) rmSync(this.#root, { recursive: true, force: true })
  }

  /** Synchronous last resort (process exit): SIGKILL the postmaster by PID. */
  killNow(): void {
    const pid = this.pid
    if (pid !== null) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    live.delete(this)
  }

  /** Waits until `replica` has replayed everything this primary had written when called. */
  async waitForReplica(replica: ThrowawayPostgres, timeoutMs = 10_000): Promise<void> {
    const [lsn] = await ThrowawayPostgres.#ask(this, 'SELECT pg_current_wal_lsn()::text AS v')
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const [caught] = await ThrowawayPostgres.#ask(
        replica,
        `SELECT pg_last_wal_replay_lsn() >= '${lsn}'::pg_lsn AS v`,
      )
      if (caught === true) return
      if (Date.now() > deadline) throw new Error(`replica on ${replica.port} did not catch up`)
      await sleep(20)
    }
  }

  static async #ask(server: ThrowawayPostgres, sql: string): Promise<unknown[]> {
    const c = new pg.Client({ connectionString: server.url() })
    await c.connect()
    try {
      return (await c.query<{ v: unknown }>(sql)).rows.map((r) => r.v)
    } finally {
      await c.end()
    }
  }

  /** A server binary, as `postgres` when we are root (the server refuses root). */
  async #run(tool: string, args: string[]): Promise<void> {
    const path = join(this.#bin, tool)
    const [cmd, argv] = asRoot ? ['runuser', ['-u', 'postgres', '--', path, ...args]] : [path, args]
    try {
      // cwd: a directory `postgres` may enter; LC_ALL: messages and locale independent of ours.
      await exec(cmd, argv, { cwd: this.#root, env: { PATH: process.env.PATH ?? '', LC_ALL: 'C' } })
    } catch (err) {
      const e = err as Error & { stderr?: string }
      throw new Error(`${tool} failed: ${e.stderr?.trim() || e.message}`)
    }
  }
}
