import type { Response } from './vu.ts'

/** Response headers as journeys see them: names lower-cased, repeated ones as arrays. */
export type ResponseHeaders = Record<string, string | string[] | undefined>

const decoder = new TextDecoder()

/**
 * A response as journeys see it. The headers object and the body text are
 * built on first read only: most journeys read neither for most requests.
 */
export class ExchangeResponse implements Response {
  readonly status: number
  readonly ok: boolean
  readonly duration: number
  readonly error?: string
  readonly #raw: readonly string[]
  readonly #bytes: Uint8Array
  #headers: ResponseHeaders | undefined
  #text: string | undefined

  constructor(
    status: number,
    ok: boolean,
    rawHeaders: readonly string[],
    bytes: Uint8Array,
    duration: number,
    error: string | undefined,
  ) {
    this.status = status
    this.ok = ok
    this.#raw = rawHeaders
    this.#bytes = bytes
    this.duration = duration
    if (error !== undefined) this.error = error
  }

  get headers(): Readonly<ResponseHeaders> {
    this.#headers ??= headerObject(this.#raw)
    return this.#headers
  }

  get body(): string {
    this.#text ??= decoder.decode(this.#bytes)
    return this.#text
  }

  json<T = unknown>(): T {
    return JSON.parse(this.body) as T
  }
}

export function headerObject(raw: readonly string[]): ResponseHeaders {
  // No prototype, as Node's own: a header named `constructor` or `__proto__` is just a header.
  const out: ResponseHeaders = Object.create(null)
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    const value = raw[i + 1] as string
    const seen = out[name]
    if (seen === undefined) out[name] = name === 'set-cookie' ? [value] : value
    else if (Array.isArray(seen)) seen.push(value)
    else out[name] = [seen, value]
  }
  return out
}

/** The values of one header (lower-case name) in raw [name, value, …] headers. */
export function headerValues(raw: readonly string[], name: string): string[] | undefined {
  let out: string[] | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i] !== name) continue
    out ??= []
    out.push(raw[i + 1] as string)
  }
  return out
}
