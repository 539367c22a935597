import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  createLatencyHistogram,
  evaluateThreshold,
  evaluateThresholds,
  isHotpathError,
  type MetricValues,
  parseThresholds,
  type ThresholdsConfig,
} from '../../src/load/index.ts'

function one(key: string, expression: string) {
  const [t] = parseThresholds({ [key]: [expression] })
  assert.ok(t)
  return t
}

function rejects(config: ThresholdsConfig, naming: string, why?: RegExp): void {
  assert.throws(
    () => parseThresholds(config),
    (err: unknown) => {
      assert.ok(isHotpathError(err, 'HP_ERR_LOAD_INVALID_THRESHOLD'), String(err))
      assert.equal(err.statusCode, 500)
      assert.ok(err.message.includes(naming), `${err.message} names ${naming}`)
      if (why) assert.match(err.message, why)
      return true
    },
  )
}

describe('threshold parsing', () => {
  it('parses every aggregate and operator', () => {
    const cases: [string, object, string, number][] = [
      ['p(95)<200', { type: 'p', percentile: 95 }, '<', 200],
      ['p(99.9)<=1000', { type: 'p', percentile: 99.9 }, '<=', 1000],
      ['p( 50 ) > 1', { type: 'p', percentile: 50 }, '>', 1],
      ['avg<100', { type: 'avg' }, '<', 100],
      ['med<50', { type: 'med' }, '<', 50],
      ['min>=0', { type: 'min' }, '>=', 0],
      ['max<2000', { type: 'max' }, '<', 2000],
      ['rate<0.01', { type: 'rate' }, '<', 0.01],
      ['rate>0.99', { type: 'rate' }, '>', 0.99],
      ['count>100', { type: 'count' }, '>', 100],
      ['value===3', { type: 'value' }, '==', 3],
      ['count != -1', { type: 'count' }, '!=', -1],
      ['  avg < 1e3 ', { type: 'avg' }, '<', 1000],
    ]
    for (const [expression, aggregate, operator, value] of cases) {
      const t = one('http_req_duration', expression)
      assert.deepEqual(
        { aggregate: t.aggregate, operator: t.operator, value: t.value },
        { aggregate, operator, value },
        expression,
      )
      assert.equal(t.metric, 'http_req_duration')
      assert.deepEqual(t.tags, {})
      assert.equal(t.abortOnFail, false)
      assert.equal(t.delayAbortEvalMs, 0)
    }
  })

  it('reads tag filters, several tags and group paths with colons', () => {
    assert.deepEqual(one('http_req_duration{name:login}', 'p(95)<200').tags, { name: 'login' })
    const t = one('http_req_duration{ name : login , method:POST }', 'p(95)<200')
    assert.deepEqual(t.tags, { name: 'login', method: 'POST' })
    assert.equal(t.source, 'http_req_duration{ name : login , method:POST }: p(95)<200')
    assert.deepEqual(one('group_duration{group:::checkout::pay}', 'avg<1').tags, {
      group: '::checkout::pay',
    })
  })

  it('takes a single string, several expressions and the object form with abort options', () => {
    const ts = parseThresholds({
      http_req_failed: 'rate<0.01',
      http_req_duration: [
        'p(95)<500',
        { threshold: 'p(99)<1500', abortOnFail: true, delayAbortEval: '10s' },
        { threshold: 'max<5000', abortOnFail: true, delayAbortEval: 250 },
      ],
    })
    assert.deepEqual(
      ts.map((t) => [t.source, t.abortOnFail, t.delayAbortEvalMs]),
      [
        ['http_req_failed: rate<0.01', false, 0],
        ['http_req_duration: p(95)<500', false, 0],
        ['http_req_duration: p(99)<1500', true, 10_000],
        ['http_req_duration: max<5000', true, 250],
      ],
    )
    assert.equal(
      parseThresholds({ x: [{ threshold: 'avg<1', delayAbortEval: '1.5m' }] })[0]?.delayAbortEvalMs,
      90_000,
    )
  })

  it('rejects malformed thresholds with a typed error naming them', () => {
    rejects({ http_req_duration: ['p95<200'] }, 'http_req_duration: p95<200', /aggregate/)
    rejects({ http_req_duration: ['p(95)'] }, 'http_req_duration: p(95)')
    rejects({ http_req_duration: ['p(95)<'] }, 'http_req_duration: p(95)<')
    rejects({ http_req_duration: ['p(95)<<200'] }, 'p(95)<<200')
    rejects({ http_req_duration: ['p(101)<200'] }, 'p(101)<200', /over 100/)
    rejects({ http_req_duration: ['p(-1)<200'] }, 'p(-1)<200')
    rejects({ http_req_duration: ['mean<200'] }, 'mean<200')
    rejects({ http_req_duration: ['avg<fast'] }, 'avg<fast')
    rejects({ http_req_duration: ['avg=<1'] }, 'avg=<1')
    rejects({ http_req_duration: [''] }, 'http_req_duration')
    rejects({ http_req_duration: [] }, 'http_req_duration', /no threshold/)
    rejects({ 'http-req-duration': ['avg<1'] }, 'http-req-duration', /metric name/)
    rejects({ '9lives': ['avg<1'] }, '9lives')
    rejects({ 'http_req_duration{name}': ['avg<1'] }, 'http_req_duration{name}', /tag:value/)
    rejects({ 'http_req_duration{name:}': ['avg<1'] }, 'http_req_duration{name:}')
    rejects({ 'http_req_duration{}': ['avg<1'] }, 'http_req_duration{}')
    rejects({ 'http_req_duration{name:login': ['avg<1'] }, 'http_req_duration{name:login')
    rejects({ 'http_req_duration{a:1,a:2}': ['avg<1'] }, 'a:2', /twice/)
    rejects({ d: [{ threshold: 'avg<1', delayAbortEval: 'soon' }] }, 'd: avg<1', /delayAbortEval/)
    rejects({ d: [{ threshold: 'avg<1', delayAbortEval: -5 }] }, 'd: avg<1')
    rejects(
      { d: [{ threshold: 'avg<1', abortOnFail: 'yes' as unknown as boolean }] },
      'd: avg<1',
      /abortOnFail/,
    )
    rejects({ d: [42 as unknown as string] }, 'd', /string or/)
  })
})

