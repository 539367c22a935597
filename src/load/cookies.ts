/**
 * A VU's cookie jar: what a browser keeps for the sites a journey visits,
 * reduced to what sessions need (name, value, host, path, expiry). Load
 * tests talk to one or two origins; a full RFC 6265 jar would cost more per
 * request than it gives here.
 */
interface Cookie {
  value: string
  path: string
  /** Epoch ms; Infinity for a session cookie. */
  expires: number
}

export class CookieJar {
  // host → name → cookie
  #hosts = new Map<string, Map<string, Cookie>>()

  /** Stores the `Set-Cookie` headers of a response from `url`. */
  store(url: URL, header: string | readonly string[] | undefined): void {
    if (header === undefined) return
    for (const line of typeof header === 'string' ? [header] : header) this.#storeOne(url, line)
  }

  #storeOne(url: URL, line: string): void {
    const [pair = '', ...attrs] = line.split(';')
    const eq = pair.indexOf('=')
    if (eq <= 0) return
    const name = pair.slice(0, eq).trim()
    const value = pair.slice(eq + 1).trim()
    let path = '/'
    let expires = Number.POSITIVE_INFINITY
    for (const attr of attrs) {
      const at = attr.indexOf('=')
      const key = (at < 0 ? attr : attr.slice(0, at)).trim().toLowerCase()
      const v = at < 0 ? '' : attr.slice(at + 1).trim()
      if (key === 'path' && v.startsWith('/')) path = v
      else if (key === 'max-age' && /^-?\d+$/.test(v)) expires = Date.now() + Number(v) * 1000
      else if (key === 'expires' && expires === Number.POSITIVE_INFINITY) {
        const t = Date.parse(v)
        if (!Number.isNaN(t)) expires = t
      }
    }
    let jar = this.#hosts.get(url.hostname)
    if (jar === undefined) {
      jar = new Map()
      this.#hosts.set(url.hostname, jar)
    }
    if (expires <= Date.now()) jar.delete(name)
    else jar.set(name, { value, path, expires })
  }

  /** Nothing stored yet (requests can skip the lookup). */
  get empty(): boolean {
    return this.#hosts.size === 0
  }

  /** The `Cookie` header for a request to `url`, or undefined when none apply. */
  header(url: URL): string | undefined {
    const jar = this.#hosts.get(url.hostname)
    if (jar === undefined || jar.size === 0) return undefined
    const now = Date.now()
    let out = ''
    for (const [name, c] of jar) {
      if (c.expires <= now) {
        jar.delete(name)
        continue
      }
      if (!url.pathname.startsWith(c.path)) continue
      out += `${out === '' ? '' : '; '}${name}=${c.value}`
    }
    return out === '' ? undefined : out
  }

  /** A cookie's value for `host`, as a journey checks it. */
  get(host: string, name: string): string | undefined {
    return this.#hosts.get(host)?.get(name)?.value
  }

  set(host: string, name: string, value: string, path = '/'): void {
    this.#storeOne(new URL(`http://${host}${path}`), `${name}=${value}; Path=${path}`)
  }

  clear(): void {
    this.#hosts.clear()
  }
}
