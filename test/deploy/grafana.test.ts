import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { parse, stringify } from 'yaml'
import { get, send, startShop, type TestShop } from '../app/shop.ts'
import { unless } from '../helpers/services.ts'

// deploy/grafana/dashboards/hotpath.json: a dashboard Grafana can load, whose
// every query reads metrics the shop really exports (a live scrape of its
// /metrics), the SLO recording rules, or `up`. A renamed metric or label
// otherwise leaves an empty panel that nobody notices until an incident.

interface Ref {
  type?: string
  uid?: string
}
interface Target {
  refId?: string
  expr?: string
  datasource?: Ref
}
interface Panel {
  id?: number
  type?: string
  title?: string
  description?: string
  datasource?: Ref
  gridPos?: { x: number; y: number; w: number; h: number }
  targets?: Target[]
  panels?: Panel[]
}
interface Variable {
  name: string
  type: string
  query?: string | { query?: string }
  datasource?: Ref
  multi?: boolean
}
interface Dashboard {
  uid?: string
  title?: string
  schemaVersion?: number
  panels?: Panel[]
  templating?: { list?: Variable[] }
}

const dashboard = JSON.parse(
  readFileSync('deploy/grafana/dashboards/hotpath.json', 'utf8'),
) as Dashboard
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax, not a template
const DS: Ref = { type: 'prometheus', uid: '${datasource}' }

/** Every non-row panel, rows' own (collapsed) panels included. */
const panels: Panel[] = (dashboard.panels ?? []).flatMap((p) =>
  p.type === 'row' ? (p.panels ?? []) : [p],
)
const exprs: string[] = panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr ?? ''))
const variables: Variable[] = dashboard.templating?.list ?? []
const queryVariables = variables.filter((v) => v.type === 'query')
const variableQueries: string[] = queryVariables.map((v) =>
  typeof v.query === 'string' ? v.query : (v.query?.query ?? ''),
)

/** `label_values(selector, label)`, the only variable query the dashboard uses. */
function labelValues(query: string): { selector: string; label: string } {
  const m = /^label_values\((.+),\s*(\w+)\)$/.exec(query)
  assert.ok(m !== null, `not label_values(selector, label): ${query}`)
  return { selector: m[1]!, label: m[2]! }
}

/** Identifiers that are PromQL operators or keywords, never metric names. */
const KEYWORDS = new Set([
  'and',
  'or',
  'unless',
  'bool',
  'offset',
  'by',
  'without',
  'on',
  'ignoring',
  'group_left',
  'group_right',
  'atan2',
  'inf',
  'nan',
])

const STRINGS = /"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g
const GROUPING = /\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g

/**
 * The metric names a PromQL expression reads: identifiers left once strings,
 * label matchers, ranges and label lists are gone, minus function calls
 * (an identifier followed by `(`) and keywords.
 */
function metricNames(expr: string): Set<string> {
  const s = expr
    .replace(STRINGS, '""')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(GROUPING, ' ')
    .replace(/\$\{?\w+\}?/g, ' ')
  const names = new Set<string>()
  for (const m of s.matchAll(/(?<![\w.:$])[A-Za-z_:][\w:]*/g)) {
    const rest = s.slice(m.index + m[0].length).trimStart()
    if (rest.startsWith('(') || KEYWORDS.has(m[0].toLowerCase())) continue
    names.add(m[0])
  }
  return names
}

/** Label names in `by (…)`/`without (…)`/`on (…)` lists. */
function groupingLabels(expr: string): string[] {
  const out: string[] = []
  for (const m of expr.replace(STRINGS, '""').matchAll(GROUPING))
    for (const l of m[1]!.split(',')) if (l.trim() !== '') out.push(l.trim())
  return out
}

interface Matcher {
  metric: string
  label: string
  op: string
  value: string
}

