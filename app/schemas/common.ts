// Schema pieces every route file shares.

/** The problem+json body of every error (RFC 9457). */
export const problem = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    code: { type: 'string' },
  },
} as const

/** A positive int4 id. */
export const id = { type: 'integer', minimum: 1, maximum: 2_147_483_647 } as const

export const price = {
  type: 'string',
  pattern: '^\\d+\\.\\d{2}$',
  description: 'decimal, 2 places',
} as const

/** Routes that need a session: the header it comes in, and the 401. */
export const bearer = {
  headers: {
    type: 'object',
    properties: {
      authorization: { type: 'string', description: 'Bearer <token> (from POST /auth/login)' },
    },
  },
} as const
