// Auth routes: thin HTTP over the auth service. Login is rate-limited per
// client address and per account (hotpath's GCRA limiter, shared by every
// instance through Redis); nothing here is response-cached.
import { createHash } from 'node:crypto'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { Duration } from 'hotpath/cache'
import type { RateLimiter } from 'hotpath/http'
import {
  loginSchema,
  logoutSchema,
  meSchema,
  registerSchema,
  updateProfileSchema,
  verifyEmailSchema,
} from '../schemas/auth.ts'
import type { Auth } from '../services/auth.ts'
import { authenticate, userOf } from './authenticate.ts'

export interface LoginLimit {
  limit: number
  window: Duration
}

export interface LoginLimits {
  /** Attempts per client address (password spraying across accounts). */
  perIp: LoginLimit
  /** Attempts per account, from any address (guessing one account's password). */
  perAccount: LoginLimit
}

export const loginLimitDefaults: LoginLimits = Object.freeze({
  perIp: Object.freeze({ limit: 30, window: '1m' }),
  perAccount: Object.freeze({ limit: 5, window: '1m' }),
})

export interface AuthRoutesOptions {
  auth: Auth
  limiter: RateLimiter<FastifyRequest>
  loginLimits?: LoginLimits
}

/** Small JSON bodies only: anything bigger is a 413 before it is parsed. */
const BODY_LIMIT = 16_384

/** The account part of a login's bucket: a hash, so no e-mail address is written to Redis. */
const accountKey = (request: FastifyRequest): string =>
  createHash('sha256')
    .update((request.body as { email: string }).email.trim().toLowerCase())
    .digest('base64url')
    .slice(0, 22)

export const authRoutes: FastifyPluginAsync<AuthRoutesOptions> = async (
  app,
  { auth, limiter, loginLimits = loginLimitDefaults },
) => {
  const requireUser = authenticate(auth)
  const policies = [
    limiter.policy({ name: 'login-ip', ...loginLimits.perIp }, false),
    limiter.policy({ name: 'login-account', ...loginLimits.perAccount, keyBy: accountKey }, false),
  ]

  /** Counts the attempt against both limits; answers 429 (with Retry-After) when one is spent. */
  async function limitLogin(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    for (const policy of policies) {
      const client = limiter.clientKey(policy, request, request.raw)
      const d = await limiter.hit(policy, policy.keyPrefix + client)
      policy.writeHeaders(reply.raw, d)
      if (!d.allowed) {
        await reply
          .code(429)
          .header('content-type', 'application/problem+json')
          .send(JSON.stringify(policy.problem(d)))
        return
      }
    }
  }

  // Tokens and profiles are nobody else's: no shared cache may keep them.
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store')
  })

  app.post<{ Body: { email: string; password: string; name: string } }>(
    '/auth/register',
    { schema: registerSchema, bodyLimit: BODY_LIMIT },
    async (request, reply) => {
      const { email, password, name } = request.body
      const user = await auth.register({ email: email.trim(), password, name: name.trim() })
      return reply.code(201).send(user)
    },
  )

  app.post<{ Body: { email: string; password: string } }>(
    '/auth/login',
    { schema: loginSchema, bodyLimit: BODY_LIMIT, preHandler: limitLogin },
    (request) => auth.login(request.body.email.trim(), request.body.password),
  )

  app.post<{ Body: { token: string } }>(
    '/auth/verify-email',
    { schema: verifyEmailSchema, bodyLimit: BODY_LIMIT },
    (request) => auth.verifyEmail(request.body.token),
  )

  app.get('/auth/me', { schema: meSchema, onRequest: requireUser }, async (request) => {
    const user = await auth.profile(userOf(request).id)
    if (user === null) throw new Error('a session without its account') // FK: cannot happen
    return user
  })

  app.post(
    '/auth/logout',
    { schema: logoutSchema, onRequest: requireUser },
    async (request, reply) => {
      await auth.logout(userOf(request))
      return reply.code(204).send()
    },
  )

  app.put<{ Body: { name: string } }>(
    '/users/profile',
    { schema: updateProfileSchema, bodyLimit: BODY_LIMIT, onRequest: requireUser },
    (request) => auth.updateProfile(userOf(request).id, { name: request.body.name.trim() }),
  )
}
