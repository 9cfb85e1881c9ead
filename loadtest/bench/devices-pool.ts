import { fork, type ChildProcess } from 'node:child_process'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FromWorker, ToWorker, WorkerInit } from './devices-protocol.js'

/**
 * The devices harness's worker processes: one per loopback source address, each holding a slice
 * of the devices (devices-worker.ts under tsx). Requests go to every worker; each answers once.
 */
const HERE = dirname(fileURLToPath(import.meta.url))
const all = new Set<ChildProcess>()

/** SIGKILLs every worker still running (synchronous: safe in 'exit' handlers). */
export function killWorkers (): void {
  for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL')
  all.clear()
}

type Progress = Extract<FromWorker, { cmd: 'progress' }>

export class WorkerPool {
  readonly progress: Progress[]
  #waiters: Array<Map<string, (m: FromWorker) => void>>
  #dead: string | null = null

  private constructor (readonly children: ChildProcess[], readonly inits: WorkerInit[]) {
    this.progress = children.map(() => ({ cmd: 'progress', connected: 0, failed: 0, sent: 0, received: 0 }))
    this.#waiters = children.map(() => new Map())
    children.forEach((child, w) => {
      child.on('message', (m: FromWorker) => {
        if (m.cmd === 'progress') { this.progress[w] = m; return }
        const waiter = this.#waiters[w]?.get(m.cmd)
        this.#waiters[w]?.delete(m.cmd)
        waiter?.(m)
      })
      child.once('exit', (code, signal) => {
        all.delete(child)
        this.#dead ??= `worker ${w} exited (${signal ?? `code ${String(code)}`})`
        for (const waiter of this.#waiters[w]?.values() ?? []) waiter({ cmd: 'closed' })
      })
    })
  }

  /** Forks one worker per init and waits until each has its slice. */
  static async start (inits: WorkerInit[]): Promise<WorkerPool> {
    const children = inits.map(() => {
      const child = fork(join(HERE, 'devices-worker.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
      all.add(child)
      return child
    })
    const pool = new WorkerPool(children, inits)
    const ready = children.map(async (_c, w) => await pool.#expect(w, 'ready', 30_000))
    children.forEach((c, w) => c.send(inits[w] as WorkerInit))
    await Promise.all(ready)
    return pool
  }

  get failure (): string | null { return this.#dead }

  totals (): Omit<Progress, 'cmd'> {
    return this.progress.reduce((a, p) => ({ connected: a.connected + p.connected, failed: a.failed + p.failed, sent: a.sent + p.sent, received: a.received + p.received }), { connected: 0, failed: 0, sent: 0, received: 0 })
  }

  /** Sends `msg` to every worker and resolves with each one's `reply` (throws after `timeoutMs` or when a worker died). */
  async request<C extends FromWorker['cmd']> (msg: ToWorker, reply: C, timeoutMs: number): Promise<Array<Extract<FromWorker, { cmd: C }>>> {
    const answers = this.children.map(async (_c, w) => await this.#expect(w, reply, timeoutMs))
    for (const c of this.children) c.send(msg)
    const out = await Promise.all(answers)
    if (this.#dead !== null) throw new Error(this.#dead)
    return out as Array<Extract<FromWorker, { cmd: C }>>
  }

  async #expect (w: number, cmd: string, timeoutMs: number): Promise<FromWorker> {
    return await new Promise<FromWorker>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters[w]?.delete(cmd)
        reject(new Error(`worker ${w}: no ${cmd} within ${timeoutMs} ms`))
      }, timeoutMs)
      this.#waiters[w]?.set(cmd, (m) => {
        clearTimeout(timer)
        if (m.cmd !== cmd) reject(new Error(this.#dead ?? `worker ${w} ended`))
        else resolve(m)
      })
    })
  }

  async stop (): Promise<void> {
    await Promise.all(this.children.map(async (c) => {
      if (c.exitCode !== null || c.signalCode !== null) return
      const gone = new Promise<void>((resolve) => c.once('exit', () => resolve()))
      c.disconnect()
      const timer = setTimeout(() => c.kill('SIGKILL'), 3000)
      await gone
      clearTimeout(timer)
    }))
  }
}