/** The matchers of every `metric{…}` selector. */
function matchers(expr: string): Matcher[] {
  const out: Matcher[] = []
  for (const sel of expr.matchAll(/([A-Za-z_:][\w:]*)\s*\{([^}]*)\}/g))
    for (const m of sel[2]!.matchAll(/([A-Za-z_]\w*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g))
      out.push({ metric: sel[1]!, label: m[1]!, op: m[2]!, value: m[3]! })
  return out
}

/** Whether (), {} and [] nest properly, outside string literals. */
function balanced(expr: string): boolean {
  const close: Record<string, string> = { ')': '(', '}': '{', ']': '[' }
  const stack: string[] = []
  for (const c of expr.replace(STRINGS, '""')) {
    if (c === '(' || c === '{' || c === '[') stack.push(c)
    else if (c in close && stack.pop() !== close[c]) return false
  }
  return stack.length === 0
}

/** Sample names of a scrape, each with the values seen per label. */
function parseScrape(text: string): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>()
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})?\s/.exec(line)
    if (m === null) continue
    let labels = out.get(m[1]!)
    if (labels === undefined) {
      labels = new Map()
      out.set(m[1]!, labels)
    }
    for (const l of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      let values = labels.get(l[1]!)
      if (values === undefined) {
        values = new Set()
        labels.set(l[1]!, values)
      }
      values.add(l[2]!)
    }
  }
  return out
}

/** Names a scrape declares (`# TYPE`), a histogram's as its _bucket/_sum/_count series. */
function declaredNames(text: string): Set<string> {
  const out = new Set<string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
    if (m[2] === 'histogram' || m[2] === 'summary')
      for (const s of ['_bucket', '_sum', '_count']) out.add(m[1]! + s)
    else out.add(m[1]!)
  }
  return out
}

/** The SLO recording rules' names and their static labels (slo.yml is generated). */
function recordingRules(): Map<string, Set<string>> {
  const doc = parse(readFileSync('deploy/prometheus/rules/slo.yml', 'utf8')) as {
    groups: { rules: { record?: string; labels?: Record<string, string> }[] }[]
  }
  const out = new Map<string, Set<string>>()
  for (const g of doc.groups)
    for (const r of g.rules)
      if (r.record !== undefined) {
        const labels = out.get(r.record) ?? new Set<string>()
        for (const l of Object.keys(r.labels ?? {})) labels.add(l)
        out.set(r.record, labels)
      }
  return out
}

/** Labels Prometheus adds at scrape time: never in the service's own text. */
const TARGET_LABELS = new Set(['job', 'instance'])

/** Label values the queries name that a short test run cannot produce. */
const UNOBSERVED: Record<string, readonly string[]> = {
  // A failed statement: the shop's happy path makes none.
  ok: ['false'],
}

/** Metrics the dashboard reads that the test shop declares but has no series of. */
const WITHOUT_SERIES = new Set(['hotpath_db_replica_up']) // the test shop has no replica

