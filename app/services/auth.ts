// Accounts and sessions: registration (user, verification token and the
// outbox job in one transaction), login, session validation through the
// tiered cache, logout, e-mail verification, the profile. HTTP-free.
import { createHash, randomBytes } from 'node:crypto'
import { CacheKeys, type TieredCache } from 'hotpath/cache'
import type { Db } from 'hotpath/db'
import { ShopError, unauthorized } from '../errors.ts'
import { hashPassword, verifyPassword } from './passwords.ts'

export interface Profile {
  id: number
  email: string
  name: string
  verified: boolean
  createdAt: Date
}

/** The signed-in user of a request: who, and which session (its token's hash, hex). */
export interface AuthUser {
  id: number
  session: string
}

export interface Login {
  token: string
  expiresAt: Date
  user: Profile
}

export interface Auth {
  /** Creates an unverified account; 409 when the e-mail is taken, 422 for a weak password. */
  register(input: { email: string; password: string; name: string }): Promise<Profile>
  /** A new session; the same 401 for an unknown e-mail and a wrong password. */
  login(email: string, password: string): Promise<Login>
  /** The session of a bearer token, or `null` (unknown, expired, logged out, malformed). */
  session(token: string): Promise<AuthUser | null>
  /** Ends the session on every instance. */
  logout(user: AuthUser): Promise<void>
  /** Marks the token's account verified; 422 for an unknown, used or expired token. */
  verifyEmail(token: string): Promise<Profile>
  /** The profile, read through the cache; `null` when the account is gone. */
  profile(id: number): Promise<Profile | null>
  updateProfile(id: number, changes: { name: string }): Promise<Profile>
  /** Whether the account may change the catalog (read from the primary on every call). */
  isAdmin(id: number): Promise<boolean>
}

export interface AuthOptions {
  db: Db
  cache: TieredCache
  /** How long a session lasts. Default: 7 days. */
  sessionMs?: number
  /** How long a verification link works. Default: 24 hours. */
  verificationMs?: number
}

/** Tags a write to an account invalidates. */
export const authTags = {
  user: (id: number): string => `user:${id}`,
  session: (hashHex: string): string => `session:${hashHex}`,
} as const

const DAY = 86_400_000
/** 32 random bytes, base64url: 43 characters. */
const TOKEN = /^[A-Za-z0-9_-]{43}$/
/** Refused whatever the length rule says: the first guesses of any attacker. */
const COMMON = new Set(['password', 'password1', '12345678', '123456789', 'qwertyui', 'iloveyou'])

const sha256 = (s: string): Buffer => createHash('sha256').update(s).digest()
const newToken = (): string => randomBytes(32).toString('base64url')

const PROFILE_COLUMNS = 'id, email, name, verified, created_at AS "createdAt"'

function weak(password: string, email: string): string | null {
  const p = password.toLowerCase()
  const local = email.toLowerCase().split('@')[0] ?? ''
  if (COMMON.has(p)) return 'the password is too common'
  if (/^(.)\1*$/.test(p)) return 'the password repeats one character'
  if (local.length >= 3 && p.includes(local)) return 'the password contains the e-mail address'
  return null
}

const isUniqueViolation = (err: unknown): boolean =>
  (err as { code?: unknown } | null)?.code === '23505'

