import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'
import { ConfigError, loadConfig } from '../../app/config.ts'

// deploy/ is checked by parsing (no Docker engine or cluster here): every YAML
// file is valid, the figures are the guide's, probes, ports and environment
// agree with the shop's code, and the shop accepts the configuration given.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const DEPLOY = join(ROOT, 'deploy')
const K8S = join(DEPLOY, 'k8s')

type Obj = Record<string, unknown>
const obj = (v: unknown, what: string): Obj => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is a mapping`)
  return v as Obj
}
const arr = (v: unknown, what: string): Obj[] => {
  assert.ok(Array.isArray(v), `${what} is a list`)
  return v as Obj[]
}
const at = (o: unknown, path: string): unknown =>
  path.split('.').reduce<unknown>((v, k) => (v as Obj | undefined)?.[k], o)

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) yamlFiles(p, out)
    else if (/\.ya?ml$/.test(name)) out.push(p)
  }
  return out
}

function docs(file: string): Obj[] {
  return parseAllDocuments(readFileSync(file, 'utf8')).map((d, i) => {
    assert.deepEqual(d.errors, [], `${relative(ROOT, file)} document ${i + 1} parses`)
    return d.toJS() as Obj
  })
}

/** Every variable app/config.ts reads (`read(env, 'X')`, `int(env, 'X', …)`, …). */
const CONFIG_NAMES = new Set(
  [
    ...readFileSync(join(ROOT, 'app/config.ts'), 'utf8').matchAll(
      /\b(?:read|int|rate|url)\(env, '([A-Z][A-Z0-9_]*)'/g,
    ),
  ].map((m) => m[1]!),
)

const resources = readdirSync(K8S)
  .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
  .sort()
const k8s = resources.flatMap((f) => docs(join(K8S, f)).map((d) => ({ file: f, doc: d })))

function one(kind: string, name: string): Obj {
  const found = k8s.filter((r) => r.doc.kind === kind && at(r.doc, 'metadata.name') === name)
  assert.equal(found.length, 1, `one ${kind} ${name}`)
  return found[0]!.doc
}

const deployment = one('Deployment', 'shop')
const pod = obj(at(deployment, 'spec.template.spec'), 'pod spec')
const container = arr(pod.containers, 'containers').find((c) => c.name === 'shop')!
const configMap = one('ConfigMap', 'shop-config')
const secret = one('Secret', 'shop-secrets')
const podEnv = {
  ...(configMap.data as Record<string, string>),
  ...(secret.stringData as Record<string, string>),
}
const SHUTDOWN_MS = Number(
  /const SHUTDOWN_MS = ([\d_]+)/
    .exec(readFileSync(join(ROOT, 'app/main.ts'), 'utf8'))![1]!
    .replaceAll('_', ''),
)

/** `${VAR:-default}` as compose interpolates it with VAR unset. */
const interpolate = (s: string) => s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, '$1')

describe('deploy/: every YAML file', () => {
  it('parses, multi-document files included', () => {
    const files = yamlFiles(DEPLOY)
    assert.ok(files.length >= 12, `found ${files.length}`)
    for (const f of files) assert.ok(docs(f).length >= 1, relative(ROOT, f))
  })

  it('deploy/compose.yaml still offers the test services', () => {
    const c = parse(readFileSync(join(DEPLOY, 'compose.yaml'), 'utf8'))
    assert.deepEqual(Object.keys(c.services).sort(), ['postgres', 'redis'])
    assert.deepEqual(c.services.postgres.ports, ['127.0.0.1:5432:5432'])
    assert.deepEqual(c.services.redis.ports, ['127.0.0.1:6379:6379'])
  })
})

describe('deploy/k8s', () => {
  it('kustomization lists every resource file, all in one namespace', () => {
    const k = parse(readFileSync(join(K8S, 'kustomization.yaml'), 'utf8'))
    assert.deepEqual([...k.resources].sort(), resources)
    assert.equal(one('Namespace', k.namespace).kind, 'Namespace')
    for (const { file, doc } of k8s) {
      assert.ok(typeof doc.apiVersion === 'string' && typeof doc.kind === 'string', file)
      if (doc.kind !== 'Namespace') assert.equal(at(doc, 'metadata.namespace'), k.namespace, file)
    }
  })

  it('the HPA is the guide’s: CPU 70 %, memory 80 %, 3 to 10, scale-up and scale-down policies', () => {
    const hpa = one('HorizontalPodAutoscaler', 'shop')
    assert.equal(hpa.apiVersion, 'autoscaling/v2')
    assert.deepEqual(at(hpa, 'spec.scaleTargetRef'), {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'shop',
    })
    assert.equal(at(hpa, 'spec.minReplicas'), 3)
    assert.equal(at(hpa, 'spec.maxReplicas'), 10)
    assert.deepEqual(at(hpa, 'spec.metrics'), [
      {
        type: 'Resource',
        resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } },
      },
      {
        type: 'Resource',
        resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } },
      },
    ])
    assert.deepEqual(at(hpa, 'spec.behavior.scaleUp'), {
      stabilizationWindowSeconds: 0,
      policies: [
        { type: 'Percent', value: 100, periodSeconds: 30 },
        { type: 'Pods', value: 2, periodSeconds: 30 },
      ],
      selectPolicy: 'Min',
    })
    assert.deepEqual(at(hpa, 'spec.behavior.scaleDown'), {
      stabilizationWindowSeconds: 300,
      policies: [{ type: 'Percent', value: 50, periodSeconds: 60 }],
      selectPolicy: 'Max',
    })
    // Utilization is a share of the requests: without them the HPA cannot compute it.
    assert.ok(at(container, 'resources.requests.cpu'))
    assert.ok(at(container, 'resources.requests.memory'))
    assert.ok(at(container, 'resources.limits.memory'))
    assert.equal(at(deployment, 'spec.replicas'), 3)
  })

  it('probes: readiness /ready, liveness and startup /health, on the container port', () => {
    const port = arr(container.ports, 'ports')[0]!
    assert.equal(port.containerPort, Number(podEnv.PORT))
    const probe = (name: string) => obj(container[name], name).httpGet as Obj
    assert.equal(probe('readinessProbe').path, '/ready')
    assert.equal(probe('livenessProbe').path, '/health')
    assert.equal(probe('startupProbe').path, '/health')
    for (const p of ['readinessProbe', 'livenessProbe', 'startupProbe'])
      assert.ok([port.name, port.containerPort].includes(probe(p).port), `${p} port`)
  })

  it('shutdown: preStop sleep, then room for the shop’s own drain', () => {
    const cmd = at(container, 'lifecycle.preStop.exec.command') as string[]
    assert.equal(cmd[0], 'sleep')
    const grace = pod.terminationGracePeriodSeconds as number
    assert.ok(grace >= Number(cmd[1]) + SHUTDOWN_MS / 1000, `grace ${grace} s`)
  })

  it('runs as non-root with a read-only root filesystem', () => {
    assert.equal(at(pod, 'securityContext.runAsNonRoot'), true)
    assert.ok((at(pod, 'securityContext.runAsUser') as number) > 0)
    assert.equal(at(container, 'securityContext.allowPrivilegeEscalation'), false)
    assert.equal(at(container, 'securityContext.readOnlyRootFilesystem'), true)
    const mounts = arr(container.volumeMounts, 'volumeMounts').map((m) => m.mountPath)
    assert.ok(mounts.includes(podEnv.SHOP_DATA_DIR), 'the data folder is writable')
  })

  it('every variable given to the shop is one app/config.ts reads', () => {
    assert.ok(CONFIG_NAMES.has('DATABASE_URL') && CONFIG_NAMES.size >= 10)
    const refs = arr(container.envFrom, 'envFrom')
    assert.deepEqual(
      refs.map((r) => at(r, 'configMapRef.name') ?? at(r, 'secretRef.name')).sort(),
      ['shop-config', 'shop-secrets'],
    )
    const names = [
      ...Object.keys(podEnv),
      ...((container.env as Obj[] | undefined) ?? []).map((e) => e.name as string),
    ]
    for (const n of names) assert.ok(CONFIG_NAMES.has(n), `${n} is read by app/config.ts`)
    for (const n of ['DATABASE_URL', 'REDIS_URL', 'SHOP_CURSOR_SECRET', 'PORT'])
      assert.ok(n in podEnv, n)
  })

  it('the shop refuses the placeholder secret, and accepts the configuration once it is set', () => {
    assert.throws(
      () => loadConfig(podEnv),
      (e: unknown) => e instanceof ConfigError && e.variable === 'SHOP_CURSOR_SECRET',
    )
    const c = loadConfig({ ...podEnv, SHOP_CURSOR_SECRET: 'x'.repeat(48) })
    assert.equal(c.workers, 1)
    assert.equal(new URL(c.databaseUrl!).hostname, 'pgbouncer')
  })

  it('Service, PDB and prometheus annotations point at the shop pods', () => {
    const labels = at(deployment, 'spec.template.metadata.labels') as Obj
    const selects = (sel: Obj) => Object.entries(sel).every(([k, v]) => labels[k] === v)
    assert.ok(selects(at(deployment, 'spec.selector.matchLabels') as Obj))
    const svc = one('Service', 'shop')
    assert.ok(selects(at(svc, 'spec.selector') as Obj))
    assert.equal(arr(at(svc, 'spec.ports'), 'ports')[0]!.targetPort, 'http')
    assert.ok(selects(at(one('PodDisruptionBudget', 'shop'), 'spec.selector.matchLabels') as Obj))
    const ann = at(deployment, 'spec.template.metadata.annotations') as Obj
    assert.equal(ann['prometheus.io/scrape'], 'true')
    assert.equal(ann['prometheus.io/port'], podEnv.PORT)
    assert.equal(ann['prometheus.io/path'], '/metrics')
  })

  it('PgBouncer: transaction pooling, the guide’s pool figures, where DATABASE_URL points', () => {
    const ini = (one('ConfigMap', 'pgbouncer-config').data as Record<string, string>)[
      'pgbouncer.ini'
    ]!
    const setting = (k: string) => new RegExp(`^${k}\\s*=\\s*(.*)$`, 'm').exec(ini)?.[1]?.trim()
    assert.equal(setting('pool_mode'), 'transaction')
    assert.equal(setting('max_client_conn'), '1000')
    assert.equal(setting('default_pool_size'), '25')
    // The shop sends statement_timeout at start-up (no `pgbouncer: true` in app/resources.ts).
    assert.match(setting('ignore_startup_parameters') ?? '', /statement_timeout/)
    const svc = one('Service', 'pgbouncer')
    const port = arr(at(svc, 'spec.ports'), 'ports')[0]!
    assert.equal(port.port, Number(setting('listen_port')))
    const db = new URL(podEnv.DATABASE_URL!)
    assert.equal(db.hostname, 'pgbouncer')
    assert.equal(Number(db.port), port.port)
    assert.match(ini, new RegExp(`^${db.pathname.slice(1)} = host=`, 'm'))
    const pgb = one('Deployment', 'pgbouncer')
    assert.ok(Number(at(pgb, 'spec.replicas')) >= 2)
    assert.equal(at(pgb, 'spec.template.spec.securityContext.runAsNonRoot'), true)
  })
})

describe('deploy/compose.full.yaml', () => {
  const compose = parse(readFileSync(join(DEPLOY, 'compose.full.yaml'), 'utf8'))
  const services = compose.services as Record<string, Obj>

  it('has every service, each with a healthcheck', () => {
    for (const s of ['postgres', 'postgres-replica', 'redis', 'shop', 'prometheus', 'grafana']) {
      assert.ok(services[s], s)
      assert.ok(Array.isArray(at(services[s], 'healthcheck.test')), `${s} healthcheck`)
    }
    assert.equal(services.postgres!.image, 'postgres:15')
    assert.equal(services['postgres-replica']!.image, 'postgres:15')
    assert.match(services.redis!.image as string, /^redis:7/)
  })

  it('the replica clones the primary with pg_basebackup -R', () => {
    const script = readFileSync(join(DEPLOY, 'postgres/replica-entrypoint.sh'), 'utf8')
    assert.match(script, /pg_basebackup .*-R/s)
    const mounts = services['postgres-replica']!.volumes as string[]
    assert.ok(mounts.some((m) => m.startsWith('./postgres/replica-entrypoint.sh:')))
    assert.ok(
      (services.postgres!.volumes as string[]).some((m) =>
        m.startsWith('./postgres/init-primary.sh:/docker-entrypoint-initdb.d/'),
      ),
    )
    for (const f of ['init-primary.sh', 'replica-entrypoint.sh']) {
      const r = spawnSync('bash', ['-n', join(DEPLOY, 'postgres', f)])
      assert.equal(r.status, 0, `${f}: ${r.stderr}`)
    }
  })

  it('the shop: built from deploy/Dockerfile, two workers, replicas, Redis, ready on /ready', () => {
    const shop = services.shop!
    assert.ok(
      existsSync(
        resolve(
          DEPLOY,
          at(shop, 'build.context') as string,
          at(shop, 'build.dockerfile') as string,
        ),
      ),
    )
    const env = Object.fromEntries(
      Object.entries(shop.environment as Record<string, string>).map(([k, v]) => [
        k,
        interpolate(String(v)),
      ]),
    )
    for (const n of Object.keys(env))
      assert.ok(CONFIG_NAMES.has(n), `${n} is read by app/config.ts`)
    const c = loadConfig(env)
    assert.equal(c.workers, 2)
    assert.equal(new URL(c.databaseUrl!).hostname, 'postgres')
    assert.deepEqual(
      c.replicaUrls.map((u) => new URL(u).hostname),
      ['postgres-replica'],
    )
    assert.equal(new URL(c.redisUrl!).hostname, 'redis')
    assert.match(
      (at(shop, 'healthcheck.test') as string[]).join(' '),
      new RegExp(`:${c.port}/ready`),
    )
  })

  it('every file it mounts from deploy/ exists', () => {
    for (const [name, s] of Object.entries(services)) {
      for (const v of (s.volumes as string[] | undefined) ?? []) {
        const src = v.split(':')[0]!
        // deploy/prometheus/rules and deploy/grafana/dashboards are written by their own tools.
        if (!src.startsWith('./') || /rules$|dashboards$/.test(src)) continue
        assert.ok(existsSync(join(DEPLOY, src)), `${name}: ${src}`)
      }
    }
  })

  it('Prometheus scrapes the shop’s /metrics and loads the rules folder', () => {
    const prom = parse(readFileSync(join(DEPLOY, 'prometheus/prometheus.yml'), 'utf8'))
    const job = arr(prom.scrape_configs, 'scrape_configs').find((j) => j.job_name === 'shop')!
    assert.equal(job.metrics_path ?? '/metrics', '/metrics')
    const targets = arr(job.static_configs, 'static_configs').flatMap((s) => s.targets as string[])
    assert.deepEqual(targets, [
      `shop:${interpolate(String(at(services.shop, 'environment.PORT')))}`,
    ])
    assert.deepEqual(prom.rule_files, ['/etc/prometheus/rules/*.yml'])
    assert.ok(
      (services.prometheus!.volumes as string[]).includes(
        './prometheus/rules:/etc/prometheus/rules:ro',
      ),
    )
  })

  it('Grafana: Prometheus as its data source, dashboards from the mounted folder', () => {
    const ds = parse(
      readFileSync(join(DEPLOY, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'),
    )
    const source = arr(ds.datasources, 'datasources')[0]!
    assert.equal(source.type, 'prometheus')
    assert.equal(source.url, 'http://prometheus:9090')
    const dash = parse(
      readFileSync(join(DEPLOY, 'grafana/provisioning/dashboards/hotpath.yml'), 'utf8'),
    )
    const path = at(arr(dash.providers, 'providers')[0], 'options.path')
    assert.equal(path, '/var/lib/grafana/dashboards')
    assert.ok((services.grafana!.volumes as string[]).includes(`./grafana/dashboards:${path}:ro`))
  })

  it('deploy/Dockerfile: node:24-slim, non-root, runs what `npm start` runs', () => {
    const file = readFileSync(join(DEPLOY, 'Dockerfile'), 'utf8')
    assert.match(file, /^FROM node:24-slim$/m)
    assert.match(file, /^RUN npm ci\b/m)
    assert.match(file, /^USER node$/m)
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(file)![1]!) as string[]
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    assert.equal(cmd.join(' '), pkg.scripts.start)
    assert.ok(existsSync(join(DEPLOY, 'Dockerfile.dockerignore')))
  })
})
