import { execFile, spawn, type ChildProcess } from 'node:child_process'
import type { TestContext } from 'node:test'

/** Runs `mosquitto_pub` to completion; resolves with its exit code and output. */
export function mosquittoPub (args: readonly string[], timeoutMs = 10000): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    execFile('mosquitto_pub', [...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
  })
}

export interface MosquittoSub {
  readonly process: ChildProcess
  readonly lines: string[]
  readonly exited: Promise<number | null>
  stderr (): string
}

/**
 * Starts `mosquitto_sub` in the background (killed after the test) and collects its output lines.
 * Pass `-C n` to make it exit after n messages.
 */
export function mosquittoSub (t: TestContext | undefined, args: readonly string[]): MosquittoSub {
  const child = spawn('mosquitto_sub', [...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let err = ''
  let partial = ''
  child.stdout.on('data', (chunk: Buffer) => {
    partial += chunk.toString()
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
  })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  t?.after(() => { child.kill('SIGKILL') })
  return { process: child, lines, exited, stderr: () => err }
}