export function createAuth({
  db,
  cache,
  sessionMs = 7 * DAY,
  verificationMs = DAY,
}: AuthOptions): Auth {
  // An unknown e-mail is checked against this hash, so it costs what a wrong
  // password costs and timing does not tell which accounts exist. Made now,
  // so the first such login is not slower than the rest.
  const dummy = hashPassword(newToken())
  dummy.catch(() => {})

  async function profile(id: number): Promise<Profile | null> {
    const p = await cache.getOrSet<Profile | null>(
      CacheKeys.user(id),
      async (ctx) => {
        // The primary: a miss right after a write must not cache a replica's older row.
        const { rows } = await db.query<Profile>(
          `SELECT ${PROFILE_COLUMNS} FROM users WHERE id = $1`,
          [id],
          { primary: true, name: 'users.profile' },
        )
        if (rows[0] === undefined) ctx.skipCache()
        return rows[0] ?? null
      },
      { tier: 'warm', tags: [authTags.user(id)] },
    )
    return p ?? null
  }

  return {
    async register({ email, password, name }) {
      const problem = weak(password, email)
      if (problem !== null) throw new ShopError('SHOP_ERR_WEAK_PASSWORD', problem)
      // Hashing is the slow part: done before a connection is taken.
      const hash = await hashPassword(password)
      const token = newToken()
      try {
        return await db.transaction(async (tx) => {
          const { rows } = await tx.query<Profile>(
            `INSERT INTO users (email, password_hash, name) VALUES ($1, $2, $3)
             RETURNING ${PROFILE_COLUMNS}`,
            [email, hash, name],
            { name: 'users.insert' },
          )
          const user = rows[0]!
          await tx.query(
            `INSERT INTO email_verifications (token_hash, user_id, expires_at)
             VALUES ($1, $2, now() + $3 * interval '1 millisecond')`,
            [sha256(token), user.id, verificationMs],
            { name: 'email_verifications.insert' },
          )
          // The outbox: the mail is sent by a worker after COMMIT, never on the
          // request path, and is lost neither if the process dies nor if the
          // transaction rolls back (then there is nothing to send). The job holds
          // the raw token because the mail must carry it; the table keeps a hash.
          await tx.query(
            `INSERT INTO jobs (kind, payload) VALUES ('verify-email', $1)`,
            [JSON.stringify({ userId: user.id, email: user.email, name: user.name, token })],
            { name: 'jobs.insert' },
          )
          return user
        })
      } catch (err) {
        if (isUniqueViolation(err))
          throw new ShopError('SHOP_ERR_EMAIL_TAKEN', 'An account with this e-mail exists')
        throw err
      }
    },

    async login(email, password) {
      // The primary: an account registered a moment ago may not be on a replica yet.
      const { rows } = await db.query<{ id: number; password_hash: string }>(
        'SELECT id, password_hash FROM users WHERE lower(email) = lower($1)',
        [email],
        { primary: true, name: 'users.byEmail' },
      )
      const row = rows[0]
      const ok = await verifyPassword(password, row?.password_hash ?? (await dummy))
      if (row === undefined || !ok) throw unauthorized('Invalid e-mail or password')
      const token = newToken()
      const { rows: s } = await db.query<{ expires_at: Date }>(
        `INSERT INTO sessions (token_hash, user_id, expires_at)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond') RETURNING expires_at`,
        [sha256(token), row.id, sessionMs],
        { name: 'sessions.insert' },
      )
      const user = await profile(row.id)
      if (user === null) throw unauthorized('Invalid e-mail or password')
      return { token, expiresAt: s[0]!.expires_at, user }
    },

    async session(token) {
      if (!TOKEN.test(token)) return null
      const hash = sha256(token)
      const hex = hash.toString('hex')
      // Tagged with the session only: tags known before the factory runs let the
      // cache refuse to store a row read just before a logout on another
      // instance (tags set inside the factory are checked only afterwards).
      const s = await cache.getOrSet<{ userId: number; expiresAt: number } | null>(
        CacheKeys.of('session', hex),
        async (ctx) => {
          const { rows } = await db.query<{ user_id: number; expires_at: Date }>(
            'SELECT user_id, expires_at FROM sessions WHERE token_hash = $1 AND expires_at > now()',
            [hash],
            { primary: true, name: 'sessions.get' },
          )
          const r = rows[0]
          if (r === undefined) {
            ctx.skipCache() // a miss is not stored: the token may be brand new elsewhere
            return null
          }
          const left = r.expires_at.getTime() - Date.now()
          if (left < 300_000) ctx.setTtl(Math.max(1000, left))
          return { userId: r.user_id, expiresAt: r.expires_at.getTime() }
        },
        { tier: 'warm', tags: [authTags.session(hex)] },
      )
      if (s === null || s.expiresAt <= Date.now()) return null
      return { id: s.userId, session: hex }
    },

    async logout(user) {
      // `invalidates` runs after the DELETE: every instance's L1 and L2 drop the session.
      await db.query(
        'DELETE FROM sessions WHERE token_hash = $1',
        [Buffer.from(user.session, 'hex')],
        {
          name: 'sessions.delete',
          invalidates: [authTags.session(user.session)],
        },
      )
    },

    async verifyEmail(token) {
      if (!TOKEN.test(token))
        throw new ShopError('SHOP_ERR_INVALID_TOKEN', 'The verification token is not valid')
      const id = await db.transaction(async (tx) => {
        const { rows } = await tx.query<{ user_id: number }>(
          `UPDATE email_verifications SET used_at = now()
           WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
           RETURNING user_id`,
          [sha256(token)],
          { name: 'email_verifications.use' },
        )
        const userId = rows[0]?.user_id
        if (userId === undefined)
          throw new ShopError('SHOP_ERR_INVALID_TOKEN', 'The verification token is not valid')
        await tx.query(
          'UPDATE users SET verified = true, updated_at = now() WHERE id = $1',
          [userId],
          { name: 'users.verify', invalidates: [authTags.user(userId)] },
        )
        return userId
      })
      const p = await profile(id)
      if (p === null) throw new ShopError('SHOP_ERR_INVALID_TOKEN', 'The account is gone')
      return p
    },

    profile,

    async isAdmin(id) {
      // Not cached: it guards writes, which are rare, and a revoked right takes effect at once.
      const { rows } = await db.query<{ is_admin: boolean }>(
        'SELECT is_admin FROM users WHERE id = $1',
        [id],
        { primary: true, name: 'users.isAdmin' },
      )
      return rows[0]?.is_admin === true
    },

    async updateProfile(id, { name }) {
      const { rows } = await db.query<Profile>(
        `UPDATE users SET name = $2, updated_at = now() WHERE id = $1 RETURNING ${PROFILE_COLUMNS}`,
        [id, name],
        { name: 'users.update', invalidates: [authTags.user(id)] },
      )
      if (rows[0] === undefined) throw unauthorized()
      return rows[0]
    },
  }
}
