import { pino, type Logger } from 'pino'

export type { Logger }

/** JSON logs on stdout; `nodeId` on every line so a cluster's logs can be told apart. */
export function createLogger (level: string, nodeId: string, destination?: NodeJS.WritableStream): Logger {
  return pino({ level, base: { nodeId } }, destination ?? pino.destination({ sync: true }))
}
