import type { IncomingMessage } from 'node:http'
import { isIP } from 'node:net'

/**
 * Which address is the client: the socket's peer unless proxies are trusted.
 * `true` trusts every hop (the leftmost X-Forwarded-For address, which any
 * client can forge unless your proxy overwrites the header); a number `n`
 * trusts the `n` proxies in front of the app (the `n`-th address from the
 * right, the one the outermost trusted proxy saw).
 */
export type TrustProxy = boolean | number

/**
 * The rate-limit key of a request's client address. IPv6 clients are keyed
 * by their subnet (`v6Bits`, 64 by default: one customer usually holds a
 * whole /64, so keying single addresses lets one client rotate through 2^64
 * of them). An X-Forwarded-For entry that is not an IP address is ignored.
 */
export function clientAddress(
  req: IncomingMessage,
  trustProxy: TrustProxy,
  v6Bits: number,
): string {
  let addr = req.socket.remoteAddress ?? ''
  if (trustProxy !== false) {
    const xff = req.headers['x-forwarded-for']
    if (typeof xff === 'string' && xff.length > 0) {
      const hop = pickHop(xff, trustProxy)
      if (hop !== '' && isIP(hop) !== 0) addr = hop
    }
  }
  // The fast path: a plain IPv4 peer is its own key, no allocation.
  if (addr.indexOf(':') < 0) return addr === '' ? 'unknown' : addr
  if (addr.startsWith('::ffff:') && addr.indexOf('.') > 0) return addr.slice(7)
  return v6Bits >= 128 ? addr : ipv6Prefix(addr, v6Bits)
}

function pickHop(xff: string, trust: true | number): string {
  if (trust === true || xff.indexOf(',') < 0) {
    const comma = xff.indexOf(',')
    return (comma < 0 ? xff : xff.slice(0, comma)).trim()
  }
  const hops = xff.split(',')
  return (hops[Math.max(0, hops.length - trust)] ?? '').trim()
}

/** `2001:db8:1:2:3:4:5:6` → `2001:db8:1:2::/64`. */
export function ipv6Prefix(addr: string, bits: number): string {
  const zone = addr.indexOf('%')
  const a = zone < 0 ? addr : addr.slice(0, zone)
  const groups = new Array<number>(8).fill(0)
  const gap = a.indexOf('::')
  const head = gap < 0 ? a : a.slice(0, gap)
  const tail = gap < 0 ? '' : a.slice(gap + 2)
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const last = t.length > 0 ? t : h
  // An embedded IPv4 tail (64:ff9b::1.2.3.4) is two groups.
  const v4 = last[last.length - 1]
  if (v4?.includes('.')) {
    const o = v4.split('.').map(Number)
    last.splice(last.length - 1, 1, (((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16))
    last.push((((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16))
  }
  for (let i = 0; i < h.length && i < 8; i++) groups[i] = Number.parseInt(h[i]!, 16) || 0
  for (let i = 0; i < t.length && i < 8; i++)
    groups[8 - t.length + i] = Number.parseInt(t[i]!, 16) || 0
  const n = Math.ceil(bits / 16)
  let out = ''
  for (let i = 0; i < n; i++) {
    const keep = Math.min(16, bits - 16 * i)
    const g = groups[i]! & ((0xffff << (16 - keep)) & 0xffff)
    out += i === 0 ? g.toString(16) : `:${g.toString(16)}`
  }
  return `${out}${n < 8 ? '::' : ''}/${bits}`
}
