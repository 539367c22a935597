import { dirname } from 'node:path'
import { parentPort, workerData } from 'node:worker_threads'
import { isHotpathError } from '../errors.ts'
import { loadScenarioData } from './data.ts'
import { createExecutor, type ExecutorRun, until } from './executors.ts'
import { importScenarioModule } from './module.ts'
import type { FromWorker, ToWorker, WorkerInput } from './protocol.ts'
import { Recorder, seriesKey } from './samples.ts'
import type { ScenarioOptions } from './scenario.ts'
import { newSecond, VirtualUser, type VuContext } from './vu.ts'
import { Wire } from './wire.ts'

/**
 * A load-generating thread: imports the scenario files itself (functions do
 * not cross threads), runs its share of every scenario, and ships one tick
 * per second of the run to the coordinator.
 */
const port = parentPort
if (port === null) throw new Error('hotpath load worker: not started as a worker thread')
const input = workerData as WorkerInput
const post = (m: FromWorker) => port.postMessage(m)

const recorder = new Recorder()
let second = newSecond()
const errors = new Map<string, number>()
const runs: ExecutorRun[] = []

const wire = new Wire()

async function prepare(): Promise<void> {
  const modules = new Map<string, readonly ScenarioOptions[]>()
  for (const s of input.scenarios) {
    let list = modules.get(s.file)
    if (list === undefined) {
      list = (await importScenarioModule(s.file)).scenarios
      modules.set(s.file, list)
    }
    const options = list[s.index] as ScenarioOptions
    const origin = new URL(s.baseUrl).origin
    const ctx: VuContext = {
      scenario: s.name,
      baseUrl: s.baseUrl,
      origin,
      // '' for a bare origin, so '/x' does not become '//x'.
      basePath: new URL(s.baseUrl).pathname.replace(/\/+$/, ''),
      headers: s.headers,
      tags: s.tags,
      data: loadScenarioData(dirname(s.file), s.data),
      open: s.open,
      wire,
      endpoint: wire.endpoint(origin),
      recorder,
      second: () => second,
    }
    const iterTags = { ...s.tags, scenario: s.name }
    const keys = {
      iterations: seriesKey('iterations', iterTags),
      duration: seriesKey('iteration_duration', iterTags),
      errors: seriesKey('iteration_errors', iterTags),
      dropped: seriesKey('dropped_iterations', iterTags),
    }
    const run = createExecutor({
      scenario: s,
      index: input.index,
      workers: input.workers,
      newVU: (id) => new VirtualUser(id, ctx),
      init: options.init,
      journey: options.journey,
      iterationDone(startedAt, error) {
        if (error === undefined) {
          recorder.add(keys.iterations, 'iterations', iterTags)
          recorder.trend(
            keys.duration,
            'iteration_duration',
            iterTags,
            performance.now() - startedAt,
          )
          second.iterations++
          return
        }
        recorder.add(keys.errors, 'iteration_errors', iterTags)
        const message =
          `${s.name}: ${error instanceof Error ? error.message : String(error)}`.slice(0, 300)
        if (errors.size < 100 || errors.has(message))
          errors.set(message, (errors.get(message) ?? 0) + 1)
      },
      dropped(n) {
        recorder.add(keys.dropped, 'dropped_iterations', iterTags, n)
        second.dropped += n
      },
    })
    runs.push(run)
  }
}

let runStart = 0
let flushed = 0

function flush(t: number): void {
  const s = second
  second = newSecond()
  const vus = runs.reduce((n, r) => n + r.vus, 0)
  post({
    type: 'tick',
    t,
    reqs: s.reqs,
    failed: s.failed,
    iterations: s.iterations,
    dropped: s.dropped,
    checks: s.checks,
    checksFailed: s.checksFailed,
    bytesReceived: s.bytesReceived,
    vus,
    latency: s.latency.encode(),
    series: recorder.flush(),
    errors: [...errors],
  })
  errors.clear()
}

function scheduleFlush(): NodeJS.Timeout {
  const next = runStart + (flushed + 1) * 1000
  return setTimeout(
    () => {
      flush(flushed)
      flushed++
      timer = scheduleFlush()
    },
    Math.max(0, next - performance.now()),
  )
}
let timer: NodeJS.Timeout | undefined

async function start(startEpoch: number): Promise<void> {
  runStart = startEpoch - performance.timeOrigin
  await until(runStart)
  timer = scheduleFlush()
  await Promise.all(
    runs.map(async (run, i) => {
      const s = input.scenarios[i]
      if (s === undefined) return
      await until(runStart + s.startMs)
      if (stopping) run.stop()
      else run.start(runStart + s.startMs)
      await run.done
    }),
  )
  clearTimeout(timer)
  flush(flushed)
  wire.close()
  post({ type: 'done' })
}

let stopping = false
port.on('message', (m: ToWorker) => {
  if (m.type === 'start') {
    start(m.startEpoch).catch(fatal)
  } else if (m.type === 'stop') {
    stopping = true
    for (const run of runs) run.stop()
  }
})

function fatal(err: unknown): void {
  post({
    type: 'fatal',
    message: err instanceof Error ? err.message : String(err),
    ...(isHotpathError(err) ? { code: err.code } : {}),
  })
}

prepare()
  .then(() => Promise.all(runs.map((r) => r.prepare())))
  .then(() => post({ type: 'ready' }), fatal)
