// The shop's service level objectives, with the guides' figures: the whole
// API (p50 150/200 ms, p95 300/1000 ms, p99 1000/1500 ms, 5xx 1 %/5 %,
// 99.9 % available), and per operation the p95 target as the warning level
// and twice it as the critical one ("p95 latency > 2x target for 5 minutes").
// `npm start` evaluates them (GET /slo); `hotpath slo rules app/slo.ts`
// writes the same as Prometheus rules.
import type { SloTarget } from 'hotpath/metrics'

function p95(name: string, method: string, route: string, targetMs: number): SloTarget {
  return {
    name,
    methods: [method],
    routes: [route],
    latency: { p95: { warning: targetMs, critical: 2 * targetMs } },
    errorRate: { warning: 0.01, critical: 0.05 },
  }
}

export const shopSlos: readonly SloTarget[] = [
  {
    name: 'api',
    description: 'Every route of the shop.',
    latency: {
      p50: { warning: 150, critical: 200 },
      p95: { warning: 300, critical: 1000 },
      p99: { warning: 1000, critical: 1500 },
    },
    errorRate: { warning: 0.01, critical: 0.05 },
    availability: { warning: 0.999, critical: 0.99 },
  },
  p95('get-product', 'GET', '/api/products/:id', 200),
  p95('list-products', 'GET', '/api/products', 200),
  p95('search-products', 'GET', '/api/products/search', 300),
  p95('create-order', 'POST', '/api/orders', 2000),
  p95('pay-order', 'POST', '/api/orders/:id/pay', 3000),
  p95('register', 'POST', '/auth/register', 500),
  p95('login', 'POST', '/auth/login', 200),
  p95('me', 'GET', '/auth/me', 100),
  p95('logout', 'POST', '/auth/logout', 100),
  p95('update-profile', 'PUT', '/users/profile', 150),
]

export default shopSlos
