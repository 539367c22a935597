// Backup/restore drill (the guide's "Test DR" step): pg_dump the shop
// database, restore it into a fresh database, and prove the copy holds the
// same data, table by table (row count and checksum) and sequence by sequence.
//
//   npm run dr-drill                               # DATABASE_URL, else the local `test` db
//   npm run dr-drill -- --source postgres://…/shop --keep
//   npm run dr-drill -- --target postgres://…@other-host/postgres   # restore onto another server
//   npm run dr-drill -- --compare <sourceUrl> <targetUrl>            # verify two databases only
//
// Exit codes: 0 every object matches; 1 a mismatch, or the dump or restore
// failed; 2 the drill could not run (bad arguments, a server that does not
// answer, no pg_dump/pg_restore fit for the server).
import { execFileSync, spawn } from 'node:child_process'
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { parseArgs } from 'node:util'
import { HotpathError } from 'hotpath/errors'
import pg from 'pg'

export const DEFAULT_SOURCE = 'postgres://postgres@127.0.0.1:5432/test'

export type DrillArgs =
  | { mode: 'help' }
  | { mode: 'compare'; source: string; target: string }
  | { mode: 'drill'; source: string; target: string | null; keep: boolean; dumpFile: string | null }

export interface ObjectCheck {
  /** `schema.name` */
  name: string
  kind: 'table' | 'sequence'
  /** Row count (tables) or `last_value` (sequences); `null`: absent on that side. */
  source: string | null
  target: string | null
  /** md5 digest of the rows (see `checksumSql`); '' for sequences. */
  checksum: string
  /** The target's digest when it differs from the source's. */
  targetChecksum?: string
  result:
    | 'OK'
    | 'MISMATCH (rows)'
    | 'MISMATCH (checksum)'
    | 'MISMATCH (value)'
    | 'MISSING'
    | 'EXTRA'
}

const USAGE = `usage: dr-drill [--source URL] [--target SERVER_URL] [--keep] [--dump-file PATH]
       dr-drill --compare SOURCE_URL TARGET_URL
  --source     the database to back up (default: DATABASE_URL, else ${DEFAULT_SOURCE})
  --target     a server to restore onto (any database of it; default: the source's server)
  --keep       keep the restored database (default: drop it)
  --dump-file  write the dump here and keep it (default: a temporary file)
  --compare    only verify that two existing databases hold the same data`

function usage(name: string, why: string): HotpathError {
  return new HotpathError('HP_ERR_INVALID_OPTION', [name, why])
}

function checkUrl(name: string, v: string): string {
  if (!/^postgres(ql)?:\/\//.test(v) || !URL.canParse(v))
    throw usage(name, 'expected a postgres:// URL')
  return v
}

export function parseDrillArgs(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>> = process.env,
): DrillArgs {
  let parsed: ReturnType<typeof parse>
  try {
    parsed = parse(argv)
  } catch (err) {
    throw usage('(arguments)', (err as Error).message)
  }
  const { values: v, positionals } = parsed
  if (v.help) return { mode: 'help' }
  if (v.compare) {
    if (positionals.length !== 2) throw usage('--compare', 'expected SOURCE_URL TARGET_URL')
    return {
      mode: 'compare',
      source: checkUrl('SOURCE_URL', positionals[0]!),
      target: checkUrl('TARGET_URL', positionals[1]!),
    }
  }
  if (positionals.length > 0) throw usage(positionals[0]!, 'unexpected argument')
  return {
    mode: 'drill',
    source: checkUrl('--source', v.source ?? (env.DATABASE_URL?.trim() || DEFAULT_SOURCE)),
    target: v.target === undefined ? null : checkUrl('--target', v.target),
    keep: v.keep === true,
    dumpFile: v['dump-file'] ?? null,
  }
}

function parse(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      source: { type: 'string' },
      target: { type: 'string' },
      keep: { type: 'boolean' },
      'dump-file': { type: 'string' },
      compare: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

/** The URL without its password, for printing. */
export function redact(url: string): string {
  const u = new URL(url)
  if (u.password !== '') u.password = '***'
  return u.toString()
}

function dbName(url: string): string {
  return decodeURIComponent(new URL(url).pathname.slice(1)) || 'postgres'
}

function withDb(url: string, name: string): string {
  const u = new URL(url)
  u.pathname = `/${encodeURIComponent(name)}`
  return u.toString()
}

const ident = (s: string) => `"${s.replaceAll('"', '""')}"`

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 })
  client.on('error', () => {}) // a dropped connection surfaces on the next query instead
  try {
    await client.connect()
  } catch (err) {
    await client.end().catch(() => {})
    throw new HotpathError('HP_ERR_DB_UNAVAILABLE', [redact(url), (err as Error).message], {
      cause: err,
    })
  }
  // Both sides print values the same way, whatever each database's own defaults.
  await client.query(`SET TimeZone = 'UTC'; SET DateStyle = 'ISO, MDY';
    SET IntervalStyle = 'postgres'; SET extra_float_digits = 1; SET bytea_output = 'hex';
    SET lc_monetary = 'C'`)
  return client
}

