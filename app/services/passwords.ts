// Password hashing: argon2id in the PHC string format
// `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (base64, no padding), the
// format and parameters of the seed's precomputed hash, so seeded users log
// in with "password".
//
// Node's built-in `crypto.argon2` (Node ≥ 24.7) is used rather than
// @node-rs/argon2: that package ships its native code as per-platform
// optional dependencies, which break `npm ci` on registries that lack one of
// them, while the built-in needs nothing installed and runs on libuv's pool.
import { argon2, randomBytes, timingSafeEqual } from 'node:crypto'

/** OWASP's argon2id minimum (19 MiB, 2 passes, 1 lane); a hash records its own. */
const PARAMS = Object.freeze({ m: 19_456, t: 2, p: 1 })
const SALT_BYTES = 16
const HASH_BYTES = 32
const PHC =
  /^\$argon2id\$v=19\$m=(\d{1,7}),t=(\d{1,3}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/

const b64 = (b: Buffer): string => b.toString('base64').replace(/=+$/, '')

function derive(password: string, salt: Buffer, m: number, t: number, p: number, bytes: number) {
  return new Promise<Buffer>((resolve, reject) => {
    argon2(
      'argon2id',
      { message: password, nonce: salt, memory: m, passes: t, parallelism: p, tagLength: bytes },
      (err, key) => (err ? reject(err) : resolve(key)),
    )
  })
}

/** A new PHC string for `password`, with a random salt. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES)
  const { m, t, p } = PARAMS
  const hash = await derive(password, salt, m, t, p, HASH_BYTES)
  return `$argon2id$v=19$m=${m},t=${t},p=${p}$${b64(salt)}$${b64(hash)}`
}

/**
 * Whether `password` matches the PHC string `phc`, compared in constant time.
 * A string that is not an argon2id PHC string never matches.
 */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const m = PHC.exec(phc)
  if (m === null) return false
  const expected = Buffer.from(m[5]!, 'base64')
  const salt = Buffer.from(m[4]!, 'base64')
  if (expected.length < 16 || salt.length < 8) return false
  const actual = await derive(
    password,
    salt,
    Number(m[1]),
    Number(m[2]),
    Number(m[3]),
    expected.length,
  )
  return timingSafeEqual(actual, expected)
}