describe('Grafana dashboard: deploy/grafana/dashboards/hotpath.json', () => {
  it('has a uid, a title, a prometheus datasource variable and the filter variables', () => {
    assert.equal(typeof dashboard.uid, 'string')
    assert.ok(dashboard.uid!.length > 0 && dashboard.uid!.length <= 40)
    assert.ok(typeof dashboard.title === 'string' && dashboard.title.length > 0)
    assert.ok((dashboard.schemaVersion ?? 0) >= 36, 'schemaVersion')
    const byName = new Map(variables.map((v) => [v.name, v]))
    const ds = byName.get('datasource')
    assert.equal(ds?.type, 'datasource')
    assert.equal(ds?.query, 'prometheus')
    const route = byName.get('route')
    assert.equal(route?.type, 'query')
    assert.equal(route?.multi, true)
    const q = labelValues(variableQueries[queryVariables.indexOf(route!)]!)
    assert.match(q.selector, /^http_request_duration_seconds_count\b/)
    assert.equal(q.label, 'route')
    for (const v of queryVariables) assert.deepEqual(v.datasource, DS, `variable ${v.name}`)
  })

  it('gives every panel a description, the datasource variable and queries with an expr', () => {
    assert.ok(panels.length >= 15, `${panels.length} panels`)
    const ids = new Set<number>()
    for (const p of panels) {
      const name = `panel "${p.title}"`
      assert.ok(typeof p.id === 'number' && !ids.has(p.id), `${name}: unique id`)
      ids.add(p.id)
      assert.ok(
        typeof p.description === 'string' && p.description.length > 20,
        `${name}: description`,
      )
      assert.deepEqual(p.datasource, DS, `${name}: datasource`)
      const g = p.gridPos
      assert.ok(g !== undefined && g.x >= 0 && g.w > 0 && g.x + g.w <= 24, `${name}: gridPos`)
      const targets = p.targets ?? []
      assert.ok(targets.length > 0, `${name}: targets`)
      assert.equal(new Set(targets.map((t) => t.refId)).size, targets.length, `${name}: refIds`)
      for (const t of targets) {
        assert.ok(typeof t.expr === 'string' && t.expr.trim() !== '', `${name}: expr`)
        if (t.datasource !== undefined) assert.deepEqual(t.datasource, DS, `${name}: target`)
      }
    }
  })

  it('writes balanced expressions that use only the variables it defines', () => {
    const defined = new Set(variables.map((v) => v.name))
    for (const e of [...exprs, ...variableQueries.map((q) => labelValues(q).selector)]) {
      assert.ok(balanced(e), `unbalanced: ${e}`)
      for (const m of e.matchAll(/\$\{?(\w+)/g))
        assert.ok(m[1]!.startsWith('__') || defined.has(m[1]!), `undefined $${m[1]} in ${e}`)
      assert.ok(metricNames(e).size > 0, `no metric in ${e}`)
    }
  })

  it('writes expressions promtool parses (each checked as a recording rule)', () => {
    // Grafana's variables as Prometheus would receive them: intervals, and "All" as a regex.
    const concrete = (e: string) => e.replace(/\$\{?__\w+\}?/g, '5m').replace(/\$\{?\w+\}?/g, '.*')
    const rules = panels.flatMap((p) =>
      (p.targets ?? []).map((t) => ({
        record: `dashboard:panel_${p.id}:${t.refId}`,
        expr: concrete(t.expr ?? ''),
      })),
    )
    const selectors = variableQueries.map((q, i) => ({
      record: `dashboard:variable_${i}`,
      expr: concrete(labelValues(q).selector),
    }))
    const dir = mkdtempSync(join(tmpdir(), 'hp-grafana-'))
    try {
      const file = join(dir, 'dashboard.yml')
      writeFileSync(
        file,
        stringify({ groups: [{ name: 'dashboard', rules: [...rules, ...selectors] }] }),
      )
      const r = spawnSync('promtool', ['check', 'rules', '--lint=none', file], { encoding: 'utf8' })
      assert.equal(r.status, 0, r.stdout + r.stderr)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('reads metric names out of PromQL', () => {
    const names = (e: string) => [...metricNames(e)].sort()
    assert.deepEqual(
      names(
        'histogram_quantile(0.95, sum by (le, route) (rate(x_bucket{route=~"$route", a="b(c"}[$__rate_interval])))',
      ),
      ['x_bucket'],
    )
    assert.deepEqual(
      names('(sum(rate(a_total[5m] offset 1h)) or vector(0)) / on (job) group_left (z) b'),
      ['a_total', 'b'],
    )
    assert.deepEqual(names('slo:x:p95_rate300s{slo="api"} > 1e3 and bool up'), [
      'slo:x:p95_rate300s',
      'up',
    ])
    assert.deepEqual(names('sum without (le) (c) * 2'), ['c'])
    assert.deepEqual(groupingLabels('sum by (le, route) (x) / on(job) y'), ['le', 'route', 'job'])
    assert.equal(balanced('sum(x{a="}"})'), true)
    assert.equal(balanced('sum(x{a="b"}[5m)'), false)
  })
})

const skip = (await unless('postgres')) || (await unless('redis'))

describe('Grafana dashboard against the shop’s /metrics (PostgreSQL + Redis)', { skip }, () => {
  let shop: TestShop
  let series: Map<string, Map<string, Set<string>>>
  let declared: Set<string>
  const rules = recordingRules()
  const variableSelectors = variableQueries.map((q) => labelValues(q).selector)

  before(async () => {
    shop = await startShop({ products: 40, users: 3, orders: 3 })
    const list = await get(shop.base, '/api/products?limit=5')
    assert.equal(list.status, 200)
    const id = list.body.data[0]!.id
    for (let i = 0; i < 2; i++) {
      // Twice: the second read is a cache hit.
      assert.equal((await get(shop.base, `/api/products/${id}`)).status, 200)
      assert.equal((await get(shop.base, '/api/products/search?q=a&limit=5')).status, 200)
    }
    const login = await send(shop.base, 'POST', '/auth/login', {
      body: { email: 'nobody@example.com', password: 'wrong-password' },
    })
    assert.equal(login.status, 401)
    // Short-lived garbage, so the GC histogram has observed at least one collection.
    for (let i = 0; i < 200; i++) new Array(100_000).fill(i)
    const res = await fetch(`${shop.base}/metrics`)
    assert.equal(res.status, 200)
    const text = await res.text()
    series = parseScrape(text)
    declared = declaredNames(text)
  })
  after(async () => {
    await shop?.stop()
  })

  it('reads only metrics the service exports, the SLO recording rules, or up', () => {
    assert.ok(rules.size > 0, 'slo.yml has recording rules')
    const missing: string[] = []
    for (const e of [...exprs, ...variableSelectors])
      for (const name of metricNames(e))
        if (!series.has(name) && !rules.has(name) && name !== 'up') {
          if (!(WITHOUT_SERIES.has(name) && declared.has(name))) missing.push(`${name} (in ${e})`)
        }
    assert.deepEqual(missing, [])
  })

  it('uses label names and values that those metrics carry', () => {
    const problems: string[] = []
    const labelsOf = (metric: string): Set<string> | undefined => {
      const rule = rules.get(metric)
      if (rule !== undefined) return rule
      const s = series.get(metric)
      return s === undefined ? undefined : new Set(s.keys())
    }
    for (const e of [...exprs, ...variableSelectors]) {
      for (const m of matchers(e)) {
        if (TARGET_LABELS.has(m.label) || WITHOUT_SERIES.has(m.metric)) continue
        const labels = labelsOf(m.metric)
        if (labels === undefined || !labels.has(m.label)) {
          problems.push(`${m.metric} has no label ${m.label}: ${e}`)
          continue
        }
        const seen = series.get(m.metric)?.get(m.label)
        if (m.op === '=' && seen !== undefined && !seen.has(m.value))
          if (!UNOBSERVED[m.label]?.includes(m.value))
            problems.push(`${m.metric}{${m.label}="${m.value}"} never seen: ${e}`)
      }
      // A grouping label must be on some metric the expression reads.
      const used = [...metricNames(e)]
      for (const l of groupingLabels(e)) {
        if (TARGET_LABELS.has(l)) continue
        if (!used.some((n) => WITHOUT_SERIES.has(n) || labelsOf(n)?.has(l)))
          problems.push(`no metric of "${e}" has label ${l}`)
      }
    }
    // label_values(selector, label): the label must be on the selected metric.
    for (const q of variableQueries) {
      const { selector, label } = labelValues(q)
      if (TARGET_LABELS.has(label)) continue
      if (![...metricNames(selector)].every((n) => labelsOf(n)?.has(label)))
        problems.push(`${selector} has no label ${label}`)
    }
    assert.deepEqual(problems, [])
  })
})