async function serverMajor(c: pg.Client): Promise<number> {
  const { rows } = await c.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")
  return Math.floor(Number(rows[0]!.v) / 10_000)
}

// ---------------------------------------------------------------- binaries

function executable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK)
    return statSync(p).isFile()
  } catch {
    return false
  }
}

function toolMajor(p: string): number | null {
  try {
    const out = execFileSync(p, ['--version'], { encoding: 'utf8', timeout: 5000 })
    const m = /\(PostgreSQL\)\s+(\d+)/.exec(out)
    return m ? Number(m[1]) : null
  } catch {
    return null
  }
}

/**
 * `tool` (pg_dump or pg_restore) of the server's major version, else the
 * oldest newer one: under /usr/lib/postgresql/<major>/bin first, then PATH.
 * An older one cannot read what a newer server or pg_dump writes.
 */
export function findPgTool(tool: string, major: number): { path: string; major: number } {
  const root = '/usr/lib/postgresql'
  let versions: number[] = []
  try {
    versions = readdirSync(root)
      .map(Number)
      .filter((n) => Number.isInteger(n))
  } catch {}
  const candidates = [
    ...versions
      .filter((v) => v >= major)
      .sort((a, b) => a - b)
      .map((v) => join(root, String(v), 'bin', tool)),
    ...(process.env.PATH ?? '')
      .split(delimiter)
      .filter(Boolean)
      .map((d) => join(d, tool)),
  ]
  const seen = new Set<string>()
  for (const p of candidates) {
    if (seen.has(p) || !executable(p)) continue
    seen.add(p)
    const m = toolMajor(p)
    if (m !== null && m >= major) return { path: p, major: m }
  }
  throw new HotpathError('HP_ERR_DB_UNSUPPORTED', [
    `Running ${tool} against PostgreSQL ${major}`,
    `this machine: no ${tool} of version ${major} or newer under ${root}/*/bin or on PATH (install postgresql-client-${major})`,
  ])
}

/** Runs a libpq tool with the password in the environment, not on the command line. */
function runTool(
  bin: string,
  args: string[],
  url: string,
): Promise<{ code: number; stderr: string }> {
  const u = new URL(url)
  const password = decodeURIComponent(u.password)
  u.password = ''
  const env = {
    ...process.env,
    PGCONNECT_TIMEOUT: '10',
    ...(password ? { PGPASSWORD: password } : {}),
  }
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...args, `--dbname=${u.toString()}`], {
      env,
      stdio: ['ignore', 'inherit', 'pipe'],
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code: code ?? 1, stderr: stderr.trim() }))
  })
}

// ---------------------------------------------------------------- verification

interface Side {
  tables: Map<string, { rows: string; checksum: string }>
  sequences: Map<string, string>
}

const OBJECTS_SQL = `
  SELECT n.nspname AS schema, c.relname AS name, c.relkind AS kind
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'S')
    AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%'
  ORDER BY 1, 2`

/**
 * A table's digest: the sums of two 64-bit halves of each row's md5, which
 * does not depend on row order and needs no sort or memory per row (a
 * multiset hash: any changed, lost or added row changes it).
 */
function checksumSql(table: string): string {
  return `SELECT count(*)::text AS rows, md5(
      coalesce(sum(('x' || left(h, 16))::bit(64)::bigint::numeric), 0)::text || ':' ||
      coalesce(sum(('x' || right(h, 16))::bit(64)::bigint::numeric), 0)::text) AS checksum
    FROM (SELECT md5(ROW(_r.*)::text) AS h FROM ${table} _r) s`
}

async function readSide(c: pg.Client): Promise<Side> {
  const side: Side = { tables: new Map(), sequences: new Map() }
  const { rows } = await c.query<{ schema: string; name: string; kind: string }>(OBJECTS_SQL)
  for (const o of rows) {
    const qualified = `${ident(o.schema)}.${ident(o.name)}`
    const key = `${o.schema}.${o.name}`
    if (o.kind === 'S') {
      const r = await c.query<{ v: string }>(
        `SELECT CASE WHEN is_called THEN last_value::text ELSE 'not called' END AS v FROM ${qualified}`,
      )
      side.sequences.set(key, r.rows[0]!.v)
    } else {
      const r = await c.query<{ rows: string; checksum: string }>(checksumSql(qualified))
      side.tables.set(key, r.rows[0]!)
    }
  }
  return side
}

