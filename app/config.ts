// The shop's configuration, read from the environment once at start and
// validated whole: a bad value stops the process with a message naming the
// variable, before anything connects or listens.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

export interface ShopConfig {
  /** The primary's URL; `null`: the embedded PGlite database under `dataDir/shop`. */
  databaseUrl: string | null
  replicaUrls: readonly string[]
  /** Redis for the cache's L2 and the bus; `null`: L1 only. */
  redisUrl: string | null
  /** Prefix of the cache's Redis keys and bus channel: shops sharing a Redis need their own. */
  cacheNamespace: string
  port: number
  host: string
  workers: number
  /** Where the embedded database and the generated cursor secret live. */
  dataDir: string
  embeddedDir: string
  /** HMAC key of pagination cursors (≥ 32 bytes). */
  cursorSecret: string
  nodeEnv: 'development' | 'production' | 'test'
  /** Fastify's (pino) log level; `silent`: no logger. */
  logLevel: (typeof LOG_LEVELS)[number]
  /** The payment simulator's delay per charge, in ms. */
  paymentLatencyMs: number
  /** The share of charges the payment simulator declines, 0 to 1. */
  paymentFailureRate: number
  /** The address links in mail point to (`SHOP_PUBLIC_URL`; default http://localhost:PORT). */
  publicUrl: string
  /** Where the default mailer writes one file per message: `dataDir/mail`. */
  mailDir: string
}

/** A variable with a bad value: `code` is stable, `variable` names it. */
export class ConfigError extends Error {
  readonly code = 'SHOP_ERR_CONFIG'
  readonly variable: string
  constructor(variable: string, problem: string) {
    super(`${variable}: ${problem}`)
    this.name = 'ConfigError'
    this.variable = variable
  }
}

type Env = Readonly<Record<string, string | undefined>>

const POSTGRES_URL = /^postgres(ql)?:\/\/\S+$/
const REDIS_URL = /^rediss?:\/\/\S+$/
const NODE_ENVS = ['development', 'production', 'test'] as const
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
const MIN_SECRET = 32

/** An unset or blank variable is absent. */
function read(env: Env, name: string): string | undefined {
  const v = env[name]?.trim()
  return v === undefined || v === '' ? undefined : v
}

function int(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `expected an integer from ${min} to ${max}, got "${raw}"`)
  }
  return Number(raw)
}

function rate(env: Env, name: string, fallback: number): number {
  const raw = read(env, name)
  if (raw === undefined) return fallback
  if (!/^(0(\.\d+)?|1(\.0+)?|\.\d+)$/.test(raw)) {
    throw new ConfigError(name, `expected a number from 0 to 1, got "${raw}"`)
  }
  return Number(raw)
}

function url(env: Env, name: string, pattern: RegExp, kind: string): string | null {
  const raw = read(env, name)
  if (raw === undefined) return null
  if (!pattern.test(raw) || !URL.canParse(raw))
    throw new ConfigError(name, `expected a ${kind} URL`)
  return raw
}

/**
 * The cursor secret: `SHOP_CURSOR_SECRET`, else one generated once and kept
 * in `dataDir/cursor-secret`, so a restart keeps every cursor valid.
 */
function cursorSecret(env: Env, dataDir: string): string {
  const given = read(env, 'SHOP_CURSOR_SECRET')
  if (given !== undefined) {
    if (Buffer.byteLength(given) < MIN_SECRET) {
      throw new ConfigError('SHOP_CURSOR_SECRET', `expected at least ${MIN_SECRET} bytes`)
    }
    return given
  }
  const file = join(dataDir, 'cursor-secret')
  try {
    const kept = readFileSync(file, 'utf8').trim()
    if (Buffer.byteLength(kept) >= MIN_SECRET) return kept
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const made = randomBytes(32).toString('base64url')
  mkdirSync(dataDir, { recursive: true })
  // 'wx': of two processes starting together, the second reads the first's.
  try {
    writeFileSync(file, `${made}\n`, { mode: 0o600, flag: 'wx' })
    return made
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    return readFileSync(file, 'utf8').trim()
  }
}

function namespace(env: Env): string {
  const ns = read(env, 'SHOP_CACHE_NAMESPACE') ?? 'shop'
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(ns)) {
    throw new ConfigError('SHOP_CACHE_NAMESPACE', 'expected letters, digits, _ - . (at most 64)')
  }
  return ns
}

/** Reads and checks every variable; throws a `ConfigError` naming the first bad one. */
export function loadConfig(env: Env = process.env): ShopConfig {
  const nodeEnv = read(env, 'NODE_ENV') ?? 'development'
  if (!(NODE_ENVS as readonly string[]).includes(nodeEnv)) {
    throw new ConfigError('NODE_ENV', `expected one of ${NODE_ENVS.join(', ')}, got "${nodeEnv}"`)
  }
  const databaseUrl = url(env, 'DATABASE_URL', POSTGRES_URL, 'postgres://')
  const replicaUrls = (read(env, 'DATABASE_REPLICA_URLS') ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
  for (const r of replicaUrls) {
    if (!POSTGRES_URL.test(r) || !URL.canParse(r)) {
      throw new ConfigError('DATABASE_REPLICA_URLS', 'expected comma-separated postgres:// URLs')
    }
  }
  if (replicaUrls.length > 0 && databaseUrl === null) {
    throw new ConfigError('DATABASE_REPLICA_URLS', 'replicas need DATABASE_URL (a primary)')
  }
  const workers = int(env, 'WORKERS', 1, 1, 256)
  // PGlite is one process's database: several workers cannot share its folder.
  if (workers > 1 && databaseUrl === null) {
    throw new ConfigError('WORKERS', 'more than one worker needs DATABASE_URL')
  }
  const logLevel = read(env, 'LOG_LEVEL') ?? 'warn'
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError('LOG_LEVEL', `expected one of ${LOG_LEVELS.join(', ')}`)
  }
  const dataDir = resolve(read(env, 'SHOP_DATA_DIR') ?? '.data')
  const port = int(env, 'PORT', 3000, 0, 65_535)
  const publicUrl = url(env, 'SHOP_PUBLIC_URL', /^https?:\/\/\S+$/, 'http(s)://')
  return Object.freeze({
    databaseUrl,
    replicaUrls: Object.freeze(replicaUrls),
    redisUrl: url(env, 'REDIS_URL', REDIS_URL, 'redis://'),
    cacheNamespace: namespace(env),
    port,
    host: read(env, 'HOST') ?? '0.0.0.0',
    workers,
    dataDir,
    embeddedDir: join(dataDir, 'shop'),
    cursorSecret: cursorSecret(env, dataDir),
    nodeEnv: nodeEnv as ShopConfig['nodeEnv'],
    logLevel: logLevel as ShopConfig['logLevel'],
    paymentLatencyMs: int(env, 'SHOP_PAYMENT_LATENCY_MS', 50, 0, 60_000),
    paymentFailureRate: rate(env, 'SHOP_PAYMENT_FAILURE_RATE', 0),
    publicUrl: (publicUrl ?? `http://localhost:${port}`).replace(/\/+$/, ''),
    mailDir: join(dataDir, 'mail'),
  })
}
