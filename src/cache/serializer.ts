import { HotpathError } from '../errors.ts'

/**
 * Turns values into what L2 stores and back. `binary` serializers produce
 * Buffers (read from Redis with `getBuffer`); text ones produce strings.
 */
export interface Serializer {
  readonly name: string
  readonly binary: boolean
  serialize(value: unknown): string | Uint8Array
  deserialize(data: string | Uint8Array): unknown
}

// The tag key marks values JSON cannot carry. An object that happens to own
// this key is itself wrapped ('o'), so no user value is ever mistaken for one.
const TAG = '$hp'

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  const raw = this[key]
  switch (typeof raw) {
    case 'bigint':
      state.tagged = true
      return { [TAG]: 'n', v: raw.toString() }
    case 'object':
      if (raw === null) return null
      if (raw instanceof Date) {
        state.tagged = true
        const t = raw.getTime()
        return { [TAG]: 'd', v: Number.isNaN(t) ? null : t }
      }
      if (raw instanceof Map) {
        state.tagged = true
        return { [TAG]: 'm', v: [...raw] }
      }
      if (raw instanceof Set) {
        state.tagged = true
        return { [TAG]: 's', v: [...raw] }
      }
      if (value === raw && Object.hasOwn(raw, TAG) && !Array.isArray(raw)) {
        state.tagged = true
        return { [TAG]: 'o', v: Object.entries(raw) }
      }
      return value
    case 'undefined':
    case 'function':
    case 'symbol':
      return value
    default:
      return value
  }
}

function reviver(_key: string, value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value
  const kind = (value as Record<string, unknown>)[TAG]
  if (kind === undefined) return value
  const v = (value as { v: unknown }).v
  switch (kind) {
    case 'd':
      return new Date(v === null ? Number.NaN : (v as number))
    case 'n':
      return BigInt(v as string)
    case 'm':
      return new Map(v as [unknown, unknown][])
    case 's':
      return new Set(v as unknown[])
    case 'o':
      return Object.fromEntries(v as [string, unknown][])
    default:
      return value
  }
}

const state = { tagged: false }

/**
 * JSON that keeps `Date`, `BigInt`, `Map` and `Set` intact. The first
 * character says whether the text needs the reviver ('1') or not ('0'), so
 * plain values parse at full `JSON.parse` speed.
 */
export const jsonSerializer: Serializer = Object.freeze({
  name: 'json',
  binary: false,
  serialize(value: unknown): string {
    state.tagged = false
    let text: string | undefined
    try {
      text = JSON.stringify(value, replacer)
    } catch (err) {
      throw new HotpathError('HP_ERR_CACHE_INVALID_VALUE', [(err as Error).message], { cause: err })
    }
    if (text === undefined) {
      throw new HotpathError('HP_ERR_CACHE_INVALID_VALUE', [`${typeof value} is not serializable`])
    }
    return (state.tagged ? '1' : '0') + text
  },
  deserialize(data: string | Uint8Array): unknown {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8')
    return text.charCodeAt(0) === 49 /* '1' */
      ? JSON.parse(text.slice(1), reviver)
      : JSON.parse(text.slice(1))
  },
})
