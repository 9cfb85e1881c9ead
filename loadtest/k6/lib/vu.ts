import { Ticker } from './device.ts'
import { settings as s } from './env.ts'
import { touchCounters } from './metrics.ts'
import { DeliveryLedger } from './payload.ts'
import { vuSlice } from './settings.ts'

/** What a scenario's VU starts with. */
export interface VuStart {
  /** Its slice of the fleet: device indexes first … first + count - 1. */
  readonly first: number
  readonly count: number
  /** Topic prefix of its own devices, so VUs never share a topic. */
  readonly base: string
  /** One timer driving keep-alive and pacing for all of its sockets. */
  readonly ticker: Ticker
  readonly ledger: DeliveryLedger
}

export function startVu (): VuStart {
  touchCounters()
  const { first, count } = vuSlice(__VU, s.vus, s.devices)
  return { first, count, base: `${s.topicPrefix}/v${__VU}`, ticker: new Ticker(s.keepaliveSec), ledger: new DeliveryLedger() }
}
