import { createHash } from 'node:crypto'
import { HotpathError } from '../errors.ts'

/** Longest key the cache accepts, in UTF-16 code units. Key builders hash long keys well below it. */
export const MAX_KEY_LENGTH = 1024

export function checkKey(key: unknown, max: number): asserts key is string {
  if (typeof key !== 'string') {
    throw new HotpathError('HP_ERR_CACHE_INVALID_KEY', [`expected a string, got ${typeof key}`])
  }
  if (key.length === 0 || key.length > max) {
    throw new HotpathError('HP_ERR_CACHE_INVALID_KEY', [
      key.length === 0 ? 'empty key' : `${key.length} characters, limit ${max}`,
    ])
  }
}

export function checkTags(tags: unknown): readonly string[] {
  if (!Array.isArray(tags)) {
    throw new HotpathError('HP_ERR_CACHE_INVALID_TAG', ['tags must be an array of strings'])
  }
  for (const t of tags) {
    if (typeof t !== 'string' || t.length === 0 || t.length > MAX_KEY_LENGTH) {
      throw new HotpathError('HP_ERR_CACHE_INVALID_TAG', [JSON.stringify(t) ?? String(t)])
    }
  }
  return tags as readonly string[]
}

export interface KeyBuilderOptions {
  /** Prefix added before every key, e.g. `'shop'` → `shop:user:1`. Default: none. */
  prefix?: string
  /** Keys longer than this are shortened to `<head>#<sha1>`. Default: 200. */
  hashAbove?: number
}

export interface KeyBuilder {
  /** `user:<id>` */
  user(id: string | number): string
  /** `users:all` */
  allUsers(): string
  /** `product:<id>` */
  product(id: string | number): string
  /** `api:<path>?<sorted query>` — equal queries in any order share one key. */
  apiResponse(path: string, query?: string | Record<string, unknown> | URLSearchParams): string
  /** `query:<sha1 of sql and params>` */
  queryResult(sql: string, params?: readonly unknown[]): string
  /** `ratelimit:<id>` */
  rateLimit(id: string): string
  /** Any key from parts joined by `:`, with the prefix and long-key hashing applied. */
  of(...parts: (string | number)[]): string
}

function sha1(text: string): string {
  return createHash('sha1').update(text).digest('hex')
}

function sortedQuery(query: string | Record<string, unknown> | URLSearchParams): string {
  let params: URLSearchParams
  if (typeof query === 'string')
    params = new URLSearchParams(query.startsWith('?') ? query.slice(1) : query)
  else if (query instanceof URLSearchParams) params = new URLSearchParams(query)
  else {
    params = new URLSearchParams()
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue
      if (Array.isArray(v)) for (const item of v) params.append(k, String(item))
      else params.append(k, String(v))
    }
  }
  // A stable sort by name keeps repeated parameters in their given order.
  params.sort()
  return params.toString()
}

function stringify(value: unknown): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `${v}n` : v)) ?? 'undefined'
}

/** Key helpers in the guides' `CacheKeys` shape. */
export function createKeys(options: KeyBuilderOptions = {}): KeyBuilder {
  const prefix = options.prefix ? `${options.prefix}:` : ''
  const hashAbove = options.hashAbove ?? 200
  if (!Number.isInteger(hashAbove) || hashAbove < 48 || hashAbove > MAX_KEY_LENGTH) {
    throw new HotpathError('HP_ERR_INVALID_OPTION', ['hashAbove', `48..${MAX_KEY_LENGTH}`])
  }
  const finish = (key: string): string => {
    const full = prefix + key
    return full.length <= hashAbove ? full : `${full.slice(0, hashAbove - 41)}#${sha1(full)}`
  }
  return Object.freeze({
    user: (id: string | number) => finish(`user:${id}`),
    allUsers: () => finish('users:all'),
    product: (id: string | number) => finish(`product:${id}`),
    apiResponse: (path: string, query?: string | Record<string, unknown> | URLSearchParams) => {
      const q = query === undefined ? '' : sortedQuery(query)
      return finish(q ? `api:${path}?${q}` : `api:${path}`)
    },
    queryResult: (sql: string, params: readonly unknown[] = []) =>
      finish(`query:${sha1(`${sql.replace(/\s+/g, ' ').trim()}\u0000${stringify(params)}`)}`),
    rateLimit: (id: string) => finish(`ratelimit:${id}`),
    of: (...parts: (string | number)[]) => finish(parts.join(':')),
  })
}

/** The default key builder, without a prefix. */
export const CacheKeys: KeyBuilder = createKeys()
