// The session check other routes put in front of themselves: an onRequest
// hook (before the body is read, so an anonymous request costs nothing) that
// records the request's user or answers 401; `userOf(request)` reads it.
import type { FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import { unauthorized } from '../errors.ts'
import type { Auth, AuthUser } from '../services/auth.ts'

// Kept beside the request rather than declared on FastifyRequest: a module
// augmentation would retype `request.user` for every Fastify app in the program.
const users = new WeakMap<FastifyRequest, AuthUser>()

const BEARER = /^Bearer ([A-Za-z0-9_-]{1,100})$/

/** `Authorization: Bearer <token>` → the token, or `null`. */
export function bearerToken(request: FastifyRequest): string | null {
  const h = request.headers.authorization
  return typeof h === 'string' ? (BEARER.exec(h)?.[1] ?? null) : null
}

/** The hook: a missing, malformed, unknown, expired or logged-out token is the same 401. */
export function authenticate(auth: Auth): onRequestAsyncHookHandler {
  return async function authenticate(request) {
    const token = bearerToken(request)
    const user = token === null ? null : await auth.session(token)
    if (user === null) throw unauthorized()
    users.set(request, user)
  }
}

/** The user of a route behind `authenticate`. */
export function userOf(request: FastifyRequest): AuthUser {
  const user = users.get(request)
  if (user === undefined) throw unauthorized()
  return user
}
