// 004's soak: 100 users for 24 hours, to catch leaks and pool exhaustion.
// Normal load, so normal's bars; 004's alerts (error rate over 1 %, p95 over
// twice its target, for 5 minutes) end it early instead of running on.
import { defineScenario } from 'hotpath/load'
import { AUTH_P95, init, ROUTE_P95, shopper, shopThresholds } from './journeys.ts'

export default defineScenario({
  name: 'soak',
  executor: 'constant-vus',
  vus: 100,
  duration: '24h',
  init,
  journey: shopper,
  thresholds: {
    ...shopThresholds({ routes: { ...ROUTE_P95, ...AUTH_P95 } }),
    http_req_duration: [
      'p(95)<500',
      { threshold: 'p(95)<1000', abortOnFail: true, delayAbortEval: '5m' },
    ],
    http_req_failed: [{ threshold: 'rate<0.01', abortOnFail: true, delayAbortEval: '5m' }],
  },
})
