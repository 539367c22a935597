// The baseline as an open model: 1000 requests a minute arrive whatever the
// response times (500 two-request visits a minute), for 5 minutes. Latency
// counts from each visit's scheduled start, so a stall shows as users would
// see it; a visit no VU could take within maxLag is dropped, and any drop
// fails the run (the load was not what was asked).
import { defineScenario } from 'hotpath/load'
import { glance, ROUTES, shopThresholds } from './journeys.ts'

export default defineScenario({
  name: 'baseline-rate',
  executor: 'constant-arrival-rate',
  rate: 500,
  timeUnit: '1m',
  duration: '5m',
  preAllocatedVUs: 5,
  maxVUs: 50,
  journey: glance,
  thresholds: {
    ...shopThresholds({ routes: { [ROUTES.products]: 200, [ROUTES.product]: 200 } }),
    dropped_iterations: ['count<1'],
  },
})
