// JSON schemas of the auth routes: validation (400 for a missing field, a
// wrong type, a malformed e-mail), serialization, and /docs.
import { bearer, problem } from './common.ts'

const email = { type: 'string', format: 'email', maxLength: 254 } as const
/** argon2 takes any length; the bound keeps a request from making it hash megabytes. */
const password = { type: 'string', minLength: 8, maxLength: 128 } as const
const name = { type: 'string', minLength: 1, maxLength: 100, pattern: '\\S' } as const

const profile = {
  type: 'object',
  required: ['id', 'email', 'name', 'verified', 'createdAt'],
  properties: {
    id: { type: 'integer' },
    email: { type: 'string' },
    name: { type: 'string' },
    verified: { type: 'boolean' },
    createdAt: { type: 'string', format: 'date-time' },
  },
} as const

const errors = { 400: problem, 401: problem, 413: problem, 415: problem } as const

export const registerSchema = {
  summary: 'Create an account (unverified; a verification e-mail is queued)',
  tags: ['auth'],
  body: {
    type: 'object',
    required: ['email', 'password', 'name'],
    properties: { email, password, name },
  },
  response: { 201: profile, ...errors, 409: problem, 422: problem },
} as const

export const loginSchema = {
  summary: 'Sign in: a bearer token for the Authorization header',
  tags: ['auth'],
  body: {
    type: 'object',
    required: ['email', 'password'],
    // Only bounded here: a login must not tell which rule an old password breaks.
    properties: {
      email: { type: 'string', maxLength: 254 },
      password: { type: 'string', maxLength: 128 },
    },
  },
  response: {
    200: {
      type: 'object',
      required: ['token', 'expiresAt', 'user'],
      properties: {
        token: { type: 'string' },
        expiresAt: { type: 'string', format: 'date-time' },
        user: profile,
      },
    },
    ...errors,
    429: problem,
  },
} as const

export const meSchema = {
  summary: 'The signed-in account',
  tags: ['auth'],
  ...bearer,
  response: { 200: profile, 401: problem },
} as const

export const logoutSchema = {
  summary: 'End this session, on every instance',
  tags: ['auth'],
  ...bearer,
  response: { 204: { type: 'null', description: 'No Content' }, 401: problem },
} as const

export const verifyEmailSchema = {
  summary: 'Mark the account verified with the token from its e-mail',
  tags: ['auth'],
  body: {
    type: 'object',
    required: ['token'],
    properties: { token: { type: 'string', minLength: 1, maxLength: 100 } },
  },
  response: { 200: profile, ...errors, 422: problem },
} as const

export const updateProfileSchema = {
  summary: 'Change the signed-in account’s name',
  tags: ['users'],
  ...bearer,
  body: { type: 'object', required: ['name'], properties: { name } },
  response: { 200: profile, ...errors },
} as const
