// The dashboard in a real headless Chromium (the system's, driven by
// playwright-core): the page loads from the shop, goes live, and shows
// numbers that move while requests run. Saves test-results/dashboard.png.
import assert from 'node:assert/strict'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { type Browser, chromium } from 'playwright-core'
import { startShop, type TestShop } from '../app/shop.ts'
import { eventually, unless } from '../helpers/services.ts'

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
const RESULTS = join(import.meta.dirname, '../../test-results')

/** false when Chromium is there; the reason to skip otherwise (in CI, a failure). */
function chromiumMissing(): false | string {
  if (existsSync(CHROMIUM)) return false
  const reason = `Chromium not found at ${CHROMIUM} (set CHROMIUM_PATH)`
  if (process.env.CI === 'true' || process.env.CI === '1')
    throw new Error(`CI=true and ${reason}: nothing may be skipped in CI`)
  return reason
}

const skip = (await unless('postgres')) || (await unless('redis')) || chromiumMissing()

/** Requests at the shop until stopped: listings, products by id, searches. */
function traffic(base: string): { stop(): Promise<number> } {
  let running = true
  let sent = 0
  const terms = ['lamp', 'chair', 'red', 'steel', 'book', 'table']
  const one = async (i: number) => {
    const paths = [
      `/api/products?limit=${10 + (i % 3) * 5}`,
      `/api/products/${1 + ((i * 37) % 200)}`,
      `/api/products/search?q=${terms[i % terms.length]}`,
    ]
    const r = await fetch(base + paths[i % paths.length])
    await r.arrayBuffer()
    sent++
  }
  const loops = [0, 1, 2, 3].map(async (w) => {
    for (let i = w; running; i += 4) {
      await one(i).catch(() => {})
      // Uneven pacing, so the rate moves from one second to the next.
      await new Promise((r) => setTimeout(r, 2 + (i % 7) * 3))
    }
  })
  return {
    async stop() {
      running = false
      await Promise.all(loops)
      return sent
    },
  }
}

describe('dashboard in headless Chromium', { skip }, () => {
  let shop: TestShop
  let browser: Browser

  before(async () => {
    shop = await startShop({ products: 200, users: 5, orders: 5 })
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    })
  })
  after(async () => {
    await browser?.close()
    await shop?.stop()
  })

  it('goes live and shows numbers that change while requests run', async () => {
    const page = await browser.newPage({ viewport: { width: 1440, height: 1100 } })
    const errors: string[] = []
    const foreign: string[] = []
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text())
    })
    page.on('pageerror', (e) => errors.push(e.message))
    page.on('request', (r) => {
      const u = new URL(r.url())
      if (u.protocol !== 'data:' && u.hostname !== '127.0.0.1') foreign.push(r.url())
    })

    const load = traffic(shop.base)
    try {
      const res = await page.goto(`${shop.base}/dashboard`)
      assert.equal(res?.status(), 200)
      // Read from here, not evaluated there: the page's CSP forbids eval.
      const text = async (sel: string) => (await page.textContent(sel)) ?? ''
      await eventually('live', async () => (await text('#status')) === 'live', 10_000)
      await eventually(
        'requests/s',
        async () => Number.parseFloat(await text('#tile-rps')) > 0,
        10_000,
      )
      await eventually(
        'latency points',
        async () => Number(await page.getAttribute('#chart-latency', 'data-points')) >= 3,
        15_000,
      )
      const shown = async () => `${await text('#tile-rps')} ${await text('#tile-p95')}`
      const first = await shown()
      const moved = await eventually(
        'a change',
        async () => (await shown()) !== first,
        10_000,
      ).then(() => true)
      assert.ok(moved, 'a displayed number changed')

      // SLO badges (the shop declares its SLOs), per-route charts and the routes table.
      await page.waitForSelector('#slos .badge')
      const badges = await page.$$eval('#slos .badge', (bs) =>
        bs.map((b) => ({
          name: b.querySelector('strong')?.textContent,
          state: b.querySelector('.state')?.textContent,
        })),
      )
      assert.ok(badges.some((b) => b.name === 'api'))
      for (const b of badges) assert.match(b.state ?? '', /^(ok|warning|critical|no-data)$/)
      const routes = await page.$$eval('#routes tr td:first-child', (tds) =>
        tds.map((t) => t.textContent),
      )
      assert.ok(
        routes.some((r) => r?.startsWith('/api/products')),
        String(routes),
      )
      assert.ok((await page.$$('#route-charts .uplot')).length >= 1)

      // A few more seconds of history make a readable picture.
      await page.waitForTimeout(4000)
      mkdirSync(RESULTS, { recursive: true })
      await page.screenshot({ path: join(RESULTS, 'dashboard.png'), fullPage: true })
    } finally {
      const sent = await load.stop()
      assert.ok(sent > 0)
      await page.close()
    }
    assert.deepEqual(errors, [], 'no console errors')
    assert.deepEqual(foreign, [], 'no request leaves 127.0.0.1')
  })
})
