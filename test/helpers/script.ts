import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** The repository's root: scripts run from there, as npm scripts do. */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ScriptRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs a repository script on this Node with the source condition, as its npm script does. */
export function runScript(file: string, args: readonly string[]): Promise<ScriptRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=hotpath-source', file, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d
    })
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }))
  })
}
