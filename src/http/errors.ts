import { channel } from 'node:diagnostics_channel'
import type { IncomingHttpHeaders } from 'node:http'
import { type ErrorCode, HotpathError } from '../errors.ts'
import { type Problem, problem, toProblem } from './problem.ts'

export interface ErrorsOptions {
  /**
   * Put the message, code and stack of server errors (5xx) in responses.
   * Default: `process.env.NODE_ENV === 'development'`, read at creation.
   */
  expose?: boolean
}

/**
 * Defaults, in one place. `expose` is `true` instead when `NODE_ENV` is
 * `'development'` (read at creation); `notFound` is the Fastify plugin's.
 */
export const errorsDefaults = Object.freeze({ expose: false, notFound: true })

/** Published on for every 5xx: `{ error, problem, request }` (the framework's request). */
export const errorChannel = channel('hotpath:http:error')

/** What a request tells the mapping: its headers, and the body limit that applied. */
export interface ErrorContext {
  headers?: IncomingHttpHeaders
  bodyLimit?: number
}

/** An error mapped to a response. */
export interface MappedError {
  problem: Problem
  /** Headers the error carries (`Retry-After`, `Allow`, `WWW-Authenticate`…). */
  headers: Record<string, string>
  /** Whether to log it as a failure of ours: every 5xx. */
  serverError: boolean
}

type ErrorLike = {
  code?: unknown
  type?: unknown
  status?: unknown
  statusCode?: unknown
  message?: unknown
  limit?: unknown
  headers?: unknown
  validation?: unknown
  validationContext?: unknown
}

// Fastify's and body-parser's client errors, by code (Fastify) or type (body-parser).
const INVALID_JSON = new Set([
  'FST_ERR_CTP_INVALID_JSON_BODY',
  'FST_ERR_CTP_EMPTY_JSON_BODY',
  'entity.parse.failed',
])
const TOO_LARGE = new Set(['FST_ERR_CTP_BODY_TOO_LARGE', 'entity.too.large'])
const UNSUPPORTED = new Set([
  'FST_ERR_CTP_INVALID_MEDIA_TYPE',
  'encoding.unsupported',
  'charset.unsupported',
])
const BAD_REQUEST = new Set([
  'FST_ERR_CTP_INVALID_CONTENT_LENGTH',
  'request.aborted',
  'request.size.invalid',
])

function fromCode(code: ErrorCode, args: unknown[], cause: unknown): Problem {
  const e = new HotpathError(code, args, { cause })
  return { ...problem(e.statusCode, e.message), code }
}

function headersOf(e: ErrorLike): Record<string, string> {
  const out: Record<string, string> = {}
  const h = e.headers
  if (h === null || typeof h !== 'object') return out
  for (const [k, v] of Object.entries(h))
    if (typeof v === 'string' || typeof v === 'number') out[k.toLowerCase()] = String(v)
  return out
}

/** Fastify's (Ajv's) validation errors as `{ in, path, message }`. */
function validationErrors(e: ErrorLike): { in: string; path: string; message: string }[] {
  const where = typeof e.validationContext === 'string' ? e.validationContext : 'body'
  return (e.validation as { instancePath?: string; message?: string; params?: unknown }[]).map(
    (v) => {
      let path = v.instancePath ?? ''
      // A missing property is reported on its parent; name it.
      const missing = (v.params as { missingProperty?: unknown } | undefined)?.missingProperty
      if (typeof missing === 'string') path = `${path}/${missing}`
      return { in: where, path, message: v.message ?? 'is invalid' }
    },
  )
}

/**
 * Maps any thrown value to one problem+json response, identical from both
 * adapters: malformed JSON → 400 `HP_ERR_HTTP_INVALID_JSON`, oversized body →
 * 413, unsupported content type → 415, schema validation → 400 with
 * `errors`, a `HotpathError` → its status and code, other errors with a 4xx
 * status → that status and their message, anything else → 500 with no
 * message, code or stack unless `expose`.
 */
export class ErrorMapper {
  readonly expose: boolean

  constructor(o: ErrorsOptions = {}) {
    this.expose = o.expose ?? (process.env.NODE_ENV === 'development' || errorsDefaults.expose)
    if (typeof this.expose !== 'boolean')
      throw new HotpathError('HP_ERR_INVALID_OPTION', ['expose', 'expected a boolean'])
  }

  map(err: unknown, ctx: ErrorContext = {}): MappedError {
    const e = (err !== null && typeof err === 'object' ? err : {}) as ErrorLike
    const key = typeof e.code === 'string' ? e.code : typeof e.type === 'string' ? e.type : ''
    let p: Problem
    if (err instanceof HotpathError) p = toProblem(err, this.expose)
    else if (Array.isArray(e.validation))
      p = {
        ...fromCode('HP_ERR_HTTP_VALIDATION', [e.message], err),
        errors: validationErrors(e),
      }
    else if (INVALID_JSON.has(key) || (err instanceof SyntaxError && e.statusCode === 400))
      p = fromCode('HP_ERR_HTTP_INVALID_JSON', [e.message], err)
    else if (TOO_LARGE.has(key)) {
      const limit = typeof e.limit === 'number' ? e.limit : ctx.bodyLimit
      p = fromCode('HP_ERR_HTTP_BODY_TOO_LARGE', [limit ?? 'the allowed number of'], err)
    } else if (UNSUPPORTED.has(key)) {
      const what =
        key === 'encoding.unsupported'
          ? `content-encoding ${String(ctx.headers?.['content-encoding'])}`
          : String(ctx.headers?.['content-type'] ?? 'none')
      p = fromCode('HP_ERR_HTTP_UNSUPPORTED_MEDIA_TYPE', [what], err)
    } else if (BAD_REQUEST.has(key)) p = fromCode('HP_ERR_HTTP_BAD_REQUEST', [e.message], err)
    else if (key === 'FST_ERR_NOT_FOUND') p = fromCode('HP_ERR_HTTP_NOT_FOUND', ['route'], err)
    else p = toProblem(err, this.expose)
    return { problem: p, headers: headersOf(e), serverError: p.status >= 500 }
  }

  /** The 404 of a request no route matched. */
  notFound(method: string | undefined, url: string | undefined): Problem {
    const u = url ?? '/'
    const q = u.indexOf('?')
    const path = q < 0 ? u : u.slice(0, q)
    return fromCode('HP_ERR_HTTP_NOT_FOUND', [`${method ?? 'GET'} ${path}`], undefined)
  }
}

export function createErrorMapper(options?: ErrorsOptions): ErrorMapper {
  return new ErrorMapper(options)
}
