import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import * as guide from 'hotpath/guide'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')
const start = readme.indexOf('\n## Coming from the guide (`hotpath/guide`)\n')
// Up to the next top-level section, whatever it is.
const section = readme.slice(start, readme.indexOf('\n## ', start + 1))

/** The value column of the `cacheConfig` table, by key. */
function configRows(): Map<string, string> {
  const rows = new Map<string, string>()
  for (const line of section
    .slice(section.search(/^\| `cacheConfig` +\| value/m))
    .split('\n')
    .slice(2)) {
    const m = /^\|\s*`([^`]+)`\s*\|\s*`([^`]+)`/.exec(line)
    if (m === null) break
    rows.set(m[1]!, m[2]!)
  }
  return rows
}

const literal = (o: object) =>
  `{ ${Object.entries(o)
    .map(([k, v]) => `${k}: ${typeof v === 'string' ? `'${v}'` : v}`)
    .join(', ')} }`

describe('README: coming from the guide', () => {
  it('comes after Metrics, and names only calls that exist', () => {
    assert.ok(start > readme.indexOf('\n## Metrics (`hotpath/metrics`)\n'))
    const calls = [...section.matchAll(/^\| `(\w+)(?:\.(\w+))?\(/gm)].map((m) => [m[1]!, m[2]])
    assert.ok(calls.length >= 25)
    for (const [name, method] of calls) {
      const value = (guide as Record<string, unknown>)[name!]
      assert.ok(value !== undefined, `hotpath/guide exports ${name}`)
      if (method !== undefined) {
        assert.equal(
          typeof (value as Record<string, unknown>)[method],
          'function',
          `${name}.${method}`,
        )
      }
    }
  })

  it('gives cacheConfig as the code has it', () => {
    const rows = configRows()
    const c = guide.cacheConfig
    assert.equal(rows.get('namespace'), `'${c.namespace}'`)
    assert.equal(rows.get('ttl'), literal(c.ttl))
    assert.equal(rows.get('l2'), literal(c.l2))
    assert.equal(rows.get('invalidation'), literal(c.invalidation))
    assert.equal(rows.get('defaultTtl'), String(c.defaultTtl))
    assert.equal(
      rows.get('l1'),
      `{ maxSize: ${c.l1.maxSize}, maxBytes: ${c.l1.maxBytes / 1024 / 1024} MiB, ttl: ${c.l1.ttl} }`,
    )
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.invalidation))
  })
})
