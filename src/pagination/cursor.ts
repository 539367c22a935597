import { createHmac, timingSafeEqual } from 'node:crypto'
import { HotpathError } from '../errors.ts'
import { invalid, isOrder, type Order, paginationDefaults } from './options.ts'
import { show } from './sql.ts'

/** A value a cursor carries exactly: the JS types `pg` returns for keys. */
export type CursorValue = string | number | bigint | Date | null

/** `next`: the rows after the position; `prev`: the rows before it. */
export type Direction = 'next' | 'prev'

export interface CursorPayload {
  readonly direction: Direction
  readonly sort: string
  readonly order: Order
  /** The position: the sort column's value (if not the primary key), then the primary key. */
  readonly key: readonly CursorValue[]
}

/** An HMAC key: at least 32 bytes (a string counts its UTF-8 bytes). */
export type Secret = string | Uint8Array

export interface CursorCodecOptions {
  /** Signs and verifies cursors. A list rotates keys: the first signs, any verifies. Required. */
  secret: Secret | readonly Secret[]
  /** Binds cursors to one listing: a cursor signed under another context is rejected. Default: `''`. */
  context?: string
}

export interface CursorCodec {
  encode(payload: CursorPayload): string
  /** The payload, or `HP_ERR_PAGINATION_INVALID_CURSOR` for anything this codec did not sign. */
  decode(cursor: unknown): CursorPayload
}

/** Longest cursor accepted, in characters: bounds the work a hostile one can cause. */
export const MAX_CURSOR_LENGTH = 4096

const VERSION = 1
const MAC_BYTES = 32
const BASE64URL = /^[A-Za-z0-9_-]+$/

function bad(why: string): HotpathError {
  return new HotpathError('HP_ERR_PAGINATION_INVALID_CURSOR', [why])
}

function keyBytes(secret: unknown, name: string): Buffer {
  let bytes: Buffer
  if (typeof secret === 'string') bytes = Buffer.from(secret, 'utf8')
  else if (secret instanceof Uint8Array) bytes = Buffer.from(secret)
  else throw invalid(name, 'expected a string or a Buffer')
  if (bytes.length < paginationDefaults.secretBytes) {
    throw invalid(name, `must be at least ${paginationDefaults.secretBytes} bytes`)
  }
  return bytes
}

// Values are tagged with one letter so that the types pg returns come back as
// the same types: '42' stays a string (an int8), 42 a number, 42n a bigint.
function tag(v: CursorValue): string | null {
  if (v === null) return null
  switch (typeof v) {
    case 'string':
      return `s${v}`
    case 'number':
      return Object.is(v, -0) ? 'n-0' : `n${v}`
    case 'bigint':
      return `b${v}`
    default:
      if (v instanceof Date) return `d${v.getTime()}`
  }
  throw new HotpathError('HP_ERR_PAGINATION_INVALID_ROWS', [
    `a cursor cannot carry ${show(v)}: use string, number, bigint, Date or null keys`,
  ])
}

function untag(t: unknown): CursorValue {
  if (t === null) return null
  if (typeof t !== 'string' || t.length === 0) throw bad('malformed key')
  const rest = t.slice(1)
  switch (t[0]) {
    case 's':
      return rest
    case 'n':
      return Number(rest)
    case 'b':
      try {
        return BigInt(rest)
      } catch {
        throw bad('malformed key')
      }
    case 'd':
      return new Date(Number(rest))
    default:
      throw bad('malformed key')
  }
}

/**
 * Opaque, signed cursors: base64url of a version byte, a small JSON array and
 * an HMAC-SHA256 over both. Signed, not encrypted: a client who decodes one
 * sees the sort value and primary key of a row it was already sent.
 */
export function createCursorCodec(options: CursorCodecOptions): CursorCodec {
  if (options === null || typeof options !== 'object')
    throw invalid('options', 'expected an object')
  const secrets = Array.isArray(options.secret) ? options.secret : [options.secret]
  if (secrets.length === 0) throw invalid('secret', 'is required')
  const context = options.context ?? ''
  if (typeof context !== 'string') throw invalid('context', 'expected a string')
  // One key per secret and context, derived once: a cursor of another listing
  // fails verification exactly like a forged one.
  const keys = secrets.map((s: unknown, i) =>
    createHmac('sha256', keyBytes(s, secrets.length > 1 ? `secret[${i}]` : 'secret'))
      .update(`hotpath:pagination:v${VERSION}\u0000${context}`)
      .digest(),
  )
  const signer = keys[0]!

  return Object.freeze({
    encode(payload: CursorPayload): string {
      const fields: unknown[] = [
        payload.direction === 'prev' ? 'p' : 'n',
        payload.sort,
        payload.order === 'desc' ? 'd' : 'a',
      ]
      for (const v of payload.key) fields.push(tag(v))
      const json = Buffer.from(JSON.stringify(fields), 'utf8')
      const out = Buffer.allocUnsafe(1 + json.length + MAC_BYTES)
      out[0] = VERSION
      json.copy(out, 1)
      const body = out.subarray(0, 1 + json.length)
      createHmac('sha256', signer).update(body).digest().copy(out, body.length)
      return out.toString('base64url')
    },

    decode(cursor: unknown): CursorPayload {
      if (typeof cursor !== 'string') throw bad(`expected a string, got ${typeof cursor}`)
      if (cursor.length > MAX_CURSOR_LENGTH)
        throw bad(`longer than ${MAX_CURSOR_LENGTH} characters`)
      if (!BASE64URL.test(cursor)) throw bad('not base64url')
      const raw = Buffer.from(cursor, 'base64url')
      // Buffer ignores stray trailing bits; only the canonical spelling is ours.
      if (raw.length < 1 + 2 + MAC_BYTES || raw.toString('base64url') !== cursor) {
        throw bad('truncated or not a cursor')
      }
      const body = raw.subarray(0, raw.length - MAC_BYTES)
      const mac = raw.subarray(raw.length - MAC_BYTES)
      let signed = false
      for (const key of keys) {
        if (timingSafeEqual(createHmac('sha256', key).update(body).digest(), mac)) {
          signed = true
          break
        }
      }
      if (!signed) throw bad('signature does not match (altered, or made for another listing)')
      if (body[0] !== VERSION) throw bad(`unknown version ${body[0]}`)
      let fields: unknown
      try {
        fields = JSON.parse(body.subarray(1).toString('utf8'))
      } catch {
        throw bad('malformed payload')
      }
      if (!Array.isArray(fields) || fields.length < 4) throw bad('malformed payload')
      const [d, sort, o] = fields
      const order = o === 'a' ? 'asc' : o === 'd' ? 'desc' : null
      if ((d !== 'n' && d !== 'p') || typeof sort !== 'string' || !isOrder(order)) {
        throw bad('malformed payload')
      }
      const key: CursorValue[] = []
      for (let i = 3; i < fields.length; i++) key.push(untag(fields[i]))
      return Object.freeze({
        direction: d === 'p' ? 'prev' : 'next',
        sort,
        order,
        key: Object.freeze(key),
      })
    },
  })
}
