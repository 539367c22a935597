// Past the peak in steps (100 → 500 → 1000 → 1500 users, each held 3
// minutes) until the shop breaks. The latency bars are layered, so the ones
// that fail say how far it degraded (500 ms the target, 750 ms and 1.5 s at
// p99 000's alert levels); the per-second timeline says when. More than 5 %
// failed requests (003's immediate alert) ends the run: past that point the
// numbers describe a broken service.
import { defineScenario } from 'hotpath/load'
import { init, shopper } from './journeys.ts'

export default defineScenario({
  name: 'stress',
  executor: 'ramping-vus',
  startVUs: 100,
  stages: [
    { duration: '2m', target: 100 },
    { duration: '1m', target: 500 },
    { duration: '3m', target: 500 },
    { duration: '1m', target: 1000 },
    { duration: '3m', target: 1000 },
    { duration: '1m', target: 1500 },
    { duration: '3m', target: 1500 },
    { duration: '1m', target: 0 },
  ],
  gracefulRampDown: '10s',
  init,
  journey: shopper,
  thresholds: {
    http_req_duration: ['p(95)<500', 'p(95)<750', 'p(99)<1500'],
    // Rates are over the whole run so far: the delay keeps the first
    // minute's few requests from ending it on a handful of failures.
    http_req_failed: [
      'rate<0.01',
      { threshold: 'rate<0.05', abortOnFail: true, delayAbortEval: '1m' },
    ],
    checks: ['rate>0.99'],
    'http_reqs{status:500}': ['count<1'],
  },
})
