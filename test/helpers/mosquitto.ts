import { execFile, spawn, type ChildProcess } from 'node:child_process'
import type { TestContext } from 'node:test'

/** Runs `mosquitto_pub` to completion; resolves with its exit code and output. */
export function mosquittoPub (args: readonly string[], timeoutMs = 10000, stdin = ''): Promise<{ code: number, stdout: string, stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile('mosquitto_pub', [...args], { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1
      resolve({ code, stdout, stderr })
    })
    // A mosquitto_pub that refuses its arguments exits before reading stdin: ignore that EPIPE.
    child.stdin?.on('error', () => {})
    child.stdin?.end(stdin) // input for `-l` / `-s`; an immediate EOF otherwise
  })
}

export type MqttVersion = 'mqttv311' | 'mqttv5'

/** `-h 127.0.0.1 -p <port> -V <version>`: the connection arguments every interop test passes. */
export function brokerArgs (port: number, version: MqttVersion): string[] {
  return ['-h', '127.0.0.1', '-p', String(port), '-V', version]
}

/** Lines `-d` prints (libmosquitto log lines and the SUBACK summary), as opposed to messages. */
const DEBUG_LINE = /^(Client \S+ (sending|received) |Subscribed \(mid: )/

export interface MosquittoSub {
  readonly process: ChildProcess
  /** Every stdout line, debug lines included. */
  readonly lines: string[]
  /** Only the message lines (stdout lines that are not `-d` debug output). */
  messages (): string[]
  /** With `-d`: resolves with the granted QoS / reason codes of the first SUBACK. */
  readonly granted: Promise<number[]>
  readonly exited: Promise<number | null>
  stderr (): string
}

/**
 * Starts `mosquitto_sub` in the background (killed after the test) and collects its output lines.
 * Pass `-C n` to make it exit after n messages.
 */
export function mosquittoSub (t: TestContext | undefined, args: readonly string[]): MosquittoSub {
  // stdbuf -oL: mosquitto_sub buffers `-d` output when stdout is a pipe; line buffering lets a
  // test see the SUBACK ("Subscribed (mid: 1): 0") as soon as it arrives.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const lines: string[] = []
  let onGranted: (codes: number[]) => void = () => {}
  let noGrant: (err: Error) => void = () => {}
  const granted = new Promise<number[]>((resolve, reject) => { onGranted = resolve; noGrant = reject })
  granted.catch(() => {}) // only a test that awaits it cares
  setTimeout(() => { noGrant(new Error('no SUBACK from mosquitto_sub within 5 s (did you pass -d?)')) }, 5000).unref()
  let err = ''
  let partial = ''
  child.stdout.on('data', (chunk: Buffer) => {
    partial += chunk.toString()
    const parts = partial.split('\n')
    partial = parts.pop() ?? ''
    lines.push(...parts)
    for (const line of parts) {
      const suback = /^Subscribed \(mid: \d+\): (.*)$/.exec(line)
      if (suback?.[1] !== undefined) onGranted(suback[1].split(', ').map(Number))
    }
  })
  child.stderr.on('data', (chunk: Buffer) => { err += chunk.toString() })
  // 'close', not 'exit': the last output lines may be read after the process has exited.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => {
    noGrant(new Error(`mosquitto_sub exited (${String(code)}) before a SUBACK: ${err}`))
    resolve(code)
  }))
  t?.after(() => { child.kill('SIGKILL') })
  return { process: child, lines, messages: () => lines.filter((l) => !DEBUG_LINE.test(l)), granted, exited, stderr: () => err }
}
