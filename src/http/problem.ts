import type { ServerResponse } from 'node:http'
import { HotpathError } from '../errors.ts'

/** RFC 9457 problem details: the one error body every hotpath adapter sends. */
export interface Problem {
  type: string
  title: string
  status: number
  detail?: string
  instance?: string
  code?: string
  [extension: string]: unknown
}

export const PROBLEM_TYPE = 'application/problem+json'

const titles: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
}

export function problem(
  status: number,
  detail?: string,
  extra: Record<string, unknown> = {},
): Problem {
  return {
    type: 'about:blank',
    title: titles[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'),
    status,
    ...(detail === undefined ? {} : { detail }),
    ...extra,
  }
}

/**
 * Turns any thrown value into a problem. Client errors keep their message;
 * server errors say only their title unless `expose` (development), so no
 * internals or stack traces leak.
 */
export function toProblem(err: unknown, expose = false): Problem {
  const e = err as { statusCode?: unknown; status?: unknown; message?: unknown; code?: unknown }
  let status =
    typeof e?.statusCode === 'number'
      ? e.statusCode
      : typeof e?.status === 'number'
        ? e.status
        : 500
  if (status < 400 || status > 599) status = 500
  const code =
    err instanceof HotpathError || typeof e?.code === 'string' ? String(e.code) : undefined
  const message = typeof e?.message === 'string' ? e.message : undefined
  const detail = status < 500 || expose ? message : undefined
  const p = problem(status, detail)
  if (code !== undefined && (status < 500 || expose || err instanceof HotpathError)) p.code = code
  if (expose && status >= 500 && err instanceof Error && err.stack) p.stack = err.stack
  return p
}

export function sendProblem(
  res: ServerResponse,
  p: Problem,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify(p)
  res.writeHead(p.status, {
    ...headers,
    'content-type': PROBLEM_TYPE,
    'content-length': Buffer.byteLength(body),
  })
  res.end(body)
}
