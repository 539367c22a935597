/**
 * `Accept-Encoding` negotiation (RFC 9110 §12.5.3): q-values, `*`,
 * `identity`, and the server's order of preference to break ties.
 */

/** The content codings hotpath can produce. */
export type Encoding = 'br' | 'zstd' | 'gzip' | 'deflate'

/** Header values seen per negotiator before its memo is reset (bounds memory against junk headers). */
const MEMO_MAX = 512

/**
 * Parses `Accept-Encoding` into coding → q. Invalid entries (bad q) are
 * ignored; a coding listed twice keeps its first q. `x-gzip` is `gzip`.
 */
export function parseAcceptEncoding(header: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const part of header.split(',')) {
    const semi = part.indexOf(';')
    let coding = (semi < 0 ? part : part.slice(0, semi)).trim().toLowerCase()
    if (coding === '') continue
    if (coding === 'x-gzip') coding = 'gzip'
    let q = 1
    if (semi >= 0) {
      for (const param of part.slice(semi + 1).split(';')) {
        const eq = param.indexOf('=')
        if (eq < 0 || param.slice(0, eq).trim().toLowerCase() !== 'q') continue
        const text = param.slice(eq + 1).trim()
        q = /^[0-9.]+$/.test(text) ? Number(text) : Number.NaN
      }
      if (!(q >= 0 && q <= 1)) continue
    }
    if (!out.has(coding)) out.set(coding, q)
  }
  return out
}

/**
 * Picks the coding to send: the highest q among `offered` (in the server's
 * order, which breaks ties), or `null` for identity. Identity wins when the
 * client ranks it strictly above every offered coding; when identity is
 * refused and nothing else is acceptable, `null` is returned all the same
 * (an unencoded body beats a 406 for every client we know).
 *
 * No header means identity: RFC 9110 allows any coding then, but clients
 * that send none are the ones least likely to decode one.
 */
export function negotiateEncoding(
  header: string | undefined,
  offered: readonly Encoding[],
): Encoding | null {
  if (header === undefined || header === '') return null
  const accepted = parseAcceptEncoding(header)
  const star = accepted.get('*')
  let best: Encoding | null = null
  let bestQ = 0
  for (const coding of offered) {
    const q = accepted.get(coding) ?? star ?? 0
    if (q > bestQ) {
      best = coding
      bestQ = q
    }
  }
  if (best === null) return null
  // Identity counts only when the client named it (or `*`); left implicit it is the last resort.
  const identityQ = accepted.get('identity') ?? star ?? 0
  return identityQ > bestQ ? null : best
}

/**
 * A negotiator for one ordered list of codings, memoized by header value:
 * real traffic carries a handful of distinct `Accept-Encoding` strings, so
 * the hot path is one Map lookup.
 */
export class Negotiator {
  readonly offered: readonly Encoding[]
  readonly #memo = new Map<string, Encoding | null>()

  constructor(offered: readonly Encoding[]) {
    this.offered = offered
  }

  negotiate(header: string | undefined): Encoding | null {
    if (header === undefined || header === '' || this.offered.length === 0) return null
    const hit = this.#memo.get(header)
    if (hit !== undefined) return hit
    const chosen = negotiateEncoding(header, this.offered)
    if (this.#memo.size >= MEMO_MAX) this.#memo.clear()
    this.#memo.set(header, chosen)
    return chosen
  }
}

// ---- representation headers that follow from negotiation -------------------

/** The `Vary` value with `Accept-Encoding` added, or null when it is already covered. */
export function varyWithAcceptEncoding(current: unknown): string | null {
  if (current == null || current === '') return 'Accept-Encoding'
  const text = Array.isArray(current) ? current.join(', ') : String(current)
  for (const token of text.split(',')) {
    const t = token.trim().toLowerCase()
    if (t === '*' || t === 'accept-encoding') return null
  }
  return `${text}, Accept-Encoding`
}

/** A strong ETag made weak (the encoded bytes differ from what it named), or null if there is nothing to change. */
export function weakenEtag(etag: unknown): string | null {
  return typeof etag === 'string' && etag.startsWith('"') ? `W/${etag}` : null
}
