/**
 * Shared state of the k6 shims (test only): live timers and sockets, so a test knows when a
 * script's VU iteration is over (k6 ends it when the event loop is empty), and metric samples.
 */
export interface Sample { value: number, tags: Record<string, string> }

export const shim = {
  timers: 0,
  sockets: 0,
  samples: new Map<string, Sample[]>(),
  reset (): void { this.samples.clear() }
}
