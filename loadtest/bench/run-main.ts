/**
 * Runs a benchmark's `main` so that every process it started is stopped however it ends:
 * normal exit, Ctrl-C / SIGTERM (status 130) or an error (status 1, with the stack).
 */
export function runMain (name: string, main: () => Promise<void>, killAll: () => void): void {
  process.on('exit', killAll)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      process.stderr.write(`\n${name}: ${signal}, stopping everything\n`)
      killAll()
      process.exit(130)
    })
  }
  main().catch((err: unknown) => {
    process.stderr.write(`${name}: ${(err as Error)?.stack ?? String(err)}\n`)
    killAll()
    process.exit(1)
  })
}
