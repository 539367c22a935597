// The test command: says which real services answer, then runs node's test
// runner over every *.test.ts. Suites needing a missing service are skipped
// with the reason printed (in CI, they fail instead).
import { spawn } from 'node:child_process'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { unless } from './helpers/services.ts'

function find(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) find(p, out)
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

const filter = process.argv.slice(2)
const files = find('test')
  .filter((f) => filter.length === 0 || filter.some((x) => f.includes(x)))
  .sort()
for (const service of ['redis', 'postgres'] as const) {
  try {
    const reason = await unless(service)
    console.log(reason ? `# ${reason}: suites that need it are skipped` : `# ${service}: reachable`)
  } catch (err) {
    console.log(`# ${(err as Error).message}`)
  }
}
const child = spawn(process.execPath, ['--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  env: {
    ...process.env,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --conditions=hotpath-source`.trim(),
  },
})
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