/** Every table and sequence of `sourceUrl`'s non-system schemas, checked against `targetUrl`'s. */
export async function compareDatabases(
  sourceUrl: string,
  targetUrl: string,
): Promise<ObjectCheck[]> {
  const clients = await Promise.allSettled([connect(sourceUrl), connect(targetUrl)])
  const failed = clients.find((c) => c.status === 'rejected')
  if (failed) {
    // The one that did connect would keep the process alive.
    for (const c of clients) if (c.status === 'fulfilled') await c.value.end()
    throw failed.reason
  }
  const [a, b] = clients.map((c) => (c as PromiseFulfilledResult<pg.Client>).value) as [
    pg.Client,
    pg.Client,
  ]
  try {
    const [src, dst] = await Promise.all([readSide(a), readSide(b)])
    const out: ObjectCheck[] = []
    for (const [name, s] of src.tables) {
      const t = dst.tables.get(name)
      out.push({
        name,
        kind: 'table',
        source: s.rows,
        target: t?.rows ?? null,
        checksum: s.checksum,
        ...(t && t.checksum !== s.checksum ? { targetChecksum: t.checksum } : {}),
        result: !t
          ? 'MISSING'
          : t.rows !== s.rows
            ? 'MISMATCH (rows)'
            : t.checksum !== s.checksum
              ? 'MISMATCH (checksum)'
              : 'OK',
      })
    }
    for (const [name, s] of src.sequences) {
      const t = dst.sequences.get(name)
      out.push({
        name,
        kind: 'sequence',
        source: s,
        target: t ?? null,
        checksum: '',
        result: t === undefined ? 'MISSING' : t !== s ? 'MISMATCH (value)' : 'OK',
      })
    }
    for (const [name, t] of dst.tables)
      if (!src.tables.has(name))
        out.push({
          name,
          kind: 'table',
          source: null,
          target: t.rows,
          checksum: t.checksum,
          result: 'EXTRA',
        })
    for (const [name, t] of dst.sequences)
      if (!src.sequences.has(name))
        out.push({ name, kind: 'sequence', source: null, target: t, checksum: '', result: 'EXTRA' })
    return out
  } finally {
    await Promise.all([a.end(), b.end()])
  }
}

// ---------------------------------------------------------------- output

function printChecks(checks: readonly ObjectCheck[]): void {
  const head = ['object', 'kind', 'source', 'target', 'checksum', 'result']
  const rows = checks.map((c) => [
    c.name,
    c.kind,
    c.source ?? '-',
    c.target ?? '-',
    // Both digests (shortened) when they differ.
    [c.checksum, c.targetChecksum ?? '']
      .map((x) => x.slice(0, 12))
      .filter(Boolean)
      .join('≠') || '-',
    c.result,
  ])
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)))
  for (const r of [head, ...rows])
    console.log(
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    )
}

