import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import { errorCodes } from 'hotpath/errors'
import { paginationDefaults } from 'hotpath/pagination'

const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8')

/** The first table under `heading`, by the backquoted name in its first column. */
function rows(heading: string): Map<string, string[]> {
  const start = readme.indexOf(`\n${heading}\n`)
  assert.ok(start >= 0, `README has ${heading}`)
  const lines = readme.slice(start + heading.length + 2).split('\n')
  const first = lines.findIndex((l) => l.startsWith('|'))
  const table = new Map<string, string[]>()
  for (const line of lines.slice(first)) {
    if (!line.startsWith('|')) break
    const m = /^\|\s*`([^`]+)`\s*\|(.*)\|$/.exec(line)
    if (m)
      table.set(
        m[1]!,
        m[2]!.split('|').map((c) => c.trim()),
      )
  }
  return table
}

describe('README stays in step with hotpath/pagination', () => {
  it('lists every pagination error code with its status', () => {
    const table = rows('## Errors')
    const codes = Object.entries(errorCodes).filter(([code]) =>
      code.startsWith('HP_ERR_PAGINATION_'),
    )
    assert.ok(codes.length >= 5)
    for (const [code, def] of codes) {
      assert.ok(table.has(code), `${code} is documented`)
      assert.equal(table.get(code)![0], String(def.status), `${code} status`)
    }
  })

  it('gives every option its default, as in paginationDefaults', () => {
    const table = rows('### Keyset options')
    const d = paginationDefaults
    const expect: Record<string, string> = {
      table: 'required',
      secret: 'required',
      columns: 'all (`*`)',
      allowedSorts: 'none',
      primaryKey: `\`'${d.primaryKey}'\``,
      primaryKeyOrder: `\`'${d.primaryKeyOrder}'\``,
      defaultSort: "`[primaryKey, 'asc']`",
      where: 'none',
      defaultLimit: `\`${d.defaultLimit}\``,
      maxLimit: `\`${d.maxLimit}\``,
      name: 'none',
      maxDepth: `\`${d.maxDepth}\``,
    }
    for (const [name, value] of Object.entries(expect)) {
      assert.ok(table.has(name), `option ${name} is documented`)
      assert.equal(table.get(name)![0], value, `default of ${name}`)
    }
    assert.equal(table.size, Object.keys(expect).length, 'no undocumented or stale options')
    assert.match(table.get('secret')![1]!, new RegExp(`at least ${d.secretBytes} bytes`))
  })
})
