import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  createArrivalLatency,
  createLatencyHistogram,
  decodeLatencyHistogram,
  isHotpathError,
} from '../../src/load/index.ts'

// 3 significant digits: a value is reported within 0.1 % of itself.
function near(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= expected * 0.001 + 0.001,
    `${what}: ${actual} vs ${expected}`,
  )
}

describe('latency histogram', () => {
  it('reports percentiles, mean, min, max and count of known data', () => {
    const h = createLatencyHistogram()
    for (let ms = 1; ms <= 1000; ms++) h.record(ms)
    assert.equal(h.count, 1000)
    near(h.percentile(50), 500, 'p50')
    near(h.med, 500, 'med')
    near(h.percentile(95), 950, 'p95')
    near(h.percentile(99), 990, 'p99')
    near(h.avg, 500.5, 'avg')
    near(h.min, 1, 'min')
    near(h.max, 1000, 'max')
  })

  it('keeps microseconds and clamps to 1 µs..1 h', () => {
    const h = createLatencyHistogram()
    h.record(0.0123)
    assert.equal(h.max, 0.012)
    h.reset()
    h.record(-5)
    h.record(Number.NaN)
    assert.equal(h.count, 2)
    assert.equal(h.max, 0.001)
    h.record(5 * 3_600_000)
    near(h.max, 3_600_000, 'max clamped to 1 h')
  })

  it('is 0 everywhere when empty', () => {
    const h = createLatencyHistogram()
    assert.deepEqual([h.count, h.avg, h.min, h.max, h.med, h.percentile(99)], [0, 0, 0, 0, 0, 0])
  })

  it('encodes to base64, decodes and adds runs into one exact histogram', () => {
    const a = createLatencyHistogram()
    const b = createLatencyHistogram()
    for (let ms = 1; ms <= 500; ms++) a.record(ms)
    for (let ms = 501; ms <= 1000; ms++) b.record(ms)
    const encoded = a.encode()
    assert.match(encoded, /^[A-Za-z0-9+/]+=*$/)
    const merged = decodeLatencyHistogram(encoded)
    assert.equal(merged.count, 500)
    near(merged.percentile(50), 250, 'decoded p50')
    merged.add(decodeLatencyHistogram(b.encode()))
    assert.equal(merged.count, 1000)
    near(merged.percentile(50), 500, 'merged p50')
    near(merged.percentile(99), 990, 'merged p99')
    near(merged.max, 1000, 'merged max')
    // Adding an undecoded one works too, and the sources are untouched.
    merged.add(a)
    assert.equal(merged.count, 1500)
    assert.equal(a.count, 500)
  })

  it('rejects a string that is not an encoded histogram', () => {
    for (const bad of ['', 'not-base64!', Buffer.from('hello world').toString('base64')]) {
      assert.throws(
        () => decodeLatencyHistogram(bad),
        (err: unknown) => isHotpathError(err, 'HP_ERR_INVALID_OPTION'),
        bad,
      )
    }
  })
})

describe('arrival latency', () => {
  it('shows a stall in the corrected latency and not in the uncorrected one', () => {
    const arrival = createArrivalLatency()
    // 1000 iterations scheduled every 10 ms, each answered in 5 ms, except
    // that the server stalls for 1 s at t = 2 s: the iterations scheduled
    // during the stall are sent late (when a VU frees up) and then answered
    // in 5 ms as usual.
    const stallFrom = 2000
    const stallTo = 3000
    let busyUntil = 0
    for (let i = 0; i < 1000; i++) {
      const scheduledAt = i * 10
      const sentAt = Math.max(scheduledAt, busyUntil)
      const doneAt = sentAt >= stallFrom && sentAt < stallTo ? stallTo + 5 : sentAt + 5
      if (doneAt - sentAt > 5) busyUntil = doneAt
      arrival.record(scheduledAt, sentAt, doneAt)
    }
    const { corrected, uncorrected } = arrival
    assert.equal(corrected.count, 1000)
    assert.equal(uncorrected.count, 1000)
    near(uncorrected.percentile(99), 5, 'uncorrected p99')
    near(uncorrected.percentile(99.8), 5, 'uncorrected p99.8')
    assert.ok(corrected.percentile(99) > 500, `corrected p99 ${corrected.percentile(99)}`)
    near(corrected.max, 1005, 'corrected max')
    near(corrected.percentile(50), 5, 'corrected p50')
  })

  it('never makes the corrected figure smaller than the uncorrected one', () => {
    const arrival = createArrivalLatency()
    arrival.record(100, 99, 110)
    assert.equal(arrival.corrected.max, arrival.uncorrected.max)
  })
})