describe('threshold evaluation', () => {
  it('passes and fails on the aggregate, the operator and the limit', () => {
    const h = createLatencyHistogram()
    for (let ms = 1; ms <= 1000; ms++) h.record(ms)
    const check = (expression: string) => evaluateThreshold(one('http_req_duration', expression), h)
    assert.equal(check('p(95)<1000').ok, true)
    assert.equal(check('p(95)<900').ok, false)
    assert.ok(Math.abs((check('p(95)<900').actual ?? 0) - 950) < 1)
    assert.equal(check('med<=501').ok, true)
    assert.equal(check('avg>600').ok, false)
    assert.equal(check('max<1000').ok, false)
    assert.equal(check('max<=1001').ok, true)
    assert.equal(check('min==1').ok, true)
    assert.equal(check('count>999').ok, true)
    assert.equal(check('count>1000').ok, false)
    assert.equal(check('count!=1000').ok, false)

    const failed: MetricValues = { count: 1000, rate: 0.02 }
    assert.equal(evaluateThreshold(one('http_req_failed', 'rate<0.01'), failed).ok, false)
    assert.equal(evaluateThreshold(one('http_req_failed', 'rate<0.05'), failed).ok, true)
    assert.equal(evaluateThreshold(one('checks', 'rate>0.99'), { count: 10, rate: 1 }).ok, true)
  })

  it('does not pass a threshold whose metric has no samples or lacks the aggregate', () => {
    const t = one('http_req_duration{name:login}', 'p(95)<200')
    for (const values of [undefined, createLatencyHistogram(), { count: 5, rate: 0 }]) {
      assert.deepEqual(evaluateThreshold(t, values), {
        threshold: t,
        ok: false,
        actual: undefined,
        noData: true,
      })
    }
  })

  it('looks each threshold up by metric and tag filter', () => {
    const login = createLatencyHistogram()
    const all = createLatencyHistogram()
    for (let i = 0; i < 100; i++) {
      login.record(300)
      all.record(300)
      all.record(10)
    }
    const ts = parseThresholds({
      http_req_duration: ['med<200'],
      'http_req_duration{name:login}': ['med<200'],
      http_req_failed: ['rate<0.01'],
    })
    const seen: string[] = []
    const results = evaluateThresholds(ts, (metric, tags) => {
      seen.push(`${metric}${JSON.stringify(tags)}`)
      if (metric === 'http_req_failed') return { count: 200, rate: 0 }
      return tags.name === 'login' ? login : all
    })
    assert.deepEqual(seen, [
      'http_req_duration{}',
      'http_req_duration{"name":"login"}',
      'http_req_failed{}',
    ])
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, false, true],
    )
  })
})
