/**
 * One cached value with its clocks. `expiresAt` ends freshness; `staleUntil`
 * ends the grace window (equal to `expiresAt` without grace). In L2 the
 * entry is a one-line JSON header, a newline, then the serialized value.
 */
export class Entry {
  value: unknown
  expiresAt: number
  staleUntil: number
  /** When L1 must drop it (L1 TTL cap); unused in L2. */
  l1Until: number
  tags: readonly string[] | null
  /** Tag versions read before the value was computed: a later invalidation makes them stale. */
  versions: readonly number[] | null
  size: number

  constructor(
    value: unknown,
    expiresAt: number,
    staleUntil: number,
    tags: readonly string[] | null,
    versions: readonly number[] | null,
    size: number,
  ) {
    this.value = value
    this.expiresAt = expiresAt
    this.staleUntil = staleUntil
    this.l1Until = staleUntil
    this.tags = tags
    this.versions = versions
    this.size = size
  }
}

const NL = 10

export function encodeEntry(
  payload: string | Uint8Array,
  expiresAt: number,
  staleUntil: number,
  tags: readonly string[] | null,
  versions: readonly number[] | null,
): string | Buffer {
  const header =
    tags === null
      ? `[${expiresAt},${staleUntil}]\n`
      : `[${expiresAt},${staleUntil},${JSON.stringify(tags)},${JSON.stringify(versions)}]\n`
  if (typeof payload === 'string') return header + payload
  return Buffer.concat([Buffer.from(header), payload])
}

export interface DecodedEntry {
  expiresAt: number
  staleUntil: number
  tags: readonly string[] | null
  versions: readonly number[] | null
  payload: string | Uint8Array
}

/** Returns null for anything that is not an entry of ours (a foreign or truncated value). */
export function decodeEntry(raw: string | Buffer): DecodedEntry | null {
  const nl = typeof raw === 'string' ? raw.indexOf('\n') : raw.indexOf(NL)
  if (nl <= 0) return null
  try {
    const headerText = typeof raw === 'string' ? raw.slice(0, nl) : raw.toString('utf8', 0, nl)
    // Untagged entries (`[expiresAt,staleUntil]`) skip JSON.parse: this is the L2 hit path.
    const comma = headerText.indexOf(',')
    if (headerText.charCodeAt(0) === 91 && comma > 0 && headerText.indexOf(',', comma + 1) === -1) {
      const expiresAt = Number(headerText.slice(1, comma))
      const staleUntil = Number(headerText.slice(comma + 1, -1))
      if (!Number.isFinite(expiresAt) || !Number.isFinite(staleUntil) || headerText.at(-1) !== ']')
        return null
      const payload = typeof raw === 'string' ? raw.slice(nl + 1) : raw.subarray(nl + 1)
      return { expiresAt, staleUntil, tags: null, versions: null, payload }
    }
    const h = JSON.parse(headerText) as unknown[]
    if (!Array.isArray(h) || typeof h[0] !== 'number' || typeof h[1] !== 'number') return null
    return {
      expiresAt: h[0],
      staleUntil: h[1],
      tags: (h[2] as string[] | undefined) ?? null,
      versions: (h[3] as number[] | undefined) ?? null,
      payload: typeof raw === 'string' ? raw.slice(nl + 1) : raw.subarray(nl + 1),
    }
  } catch {
    return null
  }
}
