// 004's baseline: 100 concurrent users for 5 minutes, about 1000 requests a
// minute; every route within its p95 target, 004's auth ones included.
import { defineScenario } from 'hotpath/load'
import { AUTH_P95, init, ROUTE_P95, shopper, shopThresholds } from './journeys.ts'

export default defineScenario({
  name: 'normal',
  executor: 'constant-vus',
  vus: 100,
  duration: '5m',
  init,
  journey: shopper,
  thresholds: shopThresholds({ routes: { ...ROUTE_P95, ...AUTH_P95 } }),
})