/** Prints the checks and a verdict; true when everything matches. */
function report(checks: readonly ObjectCheck[], timings: string): boolean {
  printChecks(checks)
  const bad = checks.filter((c) => c.result !== 'OK')
  if (bad.length === 0) {
    console.log(`dr-drill: OK: all ${checks.length} objects match${timings}`)
    return true
  }
  console.log(
    `dr-drill: FAILED: ${bad.length} of ${checks.length} objects differ: ${bad.map((c) => c.name).join(', ')}${timings}`,
  )
  return false
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`
  if (bytes < 1024 ** 2) return `${(bytes / 1024).toFixed(1)} KiB`
  if (bytes < 1024 ** 3) return `${(bytes / 1024 ** 2).toFixed(1)} MiB`
  return `${(bytes / 1024 ** 3).toFixed(2)} GiB`
}

/** `<source db>_drill_<UTC timestamp>_<random>`, within PostgreSQL's 63-byte names. */
function restoreName(source: string): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '_').slice(0, 15)
  const suffix = `_drill_${stamp}_${Math.random().toString(16).slice(2, 6)}`
  const base = source.toLowerCase().replace(/[^a-z0-9_]/g, '_')
  return base.slice(0, 63 - suffix.length) + suffix
}

// ---------------------------------------------------------------- the drill

async function drill(args: Extract<DrillArgs, { mode: 'drill' }>): Promise<boolean> {
  const source = await connect(args.source)
  let admin = source
  if (args.target !== null) {
    try {
      admin = await connect(args.target)
    } catch (err) {
      await source.end()
      throw err
    }
  }
  let major = 0
  let created: string | null = null
  const tmp = args.dumpFile === null ? mkdtempSync(join(tmpdir(), 'hp-drill-')) : null
  try {
    major = await serverMajor(source)
    const targetMajor = args.target === null ? major : await serverMajor(admin)
    const dump = findPgTool('pg_dump', major)
    // The restore must read what this pg_dump wrote, into the target server.
    const restore = findPgTool('pg_restore', Math.max(dump.major, targetMajor))
    console.log(`dr-drill: source ${redact(args.source)} (PostgreSQL ${major})`)
    console.log(`dr-drill: ${dump.path} (${dump.major}), ${restore.path} (${restore.major})`)

    const file = args.dumpFile ?? join(tmp!, `${dbName(args.source)}.dump`)
    let t0 = performance.now()
    const d = await runTool(
      dump.path,
      ['--format=custom', '--no-password', `--file=${file}`],
      args.source,
    )
    if (d.code !== 0) {
      console.error(`dr-drill: pg_dump failed (exit ${d.code}):\n${d.stderr}`)
      return false
    }
    const dumpMs = performance.now() - t0
    const dumpBytes = statSync(file).size
    const kept = args.dumpFile === null ? '' : ` (kept: ${file})`
    console.log(`dr-drill: dump ${size(dumpBytes)} in ${seconds(dumpMs)}${kept}`)

    const name = restoreName(dbName(args.source))
    const { rows } = await source.query<{ encoding: string; collate: string; ctype: string }>(
      `SELECT pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
       FROM pg_database WHERE datname = current_database()`,
    )
    const db = rows[0]!
    // template0: nothing in it to collide with what the dump creates (template1 may hold extensions).
    await admin.query(
      `CREATE DATABASE ${ident(name)} TEMPLATE template0 ENCODING '${db.encoding}'
       LC_COLLATE '${db.collate.replaceAll("'", "''")}' LC_CTYPE '${db.ctype.replaceAll("'", "''")}'`,
    )
    created = name
    const targetUrl = withDb(args.target ?? args.source, name)
    t0 = performance.now()
    const r = await runTool(
      restore.path,
      ['--no-owner', '--exit-on-error', '--no-password', file],
      targetUrl,
    )
    if (r.code !== 0) {
      console.error(`dr-drill: pg_restore into ${name} failed (exit ${r.code}):\n${r.stderr}`)
      return false
    }
    const restoreMs = performance.now() - t0
    console.log(`dr-drill: restored into ${name} in ${seconds(restoreMs)}`)

    t0 = performance.now()
    const checks = await compareDatabases(args.source, targetUrl)
    const verifyMs = performance.now() - t0
    return report(
      checks,
      ` (dump ${size(dumpBytes)}, dump ${seconds(dumpMs)}, restore ${seconds(restoreMs)}, verify ${seconds(verifyMs)})`,
    )
  } finally {
    if (created !== null) {
      if (args.keep) {
        console.log(
          `dr-drill: restored database kept: ${created} (${redact(withDb(args.target ?? args.source, created))})`,
        )
      } else {
        await admin.query(
          `DROP DATABASE IF EXISTS ${ident(created)}${major >= 13 ? ' WITH (FORCE)' : ''}`,
        )
        console.log(`dr-drill: dropped ${created}`)
      }
    }
    if (tmp !== null) rmSync(tmp, { recursive: true, force: true })
    await source.end()
    if (admin !== source) await admin.end()
  }
}

async function main(): Promise<number> {
  let args: DrillArgs
  try {
    args = parseDrillArgs(process.argv.slice(2))
    if (args.mode === 'help') {
      console.log(USAGE)
      return 0
    }
    if (args.mode === 'compare') {
      console.log(`dr-drill: comparing ${redact(args.source)} with ${redact(args.target)}`)
      const t0 = performance.now()
      const checks = await compareDatabases(args.source, args.target)
      return report(checks, ` (verify ${seconds(performance.now() - t0)})`) ? 0 : 1
    }
    return (await drill(args)) ? 0 : 1
  } catch (err) {
    if (err instanceof HotpathError) {
      console.error(`dr-drill: ${err.message}`)
      if (err.code === 'HP_ERR_INVALID_OPTION') console.error(USAGE)
      return 2
    }
    throw err
  }
}

if (import.meta.main) {
  main().then(
    (code) => {
      process.exitCode = code
    },
    (err: unknown) => {
      console.error('dr-drill: unexpected error:', err)
      process.exitCode = 1
    },
  )
}
