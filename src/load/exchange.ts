import type { Dispatcher } from 'undici'
import type { Response } from './vu.ts'

/**
 * One request/response through undici's `dispatch()`: the body is
 * collected as chunks by a plain handler, with no body stream and no abort
 * listener per request (undici's `request()` builds both, and at tens of
 * thousands of requests a second they were a third of the generator's CPU).
 * The VU keeps the current controller to abort it when the run cuts it.
 */

export type ResponseHeaders = Record<string, string | string[] | undefined>

export interface Exchanged {
  readonly status: number
  readonly headers: ResponseHeaders
  readonly bytes: Uint8Array
}

/** Where the handler leaves the controller of the request under way. */
export interface AbortSlot {
  controller: Dispatcher.DispatchController | undefined
  aborted: boolean
}

const NO_BYTES = new Uint8Array(0)
const decoder = new TextDecoder()

class Collector implements Dispatcher.DispatchHandler {
  #chunks: Buffer[] = []
  #size = 0
  #status = 0
  #headers: ResponseHeaders = {}
  readonly #slot: AbortSlot
  readonly #resolve: (r: Exchanged) => void
  readonly #reject: (e: Error) => void

  constructor(slot: AbortSlot, resolve: (r: Exchanged) => void, reject: (e: Error) => void) {
    this.#slot = slot
    this.#resolve = resolve
    this.#reject = reject
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    // Cut before the request left the pool: abort it as soon as it starts.
    if (this.#slot.aborted) controller.abort(new Error('interrupted'))
    else this.#slot.controller = controller
  }

  onResponseStart(
    _c: Dispatcher.DispatchController,
    status: number,
    headers: ResponseHeaders,
  ): void {
    this.#status = status
    this.#headers = headers
  }

  onResponseData(_c: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#chunks.push(chunk)
    this.#size += chunk.length
  }

  onResponseEnd(): void {
    this.#slot.controller = undefined
    const c = this.#chunks
    const bytes =
      c.length === 0 ? NO_BYTES : c.length === 1 ? (c[0] as Buffer) : Buffer.concat(c, this.#size)
    this.#resolve({ status: this.#status, headers: this.#headers, bytes })
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    this.#slot.controller = undefined
    this.#reject(err)
  }
}

export function exchange(
  dispatcher: Dispatcher,
  options: Dispatcher.DispatchOptions,
  slot: AbortSlot,
): Promise<Exchanged> {
  return new Promise((resolve, reject) => {
    dispatcher.dispatch(options, new Collector(slot, resolve, reject))
  })
}

/** A response as journeys see it; the body is decoded on first read only. */
export class ExchangeResponse implements Response {
  readonly status: number
  readonly ok: boolean
  readonly headers: Readonly<ResponseHeaders>
  readonly duration: number
  readonly error?: string
  readonly #bytes: Uint8Array
  #text: string | undefined

  constructor(
    status: number,
    ok: boolean,
    headers: ResponseHeaders,
    bytes: Uint8Array,
    duration: number,
    error: string | undefined,
  ) {
    this.status = status
    this.ok = ok
    this.headers = headers
    this.#bytes = bytes
    this.duration = duration
    if (error !== undefined) this.error = error
  }

  get body(): string {
    this.#text ??= decoder.decode(this.#bytes)
    return this.#text
  }

  json<T = unknown>(): T {
    return JSON.parse(this.body) as T
  }
}

export { NO_BYTES }
