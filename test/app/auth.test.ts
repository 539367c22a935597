import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { CacheKeys } from 'hotpath/cache'
import { hashPassword, verifyPassword } from '../../app/services/passwords.ts'
import { unless } from '../helpers/services.ts'
import { login, send, startInstance, startShop, type TestShop } from './shop.ts'

const skip = (await unless('postgres')) || (await unless('redis'))

const SEED_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$aG90cGF0aC1zaG9wLXNlZWQ$wIIY3M6LNdCK1r2Lu2KtDlOz7DwDMv1j+1g1SY0mT5s'

describe('shop passwords (argon2id, PHC strings)', () => {
  it('verifies the seed’s precomputed hash and its own, and nothing else', async () => {
    assert.equal(await verifyPassword('password', SEED_HASH), true)
    assert.equal(await verifyPassword('Password', SEED_HASH), false)
    const h = await hashPassword('correct horse battery')
    assert.match(h, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/)
    assert.notEqual(h, await hashPassword('correct horse battery'), 'a new salt each time')
    assert.equal(await verifyPassword('correct horse battery', h), true)
    assert.equal(await verifyPassword('correct horse batterz', h), false)
    for (const bad of ['', 'plain', '$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA', `${h}x!`])
      assert.equal(await verifyPassword('x', bad), false, bad)
  })
})

