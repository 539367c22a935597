import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { after, before, describe, it } from 'node:test'
import { unless } from '../helpers/services.ts'
import { get, startShop, type TestShop } from './shop.ts'

// The shop's SLOs: evaluated by the service (GET /slo) and, from the same
// declarations, the Prometheus rule file committed in deploy/.

describe('shop SLOs', () => {
  it('keeps deploy/prometheus/rules/slo.yml generated from app/slo.ts, and promtool accepts it', () => {
    const r = spawnSync(
      process.execPath,
      ['--conditions=hotpath-source', 'src/cli/index.ts', 'slo', 'rules', 'app/slo.ts'],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 0, r.stderr)
    const committed = readFileSync('deploy/prometheus/rules/slo.yml', 'utf8')
    assert.equal(
      committed,
      r.stdout,
      'regenerate: npx hotpath slo rules app/slo.ts -o deploy/prometheus/rules/slo.yml',
    )
    const check = spawnSync('promtool', ['check', 'rules', 'deploy/prometheus/rules/slo.yml'], {
      encoding: 'utf8',
    })
    assert.equal(check.status, 0, check.stdout + check.stderr)
  })

  it('exits 2 with a message for a module without targets', () => {
    const r = spawnSync(
      process.execPath,
      ['--conditions=hotpath-source', 'src/cli/index.ts', 'slo', 'rules', 'app/config.ts'],
      { encoding: 'utf8' },
    )
    assert.equal(r.status, 2)
    assert.match(r.stderr, /exports no array of SLO targets/)
  })
})

const skip = (await unless('postgres')) || (await unless('redis'))

describe('GET /slo on the shop (PostgreSQL + Redis)', { skip }, () => {
  let shop: TestShop
  before(async () => {
    shop = await startShop()
  })
  after(async () => {
    await shop?.stop()
  })

  it('reports the guides’ targets, with data once requests were served', async () => {
    for (let i = 0; i < 30; i++)
      assert.equal((await get(shop.base, '/api/products?limit=5')).status, 200)
    const r = await get(shop.base, '/slo')
    assert.equal(r.status, 200)
    const slos = (
      r.body as unknown as { slos: { name: string; state: string; requests: number }[] }
    ).slos
    assert.deepEqual(slos.map((s) => s.name).slice(0, 3), ['api', 'get-product', 'list-products'])
    const list = slos.find((s) => s.name === 'list-products')
    assert.equal(list?.requests, 30)
    assert.equal(list?.state, 'ok')
    assert.equal(slos.find((s) => s.name === 'pay-order')?.state, 'no-data')
  })
})
