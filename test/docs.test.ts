import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { cacheDefaults } from 'hotpath/cache'
import { dbDefaults } from 'hotpath/db'
import { errorCodes } from 'hotpath/errors'

const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')

function rows(heading: string, after = ''): Map<string, string[]> {
  const needle = heading.startsWith('## ') ? `\n${heading}\n` : heading
  const found = readme.indexOf(needle, after ? readme.indexOf(after) : 0)
  const start = needle.startsWith('\n') && found >= 0 ? found + 1 : found
  assert.ok(start >= 0, `README has ${heading}`)
  const table = new Map<string, string[]>()
  for (const line of readme.slice(start).split('\n').slice(1)) {
    if (line.startsWith('#')) break
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|$/.exec(line)
    if (m)
      table.set(
        m[1]!,
        m[2]!.split('|').map((c) => c.trim()),
      )
  }
  return table
}

function human(ms: number): string {
  if (ms % 3_600_000 === 0 && ms >= 3_600_000 * 24) return `${ms / 3_600_000}h`
  if (ms % 1000 === 0) return `${ms / 1000}s`
  return `${ms}ms`
}

describe('README stays in step with the code', () => {
  it('lists every error code with its status', () => {
    const table = rows('## Errors')
    for (const [code, def] of Object.entries(errorCodes)) {
      assert.ok(table.has(code), `${code} is documented`)
      assert.equal(table.get(code)![0], String(def.status), `${code} status`)
    }
    assert.equal(table.size, Object.keys(errorCodes).length, 'no undocumented or stale codes')
  })

  it('gives every cache option its default', () => {
    const table = rows('### Options')
    const d = cacheDefaults
    const expect: Record<string, string> = {
      namespace: `'${d.namespace}'`,
      'l1.maxBytes': `${d.l1.maxBytes / 1024 / 1024} MiB`,
      'l1.maxItems': String(d.l1.maxItems),
      'l1.maxTtl': human(d.l1.maxTtl),
      'l1.freeze': String(d.l1.freeze),
      'l2.commandTimeout': human(d.l2.commandTimeout),
      'l2.breakerThreshold': String(d.l2.breakerThreshold),
      'l2.breakerDuration': human(d.l2.breakerDuration),
      'l2.scanBatch': String(d.l2.scanBatch),
      tiers: `{ hot: ${human(d.tiers.hot)}, warm: ${human(d.tiers.warm)}, cold: ${human(d.tiers.cold)} }`,
      defaultTtl: `'${d.defaultTtl}'`,
      grace: d.grace === 0 ? 'false' : human(d.grace),
      'lock.enabled': String(d.lock.enabled),
      'lock.ttl': human(d.lock.ttl),
      'lock.wait': human(d.lock.wait),
      maxKeyLength: String(d.maxKeyLength),
    }
    for (const [name, value] of Object.entries(expect)) {
      assert.ok(table.has(name), `option ${name} is documented`)
      assert.equal(table.get(name)![0], `\`${value}\``, `default of ${name}`)
    }
    assert.match(
      table.get('hotKeys')![1]!,
      new RegExp(`capacity: ${d.hotKeys.capacity}, halfLife: '${human(d.hotKeys.halfLife)}'`),
    )
  })

  it('gives every db option its default', () => {
    const table = rows('### Options', '## The data layer')
    const d = dbDefaults
    const expect: Record<string, string> = {
      'pool.max': String(d.pool.max),
      'pool.min': String(d.pool.min),
      'pool.idleTimeoutMs': String(d.pool.idleTimeoutMs),
      'pool.connectTimeoutMs': String(d.pool.connectTimeoutMs),
      statementTimeoutMs: String(d.statementTimeoutMs),
      slowQueryMs: String(d.slowQueryMs),
      nPlusOne: `{ threshold: ${d.nPlusOneThreshold} }`,
      preparedStatements: `'${d.preparedStatements}'`,
      replicaRetryMs: String(d.replicaRetryMs),
      transactionRetries: String(d.transactionRetries),
      embeddedDir: d.embeddedDir,
      applicationName: `'${d.applicationName}'`,
    }
    for (const [name, value] of Object.entries(expect)) {
      assert.ok(table.has(name), `db option ${name} is documented`)
      assert.ok(
        table.get(name)![0]!.startsWith(`\`${value}\``),
        `default of ${name}: ${table.get(name)![0]}`,
      )
    }
  })
})
