// 004's peak: 500 concurrent users for 10 minutes (about 5000 requests a
// minute), under 0.1 % failed requests. 004's auth targets hold at normal
// load only, so the per-route bars here are 001's and 003's.
import { defineScenario } from 'hotpath/load'
import { init, shopper, shopThresholds } from './journeys.ts'

export default defineScenario({
  name: 'peak',
  executor: 'constant-vus',
  vus: 500,
  duration: '10m',
  init,
  journey: shopper,
  thresholds: shopThresholds({ errorRate: 0.001 }),
})