describe('shop auth over HTTP (PostgreSQL + Redis)', { skip }, () => {
  let shop: TestShop
  before(async () => {
    shop = await startShop(
      { products: 30, users: 6, orders: 5 },
      {
        loginLimits: {
          perIp: { limit: 1000, window: '1m' },
          perAccount: { limit: 5, window: '1m' },
        },
      },
    )
  })
  after(async () => {
    await shop?.stop()
  })

  let n = 0
  /** A fresh account (registration hashes a password: a few tens of ms). */
  async function register(password = 'a long secret') {
    const email = `buyer${++n}@example.org`
    const r = await send(shop.base, 'POST', '/auth/register', {
      body: { email, password, name: `Buyer ${n}` },
    })
    assert.equal(r.status, 201, JSON.stringify(r.body))
    return { email, password, id: r.body.id as number }
  }

  it('lets a seeded user sign in with "password" and read their profile', async () => {
    const r = await send(shop.base, 'POST', '/auth/login', {
      body: { email: 'user1@example.com', password: 'password' },
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.match(r.body.token, /^[A-Za-z0-9_-]{43}$/)
    assert.ok(Date.parse(r.body.expiresAt) > Date.now() + 86_400_000)
    assert.equal(r.body.user.email, 'user1@example.com')
    assert.equal(r.headers.get('cache-control'), 'no-store')
    assert.ok(r.headers.get('ratelimit-policy')?.includes('"login-account";q=5'))

    const me = await send(shop.base, 'GET', '/auth/me', { token: r.body.token })
    assert.equal(me.status, 200)
    assert.deepEqual(Object.keys(me.body).sort(), ['createdAt', 'email', 'id', 'name', 'verified'])
    assert.equal(me.body.id, r.body.user.id)
    // Only the token's hash is stored.
    const { rows } = await shop.resources.db.query(
      'SELECT encode(token_hash, $1) AS h FROM sessions WHERE user_id = $2',
      ['hex', me.body.id],
    )
    const hash = createHash('sha256').update(r.body.token).digest('hex')
    assert.deepEqual(
      rows.map((x) => x.h),
      [hash],
    )
  })

  it('registers, queues the verification e-mail in the same transaction, and verifies', async () => {
    const { email, password, id } = await register()
    const { db } = shop.resources
    const jobs = await db.query<{ kind: string; payload: { userId: number; token: string } }>(
      'SELECT kind, payload FROM jobs WHERE payload->>$1 = $2',
      ['email', email],
    )
    assert.equal(jobs.rows.length, 1)
    assert.equal(jobs.rows[0]!.kind, 'verify-email')
    assert.equal(jobs.rows[0]!.payload.userId, id)
    const token = jobs.rows[0]!.payload.token
    // The table keeps the token's hash, never the token.
    const v = await db.query('SELECT token_hash FROM email_verifications WHERE user_id = $1', [id])
    assert.deepEqual(v.rows[0]!.token_hash, createHash('sha256').update(token).digest())

    const session = await login(shop.base, email, password)
    const before = await send(shop.base, 'GET', '/auth/me', { token: session })
    assert.equal(before.body.verified, false) // now cached
    const ok = await send(shop.base, 'POST', '/auth/verify-email', { body: { token } })
    assert.equal(ok.status, 200, JSON.stringify(ok.body))
    assert.equal(ok.body.verified, true)
    const me = await send(shop.base, 'GET', '/auth/me', { token: session })
    assert.equal(me.body.verified, true, 'the cached profile was invalidated')

    for (const t of [token, 'x'.repeat(43), 'short']) {
      const again = await send(shop.base, 'POST', '/auth/verify-email', { body: { token: t } })
      assert.equal(again.status, 422, t)
      assert.equal(again.body.code, 'SHOP_ERR_INVALID_TOKEN')
    }
  })

  it('writes nothing when the registration transaction fails', async () => {
    const { db } = shop.resources
    // A real failure of the last statement (the outbox insert), after the user row.
    await db.query(
      "ALTER TABLE jobs ADD CONSTRAINT no_mail CHECK (kind <> 'verify-email') NOT VALID",
    )
    try {
      const r = await send(shop.base, 'POST', '/auth/register', {
        body: { email: 'doomed@example.org', password: 'a long secret', name: 'Doomed' },
      })
      assert.equal(r.status, 500)
      assert.equal(r.body.detail, undefined, 'no internals leak')
    } finally {
      await db.query('ALTER TABLE jobs DROP CONSTRAINT no_mail')
    }
    const users = await db.query("SELECT 1 FROM users WHERE email = 'doomed@example.org'")
    assert.equal(users.rows.length, 0)
    const orphans = await db.query(
      'SELECT 1 FROM email_verifications e LEFT JOIN users u ON u.id = e.user_id WHERE u.id IS NULL',
    )
    assert.equal(orphans.rows.length, 0)
    // And the address is still free.
    const again = await send(shop.base, 'POST', '/auth/register', {
      body: { email: 'doomed@example.org', password: 'a long secret', name: 'Doomed' },
    })
    assert.equal(again.status, 201)
  })

  it('refuses bad registrations with 400, 409, 413, 415 and 422, never 500', async () => {
    const body = { email: 'new@example.org', password: 'a long secret', name: 'New' }
    const cases: [unknown, number][] = [
      [{}, 400],
      [{ ...body, email: undefined }, 400],
      [{ ...body, password: undefined }, 400],
      [{ ...body, name: undefined }, 400],
      [{ ...body, email: 'not-an-email' }, 400],
      [{ ...body, email: { a: 1 } }, 400],
      [{ ...body, email: `${'a'.repeat(250)}@example.org` }, 400],
      [{ ...body, password: 'short' }, 400],
      [{ ...body, password: 'x'.repeat(129) }, 400],
      [{ ...body, password: { a: 'a long secret' } }, 400],
      [{ ...body, name: '   ' }, 400],
      [{ ...body, name: 'n'.repeat(101) }, 400],
      [[body], 400],
      [{ ...body, password: 'password1' }, 422],
      [{ ...body, password: 'zzzzzzzzzz' }, 422],
      [{ ...body, email: 'jonathan@example.org', password: 'jonathan-1987' }, 422],
      [{ ...body, email: 'USER1@Example.com' }, 409],
    ]
    for (const [b, status] of cases) {
      const r = await send(shop.base, 'POST', '/auth/register', { body: b })
      assert.equal(r.status, status, `${JSON.stringify(b).slice(0, 80)}: ${JSON.stringify(r.body)}`)
      assert.match(r.headers.get('content-type') ?? '', /^application\/problem\+json/)
    }
    const taken = await send(shop.base, 'POST', '/auth/register', {
      body: { ...body, email: 'user2@example.com' },
    })
    assert.equal(taken.body.code, 'SHOP_ERR_EMAIL_TAKEN')

    const raw = (raw: string, type?: string) =>
      send(shop.base, 'POST', '/auth/register', { raw, ...(type ? { type } : {}) })
    const malformed = await raw('{"email": "a@b.io", ')
    assert.equal(malformed.status, 400)
    assert.equal(malformed.body.code, 'HP_ERR_HTTP_INVALID_JSON')
    assert.equal((await raw('')).status, 400)
    const big = await raw(JSON.stringify({ ...body, name: 'x'.repeat(20_000) }))
    assert.equal(big.status, 413)
    assert.equal(big.body.code, 'HP_ERR_HTTP_BODY_TOO_LARGE')
    assert.equal((await raw('email=a', 'application/x-www-form-urlencoded')).status, 415)
  })

  it('answers an unknown e-mail and a wrong password alike: status, body and timing', async () => {
    const wrong: number[] = []
    const unknown: number[] = []
    let first: unknown
    for (let i = 2; i <= 5; i++) {
      for (const [email, times] of [
        [`user${i}@example.com`, wrong],
        [`nobody${i}@example.com`, unknown],
      ] as const) {
        const t = performance.now()
        const r = await send(shop.base, 'POST', '/auth/login', {
          body: { email, password: 'not the password' },
        })
        times.push(performance.now() - t)
        assert.equal(r.status, 401)
        assert.equal(r.headers.get('www-authenticate'), 'Bearer')
        first ??= r.body
        assert.deepEqual(r.body, first)
      }
    }
    assert.equal((first as { code: string }).code, 'SHOP_ERR_UNAUTHORIZED')
    const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1]!
    const [w, u] = [median(wrong), median(unknown)]
    // Without the dummy hash an unknown e-mail answers in ~1 ms against argon2's tens.
    assert.ok(
      u > w / 3 && u < w * 3,
      `wrong password ${w.toFixed(1)} ms, unknown ${u.toFixed(1)} ms`,
    )
  })

  it('refuses bad logins and bad tokens with 400 and 401', async () => {
    for (const b of [
      {},
      { email: 'user1@example.com' },
      { password: 'x' },
      { email: {}, password: 'x' },
    ]) {
      const r = await send(shop.base, 'POST', '/auth/login', { body: b })
      assert.equal(r.status, 400, JSON.stringify(b))
    }
    const malformed = await send(shop.base, 'POST', '/auth/login', { raw: '{"email":' })
    assert.equal(malformed.status, 400)

    const none = await send(shop.base, 'GET', '/auth/me')
    assert.equal(none.status, 401)
    assert.equal(none.headers.get('www-authenticate'), 'Bearer')
    for (const authorization of [
      'Bearer',
      'Bearer ',
      'Basic dXNlcjpwYXNz',
      `Bearer ${'A'.repeat(43)}`,
      'Bearer not/a+token',
      `Bearer ${'A'.repeat(200)}`,
    ]) {
      const res = await fetch(`${shop.base}/auth/me`, { headers: { authorization } })
      assert.equal(res.status, 401, authorization)
      assert.deepEqual(await res.json(), none.body)
    }
    assert.equal((await send(shop.base, 'POST', '/auth/logout')).status, 401)
    assert.equal(
      (await send(shop.base, 'PUT', '/users/profile', { body: { name: 'x' } })).status,
      401,
    )
  })

  it('rate-limits logins per account: 429 with Retry-After, other accounts unaffected', async () => {
    const { email, password } = await register()
    for (let i = 0; i < 5; i++) {
      const r = await send(shop.base, 'POST', '/auth/login', {
        body: { email, password: 'nope nope' },
      })
      assert.equal(r.status, 401, `attempt ${i + 1}`)
    }
    for (const p of ['nope nope', password]) {
      const r = await send(shop.base, 'POST', '/auth/login', {
        body: { email: email.toUpperCase(), password: p },
      })
      assert.equal(r.status, 429, 'the right password too, and the e-mail in any case')
      assert.ok(Number(r.headers.get('retry-after')) >= 1)
      assert.equal(r.body.code, 'HP_ERR_HTTP_RATE_LIMITED')
      assert.deepEqual(r.body['violated-policies'], ['login-account'])
    }
    const other = await register()
    await login(shop.base, other.email, other.password)
  })

  it('updates the profile and serves the change at once', async () => {
    const { email, password } = await register()
    const token = await login(shop.base, email, password)
    await send(shop.base, 'GET', '/auth/me', { token }) // cached
    const r = await send(shop.base, 'PUT', '/users/profile', {
      token,
      body: { name: '  Renamed  ' },
    })
    assert.equal(r.status, 200, JSON.stringify(r.body))
    assert.equal(r.body.name, 'Renamed')
    assert.equal((await send(shop.base, 'GET', '/auth/me', { token })).body.name, 'Renamed')
    for (const body of [
      {},
      { name: '' },
      { name: '   ' },
      { name: { x: 1 } },
      { name: 'n'.repeat(101) },
    ]) {
      const bad = await send(shop.base, 'PUT', '/users/profile', { token, body })
      assert.equal(bad.status, 400, JSON.stringify(body))
    }
  })

  it('logs out: the token stops working, here and on another instance at once', async () => {
    const b = await startInstance(shop, {
      loginLimits: { perIp: { limit: 3, window: '1m' }, perAccount: { limit: 5, window: '1m' } },
    })
    try {
      const { email, password } = await register()
      const token = await login(shop.base, email, password)
      const other = await login(shop.base, email, password)
      assert.equal((await send(b.base, 'GET', '/auth/me', { token })).status, 200)
      assert.equal((await send(b.base, 'GET', '/auth/me', { token })).status, 200)
      const key = CacheKeys.of('session', createHash('sha256').update(token).digest('hex'))
      assert.notEqual(await b.resources.cache.get(key), undefined, 'B holds the session')

      const out = await send(shop.base, 'POST', '/auth/logout', { token })
      assert.equal(out.status, 204)
      assert.equal((await send(b.base, 'GET', '/auth/me', { token })).status, 401, 'B at once')
      assert.equal((await send(shop.base, 'GET', '/auth/me', { token })).status, 401)
      assert.equal((await send(shop.base, 'POST', '/auth/logout', { token })).status, 401)
      // The user's other session lives on.
      assert.equal((await send(b.base, 'GET', '/auth/me', { token: other })).status, 200)

      // B allows 3 logins a minute per address (shared through Redis with A's counts).
      let limited: Awaited<ReturnType<typeof send>> | undefined
      for (let i = 0; i < 4 && limited === undefined; i++) {
        const r = await send(b.base, 'POST', '/auth/login', {
          body: { email: `spray${i}@example.org`, password: 'whatever1' },
        })
        if (r.status === 429) limited = r
        else assert.equal(r.status, 401)
      }
      assert.ok(limited, 'refused within 4 attempts')
      assert.deepEqual(limited.body['violated-policies'], ['login-ip'])
      assert.ok(Number(limited.headers.get('retry-after')) >= 1)
    } finally {
      await b.stop()
    }
  })

  it('documents the auth routes in the OpenAPI description', async () => {
    const doc = await send(shop.base, 'GET', '/docs/openapi.json')
    const paths = doc.body.paths
    for (const [p, m] of [
      ['/auth/register', 'post'],
      ['/auth/login', 'post'],
      ['/auth/me', 'get'],
      ['/auth/logout', 'post'],
      ['/auth/verify-email', 'post'],
      ['/users/profile', 'put'],
    ] as const)
      assert.ok(paths[p]?.[m], `${m} ${p}`)
    assert.ok(paths['/auth/register'].post.requestBody.content['application/json'].schema)
    assert.deepEqual(paths['/auth/me'].get.security, [{ bearer: [] }])
    assert.equal(paths['/auth/login'].post.security, undefined)
  })
})
