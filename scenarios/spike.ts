// 004's spike: from 100 to 1000 users in a minute (about 10,000 requests a
// minute at the top), held, then back to 100 to see the shop recover. It must
// degrade gracefully: shedding (503) may show in the error rate, a 500 never.
import { defineScenario } from 'hotpath/load'
import { init, NO_500, shopper, shopThresholds } from './journeys.ts'

export default defineScenario({
  name: 'spike',
  executor: 'ramping-vus',
  startVUs: 100,
  stages: [
    { duration: '1m', target: 100 },
    { duration: '1m', target: 1000 },
    { duration: '3m', target: 1000 },
    { duration: '1m', target: 100 },
    { duration: '2m', target: 100 },
  ],
  init,
  journey: shopper,
  thresholds: { ...shopThresholds(), ...NO_500 },
})
