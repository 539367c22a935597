/**
 * Whether an `If-None-Match` header names `etag`, by weak comparison as RFC
 * 9110 asks for it (compression weakens an ETag); `*` matches any.
 */
export function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (ifNoneMatch === undefined) return false
  if (ifNoneMatch === etag) return true
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag
  for (const part of ifNoneMatch.split(',')) {
    let t = part.trim()
    if (t === '*') return true
    if (t.startsWith('W/')) t = t.slice(2)
    if (t === bare) return true
  }
  return false
}
